package token

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/store"
)

var cheapKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// replica is one state machine over its own store, as one node of a cluster.
type replica struct {
	t   testing.TB
	st  *store.Store
	s   *State
	dir string
	ck  *ClusterKey
	idx uint64
}

func newReplica(t testing.TB, ck *ClusterKey) *replica {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(st, ck)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{t: t, st: st, s: s, dir: dir, ck: ck}
	t.Cleanup(func() { r.st.Close() })
	return r
}

func (r *replica) apply(c Command) Result {
	r.t.Helper()
	b, err := c.Encode()
	if err != nil {
		r.t.Fatal(err)
	}
	r.idx++
	res, err := r.s.Apply(r.idx, b)
	if err != nil {
		r.t.Fatalf("apply %d: %v", c.Type, err)
	}
	return res
}

func (r *replica) reopen() {
	r.t.Helper()
	r.st.Close()
	st, err := store.Open(r.dir, store.Options{NoSync: true})
	if err != nil {
		r.t.Fatal(err)
	}
	s, err := Open(st, r.ck)
	if err != nil {
		r.t.Fatal(err)
	}
	r.st, r.s = st, s
}

func mustHash(t testing.TB, pw string) *hsmpb.PasswordHash {
	t.Helper()
	h, err := HashPassword(pw, cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func secretKey(value byte) attr.Set {
	return attr.Set{
		p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES),
		p11.CKA_TOKEN: attr.Bool(true), p11.CKA_LABEL: []byte(fmt.Sprintf("k%d", value)),
		p11.CKA_VALUE: bytes.Repeat([]byte{value}, 32), p11.CKA_SENSITIVE: attr.Bool(true),
		p11.CKA_EXTRACTABLE: attr.Bool(false), p11.CKA_PRIVATE: attr.Bool(true),
	}
}

// script is a fixed history: bootstrap, activate, users, keys, sharing, failed logins.
func script(t testing.TB, r *replica) []Command {
	t.Helper()
	newObj := func(owner string, v byte) *hsmpb.NewObject {
		no, err := r.s.SealObject(owner, secretKey(v))
		if err != nil {
			t.Fatal(err)
		}
		return no
	}
	return []Command{
		{Type: CmdBootstrap, Msg: &hsmpb.CmdBootstrap{ClusterId: "cluster-abcdefghijk", AdminHash: mustHash(t, InitialAdminPassword), Label: "t"}},
		{Type: CmdSetPassword, Msg: &hsmpb.CmdSetPassword{Actor: AdminName, Name: AdminName, Hash: mustHash(t, "adminpass")}},
		{Type: CmdCreateUser, Msg: &hsmpb.CmdCreateUser{Actor: AdminName, Name: "alice", Role: RoleCryptoUser, Hash: mustHash(t, "alicepass")}},
		{Type: CmdCreateUser, Msg: &hsmpb.CmdCreateUser{Actor: AdminName, Name: "bob", Role: RoleCryptoUser, Hash: mustHash(t, "bobpass1")}},
		{Type: CmdCreateObjects, RequestID: "req-1", Msg: &hsmpb.CmdCreateObjects{Owner: "alice", Objects: []*hsmpb.NewObject{newObj("alice", 1)}}},
		{Type: CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: "alice", Objects: []*hsmpb.NewObject{newObj("alice", 2), newObj("alice", 3)}}},
		{Type: CmdShareKey, Msg: &hsmpb.CmdShareKey{Actor: "alice", Handle: 1, User: "bob", Share: true}},
		{Type: CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{User: "bob", Ok: false}},
		{Type: CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{User: "alice", Ok: true, LoginId: "L1", AtUnix: 1700000000}},
		{Type: CmdDestroyObject, Msg: &hsmpb.CmdDestroyObject{Actor: "alice", Handle: 2}},
	}
}

