package audit

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func openT(t *testing.T, dir string) *Log {
	t.Helper()
	l, err := Open(dir, Options{HSM: "hsm-a", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func ev(seq uint64, op string) Event { return Event{Seq: seq, Opcode: op, Response: "CKR_OK"} }

func seqs(evs []Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func readT(t *testing.T, path string) []Event {
	t.Helper()
	evs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestRecordKeepsSequenceAcrossReopenAndSkipsReplays(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir)
	if err := l.Record([]Event{ev(3, OpLogin), ev(5, OpCreateUser), ev(9, OpGenerateKey)}); err != nil {
		t.Fatal(err)
	}
	l.Close()

	l = openT(t, dir)
	if l.Last() != 9 {
		t.Fatalf("last after reopen = %d, want 9", l.Last())
	}
	// A replay after a crash between the audit write and the store's commit brings 5 and 9 again.
	if err := l.Record([]Event{ev(5, OpCreateUser), ev(9, OpGenerateKey), ev(10, OpDestroyObject)}); err != nil {
		t.Fatal(err)
	}
	got := readT(t, filepath.Join(dir, FileName))
	if !slices.Equal(seqs(got), []uint64{3, 5, 9, 10}) {
		t.Fatalf("seqs = %v", seqs(got))
	}
	for _, e := range got {
		if e.HSM != "hsm-a" || e.Scope != ScopeCluster || e.Time.IsZero() {
			t.Fatalf("event not stamped: %+v", e)
		}
	}
}

func TestTornLastLineIsDroppedOnOpen(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir)
	if err := l.Record([]Event{ev(1, OpLogin), ev(2, OpLogout)}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	torn := `{"seq":3,"opcode":"CN_LOGIN","detail":"` + strings.Repeat("x", 400) // the crash cut the write here
	f.WriteString(torn)
	f.Close()

	l = openT(t, dir)
	if l.Last() != 2 {
		t.Fatalf("last = %d, want 2", l.Last())
	}
	if err := l.Record([]Event{ev(3, OpLogin)}); err != nil {
		t.Fatal(err)
	}
	if got := seqs(readT(t, path)); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("seqs = %v", got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "xxxx") || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("the torn line is still in the file:\n%s", b)
	}
}

func TestLocalEventsHaveTheirOwnCounter(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir)
	l.Record([]Event{ev(40, OpLogin)})
	for range 2 {
		if err := l.RecordLocal(Event{Opcode: OpLogin, Response: "CKR_PIN_LOCKED", User: "bob"}); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	l = openT(t, dir)
	l.RecordLocal(Event{Opcode: OpBackupToken, Response: "CKR_OK"})
	got := readT(t, filepath.Join(dir, LocalFileName))
	if !slices.Equal(seqs(got), []uint64{1, 2, 3}) || got[0].Scope != ScopeHSM {
		t.Fatalf("local events = %+v", got)
	}
}

func TestRestoreFromATailEndsEqual(t *testing.T) {
	src, dst := openT(t, t.TempDir()), openT(t, t.TempDir())
	var all []Event
	for i := uint64(1); i <= 50; i++ {
		all = append(all, ev(i*2, OpGenerateKey))
	}
	src.Record(all)
	dst.Record(all[:10]) // dst lagged behind, then got a snapshot
	dst.Record([]Event{ev(21, "HSMSIM_NOT_IN_THE_LOG")})
	if err := dst.Restore(src.Tail(100)); err != nil {
		t.Fatal(err)
	}
	want := readT(t, filepath.Join(src.dir, FileName))
	got := readT(t, filepath.Join(dst.dir, FileName))
	if !slices.Equal(seqs(got), seqs(want)) {
		t.Fatalf("restored seqs %v, want %v", seqs(got), seqs(want))
	}
	if dst.Last() != 100 {
		t.Fatalf("last = %d", dst.Last())
	}
	if l := readT(t, filepath.Join(dst.dir, LocalFileName)); len(l) != 0 {
		t.Fatalf("a gap recorded where there is none: %+v", l)
	}
}

func TestRestoreBeyondTheTailRecordsTheGap(t *testing.T) {
	src, dst := openT(t, t.TempDir()), openT(t, t.TempDir())
	var all []Event
	for i := uint64(1); i <= TailSize+10; i++ {
		all = append(all, ev(i, OpGenerateKey))
	}
	src.Record(all)
	tail := src.Tail(TailSize + 10)
	if tail.From != 10 || len(tail.Events) != TailSize {
		t.Fatalf("tail from %d with %d events", tail.From, len(tail.Events))
	}
	dst.Record(all[:3])
	if err := dst.Restore(tail); err != nil {
		t.Fatal(err)
	}
	got := readT(t, filepath.Join(dst.dir, FileName))
	if len(got) != 3+TailSize || got[3].Seq != 11 {
		t.Fatalf("%d events, the 4th is %d", len(got), got[3].Seq)
	}
	gap := readT(t, filepath.Join(dst.dir, LocalFileName))
	if len(gap) != 1 || gap[0].Opcode != OpAuditGap || !strings.Contains(gap[0].Detail, "after seq 3 through 10") {
		t.Fatalf("gap events = %+v", gap)
	}
	// Reopened, the log still knows its tail starts after 10, so it passes the gap on.
	dst.Close()
	re := openT(t, dst.dir)
	if f := re.Tail(TailSize + 10).From; f != 10 {
		t.Fatalf("tail from after reopen = %d, want 10", f)
	}
}

func TestFilterMatches(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := Event{Seq: 1, Time: at, HSM: "hsm-a", Opcode: OpLogin, Actor: "", User: "bob"}
	for _, c := range []struct {
		f    Filter
		want bool
	}{
		{Filter{}, true},
		{Filter{HSM: "hsm-a"}, true},
		{Filter{HSM: "hsm-b"}, false},
		{Filter{User: "bob"}, true},
		{Filter{User: "alice"}, false},
		{Filter{Opcode: "login"}, true},
		{Filter{Opcode: "CN_LOGIN"}, true},
		{Filter{Opcode: "logout"}, false},
		{Filter{Since: at}, true},
		{Filter{Since: at.Add(time.Second)}, false},
	} {
		if got := c.f.Match(e); got != c.want {
			t.Errorf("%+v: match = %v, want %v", c.f, got, c.want)
		}
	}
}

func TestFollowReportsTheLogThenWhatIsAppended(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir)
	l.Record([]Event{ev(1, OpLogout), ev(2, OpLogin)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, []string{filepath.Join(dir, FileName)}, Filter{Opcode: "logout"}, 10*time.Millisecond,
			func(e Event) error { got <- e; return nil })
	}()
	l.Record([]Event{ev(3, OpLogin), ev(4, OpLogout)})
	for _, want := range []uint64{1, 4} {
		select {
		case e := <-got:
			if e.Seq != want {
				t.Fatalf("followed %d, want %d", e.Seq, want)
			}
		case <-ctx.Done():
			t.Fatalf("follow did not report %d", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("more events: %v", fmt.Sprint(<-got))
	}
}

// BenchmarkRecordSynced measures one batch's audit write with fsync on, as the apply path pays
// it (alongside the store's commit).
func BenchmarkRecordSynced(b *testing.B) {
	l, err := Open(b.TempDir(), Options{HSM: "hsm-a"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	for i := range b.N {
		e := Event{Seq: uint64(i + 1), Opcode: OpGenerateKey, Response: "CKR_OK", Actor: "alice", Handles: []uint32{uint32(i)}}
		if err := l.Record([]Event{e}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFollowGoesOnAcrossARestore(t *testing.T) {
	src, dst := openT(t, t.TempDir()), openT(t, t.TempDir())
	var all []Event
	for i := uint64(1); i <= 40; i++ {
		all = append(all, ev(i, OpGenerateKey))
	}
	src.Record(all)
	// dst's own lines are longer than the tail's, so an offset into its old file lands in the
	// middle of a line of the new one.
	long := strings.Repeat("d", 300)
	dst.Record([]Event{{Seq: 1, Opcode: OpGenerateKey, Detail: long}, {Seq: 2, Opcode: OpGenerateKey, Detail: long}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan uint64, 100)
	done := make(chan error, 1)
	go func() {
		done <- Follow(ctx, []string{filepath.Join(dst.dir, FileName)}, Filter{}, 5*time.Millisecond,
			func(e Event) error { got <- e.Seq; return nil })
	}()
	for _, want := range []uint64{1, 2} {
		if s := <-got; s != want {
			t.Fatalf("followed %d, want %d", s, want)
		}
	}
	// The restore renames a longer file over the one followed.
	if err := dst.Restore(src.Tail(40)); err != nil {
		t.Fatal(err)
	}
	for want := uint64(3); want <= 40; want++ {
		select {
		case s := <-got:
			if s != want {
				t.Fatalf("followed %d, want %d", s, want)
			}
		case <-ctx.Done():
			t.Fatalf("follow stopped before %d: %v", want, <-done)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Past TailSize events, recorded one by one as the apply path records them, the tail is the
// latest TailSize in order, and From the last one dropped; Tail(upTo) cuts it.
func TestTailAfterManyWrites(t *testing.T) {
	l, err := Open(t.TempDir(), Options{HSM: "hsm-a", NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 2*TailSize + TailSize/2 + 3
	for i := uint64(1); i <= n; i++ {
		if err := l.Record([]Event{ev(i, OpGenerateKey)}); err != nil {
			t.Fatal(err)
		}
	}
	tail := l.Tail(n)
	if tail.From != n-TailSize || len(tail.Events) != TailSize {
		t.Fatalf("tail from %d with %d events, want from %d with %d", tail.From, len(tail.Events), n-TailSize, TailSize)
	}
	for i, e := range tail.Events {
		if e.Seq != n-TailSize+1+uint64(i) {
			t.Fatalf("event %d of the tail is seq %d, want %d", i, e.Seq, n-TailSize+1+uint64(i))
		}
	}
	if cut := l.Tail(n - 5); len(cut.Events) != TailSize-5 || cut.Events[len(cut.Events)-1].Seq != n-5 {
		t.Fatalf("Tail(%d): %d events", n-5, len(cut.Events))
	}
}

// BenchmarkRecordFullTail is one event's cost once the in-memory tail is full (without fsync,
// which BenchmarkRecordSynced measures): the apply path pays it for every event.
func BenchmarkRecordFullTail(b *testing.B) {
	l, err := Open(b.TempDir(), Options{HSM: "hsm-a", NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	seq := uint64(0)
	next := func() Event {
		seq++
		return Event{Seq: seq, Opcode: OpGenerateKey, Response: "CKR_OK", Actor: "alice", Handles: []uint32{uint32(seq)}}
	}
	for range TailSize {
		if err := l.Record([]Event{next()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if err := l.Record([]Event{next()}); err != nil {
			b.Fatal(err)
		}
	}
}
