package token

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// finders are the callers a find answers to: three crypto users and a public session (Nobody).
var finders = []string{"alice", "bob", "carol", Nobody}

// randomObject is a token object drawn from small pools, so that labels, ids and kinds collide.
func randomObject(rng *rand.Rand, owner string) attr.Set {
	a := attr.Set{p11.CKA_TOKEN: attr.Bool(true), p11.CKA_PRIVATE: attr.Bool(owner != Nobody && rng.IntN(3) > 0)}
	switch rng.IntN(3) {
	case 0:
		a[p11.CKA_CLASS] = attr.Ulong(p11.CKO_DATA)
		a[p11.CKA_VALUE] = []byte{byte(rng.IntN(4))}
	default:
		a[p11.CKA_CLASS] = attr.Ulong(p11.CKO_SECRET_KEY)
		a[p11.CKA_KEY_TYPE] = attr.Ulong([]uint64{p11.CKK_AES, p11.CKK_GENERIC_SECRET}[rng.IntN(2)])
		a[p11.CKA_VALUE] = make([]byte, 16)
		a[p11.CKA_VALUE][0] = byte(rng.IntN(4))
		a[p11.CKA_SENSITIVE] = attr.Bool(rng.IntN(2) == 0)
		a[p11.CKA_EXTRACTABLE] = attr.Bool(rng.IntN(2) == 0)
	}
	if rng.IntN(5) > 0 {
		a[p11.CKA_LABEL] = randomLabel(rng)
	}
	if rng.IntN(2) == 0 {
		a[p11.CKA_ID] = []byte{byte(rng.IntN(6))}
	}
	return a
}

func randomLabel(rng *rand.Rand) []byte { return fmt.Appendf(nil, "label-%d", rng.IntN(8)) }

// randomTemplate names up to four attributes, indexed or not, with values that exist and values
// that do not, sometimes the same type twice, sometimes key material (which a protected key's
// template must not find).
func randomTemplate(rng *rand.Rand) []attr.Attribute {
	var tmpl []attr.Attribute
	for range rng.IntN(5) {
		var a attr.Attribute
		switch rng.IntN(9) {
		case 0, 1:
			a = attr.Attribute{Type: p11.CKA_LABEL, Value: randomLabel(rng)}
		case 2:
			a = attr.Attribute{Type: p11.CKA_ID, Value: []byte{byte(rng.IntN(7))}}
		case 3:
			a = attr.Attribute{Type: p11.CKA_CLASS, Value: attr.Ulong([]uint64{p11.CKO_DATA, p11.CKO_SECRET_KEY, p11.CKO_PUBLIC_KEY}[rng.IntN(3)])}
		case 4:
			a = attr.Attribute{Type: p11.CKA_KEY_TYPE, Value: attr.Ulong([]uint64{p11.CKK_AES, p11.CKK_GENERIC_SECRET, p11.CKK_EC}[rng.IntN(3)])}
		case 5:
			a = attr.Attribute{Type: p11.CKA_PRIVATE, Value: []byte{byte(rng.IntN(3))}} // 2: C's other "true"
		case 6:
			a = attr.Attribute{Type: p11.CKA_SENSITIVE, Value: attr.Bool(rng.IntN(2) == 0)}
		case 7:
			a = attr.Attribute{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}
		case 8:
			v := make([]byte, 16)
			v[0] = byte(rng.IntN(4))
			a = attr.Attribute{Type: p11.CKA_VALUE, Value: v}
		}
		tmpl = append(tmpl, a)
	}
	return tmpl
}

