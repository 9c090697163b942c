package cloudhsm_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// TestDeleteHsmAnswersAtOnce: with the other HSM of a two-HSM cluster cut off, the membership
// change cannot commit, yet DeleteHsm answers at once with the HsmId; the HSM shows
// DELETE_IN_PROGRESS (a second DeleteHsm answers the same) until the network heals, then it is
// gone.
func TestDeleteHsmAnswersAtOnce(t *testing.T) {
	e := newAPIEnv(t)
	c := e.client(ownerKey, "us-east-1")
	p := e.provision("us-east-1", "", "us-east-1a", "us-east-1b")
	victim, other := p.HSMs[0].ID, p.HSMs[1].ID
	e.svc.Network().Partition(victim, other)

	start := time.Now()
	out, err := c.DeleteHsm(ctx(), &hsm.DeleteHsmInput{ClusterId: aws.String(p.ClusterID), HsmId: aws.String(victim)})
	check(t, err)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("DeleteHsm took %v", took)
	}
	if aws.ToString(out.HsmId) != victim {
		t.Fatalf("DeleteHsm answered %q, want %s", aws.ToString(out.HsmId), victim)
	}
	stateOf := func() (hsmtypes.HsmState, bool) {
		for _, h := range describeOne(t, c, p.ClusterID).Hsms {
			if aws.ToString(h.HsmId) == victim {
				return h.State, true
			}
		}
		return "", false
	}
	if st, ok := stateOf(); !ok || st != hsmtypes.HsmStateDeleteInProgress {
		t.Fatalf("during the partition: state %q (listed %v), want DELETE_IN_PROGRESS", st, ok)
	}
	again, err := c.DeleteHsm(ctx(), &hsm.DeleteHsmInput{ClusterId: aws.String(p.ClusterID), HsmId: aws.String(victim)})
	check(t, err)
	if aws.ToString(again.HsmId) != victim {
		t.Fatalf("second DeleteHsm answered %q", aws.ToString(again.HsmId))
	}

	e.svc.Network().Heal()
	eventually(t, "the deleted HSM leaves DescribeClusters", func() bool {
		_, ok := stateOf()
		return !ok
	})
	if n := len(e.svc.Members(p.ClusterID)); n != 1 {
		t.Fatalf("%d members after the delete", n)
	}
}

// TestDeleteHsmResumesAfterARestart: a delete the service closed on (the other HSM cut off)
// is finished by the next Open.
func TestDeleteHsmResumesAfterARestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *cloudhsm.Service {
		svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: dir, NoSync: true, KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1},
			Timeouts: cluster.FastTimeouts()})
		check(t, err)
		return svc
	}
	east := &awsapi.Caller{Account: ownerAccount, Region: "us-east-1"}
	svc := open()
	p, err := svc.Provision(ctx(), cloudhsm.ProvisionOptions{Account: ownerAccount, Region: "us-east-1", HSMs: []string{"us-east-1a", "us-east-1b"},
		Tag: "test", AdminPassword: adminPass})
	check(t, err)
	victim := p.HSMs[0].ID
	svc.Network().Partition(victim, p.HSMs[1].ID)
	_, err = svc.DeleteHsm(ctx(), east, &cloudhsm.DeleteHsmInput{ClusterId: p.ClusterID, HsmId: victim})
	check(t, err)
	check(t, svc.Close())

	svc = open() // a new network: nothing cut off
	defer svc.Close()
	eventually(t, "the interrupted delete finishes", func() bool {
		d, err := svc.DescribeClusters(ctx(), east, &cloudhsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {p.ClusterID}}})
		check(t, err)
		hs := d.Clusters[0].Hsms
		return len(hs) == 1 && hs[0].HsmId == p.HSMs[1].ID
	})
}
