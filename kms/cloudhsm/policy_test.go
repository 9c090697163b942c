package cloudhsm_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// sharePolicy is a backup policy as the CloudHSM guide's sharing example has it: another account
// may describe the backup and make a cluster from it.
func sharePolicy(account, arn string) string {
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::" + account + ":root"},
		"Action": []string{"cloudhsm:DescribeBackups", "cloudhsm:CreateCluster"}, "Resource": arn}}})
	return string(b)
}

// TestBackupResourcePolicies: Put/Get/DeleteResourcePolicy on a backup store and return its
// policy; a backup shared with another account shows in that account's DescribeBackups with
// Shared=true (and nowhere else of it), and that account makes a cluster from its ARN; deleting
// the policy unshares it.
func TestBackupResourcePolicies(t *testing.T) {
	e := newAPIEnv(t)
	owner, consumer := e.client(ownerKey, "us-east-1"), e.client(consumerKey, "us-east-1")
	p := e.provision("us-east-1", "", "us-east-1a", "us-east-1b")
	id, err := e.svc.TakeBackup(p.ClusterID)
	check(t, err)
	arn := "arn:aws:cloudhsm:us-east-1:" + ownerAccount + ":backup/" + id
	policy := sharePolicy(consumerAccount, arn)

	// No policy yet.
	got, err := owner.GetResourcePolicy(ctx(), &hsm.GetResourcePolicyInput{ResourceArn: aws.String(arn)})
	check(t, err)
	if got.Policy != nil {
		t.Fatalf("GetResourcePolicy before any: %q", aws.ToString(got.Policy))
	}
	// Refused: not JSON, no ARN, a cluster, a backup that does not exist, another account's
	// backup, another region's ARN.
	_, err = owner.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{ResourceArn: aws.String(arn), Policy: aws.String("{not json")})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	_, err = owner.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{Policy: aws.String(policy)})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	_, err = owner.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{ResourceArn: aws.String("arn:aws:cloudhsm:us-east-1:" + ownerAccount + ":cluster/" + p.ClusterID), Policy: aws.String(policy)})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	_, err = owner.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{ResourceArn: aws.String("arn:aws:cloudhsm:us-east-1:" + ownerAccount + ":backup/backup-nosuchbackup2"), Policy: aws.String(policy)})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)
	_, err = consumer.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{ResourceArn: aws.String(arn), Policy: aws.String(policy)})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)
	_, err = e.client(ownerKey, "us-west-2").GetResourcePolicy(ctx(), &hsm.GetResourcePolicyInput{ResourceArn: aws.String(arn)})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)

	// Not shared yet: the other account sees nothing.
	sh, err := consumer.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Shared: aws.Bool(true)})
	check(t, err)
	if len(sh.Backups) != 0 {
		t.Fatalf("shared backups before sharing: %d", len(sh.Backups))
	}
	put, err := owner.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{ResourceArn: aws.String(arn), Policy: aws.String(policy)})
	check(t, err)
	if aws.ToString(put.ResourceArn) != arn || aws.ToString(put.Policy) != policy {
		t.Fatalf("PutResourcePolicy answered %+v", put)
	}
	got, err = owner.GetResourcePolicy(ctx(), &hsm.GetResourcePolicyInput{ResourceArn: aws.String(arn)})
	check(t, err)
	if aws.ToString(got.Policy) != policy {
		t.Fatalf("GetResourcePolicy: %q, want %q", aws.ToString(got.Policy), policy)
	}

	// Shared: in the other account's Shared=true list, not in its own, not in the owner's.
	sh, err = consumer.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Shared: aws.Bool(true)})
	check(t, err)
	if len(sh.Backups) != 1 || aws.ToString(sh.Backups[0].BackupId) != id || aws.ToString(sh.Backups[0].BackupArn) != arn {
		t.Fatalf("the other account's shared backups: %+v", sh.Backups)
	}
	own, err := consumer.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{})
	check(t, err)
	if len(own.Backups) != 0 {
		t.Fatalf("the other account owns %d backups", len(own.Backups))
	}
	osh, err := owner.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Shared: aws.Bool(true)})
	check(t, err)
	if len(osh.Backups) != 0 {
		t.Fatalf("the owner sees %d backups shared with it", len(osh.Backups))
	}
	_, err = e.client(consumerKey, "us-west-2").DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Shared: aws.Bool(true)})
	check(t, err)
	// The other account cannot read or change the policy, but makes a cluster from the ARN: a
	// related one, in its own account.
	_, err = consumer.GetResourcePolicy(ctx(), &hsm.GetResourcePolicyInput{ResourceArn: aws.String(arn)})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)
	_, err = consumer.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SourceBackupId: aws.String(id),
		SubnetIds: []string{cloudhsm.SubnetID("us-east-1a")}})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400) // another account's backup is named by its ARN
	cc, err := consumer.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SourceBackupId: aws.String(arn),
		SubnetIds: []string{cloudhsm.SubnetID("us-east-1a")}})
	check(t, err)
	if aws.ToString(cc.Cluster.SourceBackupId) != id {
		t.Fatalf("the other account's cluster: source %s", aws.ToString(cc.Cluster.SourceBackupId))
	}
	_, err = consumer.CreateHsm(ctx(), &hsm.CreateHsmInput{ClusterId: cc.Cluster.ClusterId, AvailabilityZone: aws.String("us-east-1a")})
	check(t, err) // its first HSM restores the shared backup
	mine, err := consumer.DescribeClusters(ctx(), &hsm.DescribeClustersInput{})
	check(t, err)
	if len(mine.Clusters) != 1 || aws.ToString(mine.Clusters[0].ClusterId) != aws.ToString(cc.Cluster.ClusterId) {
		t.Fatalf("the other account's clusters: %+v", mine.Clusters)
	}
	cl, err := e.svc.DialCluster(aws.ToString(cc.Cluster.ClusterId))
	check(t, err)
	defer cl.Close()
	if _, err := cl.Login(ctx(), "alice", "alicepass1"); err != nil {
		t.Fatalf("the owner's user on the other account's cluster: %v", err)
	}

	// Deleted: answered with the policy it had, unshared, and gone.
	del, err := owner.DeleteResourcePolicy(ctx(), &hsm.DeleteResourcePolicyInput{ResourceArn: aws.String(arn)})
	check(t, err)
	if aws.ToString(del.ResourceArn) != arn || aws.ToString(del.Policy) != policy {
		t.Fatalf("DeleteResourcePolicy answered %+v", del)
	}
	sh, err = consumer.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Shared: aws.Bool(true)})
	check(t, err)
	if len(sh.Backups) != 0 {
		t.Fatalf("shared backups after unsharing: %d", len(sh.Backups))
	}
	_, err = consumer.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SourceBackupId: aws.String(arn),
		SubnetIds: []string{cloudhsm.SubnetID("us-east-1a")}})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)
	got, err = owner.GetResourcePolicy(ctx(), &hsm.GetResourcePolicyInput{ResourceArn: aws.String(arn)})
	check(t, err)
	if got.Policy != nil {
		t.Fatalf("GetResourcePolicy after delete: %q", aws.ToString(got.Policy))
	}

	// Only a READY backup can be shared.
	_, err = owner.DeleteBackup(ctx(), &hsm.DeleteBackupInput{BackupId: aws.String(id)})
	check(t, err)
	_, err = owner.PutResourcePolicy(ctx(), &hsm.PutResourcePolicyInput{ResourceArn: aws.String(arn), Policy: aws.String(policy)})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
}