// checkFindsAgreeWithScan holds every index-backed find to the scan's answer, for random
// templates and every kind of caller.
func checkFindsAgreeWithScan(t *testing.T, rng *rand.Rand, s *State, step int) (nonEmpty int) {
	t.Helper()
	for range 40 {
		tmpl, user := randomTemplate(rng), finders[rng.IntN(len(finders))]
		got := s.Find(user, tmpl)
		s.mu.RLock()
		want := s.scan(user, tmpl)
		s.mu.RUnlock()
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: Find(%q, %v) = %v, the scan answers %v", step, user, tmpl, got, want)
		}
		if len(got) > 0 {
			nonEmpty++
		}
	}
	return nonEmpty
}

// TestIndexedFindsAnswerWhatTheScanAnswers is the property the indexes must keep: over random
// objects, owners, sharing, attribute changes, destructions, restarts and snapshot restores, a
// find answered from the indexes returns exactly the handles the scan of every object returns,
// for crypto users, users a key is shared with, and public sessions (CKA_PRIVATE objects hidden).
func TestIndexedFindsAnswerWhatTheScanAnswers(t *testing.T) {
	ck, err := NewClusterKey()
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			r := newReplica(t, ck)
			r.apply(Command{Type: CmdBootstrap, Msg: &hsmpb.CmdBootstrap{ClusterId: "cluster-abcdefghijk", AdminHash: mustHash(t, InitialAdminPassword), Label: "t"}})
			r.apply(Command{Type: CmdSetPassword, Msg: &hsmpb.CmdSetPassword{Actor: AdminName, Name: AdminName, Hash: mustHash(t, "adminpass")}})
			for _, u := range finders[:3] {
				if res := r.apply(Command{Type: CmdCreateUser, Msg: &hsmpb.CmdCreateUser{Actor: AdminName, Name: u, Role: RoleCryptoUser, Hash: mustHash(t, u+"pass")}}); res.RV != p11.CKR_OK {
					t.Fatal(res.Err())
				}
			}
			var changed, destroyed, shared, restored, nonEmpty int
			var saved *hsmpb.Snapshot
			for step := range 400 {
				actor := finders[rng.IntN(len(finders))]
				handles := r.s.Find(actor, nil)
				var h uint32
				if len(handles) > 0 {
					h = handles[rng.IntN(len(handles))]
				}
				switch op := rng.IntN(10); {
				case op < 5:
					no, err := r.s.SealObject(actor, randomObject(rng, actor))
					if err != nil {
						t.Fatal(err)
					}
					if res := r.apply(Command{Type: CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: actor, Objects: []*hsmpb.NewObject{no}}}); res.RV != p11.CKR_OK {
						t.Fatalf("create: %v", res.Err())
					}
				case op < 7:
					tmpl := []attr.Attribute{{Type: p11.CKA_LABEL, Value: randomLabel(rng)}}
					if rng.IntN(2) == 0 {
						tmpl = []attr.Attribute{{Type: p11.CKA_ID, Value: []byte{byte(rng.IntN(6))}}}
					}
					if r.apply(Command{Type: CmdSetAttributes, Msg: &hsmpb.CmdSetAttributes{Actor: actor, Handle: h, Template: hsmpb.TemplateToPB(tmpl)}}).RV == p11.CKR_OK {
						changed++
					}
				case op < 8:
					if r.apply(Command{Type: CmdDestroyObject, Msg: &hsmpb.CmdDestroyObject{Actor: actor, Handle: h}}).RV == p11.CKR_OK {
						destroyed++
					}
				case op < 9:
					to := finders[rng.IntN(3)]
					if r.apply(Command{Type: CmdShareKey, Msg: &hsmpb.CmdShareKey{Actor: actor, Handle: h, User: to, Share: rng.IntN(3) > 0}}).RV == p11.CKR_OK {
						shared++
					}
				case rng.IntN(2) == 0:
					r.reopen() // the indexes rebuilt from the store
				case saved == nil || rng.IntN(2) == 0:
					if saved, err = r.s.Snapshot(); err != nil {
						t.Fatal(err)
					}
				default:
					// The token goes back to the saved snapshot: the indexes must be rebuilt
					// from it, not kept from the state it replaces.
					if err := r.s.Restore(saved); err != nil {
						t.Fatal(err)
					}
					restored++
				}
				nonEmpty += checkFindsAgreeWithScan(t, rng, r.s, step)
			}
			// The history did what it claims: the finds were not all empty, and every kind of
			// change happened.
			if changed == 0 || destroyed == 0 || shared == 0 || restored == 0 || nonEmpty < 1000 {
				t.Fatalf("weak history: %d changes, %d destroyed, %d shares, %d restores, %d non-empty finds", changed, destroyed, shared, restored, nonEmpty)
			}
			t.Logf("%d changes, %d destroyed, %d shares, %d restores, %d non-empty finds", changed, destroyed, shared, restored, nonEmpty)
		})
	}
}