func TestReplicasApplyingTheSameLogAgree(t *testing.T) {
	ck, err := NewClusterKey()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newReplica(t, ck), newReplica(t, ck)
	cmds := script(t, a) // sealed once: both replicas apply the same bytes
	for _, c := range cmds {
		ra, rb := a.apply(c), b.apply(c)
		if ra.RV != rb.RV || fmt.Sprint(ra.Handles) != fmt.Sprint(rb.Handles) {
			t.Fatalf("command %d: results differ: %+v vs %+v", c.Type, ra, rb)
		}
		if ra.RV != p11.CKR_OK && c.Type != CmdLoginAttempt {
			t.Fatalf("command %d failed: %v", c.Type, ra.Err())
		}
	}
	da, _ := a.s.Digest()
	db, _ := b.s.Digest()
	if !bytes.Equal(da, db) {
		t.Fatal("replicas that applied the same log hold different tokens")
	}
	if h := a.s.Find("bob", nil); fmt.Sprint(h) != "[1]" {
		t.Fatalf("bob sees %v, want only the shared key 1", h)
	}
	if h := a.s.Find("alice", nil); fmt.Sprint(h) != "[1 3]" {
		t.Fatalf("alice sees %v, want [1 3] (2 was destroyed)", h)
	}
	u, _ := a.s.User("bob")
	if u.Failed != 1 {
		t.Fatalf("bob's failed logins = %d, want 1", u.Failed)
	}

	// Restart: the state reloads from the store and still agrees.
	a.reopen()
	if d, _ := a.s.Digest(); !bytes.Equal(d, db) {
		t.Fatal("state after reopen differs from before")
	}
	if a.s.Applied() != uint64(len(cmds)) {
		t.Fatalf("applied index after reopen = %d, want %d", a.s.Applied(), len(cmds))
	}
}

func TestRetriedRequestAppliesOnce(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	for _, c := range script(t, r)[:4] {
		r.apply(c)
	}
	no, _ := r.s.SealObject("alice", secretKey(9))
	c := Command{Type: CmdCreateObjects, RequestID: "same", Msg: &hsmpb.CmdCreateObjects{Owner: "alice", Objects: []*hsmpb.NewObject{no}}}
	first, second := r.apply(c), r.apply(c)
	if fmt.Sprint(first.Handles) != fmt.Sprint(second.Handles) {
		t.Fatalf("retry answered %v, first answer was %v", second.Handles, first.Handles)
	}
	if objs, _, _ := r.s.Counts(); objs != 1 {
		t.Fatalf("%d objects after a retried create, want 1", objs)
	}
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	for _, c := range script(t, r)[:4] {
		r.apply(c)
	}
	for i := 1; i <= MaxFailedLogins; i++ {
		res := r.apply(Command{Type: CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{User: "bob"}})
		if res.RV != p11.CKR_PIN_INCORRECT {
			t.Fatalf("attempt %d: %s, want CKR_PIN_INCORRECT", i, p11.RVName(res.RV))
		}
	}
	res := r.apply(Command{Type: CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{User: "bob", Ok: true, LoginId: "x"}})
	if res.RV != p11.CKR_PIN_LOCKED {
		t.Fatalf("right password after lockout: %s, want CKR_PIN_LOCKED", p11.RVName(res.RV))
	}
	// Only an admin may reset another user's password; alice may not.
	if res := r.apply(Command{Type: CmdSetPassword, Msg: &hsmpb.CmdSetPassword{Actor: "alice", Name: "bob", Hash: mustHash(t, "newpass1")}}); res.RV != p11.CKR_USER_NOT_LOGGED_IN {
		t.Fatalf("CU resetting another user: %s", p11.RVName(res.RV))
	}
	r.apply(Command{Type: CmdSetPassword, Msg: &hsmpb.CmdSetPassword{Actor: AdminName, Name: "bob", Hash: mustHash(t, "newpass1")}})
	u, _ := r.s.User("bob")
	res = r.apply(Command{Type: CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{User: "bob", Ok: true, LoginId: "y", Generation: u.Generation}})
	if res.RV != p11.CKR_OK || u.Locked {
		t.Fatalf("login after reset: %s (locked=%v)", p11.RVName(res.RV), u.Locked)
	}
	// A login verified against an older password generation counts as a failure.
	res = r.apply(Command{Type: CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{User: "bob", Ok: true, LoginId: "z", Generation: u.Generation - 1}})
	if res.RV != p11.CKR_PIN_INCORRECT {
		t.Fatalf("stale-generation login: %s", p11.RVName(res.RV))
	}
}

