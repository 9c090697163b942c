package lastuse

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Records reach bbolt at Flush, forgotten keys leave it, and the tracking start is kept.
func TestFlushReopenForget(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kms.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	l, err := Open(db, start)
	if err != nil {
		t.Fatal(err)
	}
	u := Use{Operation: "Encrypt", Time: start.Add(time.Minute), EventID: "e1", RequestID: "r1"}
	l.Record(u, "k1", "k2")
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Forget("k2")
	l.Record(Use{Operation: "Decrypt", Time: start.Add(time.Hour)}, "k3") // never flushed
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l.Record(Use{Operation: "Sign", Time: start.Add(2 * time.Hour)}, "k1") // lost: no flush
	r, err := Open(db, start.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := r.Get("k1"); !ok || got != u {
		t.Fatalf("k1: %+v %v, want %+v", got, ok, u)
	}
	if _, ok := r.Get("k2"); ok {
		t.Fatal("a forgotten key's record came back")
	}
	if got, _ := r.Get("k3"); got.Operation != "Decrypt" {
		t.Fatalf("k3: %+v", got)
	}
	if !r.TrackingStart().Equal(start) {
		t.Fatalf("tracking start %v, want %v", r.TrackingStart(), start)
	}
}