// TestFindByLabelExaminesOnlyThatLabel shows the index at work: among 2,000 objects, a find by
// label, by id or by class and key type looks at the objects holding that value, not at all.
func TestFindByLabelExaminesOnlyThatLabel(t *testing.T) {
	s := &State{}
	s.reset()
	for h := uint32(1); h <= 2000; h++ {
		a := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES),
			p11.CKA_LABEL: fmt.Appendf(nil, "key-%d", h), p11.CKA_ID: []byte{byte(h % 100)}, p11.CKA_PRIVATE: attr.Bool(false)}
		if h%500 == 0 {
			a[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKK_GENERIC_SECRET)
		}
		s.setObject(&Object{Handle: h, Attrs: attr.Pack(a), Owner: "alice"})
	}
	for _, c := range []struct {
		tmpl []attr.Attribute
		want int
	}{
		{[]attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("key-1234")}}, 1},
		{[]attr.Attribute{{Type: p11.CKA_ID, Value: []byte{7}}, {Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)}}, 20},
		{[]attr.Attribute{{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)}, {Type: p11.CKA_KEY_TYPE, Value: attr.Ulong(p11.CKK_GENERIC_SECRET)}}, 4},
		{[]attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("no such key")}}, 0},
	} {
		l, ok := s.index.candidates(c.tmpl)
		if !ok || len(l) != c.want {
			t.Errorf("%v: %d candidates (indexed %v), want %d", c.tmpl, len(l), ok, c.want)
		}
		if got := s.Find("bob", c.tmpl); len(got) != c.want {
			t.Errorf("%v: found %v, want %d objects", c.tmpl, got, c.want)
		}
	}
	if _, ok := s.index.candidates([]attr.Attribute{{Type: p11.CKA_SENSITIVE, Value: attr.Bool(true)}}); ok {
		t.Error("a template without an indexed attribute must be answered by the scan")
	}
}

// BenchmarkFind is a find by label inside the node as the token grows, answered from the index
// and, for comparison, by the scan every find took before the index: objects on the x axis.
func BenchmarkFind(b *testing.B) {
	s := &State{}
	s.reset()
	h := uint32(0)
	for _, n := range []int{0, 2000, 8000, MaxObjects} {
		for ; int(h) < n; h++ {
			s.setObject(&Object{Handle: h + 1, Owner: "alice", Attrs: attr.Pack(attr.Set{
				p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES),
				p11.CKA_LABEL: fmt.Appendf(nil, "key-%d", h+1), p11.CKA_PRIVATE: attr.Bool(true)})})
		}
		tmpl := []attr.Attribute{{Type: p11.CKA_LABEL, Value: fmt.Appendf(nil, "key-%d", n/2)}}
		b.Run(fmt.Sprintf("objects=%d/index", n), func(b *testing.B) {
			for b.Loop() {
				s.Find("alice", tmpl)
			}
		})
		b.Run(fmt.Sprintf("objects=%d/scan", n), func(b *testing.B) {
			for b.Loop() {
				s.mu.RLock()
				s.scan("alice", tmpl)
				s.mu.RUnlock()
			}
		})
	}
}
