package cloudhsm_test

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/capacity"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// signRate signs with key from workers goroutines for warm-up plus window and returns the
// signatures completed per second within the window (the warm-up lets the HSMs' queues fill,
// so the window sees the steady state). Any error but the HSM's busy answer fails the test.
func signRate(t *testing.T, c *client.Client, key uint32, workers int, window time.Duration) float64 {
	t.Helper()
	const warmup = 300 * time.Millisecond
	digest := sha256.Sum256([]byte("capacity"))
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+window)
	var done, busy atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(to) {
				_, err := c.Sign(context.Background(), ckm.Mechanism{Type: p11.CKM_ECDSA}, key, digest[:])
				now := time.Now()
				switch {
				case err == nil:
					if now.After(from) && !now.After(to) {
						done.Add(1)
					}
				case p11.Reason(err) == p11.ReasonHSMBusy:
					busy.Add(1)
				default:
					t.Errorf("Sign: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	r := float64(done.Load()) / window.Seconds()
	t.Logf("%d workers: %.0f signatures/s over %v (%d busy answers)", workers, r, window, busy.Load())
	return r
}

// The capacity profile holds each HSM to AWS's published rate for its type: a cluster signs
// no faster than its HSMs together, adding an HSM adds one HSM's rate, and without the limits
// the same cluster on this machine signs far faster (so the bound is the profile's doing).
//
// Tolerance: a node admits one signature every 1/rate and keeps no burst, so a window of W
// completes at most rate*W + 1 per HSM; the bound allows 5 % more (timer slack on a loaded
// machine) and 2 signatures per HSM.
func TestCapacityProfileHoldsEachHSMToItsPublishedRate(t *testing.T) {
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: t.TempDir(), NoSync: true, Capacity: capacity.ProfileCloudHSM,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts()})
	check(t, err)
	defer svc.Close()
	const typ = capacity.HSM1Medium // P-256 sign: 250/s per HSM, 500/s for two (AWS's two-HSM figure)
	perHSM := capacity.Rates[typ][capacity.ECP256Sign]
	p, err := svc.Provision(ctx(), cloudhsm.ProvisionOptions{AZs: []string{"us-east-1a", "us-east-1b"}, HSMs: []string{"us-east-1a"},
		HsmType: typ, Tag: "test", AdminPassword: adminPass, CryptoUsers: []cloudhsm.User{{Name: "alice", Password: "alicepass1"}}})
	check(t, err)
	ca, err := svc.HSMCAPEM(p.ClusterID)
	check(t, err)
	dial := func() *client.Client {
		var nodes []client.Node
		for _, m := range svc.Members(p.ClusterID) {
			nodes = append(nodes, client.Node{ID: m.ID(), AZ: m.AZ(), Addr: m.APIAddr()})
		}
		// Not hedged: a hedged read would spend a second HSM's turn on the same signature.
		c, err := client.Dial(client.Config{Nodes: nodes, CAPEM: ca, Dialer: svc.Network().Dialer(netsim.Endpoint{Name: "app"}), Hedge: -1})
		check(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = c.Login(ctx(), "alice", "alicepass1")
		check(t, err)
		return c
	}
	c := dial()
	tok := attr.Attribute{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}
	_, key, err := c.GenerateKeyPair(ctx(), ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{tok, {Type: p11.CKA_EC_PARAMS, Value: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}},
		[]attr.Attribute{tok, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
	check(t, err)
	const window = 2 * time.Second
	bound := func(hsms int) float64 { return float64(hsms) * (perHSM*1.05 + 2/window.Seconds()) }

	one := signRate(t, c, key, 16, window)
	if one > bound(1) {
		t.Fatalf("one %s HSM signed %.0f/s, above its published %.0f/s", typ, one, perHSM)
	}

	_, err = svc.CreateHsm(ctx(), nil, &cloudhsm.CreateHsmInput{ClusterId: p.ClusterID, AvailabilityZone: "us-east-1b"})
	check(t, err)
	wctx, cancel := context.WithTimeout(ctx(), time.Minute)
	defer cancel()
	check(t, svc.WaitActive(wctx, p.ClusterID, 2))
	c2 := dial() // knows both HSMs from the start
	c2.Session().Observe(c.Session().Index())
	two := signRate(t, c2, key, 32, window)
	if two > bound(2) {
		t.Fatalf("two %s HSMs signed %.0f/s, above twice the published %.0f/s", typ, two, perHSM)
	}
	if two <= bound(1) {
		t.Fatalf("two HSMs signed %.0f/s, no more than one HSM may (%.0f/s): the second HSM added no capacity", two, bound(1))
	}

	// The control: the same cluster without the profile's limits.
	for _, m := range svc.Members(p.ClusterID) {
		m.Node().SetLimiter(nil)
	}
	if free := signRate(t, c2, key, 32, window); free <= bound(2) {
		t.Fatalf("without limits the cluster signed %.0f/s, within the profile's bound %.0f/s: the test cannot tell the profile's limit from this machine's", free, bound(2))
	}
}