func TestRefusalsChangeNothing(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	for _, c := range script(t, r) {
		r.apply(c)
	}
	before, _ := r.s.Digest()
	refused := []Command{
		{Type: CmdBootstrap, Msg: &hsmpb.CmdBootstrap{ClusterId: "cluster-again", AdminHash: mustHash(t, "x1234567")}},
		{Type: CmdDestroyObject, Msg: &hsmpb.CmdDestroyObject{Actor: "bob", Handle: 1}},     // shared, not owned
		{Type: CmdDestroyObject, Msg: &hsmpb.CmdDestroyObject{Actor: "bob", Handle: 3}},     // invisible
		{Type: CmdDestroyObject, Msg: &hsmpb.CmdDestroyObject{Actor: AdminName, Handle: 1}}, // not a CU
		{Type: CmdCreateUser, Msg: &hsmpb.CmdCreateUser{Actor: "alice", Name: "eve", Role: RoleCryptoUser, Hash: mustHash(t, "evepass1")}},
		{Type: CmdCreateUser, Msg: &hsmpb.CmdCreateUser{Actor: AdminName, Name: "alice", Role: RoleCryptoUser, Hash: mustHash(t, "x1234567")}},
		{Type: CmdDeleteUser, Msg: &hsmpb.CmdDeleteUser{Actor: AdminName, Name: "alice"}}, // owns keys
		{Type: CmdShareKey, Msg: &hsmpb.CmdShareKey{Actor: "alice", Handle: 3, User: AdminName, Share: true}},
		{Type: CmdLogout, Msg: &hsmpb.CmdLogout{LoginId: "nope"}},
	}
	want := []uint32{p11.CKR_FUNCTION_FAILED, p11.CKR_ACTION_PROHIBITED, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_ARGUMENTS_BAD, p11.CKR_ACTION_PROHIBITED, p11.CKR_ARGUMENTS_BAD, p11.CKR_USER_NOT_LOGGED_IN}
	for i, c := range refused {
		if res := r.apply(c); res.RV != want[i] {
			t.Errorf("refusal %d (type %d): %s, want %s", i, c.Type, p11.RVName(res.RV), p11.RVName(want[i]))
		}
	}
	if after, _ := r.s.Digest(); !bytes.Equal(before, after) {
		t.Fatal("refused commands changed the token")
	}
}

func TestMaterialIsSealedInCommandsAndSnapshots(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	cmds := script(t, r)
	for _, c := range cmds {
		r.apply(c)
		b, _ := c.Encode()
		for v := byte(1); v <= 3; v++ {
			if bytes.Contains(b, bytes.Repeat([]byte{v}, 32)) {
				t.Fatalf("command %d carries key material in clear", c.Type)
			}
		}
	}
	snap, err := r.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range snap.Objects {
		for _, a := range o.Public {
			if a.Type == p11.CKA_VALUE {
				t.Fatalf("snapshot object %d has CKA_VALUE in clear", o.Handle)
			}
		}
	}
	// Material sealed for alice does not open as bob's: no replay into another owner.
	no, _ := r.s.SealObject("alice", secretKey(7))
	res := r.apply(Command{Type: CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: "bob", Objects: []*hsmpb.NewObject{no}}})
	if res.RV != p11.CKR_FUNCTION_FAILED {
		t.Fatalf("replayed material: %s", p11.RVName(res.RV))
	}
	// Restore into a fresh replica reproduces the state.
	other := newReplica(t, ck)
	if err := other.s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	d1, _ := r.s.Digest()
	d2, _ := other.s.Digest()
	if !bytes.Equal(d1, d2) {
		t.Fatal("restored snapshot differs")
	}
}

