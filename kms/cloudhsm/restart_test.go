package cloudhsm_test

import (
	"context"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// TestRestartKeepsCopiesPoliciesAndMigrations: the catalog keeps a copy's lineage, a backup's
// policy and ENI IPs across a restart, and a restart completes an HSM type migration that Close
// cut short (the rollback window stays).
func TestRestartKeepsCopiesPoliciesAndMigrations(t *testing.T) {
	dir := t.TempDir()
	open := func(replace time.Duration) *cloudhsm.Service {
		svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: dir, NoSync: true, KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1},
			Timeouts: cluster.FastTimeouts(), HsmReplaceTime: replace})
		check(t, err)
		return svc
	}
	east := &awsapi.Caller{Account: ownerAccount, Region: "us-east-1"}
	west := &awsapi.Caller{Account: ownerAccount, Region: "us-west-2"}
	svc := open(time.Hour) // a migration that does not finish before Close
	p, err := svc.Provision(ctx(), cloudhsm.ProvisionOptions{Account: ownerAccount, Region: "us-east-1", HSMs: []string{"us-east-1a", "us-east-1b"},
		HsmType: "hsm1.medium", Tag: "test", AdminPassword: adminPass})
	check(t, err)
	src, err := svc.TakeBackup(p.ClusterID)
	check(t, err)
	cp, err := svc.CopyBackupToRegion(ctx(), east, &cloudhsm.CopyBackupToRegionInput{BackupId: src, DestinationRegion: "us-west-2"})
	check(t, err)
	arn := "arn:aws:cloudhsm:us-east-1:" + ownerAccount + ":backup/" + src
	_, err = svc.PutResourcePolicy(ctx(), east, &cloudhsm.ResourcePolicyInput{ResourceArn: arn, Policy: sharePolicy(consumerAccount, arn)})
	check(t, err)
	mod, err := svc.ModifyCluster(ctx(), east, &cloudhsm.ModifyClusterInput{ClusterId: p.ClusterID, HsmType: "hsm2m.medium"})
	check(t, err)
	if mod.Cluster.State != "MODIFY_IN_PROGRESS" {
		t.Fatalf("ModifyCluster answered %s", mod.Cluster.State)
	}
	check(t, svc.Close())

	svc = open(0)
	defer svc.Close()
	d, err := svc.DescribeClusters(ctx(), east, &cloudhsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {p.ClusterID}}})
	check(t, err)
	c := d.Clusters[0]
	if c.HsmType != "hsm2m.medium" || c.Hsms[0].HsmType != "hsm2m.medium" || c.Hsms[1].HsmType != "hsm2m.medium" ||
		c.HsmTypeRollbackExpiration == nil || c.Hsms[0].EniIp != mod.Cluster.Hsms[0].EniIp {
		t.Fatalf("after the restart: type %s, HSMs %+v, rollback %v", c.HsmType, c.Hsms, c.HsmTypeRollbackExpiration)
	}
	wctx, cancel := context.WithTimeout(ctx(), waitDeadline)
	defer cancel()
	check(t, svc.WaitActive(wctx, p.ClusterID, 2))
	wb, err := svc.DescribeBackups(ctx(), west, &cloudhsm.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {src}}})
	check(t, err)
	if len(wb.Backups) != 1 || wb.Backups[0].SourceCluster != cp.DestinationBackup.SourceCluster || wb.Backups[0].SourceRegion != "us-east-1" {
		t.Fatalf("the copy after the restart: %+v", wb.Backups)
	}
	pol, err := svc.GetResourcePolicy(ctx(), east, &cloudhsm.ResourcePolicyInput{ResourceArn: arn})
	check(t, err)
	if pol.Policy != sharePolicy(consumerAccount, arn) {
		t.Fatalf("the policy after the restart: %q", pol.Policy)
	}
}
