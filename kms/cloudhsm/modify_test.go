package cloudhsm_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

func describeOne(t *testing.T, c *hsm.Client, id string) hsmtypes.Cluster {
	t.Helper()
	out, err := c.DescribeClusters(ctx(), &hsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	check(t, err)
	if len(out.Clusters) != 1 {
		t.Fatalf("DescribeClusters %s: %d clusters", id, len(out.Clusters))
	}
	return out.Clusters[0]
}

// TestHsmTypeMigration: ModifyCluster moves an active hsm1.medium cluster to hsm2m.medium one
// HSM at a time behind a backup each (MODIFY_IN_PROGRESS, then ACTIVE with a rollback window of
// 24 hours), keeps its HSMs' addresses and its users; a rollback within the window goes back
// (ROLLBACK_IN_PROGRESS), after it is refused; hsm1.medium is never a destination otherwise;
// retention keeps the newest hsm1.medium backup of a migrated cluster.
func TestHsmTypeMigration(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(ownerKey, "us-east-1")
	p := e.provision("us-east-1", "hsm1.medium", "us-east-1a", "us-east-1b")
	before := describeOne(t, c, p.ClusterID)
	if before.HsmType == nil || *before.HsmType != "hsm1.medium" || before.HsmTypeRollbackExpiration != nil {
		t.Fatalf("new cluster: type %v, rollback %v", aws.ToString(before.HsmType), before.HsmTypeRollbackExpiration)
	}
	modify := func(typ string) (*hsm.ModifyClusterOutput, error) {
		return c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(p.ClusterID), HsmType: aws.String(typ)})
	}
	_, err := modify("hsm3.large")
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	_, err = modify("hsm1.medium")
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400) // already
	idle, err := c.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm1.medium"), SubnetIds: []string{cloudhsm.SubnetID("us-east-1a")}})
	check(t, err)
	_, err = c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: idle.Cluster.ClusterId, HsmType: aws.String("hsm2m.medium")})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400) // not active

	hsm1Backups := func() int {
		out, err := c.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {p.ClusterID}, "states": {"READY"}}})
		check(t, err)
		n := 0
		for _, b := range out.Backups {
			if aws.ToString(b.HsmType) == "hsm1.medium" {
				n++
			}
		}
		return n
	}
	eventually(t, "the activation backup", func() bool { return hsm1Backups() == 1 })
	start := e.clock.Now()
	out, err := modify("hsm2m.medium")
	check(t, err)
	if out.Cluster.State != hsmtypes.ClusterStateModifyInProgress || aws.ToString(out.Cluster.HsmType) != "hsm2m.medium" ||
		aws.ToTime(out.Cluster.HsmTypeRollbackExpiration).Sub(start.Add(24*time.Hour)).Abs() > 2*time.Millisecond {
		t.Fatalf("ModifyCluster answered %s, type %s, rollback until %v", out.Cluster.State, aws.ToString(out.Cluster.HsmType), out.Cluster.HsmTypeRollbackExpiration)
	}
	var migrated hsmtypes.Cluster
	eventually(t, "the migration", func() bool {
		migrated = describeOne(t, c, p.ClusterID)
		return migrated.State == hsmtypes.ClusterStateActive
	})
	for i, h := range migrated.Hsms {
		if aws.ToString(h.HsmType) != "hsm2m.medium" || aws.ToString(h.EniIp) != aws.ToString(before.Hsms[i].EniIp) {
			t.Fatalf("HSM %s after the migration: type %s, address %s (was %s)", aws.ToString(h.HsmId), aws.ToString(h.HsmType),
				aws.ToString(h.EniIp), aws.ToString(before.Hsms[i].EniIp))
		}
	}
	all, err := c.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {p.ClusterID}}})
	check(t, err)
	if n := hsm1Backups(); n < 2 || len(all.Backups) < 1+len(migrated.Hsms) {
		t.Fatalf("%d backups, %d of hsm1.medium: want the activation's and one before each HSM's migration, the first of hsm1.medium", len(all.Backups), n)
	}
	cl, err := e.svc.DialCluster(p.ClusterID)
	check(t, err)
	if _, err := cl.Login(ctx(), "alice", "alicepass1"); err != nil {
		t.Fatalf("the user after the migration: %v", err)
	}
	cl.Close()

	// Rollback inside the window.
	out, err = modify("hsm1.medium")
	check(t, err)
	if out.Cluster.State != hsmtypes.ClusterStateRollbackInProgress {
		t.Fatalf("rollback answered %s", out.Cluster.State)
	}
	eventually(t, "the rollback", func() bool {
		d := describeOne(t, c, p.ClusterID)
		return d.State == hsmtypes.ClusterStateActive && aws.ToString(d.HsmType) == "hsm1.medium" && d.HsmTypeRollbackExpiration == nil &&
			aws.ToString(d.Hsms[0].HsmType) == "hsm1.medium"
	})

	// Again, and a rollback after 25 hours is refused.
	_, err = modify("hsm2m.medium")
	check(t, err)
	eventually(t, "the second migration", func() bool { return describeOne(t, c, p.ClusterID).State == hsmtypes.ClusterStateActive })
	e.clock.Advance(25 * time.Hour)
	_, err = modify("hsm1.medium")
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	fresh := e.provision("us-east-1", "", "us-east-1c")
	_, err = c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(fresh.ClusterID), HsmType: aws.String("hsm1.medium")})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)

	// Retention of 7 days, 8 days on: the newest hsm1.medium backup stays.
	_, err = c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(p.ClusterID),
		BackupRetentionPolicy: &hsmtypes.BackupRetentionPolicy{Type: hsmtypes.BackupRetentionTypeDays, Value: aws.String("7")}})
	check(t, err)
	e.clock.Advance(8 * 24 * time.Hour)
	eventually(t, "retention", func() bool { return hsm1Backups() == 1 })
}

