package customstore

import (
	"context"
	"encoding/pem"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// fakeHost keeps the records in a map; its sealing only tags a secret with its AAD, enough to
// see that the store seals what it should under the AAD it should.
type fakeHost struct {
	recs map[string]Record
	keys map[string]bool // store id → has KMS keys
}

func (h *fakeHost) Put(r *Record) error              { h.recs[r.ID] = *r; return nil }
func (h *fakeHost) Delete(id string) error           { delete(h.recs, id); return nil }
func (h *fakeHost) HasKeys(id string) bool           { return h.keys[id] }
func (h *fakeHost) Seal(p []byte, aad string) []byte { return []byte(aad + "|" + string(p)) }
func (h *fakeHost) Unseal(s []byte, aad string) ([]byte, error) {
	p, ok := strings.CutPrefix(string(s), aad+"|")
	if !ok {
		return nil, errors.New("wrong aad")
	}
	return []byte(p), nil
}

// oneCluster is a directory of one active cluster in two AZs that cannot be dialled.
type oneCluster struct{ c *cloudhsm.Cluster }

func (d oneCluster) Cluster(_ context.Context, _, _, id string) (*cloudhsm.Cluster, error) {
	if id != d.c.ID {
		return nil, cloudhsm.ErrClusterNotFound
	}
	return d.c, nil
}

func (oneCluster) Dial(context.Context, *cloudhsm.Cluster) (*client.Client, error) {
	return nil, errors.New("no route to the cluster")
}

func wantType(t *testing.T, err error, typ string) {
	t.Helper()
	var ae *awsapi.Error
	if !errors.As(err, &ae) || ae.Type != typ {
		t.Fatalf("want %s, got %v", typ, err)
	}
}

// testStore is a Store over a fake host and one active cluster in two AZs that cannot be
// dialled, stopped at the test's end; anchor is the cluster's trust anchor.
func testStore(t *testing.T) (s *Store, host *fakeHost, cl *cloudhsm.Cluster, anchor string) {
	anchor = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("anchor")}))
	cl = &cloudhsm.Cluster{ID: "cluster-aaaaaaaaaaaa", State: "ACTIVE", TrustAnchorPEM: []byte(anchor),
		HSMs: []cloudhsm.ClusterHSM{{ID: "hsm-a", AZ: "us-east-1a", State: "ACTIVE"}, {ID: "hsm-b", AZ: "us-east-1b", State: "ACTIVE"}}}
	host = &fakeHost{recs: map[string]Record{}, keys: map[string]bool{}}
	var mu sync.RWMutex
	var wg sync.WaitGroup
	bg, stop := context.WithCancel(context.Background())
	s = New(Config{Host: host, Dir: oneCluster{cl}, Mu: &mu, Ctx: bg, WG: &wg,
		Log: slog.New(slog.DiscardHandler), Now: time.Now})
	t.Cleanup(func() { stop(); wg.Wait(); s.Close() })
	return s, host, cl, anchor
}

// TestStoreThroughHost runs a store's life against a fake host: what it persists, and the rules
// that ask the host (a store with keys is not deleted).
func TestStoreThroughHost(t *testing.T) {
	s, host, cl, anchor := testStore(t)
	ctx := context.Background()
	const acct, region = "111122223333", "us-east-1"

	out, err := s.Create(ctx, acct, region, &CreateInput{CustomKeyStoreName: "s", CloudHsmClusterId: cl.ID, TrustAnchorCertificate: anchor, KeyStorePassword: "kmsPassword1"})
	if err != nil {
		t.Fatal(err)
	}
	id := out.CustomKeyStoreId
	rec, ok := host.recs[id]
	if !ok || rec.ClusterID != cl.ID || string(rec.Password) != passwordAAD(id)+"|kmsPassword1" {
		t.Fatalf("persisted %+v", rec)
	}
	if _, err := s.Describe("444455556666", region, id, ""); err == nil {
		t.Fatal("another account sees the store")
	}

	check := func(state, code string) {
		t.Helper()
		es, err := s.Describe(acct, region, id, "")
		if err != nil || len(es) != 1 || es[0].ConnectionState != state || es[0].ConnectionErrorCode != code {
			t.Fatalf("describe: %+v, %v; want %s %s", es, err, state, code)
		}
	}
	check(connDisconnected, "")
	if err := s.Connect(ctx, acct, region, id); err != nil {
		t.Fatal(err)
	}
	if !host.recs[id].Connected {
		t.Fatal("Connect did not persist that the store should be connected")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		es, _ := s.Describe(acct, region, id, "")
		if es[0].ConnectionState != connConnecting || time.Now().After(deadline) {
			break
		}
	}
	check(connFailed, "NETWORK_ERRORS")
	wantType(t, s.Delete(acct, region, id), errStoreInvalidState)
	if err := s.Disconnect(acct, region, id); err != nil {
		t.Fatal(err)
	}
	check(connDisconnected, "")

	host.keys[id] = true
	wantType(t, s.Delete(acct, region, id), errStoreHasCMKs)
	host.keys[id] = false
	if err := s.Delete(acct, region, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := host.recs[id]; ok {
		t.Fatal("the record outlived Delete")
	}
	wantType(t, s.Delete(acct, region, id), errStoreNotFound)
}

// TestFailAndUndo: a fault leaves a store FAILED with the code it names; its undo puts it back
// as it was, unless an operator acted meanwhile.
func TestFailAndUndo(t *testing.T) {
	s, _, cl, anchor := testStore(t)
	const acct, region = "111122223333", "us-east-1"
	out, err := s.Create(context.Background(), acct, region, &CreateInput{CustomKeyStoreName: "s", CloudHsmClusterId: cl.ID, TrustAnchorCertificate: anchor, KeyStorePassword: "kmsPassword1"})
	if err != nil {
		t.Fatal(err)
	}
	id := out.CustomKeyStoreId
	state := func() (string, string) {
		es, _ := s.Describe(acct, region, id, "")
		return es[0].ConnectionState, es[0].ConnectionErrorCode
	}
	if _, err := s.Fail("cks-1234567890abcdef0", "CLUSTER_NOT_FOUND"); err == nil {
		t.Fatal("an unknown store failed")
	}
	undo, err := s.Fail(id, "CLUSTER_NOT_FOUND")
	if err != nil {
		t.Fatal(err)
	}
	if st, code := state(); st != connFailed || code != "CLUSTER_NOT_FOUND" {
		t.Fatalf("after the fault: %s %s", st, code)
	}
	undo()
	if st, code := state(); st != connDisconnected || code != "" {
		t.Fatalf("after the undo: %s %s, want DISCONNECTED as before", st, code)
	}
	// The operator disconnects the failed store: the undo leaves it so.
	undo, _ = s.Fail(id, "INSUFFICIENT_CLOUDHSM_HSMS")
	if err := s.Disconnect(acct, region, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Connect(context.Background(), acct, region, id); err != nil {
		t.Fatal(err)
	}
	undo()
	if st, _ := state(); st == connDisconnected {
		t.Fatal("the undo overrode the operator's connect")
	}
}
