package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/target"
)

type fakeApplied struct {
	nodes   []target.NodeInfo
	applied map[string]uint64
	polls   int
}

func (f *fakeApplied) Nodes() []target.NodeInfo { return f.nodes }
func (f *fakeApplied) Applied(l string) (uint64, bool) {
	f.polls++
	if f.polls > 3 { // the lagging HSM catches up after a few polls
		f.applied["n3"] = 12
	}
	a, ok := f.applied[l]
	return a, ok
}

// TestWaitAppliedEverywhere: before the key store's setup, every running HSM of the scenario's
// cluster has applied the admin's last write (kmsuser's creation). Campaign seeds 19, 22, 23 and
// 35 failed their setup with ConnectCustomKeyStore FAILED/USER_NOT_FOUND: the KMS, a client
// of its own, logged in as kmsuser on an HSM that had not applied kmsuser's creation yet.
func TestWaitAppliedEverywhere(t *testing.T) {
	f := &fakeApplied{nodes: []target.NodeInfo{{Label: "n1", Up: true}, {Label: "n2", Up: false}, {Label: "n3", Up: true},
		{Label: "r1", Up: true, Cluster: "restored"}, {Label: "n4", Up: true, Removed: true}},
		applied: map[string]uint64{"n1": 12, "n3": 9}}
	if err := waitApplied(context.Background(), f, 12, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if f.polls < 4 {
		t.Fatalf("returned after %d polls, before n3 applied index 12", f.polls)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := waitApplied(ctx, f, 13, time.Millisecond); err == nil {
		t.Fatal("no error when the index is never applied")
	}
}