// TestDescribeBackupsFilters: every filter the model documents (backupIds, sourceBackupIds,
// clusterIds, states, neverExpires), their conjunction, SortAscending, and an unknown filter.
func TestDescribeBackupsFilters(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(ownerKey, "us-east-1")
	p1 := e.provision("us-east-1", "", "us-east-1a")
	p2 := e.provision("us-east-1", "", "us-east-1b")
	var ids []string // in creation order, a minute apart
	for _, cid := range []string{p1.ClusterID, p2.ClusterID, p1.ClusterID} {
		e.clock.Advance(time.Minute)
		id, err := e.svc.TakeBackup(cid)
		check(t, err)
		ids = append(ids, id)
	}
	_, err := c.ModifyBackupAttributes(ctx(), &hsm.ModifyBackupAttributesInput{BackupId: aws.String(ids[0]), NeverExpires: aws.Bool(true)})
	check(t, err)
	_, err = c.DeleteBackup(ctx(), &hsm.DeleteBackupInput{BackupId: aws.String(ids[1])})
	check(t, err)
	_, err = c.CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(ids[2]), DestinationRegion: aws.String("us-east-2")})
	check(t, err)

	list := func(f map[string][]string, asc bool) []string {
		t.Helper()
		out, err := c.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: f, SortAscending: aws.Bool(asc)})
		check(t, err)
		var got []string
		for _, b := range out.Backups {
			if slices.Contains(ids, aws.ToString(b.BackupId)) { // leave out the activation backups
				got = append(got, aws.ToString(b.BackupId))
			}
		}
		return got
	}
	for name, tc := range map[string]struct {
		filters map[string][]string
		asc     bool
		want    []string
	}{
		"all, newest first":   {nil, false, []string{ids[2], ids[1], ids[0]}},
		"all, oldest first":   {nil, true, ids},
		"backupIds":           {map[string][]string{"backupIds": {ids[0], ids[2]}}, true, []string{ids[0], ids[2]}},
		"clusterIds":          {map[string][]string{"clusterIds": {p2.ClusterID}}, true, []string{ids[1]}},
		"states":              {map[string][]string{"states": {"PENDING_DELETION"}}, true, []string{ids[1]}},
		"neverExpires true":   {map[string][]string{"neverExpires": {"true"}}, true, []string{ids[0]}},
		"neverExpires false":  {map[string][]string{"neverExpires": {"false"}}, true, []string{ids[1], ids[2]}},
		"sourceBackupIds":     {map[string][]string{"sourceBackupIds": {ids[2]}}, true, nil}, // the copy is in us-east-2
		"clusterIds ∧ states": {map[string][]string{"clusterIds": {p1.ClusterID}, "states": {"READY"}}, false, []string{ids[2], ids[0]}},
	} {
		if got := list(tc.filters, tc.asc); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	east2, err := e.client(ownerKey, "us-east-2").DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {ids[2]}}})
	check(t, err)
	if len(east2.Backups) != 1 || aws.ToString(east2.Backups[0].SourceBackup) != ids[2] || east2.Backups[0].BackupState != hsmtypes.BackupStateReady {
		t.Errorf("us-east-2 sourceBackupIds: %+v", east2.Backups)
	}
	_, err = c.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"hsmIds": {"x"}}})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
}
