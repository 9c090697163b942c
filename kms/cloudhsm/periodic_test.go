package cloudhsm_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
)

// TestPeriodicBackupsFollowRetention: an active cluster gets a backup every day on the service's
// clock; backups older than the cluster's retention period (ModifyCluster's
// BackupRetentionPolicy) are deleted, except those marked NeverExpires and the newest; a cluster
// that is not active gets none.
func TestPeriodicBackupsFollowRetention(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(ownerKey, "us-east-1")
	p := e.provision("us-east-1", "", "us-east-1a", "us-east-1b")
	idle, err := c.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: []string{"subnet-0123456789abcdef0"}})
	check(t, err)
	backups := func(cluster string) []hsmtypes.Backup {
		t.Helper()
		out, err := c.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {cluster}}, SortAscending: aws.Bool(true)})
		check(t, err)
		return out.Backups
	}
	ready := func(bs []hsmtypes.Backup) (n int) {
		for _, b := range bs {
			if b.BackupState == hsmtypes.BackupStateReady {
				n++
			}
		}
		return n
	}
	eventually(t, "the activation backup", func() bool { return len(backups(p.ClusterID)) == 1 })

	// Retention: 7 days; out-of-range values refused.
	for _, v := range []string{"6", "380", "x"} {
		_, err = c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(p.ClusterID),
			BackupRetentionPolicy: &hsmtypes.BackupRetentionPolicy{Type: hsmtypes.BackupRetentionTypeDays, Value: aws.String(v)}})
		if v == "x" {
			wantAWSErr(t, err, "ValidationException", 400) // the model's pattern [0-9]+
		} else {
			wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
		}
	}
	mod, err := c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(p.ClusterID),
		BackupRetentionPolicy: &hsmtypes.BackupRetentionPolicy{Type: hsmtypes.BackupRetentionTypeDays, Value: aws.String("7")}})
	check(t, err)
	if aws.ToString(mod.Cluster.BackupRetentionPolicy.Value) != "7" {
		t.Fatalf("retention %+v", mod.Cluster.BackupRetentionPolicy)
	}

	// A day at a time for three days: one more backup each day, none for the idle cluster.
	for day := 1; day <= 3; day++ {
		e.clock.Advance(24*time.Hour + time.Minute)
		eventually(t, "a backup on day "+string(rune('0'+day)), func() bool { return len(backups(p.ClusterID)) == 1+day })
	}
	time.Sleep(200 * time.Millisecond) // several maintenance rounds: still one a day
	bs := backups(p.ClusterID)
	if len(bs) != 4 {
		t.Fatalf("%d backups after 3 days, want 4", len(bs))
	}
	if n := len(backups(aws.ToString(idle.Cluster.ClusterId))); n != 0 {
		t.Fatalf("the uninitialized cluster has %d backups", n)
	}
	keep := aws.ToString(bs[1].BackupId)
	_, err = c.ModifyBackupAttributes(ctx(), &hsm.ModifyBackupAttributesInput{BackupId: aws.String(keep), NeverExpires: aws.Bool(true)})
	check(t, err)

	// Eight days on: a new daily backup; the backups older than 7 days are deleted but the one
	// that never expires.
	e.clock.Advance(8 * 24 * time.Hour)
	eventually(t, "the day-11 backup", func() bool { return len(backups(p.ClusterID)) == 5 })
	eventually(t, "retention", func() bool { return ready(backups(p.ClusterID)) == 2 })
	for _, b := range backups(p.ClusterID) {
		id := aws.ToString(b.BackupId)
		switch {
		case id == keep || b.CreateTimestamp.After(e.clock.Now().Add(-time.Hour)):
			if b.BackupState != hsmtypes.BackupStateReady {
				t.Errorf("backup %s is %s, want READY", id, b.BackupState)
			}
		case b.BackupState != hsmtypes.BackupStateDeleted:
			t.Errorf("backup %s of %v is %s, want DELETED", id, b.CreateTimestamp, b.BackupState)
		}
	}
	never, err := c.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"neverExpires": {"true"}}})
	check(t, err)
	if len(never.Backups) != 1 || aws.ToString(never.Backups[0].BackupId) != keep {
		t.Fatalf("neverExpires=true: %+v", never.Backups)
	}
}
