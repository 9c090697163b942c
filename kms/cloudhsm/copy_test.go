package cloudhsm_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// TestCopyBackupToRegion: a backup copied from us-east-1 lands in us-west-2's control plane
// (the region of the request's credential scope) with its lineage, is found there by
// sourceBackupIds, and becomes a related cluster there whose users are the source's.
func TestCopyBackupToRegion(t *testing.T) {
	e := newAPIEnv(t)
	east, west := e.client(ownerKey, "us-east-1"), e.client(ownerKey, "us-west-2")
	p := e.provision("us-east-1", "", "us-east-1a", "us-east-1b")
	src, err := e.svc.TakeBackup(p.ClusterID)
	check(t, err)
	_, err = east.TagResource(ctx(), &hsm.TagResourceInput{ResourceId: aws.String(src), TagList: []hsmtypes.Tag{{Key: aws.String("team"), Value: aws.String("blue")}}})
	check(t, err)
	sb, err := east.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {src}}})
	check(t, err)
	if len(sb.Backups) != 1 {
		t.Fatalf("DescribeBackups %s: %d backups", src, len(sb.Backups))
	}
	created := aws.ToTime(sb.Backups[0].CreateTimestamp)

	// Refused: the backup's own region, a backup of another region, another account's backup.
	_, err = east.CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(src), DestinationRegion: aws.String("us-east-1")})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	_, err = west.CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(src), DestinationRegion: aws.String("eu-west-1")})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)
	_, err = e.client(consumerKey, "us-east-1").CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(src), DestinationRegion: aws.String("us-west-2")})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)
	_, err = east.CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(src), DestinationRegion: aws.String("us-west-2"),
		TagList: []hsmtypes.Tag{{Key: aws.String("aws:reserved"), Value: aws.String("x")}}})
	wantAWSErr(t, err, "CloudHsmTagException", 400)

	out, err := east.CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(src), DestinationRegion: aws.String("us-west-2")})
	check(t, err)
	d := out.DestinationBackup
	if d == nil || aws.ToString(d.SourceBackup) != src || aws.ToString(d.SourceCluster) != p.ClusterID ||
		aws.ToString(d.SourceRegion) != "us-east-1" || !aws.ToTime(d.CreateTimestamp).Equal(created) {
		t.Fatalf("DestinationBackup %+v, want the source's backup, cluster, region and creation time", d)
	}

	// In us-west-2: found by sourceBackupIds, with its lineage and the source's tags; not in
	// us-east-1 under that filter, and us-west-2 has no other backup.
	wb, err := west.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {src}}})
	check(t, err)
	if len(wb.Backups) != 1 {
		t.Fatalf("us-west-2 sourceBackupIds=%s: %d backups, want 1", src, len(wb.Backups))
	}
	cp := wb.Backups[0]
	copyID := aws.ToString(cp.BackupId)
	if copyID == src || cp.BackupState != hsmtypes.BackupStateReady || aws.ToString(cp.SourceBackup) != src ||
		aws.ToString(cp.SourceCluster) != p.ClusterID || aws.ToString(cp.SourceRegion) != "us-east-1" || cp.CopyTimestamp == nil ||
		!aws.ToTime(cp.CreateTimestamp).Equal(created) || aws.ToString(cp.BackupArn) != "arn:aws:cloudhsm:us-west-2:"+ownerAccount+":backup/"+copyID {
		t.Fatalf("the copy in us-west-2: %+v", cp)
	}
	if len(cp.TagList) != 1 || aws.ToString(cp.TagList[0].Key) != "team" {
		t.Fatalf("the copy's tags %+v, want the source's", cp.TagList)
	}
	all, err := west.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{})
	check(t, err)
	if len(all.Backups) != 1 {
		t.Fatalf("us-west-2 holds %d backups, want the copy only", len(all.Backups))
	}
	eb, err := east.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {src}}})
	check(t, err)
	if len(eb.Backups) != 0 {
		t.Fatalf("us-east-1 sourceBackupIds=%s: %d backups, want none", src, len(eb.Backups))
	}
	// Tags given replace the source's.
	tagged, err := east.CopyBackupToRegion(ctx(), &hsm.CopyBackupToRegionInput{BackupId: aws.String(src), DestinationRegion: aws.String("eu-west-1"),
		TagList: []hsmtypes.Tag{{Key: aws.String("dr"), Value: aws.String("yes")}}})
	check(t, err)
	eu, err := e.client(ownerKey, "eu-west-1").DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {src}}})
	check(t, err)
	if len(eu.Backups) != 1 || len(eu.Backups[0].TagList) != 1 || aws.ToString(eu.Backups[0].TagList[0].Key) != "dr" || aws.ToString(tagged.DestinationBackup.SourceBackup) != src {
		t.Fatalf("the eu-west-1 copy: %+v", eu.Backups)
	}

	// The copy restores in us-west-2 into a related cluster: same cluster certificate, the
	// source's users; the source backup itself cannot be used there.
	_, err = west.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SourceBackupId: aws.String(src),
		SubnetIds: []string{cloudhsm.SubnetID("us-west-2a")}})
	wantAWSErr(t, err, "CloudHsmResourceNotFoundException", 400)
	r, err := e.svc.Provision(ctx(), cloudhsm.ProvisionOptions{Account: ownerAccount, Region: "us-west-2", HSMs: []string{"us-west-2a", "us-west-2b"},
		Tag: "test", SourceBackupID: copyID})
	check(t, err)
	rc, err := west.DescribeClusters(ctx(), &hsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {r.ClusterID}}})
	check(t, err)
	sc, err := east.DescribeClusters(ctx(), &hsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {p.ClusterID}}})
	check(t, err)
	if len(rc.Clusters) != 1 || aws.ToString(rc.Clusters[0].SourceBackupId) != copyID || rc.Clusters[0].State != hsmtypes.ClusterStateActive ||
		aws.ToString(rc.Clusters[0].Certificates.ClusterCertificate) != aws.ToString(sc.Clusters[0].Certificates.ClusterCertificate) {
		t.Fatalf("the cluster restored in us-west-2: %+v", rc.Clusters)
	}
	cl, err := e.svc.DialCluster(r.ClusterID)
	check(t, err)
	defer cl.Close()
	if _, err := cl.Login(ctx(), "alice", "alicepass1"); err != nil {
		t.Fatalf("the source's user on the restored cluster: %v", err)
	}
	// The copy has no retention policy (no cluster of its own), so it is never expired.
	e.clock.Advance(400 * 24 * time.Hour)
	wb, err = west.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {copyID}}})
	check(t, err)
	if len(wb.Backups) != 1 || wb.Backups[0].BackupState != hsmtypes.BackupStateReady {
		t.Fatalf("the copy after 400 days: %+v", wb.Backups)
	}
}
