package attr

import (
	"bytes"
	"math/rand"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// checkPackedReadsAsSet fails t unless p answers every read as s does: each type of s and a few
// absent ones through Get, Bool and Ulong, the length, and the pairs All yields (sorted by type).
func checkPackedReadsAsSet(t *testing.T, s Set, p Packed) {
	t.Helper()
	if p.Len() != len(s) {
		t.Fatalf("Len %d, want %d", p.Len(), len(s))
	}
	absent := []uint32{0, 0xFFFFFFFF, p11.CKA_VENDOR_DEFINED + 7}
	for typ := range s {
		absent = append(absent, typ+1, typ-1)
	}
	for _, typ := range absent {
		if _, in := s[typ]; in {
			continue
		}
		if v, ok := p.Get(typ); ok || v != nil {
			t.Fatalf("Get(%#x) = %x, %v for an absent type", typ, v, ok)
		}
	}
	for typ, want := range s {
		got, ok := p.Get(typ)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("Get(%#x) = %x, %v, want %x", typ, got, ok, want)
		}
		if cap(got) != len(got) {
			t.Fatalf("Get(%#x) has room after it (cap %d, len %d): an append would write into the next value", typ, cap(got), len(got))
		}
		if b, ok := p.Bool(typ); true {
			wb, wok := s.Bool(typ)
			if b != wb || ok != wok {
				t.Fatalf("Bool(%#x) = %v, %v, want %v, %v", typ, b, ok, wb, wok)
			}
		}
		if u, ok := p.Ulong(typ); true {
			wu, wok := s.Ulong(typ)
			if u != wu || ok != wok {
				t.Fatalf("Ulong(%#x) = %v, %v, want %v, %v", typ, u, ok, wu, wok)
			}
		}
	}
	prev, n := uint32(0), 0
	for typ, v := range p.All() {
		if n > 0 && typ <= prev {
			t.Fatalf("All yields %#x after %#x: not sorted", typ, prev)
		}
		if want, ok := s[typ]; !ok || !bytes.Equal(v, want) {
			t.Fatalf("All yields %#x = %x, the set has %x", typ, v, want)
		}
		prev, n = typ, n+1
	}
	if n != len(s) {
		t.Fatalf("All yields %d pairs, want %d", n, len(s))
	}
	if !equalSets(p.Set(), s) {
		t.Fatalf("Set() = %v, want %v", p.Set(), s)
	}
}

func TestPackedReadsAsTheSetItWasPackedFrom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 500; i++ {
		s := Set{}
		for j := rng.Intn(45); j > 0; j-- {
			var v []byte
			switch rng.Intn(5) {
			case 0:
				v = Bool(rng.Intn(2) == 0)
			case 1:
				v = Ulong(rng.Uint64())
			case 2: // empty, as an unset CKA_ID or CKA_START_DATE is
				v = []byte{}
			case 3:
				v = make([]byte, rng.Intn(600))
				rng.Read(v)
			default: // a type is usually small; some are vendor-defined, near the top of the range
				v = []byte{byte(j)}
			}
			typ := uint32(rng.Intn(0x200))
			if rng.Intn(8) == 0 {
				typ = p11.CKA_VENDOR_DEFINED + uint32(rng.Intn(4))
			}
			s[typ] = v
		}
		checkPackedReadsAsSet(t, s, Pack(s))
	}
	var zero Packed
	checkPackedReadsAsSet(t, Set{}, zero)
	checkPackedReadsAsSet(t, Set{}, Pack(nil))
}

func TestPackedDoesNotShareTheSetsBytes(t *testing.T) {
	s := Set{p11.CKA_LABEL: []byte("one"), p11.CKA_ID: []byte{1, 2}}
	p := Pack(s)
	s[p11.CKA_LABEL][0] = 'X'
	s[p11.CKA_ID] = []byte{9}
	if v, _ := p.Get(p11.CKA_LABEL); string(v) != "one" {
		t.Errorf("CKA_LABEL followed a change to the packed set: %q", v)
	}
	if v, _ := p.Get(p11.CKA_ID); !bytes.Equal(v, []byte{1, 2}) {
		t.Errorf("CKA_ID followed a change to the packed set: %x", v)
	}
	// An append to one value must not reach its neighbour in the shared array.
	v, _ := p.Get(p11.CKA_LABEL)
	_ = append(v, 'Z', 'Z', 'Z')
	w, _ := p.Get(p11.CKA_ID)
	_ = append(w, 'Z', 'Z', 'Z')
	checkPackedReadsAsSet(t, Set{p11.CKA_LABEL: []byte("one"), p11.CKA_ID: []byte{1, 2}}, p)
}

// TestRulesAnswerThePackedFormAsTheSet holds Match, Read and Permits to the same answer for a
// stored object whether they read it as a Set or Packed, for each shape's complete object and
// every attribute of it (material of a sensitive key included, which Match and Read refuse).
func TestRulesAnswerThePackedFormAsTheSet(t *testing.T) {
	for _, tmpl := range [][]Attribute{aesCreate(), genericCreate(), rsaPubCreate(), rsaPrivCreate(), ecPubCreate(), ecPrivCreate(), dataCreate(), certCreate(),
		with(aesCreate(), ab(p11.CKA_SENSITIVE, false), ab(p11.CKA_EXTRACTABLE, true))} {
		obj, err := NewObject(OpCreate, tmpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := Complete(OpCreate, obj, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checkRulesAgree(t, whole)
	}
}

// checkRulesAgree fails t unless Match, Read and Permits answer Pack(s) as they answer s.
func checkRulesAgree(t *testing.T, s Set) {
	t.Helper()
	p := Pack(s)
	sameErr := func(a, b error) bool { return (a == nil) == (b == nil) && p11.Code(a) == p11.Code(b) }
	for typ, v := range s {
		for _, tmpl := range [][]Attribute{{at(typ, v)}, {at(typ, append(append([]byte{}, v...), 0))}, {at(typ, v), at(typ+1, nil)}} {
			if Match(s, tmpl) != Match(p, tmpl) {
				t.Fatalf("Match(%v) differs between Set and Packed", tmpl)
			}
		}
		ws, es := Read(s, typ)
		wp, ep := Read(p, typ)
		if !bytes.Equal(ws, wp) || !sameErr(es, ep) {
			t.Fatalf("Read(%s) = %x, %v from the Set, %x, %v from Packed", p11.AttrName(typ), ws, es, wp, ep)
		}
		if !sameErr(Permits(s, typ), Permits(p, typ)) {
			t.Fatalf("Permits(%s) differs between Set and Packed", p11.AttrName(typ))
		}
	}
	if _, err := Read(p, 0xFFFFFFF0); p11.Code(err) != p11.CKR_ATTRIBUTE_TYPE_INVALID {
		t.Fatalf("Read of an absent type: %v, want CKR_ATTRIBUTE_TYPE_INVALID", err)
	}
}