// TestClusterDegraded: an active cluster shows DEGRADED while one of its HSMs is lost (killed:
// the HSM itself is DEGRADED) and ACTIVE again once it is back; the states filter follows.
func TestClusterDegraded(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(ownerKey, "us-east-1")
	p := e.provision("us-east-1", "", "us-east-1a", "us-east-1b", "us-east-1c")
	victim := p.HSMs[2].ID
	check(t, e.svc.Kill(p.ClusterID, victim))
	d := describeOne(t, c, p.ClusterID)
	if d.State != hsmtypes.ClusterStateDegraded || !strings.Contains(aws.ToString(d.StateMessage), victim) {
		t.Fatalf("with %s killed: cluster %s (%s)", victim, d.State, aws.ToString(d.StateMessage))
	}
	filtered := func(state string) int {
		out, err := c.DescribeClusters(ctx(), &hsm.DescribeClustersInput{Filters: map[string][]string{"states": {state}}})
		check(t, err)
		return len(out.Clusters)
	}
	if filtered("DEGRADED") != 1 || filtered("ACTIVE") != 0 {
		t.Fatalf("states filter: DEGRADED %d, ACTIVE %d", filtered("DEGRADED"), filtered("ACTIVE"))
	}
	check(t, e.svc.Restart(ctx(), p.ClusterID, victim))
	eventually(t, "ACTIVE again", func() bool { return describeOne(t, c, p.ClusterID).State == hsmtypes.ClusterStateActive })
}

