package moduletest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/internal/benchrun"
)

// TestHsmsimBench is `hsmsim bench pkcs11 --compare` on this module and SoftHSM v2: a short run
// of every operation on both, in turns, without an error, and the table's ratio column.
func TestHsmsimBench(t *testing.T) {
	newCluster(t, standard)
	softPath, err := benchrun.NewSoftHSMToken(t.TempDir(), "bench-peer")
	if err != nil {
		t.Skip(err) // make test installs softhsm2
	}
	hs, err := benchrun.OpenModule("hsmsim", libPath, "", pin)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	soft, err := benchrun.OpenModule("softhsm", softPath, "bench-peer", benchrun.SoftHSMPIN)
	if err != nil {
		t.Fatal(err)
	}
	defer soft.Close()
	rs := benchrun.Matrix(context.Background(), []benchrun.Target{hs, soft}, benchrun.PKCS11Operations, []int{1, 4},
		benchrun.Options{Duration: 200 * time.Millisecond})
	if len(rs) != len(benchrun.PKCS11Operations)*2*2 {
		t.Fatalf("%d results", len(rs))
	}
	for _, r := range rs {
		if r.Ops == 0 || r.Errors != 0 || r.P99 < r.P50 {
			t.Fatalf("%s %s ×%d: %+v", r.Target, r.Operation, r.Concurrency, r)
		}
	}
	var out bytes.Buffer
	if err := benchrun.WriteTable(&out, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "÷ hsmsim") {
		t.Fatalf("no ratio column:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
