package token

import (
	"fmt"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// dedupeStart is an arbitrary leader clock for the window tests, in Unix milliseconds.
const dedupeStart = int64(1_790_000_000_000)

// filler is a cheap write that carries an idempotency id: a logout of no login is refused, and
// the refusal is remembered like any answer.
func filler(i int, at int64) Command {
	return Command{Type: CmdLogout, RequestID: fmt.Sprintf("fill-%d", i), Time: at, Msg: &hsmpb.CmdLogout{LoginId: "none"}}
}

// earlyCreate sets up a token and returns a create-object write stamped at dedupeStart.
func earlyCreate(t *testing.T, r *replica) Command {
	t.Helper()
	for _, c := range script(t, r)[:4] {
		r.apply(c)
	}
	no, err := r.s.SealObject("alice", secretKey(9))
	if err != nil {
		t.Fatal(err)
	}
	return Command{Type: CmdCreateObjects, RequestID: "early", Time: dedupeStart, Msg: &hsmpb.CmdCreateObjects{Owner: "alice", Objects: []*hsmpb.NewObject{no}}}
}

func TestRetryAfterManyWritesWithinWindowAppliesOnce(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	c := earlyCreate(t, r)
	first := r.apply(c)
	for i := 0; i < 5000; i++ { // more than the old 4,096-id memory, all within a second
		r.apply(filler(i, dedupeStart+int64(i/10)))
	}
	c.Time = dedupeStart + ClientRetryPeriod.Milliseconds()
	second := r.apply(c)
	if fmt.Sprint(first.Handles) != fmt.Sprint(second.Handles) {
		t.Fatalf("retry answered %v, first answer was %v", second.Handles, first.Handles)
	}
	if objs, _, _ := r.s.Counts(); objs != 1 {
		t.Fatalf("%d objects after a retried create, want 1", objs)
	}
}

func TestRestoredReplicaDedupesAlike(t *testing.T) {
	ck, _ := NewClusterKey()
	a, b := newReplica(t, ck), newReplica(t, ck)
	c := earlyCreate(t, a)
	first := a.apply(c)
	for i := 0; i < 5000; i++ {
		a.apply(filler(i, dedupeStart+int64(i/10)))
	}
	snap, err := a.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	b.idx = a.idx
	a.reopen() // a restarted node reloads the table from its store
	c.Time = dedupeStart + ClientRetryPeriod.Milliseconds()
	ra, rb := a.apply(c), b.apply(c)
	if fmt.Sprint(ra, first.Handles) != fmt.Sprint(rb, first.Handles) || fmt.Sprint(ra.Handles) != fmt.Sprint(first.Handles) {
		t.Fatalf("retry answered %v on the reopened node, %v on the restored one; first answer %v", ra, rb, first)
	}
	for _, r := range []*replica{a, b} {
		if objs, _, _ := r.s.Counts(); objs != 1 {
			t.Fatalf("%d objects after a retried create, want 1", objs)
		}
	}
}

func TestIDsOlderThanWindowAreEvicted(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	c := earlyCreate(t, r)
	r.apply(c)
	for i := 0; i < 100; i++ {
		r.apply(filler(i, dedupeStart+int64(i)))
	}
	late := dedupeStart + DedupeWindow.Milliseconds() + time.Second.Milliseconds()
	r.apply(filler(-1, late))
	if n := len(r.s.reqs); n != 1 {
		t.Fatalf("%d ids remembered after the window passed, want 1 (the newest)", n)
	}
	r.reopen()
	if n := len(r.s.reqs); n != 1 {
		t.Fatalf("%d ids remembered after reopening, want 1: eviction must reach the store", n)
	}
	c.Time = late
	r.apply(c) // the id is forgotten: a new write under it applies
	if objs, _, _ := r.s.Counts(); objs != 2 {
		t.Fatalf("%d objects, want 2: an id older than the window must be forgotten", objs)
	}
}

func TestUnstampedCommandsDecodeAndKeepCountBound(t *testing.T) {
	c := Command{Type: CmdLogout, RequestID: "x", Msg: &hsmpb.CmdLogout{LoginId: "none"}}
	b, err := c.encodeVersion(1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b)
	if err != nil || d.RequestID != "x" || d.Time != 0 {
		t.Fatalf("version-1 command decoded as %+v, %v", d, err)
	}
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	for i := 0; i < requestMemory+10; i++ {
		b, err := filler(i, 0).encodeVersion(1)
		if err != nil {
			t.Fatal(err)
		}
		r.idx++
		if _, err := r.s.Apply(r.idx, b); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.s.reqs); n != requestMemory {
		t.Fatalf("%d ids remembered from version-1 commands, want the old bound %d", n, requestMemory)
	}
}