// TestCreateHsmIpAddress: CreateHsm's IpAddress must be a free, usable address of the subnet of
// the HSM's AZ (hsmsim's subnets: SubnetCIDR); it is the HSM's ENI IP in DescribeClusters, and
// DeleteHsm frees it. Without one, the HSM gets a free address of the subnet.
func TestCreateHsmIpAddress(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(ownerKey, "us-east-1")
	if got := cloudhsm.SubnetCIDR("us-east-1a"); got != "10.0.0.0/20" {
		t.Fatalf("SubnetCIDR(us-east-1a) = %s", got)
	}
	subnets := []string{cloudhsm.SubnetID("us-east-1a"), cloudhsm.SubnetID("us-east-1b")}
	cc, err := c.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets})
	check(t, err)
	id := cc.Cluster.ClusterId
	create := func(az, ip string) (*hsm.CreateHsmOutput, error) {
		in := &hsm.CreateHsmInput{ClusterId: id, AvailabilityZone: aws.String(az)}
		if ip != "" {
			in.IpAddress = aws.String(ip)
		}
		return c.CreateHsm(ctx(), in)
	}
	first, err := create("us-east-1a", "10.0.0.10")
	check(t, err)
	if aws.ToString(first.Hsm.EniIp) != "10.0.0.10" {
		t.Fatalf("CreateHsm answered ENI IP %s", aws.ToString(first.Hsm.EniIp))
	}
	for ip, why := range map[string]string{
		"10.0.0.10":   "in use",
		"10.0.0.2":    "reserved by the subnet",
		"10.0.15.255": "the subnet's broadcast address",
		"10.0.16.10":  "in us-east-1b's subnet",
		"999.0.0.1":   "not an address",
	} {
		if _, err := create("us-east-1a", ip); err == nil {
			t.Fatalf("CreateHsm with %s (%s) succeeded", ip, why)
		} else {
			wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
		}
	}
	second, err := create("us-east-1b", "")
	check(t, err)
	if a, err := netip.ParseAddr(aws.ToString(second.Hsm.EniIp)); err != nil || !netip.MustParsePrefix(cloudhsm.SubnetCIDR("us-east-1b")).Contains(a) {
		t.Fatalf("an HSM without IpAddress got %s, not in %s", aws.ToString(second.Hsm.EniIp), cloudhsm.SubnetCIDR("us-east-1b"))
	}
	d := describeOne(t, c, aws.ToString(id))
	if aws.ToString(d.Hsms[0].EniIp) != "10.0.0.10" || aws.ToString(d.Hsms[1].EniIp) != aws.ToString(second.Hsm.EniIp) {
		t.Fatalf("DescribeClusters: %s, %s", aws.ToString(d.Hsms[0].EniIp), aws.ToString(d.Hsms[1].EniIp))
	}
	// Another cluster in the same subnet cannot take the address either.
	other, err := c.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets[:1]})
	check(t, err)
	_, err = c.CreateHsm(ctx(), &hsm.CreateHsmInput{ClusterId: other.Cluster.ClusterId, AvailabilityZone: aws.String("us-east-1a"), IpAddress: aws.String("10.0.0.10")})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	// Deleted by its address, the HSM frees it.
	_, err = c.DeleteHsm(ctx(), &hsm.DeleteHsmInput{ClusterId: id, EniIp: aws.String("10.0.0.10")})
	check(t, err)
	eventually(t, "the deleted HSM is gone", func() bool { return len(describeOne(t, c, aws.ToString(id)).Hsms) == 1 })
	_, err = c.CreateHsm(ctx(), &hsm.CreateHsmInput{ClusterId: other.Cluster.ClusterId, AvailabilityZone: aws.String("us-east-1a"), IpAddress: aws.String("10.0.0.10")})
	check(t, err)
}

// TestHsmTypeMigrationLimitsWrites: while HSMs are replaced (HsmReplaceTime each) the cluster is
// MODIFY_IN_PROGRESS with HSMs of both types and refuses CreateHsm, DeleteHsm and another type
// change; a migration that cannot take its backup (every HSM lost) goes back to the former type.
func TestHsmTypeMigrationLimitsWrites(t *testing.T) {
	e := newAPIEnvWith(t, cloudhsm.Config{HsmReplaceTime: 400 * time.Millisecond})
	c := e.client(ownerKey, "us-east-1")
	p := e.provision("us-east-1", "hsm1.medium", "us-east-1a", "us-east-1b")
	_, err := c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(p.ClusterID), HsmType: aws.String("hsm2m.medium")})
	check(t, err)
	eventually(t, "one HSM replaced", func() bool {
		d := describeOne(t, c, p.ClusterID)
		return d.State == hsmtypes.ClusterStateModifyInProgress && aws.ToString(d.Hsms[0].HsmType) == "hsm2m.medium" &&
			aws.ToString(d.Hsms[1].HsmType) == "hsm1.medium"
	})
	_, err = c.CreateHsm(ctx(), &hsm.CreateHsmInput{ClusterId: aws.String(p.ClusterID), AvailabilityZone: aws.String("us-east-1a")})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	_, err = c.DeleteHsm(ctx(), &hsm.DeleteHsmInput{ClusterId: aws.String(p.ClusterID), HsmId: aws.String(p.HSMs[0].ID)})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	_, err = c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(p.ClusterID), HsmType: aws.String("hsm1.medium")})
	wantAWSErr(t, err, "CloudHsmInvalidRequestException", 400)
	eventually(t, "the migration", func() bool { return describeOne(t, c, p.ClusterID).State == hsmtypes.ClusterStateActive })

	q := e.provision("us-east-1", "hsm1.medium", "us-east-1c")
	check(t, e.svc.Kill(q.ClusterID, q.HSMs[0].ID))
	_, err = c.ModifyCluster(ctx(), &hsm.ModifyClusterInput{ClusterId: aws.String(q.ClusterID), HsmType: aws.String("hsm2m.medium")})
	check(t, err)
	eventually(t, "the failed migration going back", func() bool {
		d := describeOne(t, c, q.ClusterID)
		return d.State != hsmtypes.ClusterStateModifyInProgress && aws.ToString(d.HsmType) == "hsm1.medium" &&
			d.HsmTypeRollbackExpiration == nil && aws.ToString(d.Hsms[0].HsmType) == "hsm1.medium"
	})
}
