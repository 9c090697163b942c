package benchrun_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/internal/benchrun"
	"github.com/hsmsim/hsmsim/kms"
)

// startKMS serves hsmsim's KMS (its default key store) on a loopback port.
func startKMS(t *testing.T) string {
	t.Helper()
	srv, err := kms.Open(kms.Config{DataDir: t.TempDir(), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return url
}

// A short KMS run through the SDK: every operation completes without errors on hsmsim's KMS,
// the two endpoints of a comparison each get every cell, and an operation the tool does not
// know is a cell that says so.
func TestKMSRun(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	ctx := context.Background()
	a, b := startKMS(t), startKMS(t)
	first, err := benchrun.OpenKMS(ctx, "a", a, "us-east-1", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := benchrun.OpenKMS(ctx, "b", b, "us-east-1", "")
	if err != nil {
		t.Fatal(err)
	}
	ops := append(append([]string{}, benchrun.KMSOperations...), "frobnicate")
	rs := benchrun.Matrix(ctx, []benchrun.Target{first, second}, ops, []int{1, 4}, benchrun.Options{Duration: 150 * time.Millisecond})
	if len(rs) != len(ops)*2*2 {
		t.Fatalf("%d results", len(rs))
	}
	for _, r := range rs {
		if r.Operation == "frobnicate" {
			if r.Ops != 0 || !strings.Contains(r.FirstError, "unknown KMS operation") {
				t.Fatalf("an unknown operation: %+v", r)
			}
			continue
		}
		if r.Ops == 0 || r.Errors != 0 || r.OpsPerSec <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Fatalf("%s %s ×%d: %+v", r.Target, r.Operation, r.Concurrency, r)
		}
	}
	var out bytes.Buffer
	if err := benchrun.WriteTable(&out, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "÷ a") {
		t.Fatalf("no ratio column:\n%s", out.String())
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	_ = second.Close()
}