func TestUndecodableCommandsAreRefusedWithoutChange(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	for _, c := range script(t, r) {
		r.apply(c)
	}
	before, _ := r.s.Digest()
	for _, b := range [][]byte{nil, {1}, {1, 2, 0}, {99, 1, 0}, {2, 1, 5, 'a'}, {2, 1, 0, 0xff, 0xff}} {
		if _, err := r.s.Apply(r.idx+1, b); !errors.Is(err, ErrBadCommand) {
			t.Errorf("Apply(%x) = %v, want ErrBadCommand", b, err)
		}
	}
	if after, _ := r.s.Digest(); !bytes.Equal(before, after) || r.s.Applied() != r.idx {
		t.Fatal("an undecodable command changed the state or the index")
	}
}

// FuzzApply feeds arbitrary bytes to Apply on a populated token: it must never panic, and an
// entry that does not decode must leave the state and index untouched.
func FuzzApply(f *testing.F) {
	ck, _ := NewClusterKey()
	f.Add([]byte{2, 1, 0})
	f.Add([]byte{3, 1, 0, 10, 5, 'a', 'l', 'i', 'c', 'e', 16, 1})
	f.Add([]byte{9, 1, 2, 'i', 'd', 10, 3, 'b', 'o', 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := newReplica(t, ck)
		for _, c := range script(t, r)[:5] {
			r.apply(c)
		}
		before, _ := r.s.Digest()
		_, err := r.s.Apply(r.idx+1, b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if after, _ := r.s.Digest(); !bytes.Equal(before, after) || r.s.Applied() != r.idx {
				t.Fatal("undecodable entry changed the state")
			}
		}
	})
}

// Leases: a renewal moves a login's last sign of life forward (never back), an expiry ends the
// logins last alive before its time and no other, on every replica alike, and both survive a
// reopen and a snapshot.
func TestLoginLeases(t *testing.T) {
	ck, err := NewClusterKey()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newReplica(t, ck), newReplica(t, ck)
	cmds := script(t, a)
	cmds = append(cmds,
		Command{Type: CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{User: "bob", Ok: true, LoginId: "L2", AtUnix: 1700000000}},
		Command{Type: CmdRenewLogin, Msg: &hsmpb.CmdRenewLogin{LoginId: "L1", AtUnix: 1700000100}},
		Command{Type: CmdRenewLogin, Msg: &hsmpb.CmdRenewLogin{LoginId: "L1", AtUnix: 1700000050}}, // older: no change
		Command{Type: CmdExpireLogins, Msg: &hsmpb.CmdExpireLogins{BeforeUnix: 1700000060}},
	)
	for _, c := range cmds {
		if ra, rb := a.apply(c), b.apply(c); ra.RV != rb.RV || ra.Msg != rb.Msg {
			t.Fatalf("command %d: results differ: %+v vs %+v", c.Type, ra, rb)
		}
	}
	if _, _, ok := a.s.Login("L2"); ok {
		t.Fatal("bob's login, never renewed, outlived the expiry")
	}
	l, _, ok := a.s.Login("L1")
	if !ok || l.Last() != 1700000100 {
		t.Fatalf("alice's renewed login: %+v, %v", l, ok)
	}
	if r := a.apply(Command{Type: CmdRenewLogin, Msg: &hsmpb.CmdRenewLogin{LoginId: "L2", AtUnix: 1700000200}}); r.RV != p11.CKR_USER_NOT_LOGGED_IN {
		t.Fatalf("renewing an ended login: %v", r.Err())
	}
	a.reopen()
	if l, _, ok := a.s.Login("L1"); !ok || l.Renewed != 1700000100 {
		t.Fatalf("after reopen: %+v", l)
	}
	snap, err := a.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c := newReplica(t, ck)
	if err := c.s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if l, _, ok := c.s.Login("L1"); !ok || l.Renewed != 1700000100 {
		t.Fatalf("after a snapshot: %+v", l)
	}
	if c.s.ExpiredLogins(1700000101) != 1 || c.s.ExpiredLogins(1700000100) != 0 {
		t.Fatal("ExpiredLogins disagrees with the renewal time")
	}
}
