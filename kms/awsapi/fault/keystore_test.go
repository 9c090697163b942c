package fault_test

import (
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
)

// stores records what a fail-keystore rule does to the KMS's key stores.
type stores struct {
	mu     sync.Mutex
	failed map[string]string // store → code
}

func (s *stores) FailCustomKeyStore(id, code string) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failed[id] = code
	return func() { s.mu.Lock(); delete(s.failed, id); s.mu.Unlock() }, nil
}

func (s *stores) code(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed[id]
}

func TestFailKeyStoreUntilExpiry(t *testing.T) {
	ks := &stores{failed: map[string]string{}}
	set := fault.New(fault.Config{})
	set.UseKeyStores(ks)
	r, err := set.Add(fault.Rule{Store: "cks-1", For: fault.Duration(200 * time.Millisecond)})
	if err != nil || r.Action != fault.ActFailKeyStore || r.Code != "CLUSTER_NOT_FOUND" {
		t.Fatalf("%+v %v", r, err)
	}
	if ks.code("cks-1") != "CLUSTER_NOT_FOUND" {
		t.Fatal("the store did not fail")
	}
	for deadline := time.Now().Add(5 * time.Second); ks.code("cks-1") != ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store is still failed after the rule's expiry")
		}
	}
	if _, err := set.Add(fault.Rule{Store: "cks-2", Code: "INSUFFICIENT_CLOUDHSM_HSMS"}); err != nil {
		t.Fatal(err)
	}
	if n := set.Clear(); n != 1 || ks.code("cks-2") != "" {
		t.Fatalf("Clear ended %d rules; store cks-2 %q", n, ks.code("cks-2"))
	}
	if _, err := fault.New(fault.Config{}).Add(fault.Rule{Store: "cks-1"}); err == nil {
		t.Fatal("a set without key stores took a fail-keystore rule")
	}
}
