package token

import (
	"bytes"
	"slices"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// TestObjectsKeepTheirAttributesThroughStoreAndSnapshot creates keys with every kind of value a
// stored key has (booleans, CK_ULONGs, key material, empty and absent values, a large one), changes
// one, and checks that each object reads back exactly those attributes as applied, as loaded from
// the store by a restarted node (Open decodes hsm.db's records), and as restored from a snapshot:
// the in-memory form (attr.Packed) must not change what the store and snapshots hold.
func TestObjectsKeepTheirAttributesThroughStoreAndSnapshot(t *testing.T) {
	ck, _ := NewClusterKey()
	r := newReplica(t, ck)
	for _, c := range script(t, r)[:4] {
		r.apply(c)
	}
	want := map[uint32]attr.Set{}
	for i := 0; i < 3; i++ {
		a := fullSecretKey(byte(i))
		a[p11.CKA_APPLICATION] = nil
		a[p11.CKA_VENDOR_DEFINED+1] = bytes.Repeat([]byte{byte(i)}, 70000) // more than 64 KiB of values
		no, err := r.s.SealObject("alice", a)
		if err != nil {
			t.Fatal(err)
		}
		res := r.apply(Command{Type: CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: "alice", Objects: []*hsmpb.NewObject{no}}})
		if res.Err() != nil {
			t.Fatal(res.Err())
		}
		want[res.Handles[0]] = a
	}
	h := uint32(0)
	for h = range want {
		break
	}
	label := []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("renamed")}}
	if res := r.apply(Command{Type: CmdSetAttributes, Msg: &hsmpb.CmdSetAttributes{Actor: "alice", Handle: h, Template: hsmpb.TemplateToPB(label)}}); res.Err() != nil {
		t.Fatal(res.Err())
	}
	want[h] = want[h].Clone()
	want[h][p11.CKA_LABEL] = []byte("renamed")

	check := func(when string, s *State) {
		t.Helper()
		for h, a := range want {
			o, ok := s.Object(h)
			if !ok {
				t.Fatalf("%s: object %d is gone", when, h)
			}
			if o.Attrs.Len() != len(a) {
				t.Fatalf("%s: object %d has %d attributes, want %d", when, h, o.Attrs.Len(), len(a))
			}
			// The parsed key (what the crypto calls and the capacity limiter read, CKA_TRUSTED
			// of a wrapping key among them) reads the same attributes.
			k, err := o.Key()
			if err != nil {
				t.Fatalf("%s: object %d: %v", when, h, err)
			}
			for typ, v := range a {
				if got, ok := o.Attrs.Get(typ); !ok || !bytes.Equal(got, v) {
					t.Fatalf("%s: object %d %s = %.20x (present %v), want %.20x", when, h, p11.AttrName(typ), got, ok, v)
				}
				if got, ok := k.Attrs.Get(typ); !ok || !bytes.Equal(got, v) {
					t.Fatalf("%s: the key of object %d has %s = %.20x (present %v), want %.20x", when, h, p11.AttrName(typ), got, ok, v)
				}
			}
			if got := s.Find("alice", []attr.Attribute{{Type: p11.CKA_LABEL, Value: a[p11.CKA_LABEL]}}); !slices.Contains(got, h) {
				t.Fatalf("%s: a find by the label of object %d answers %v", when, h, got)
			}
		}
	}
	check("applied", r.s)
	snap, err := r.s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r.reopen()
	check("reopened", r.s)
	other := newReplica(t, ck)
	if err := other.s.Restore(snap); err != nil {
		t.Fatal(err)
	}
	check("restored", other.s)
}
