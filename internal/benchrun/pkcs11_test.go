//go:build cgo

package benchrun_test

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/hsmsim/hsmsim/internal/benchrun"
)

// A short run of every PKCS#11 operation on a fresh SoftHSM token: no errors, and the token is
// left as it was (the run's keys, and the keys keygen made, destroyed). hsmsim's own module is
// run the same way by pkcs11shim/moduletest's TestHsmsimBench.
func TestPKCS11RunOnSoftHSM(t *testing.T) {
	path, err := benchrun.NewSoftHSMToken(t.TempDir(), "bench-test")
	if err != nil {
		t.Skip(err) // make test installs softhsm2; without it there is nothing to run against
	}
	m, err := benchrun.OpenModule("softhsm", path, "bench-test", benchrun.SoftHSMPIN)
	if err != nil {
		t.Fatal(err)
	}
	rs := benchrun.Matrix(context.Background(), []benchrun.Target{m}, benchrun.PKCS11Operations, []int{1, 2}, benchrun.Options{Duration: 150 * time.Millisecond})
	for _, r := range rs {
		if r.Ops == 0 || r.Errors != 0 {
			t.Fatalf("%s ×%d: %+v", r.Operation, r.Concurrency, r)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := objectsOn(t, path, "bench-test"); n != 0 {
		t.Fatalf("the run left %d objects on the token", n)
	}
}

// objectsOn counts the objects the user sees on the token.
func objectsOn(t *testing.T, path, label string) int {
	t.Helper()
	ctx := pkcs11.New(path)
	if err := ctx.Initialize(); err != nil {
		t.Fatal(err)
	}
	defer ctx.Finalize()
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		if ti, err := ctx.GetTokenInfo(slot); err != nil || ti.Label != label {
			continue
		}
		s, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer ctx.CloseSession(s)
		if err := ctx.Login(s, pkcs11.CKU_USER, benchrun.SoftHSMPIN); err != nil {
			t.Fatal(err)
		}
		if err := ctx.FindObjectsInit(s, nil); err != nil {
			t.Fatal(err)
		}
		objs, _, err := ctx.FindObjects(s, 1000)
		if err != nil {
			t.Fatal(err)
		}
		_ = ctx.FindObjectsFinal(s)
		return len(objs)
	}
	t.Fatalf("no token %q", label)
	return 0
}
