package attr

import (
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// storedAES is an AES key as the token stores it: the create template completed with the
// spec's defaults (about 30 attributes).
func storedAES(b *testing.B) Set {
	obj, err := NewObject(OpCreate, with(aesCreate(), at(p11.CKA_LABEL, []byte("label"))), nil)
	if err != nil {
		b.Fatal(err)
	}
	whole, err := Complete(OpCreate, obj, nil, 0)
	if err != nil {
		b.Fatal(err)
	}
	return whole
}

// BenchmarkGet is one attribute lookup in a stored key, in the map and in the packed form, for
// types early, in the middle and late in the type order.
func BenchmarkGet(b *testing.B) {
	s := storedAES(b)
	p := Pack(s)
	types := []uint32{p11.CKA_CLASS, p11.CKA_PRIVATE, p11.CKA_LABEL, p11.CKA_ENCRYPT, p11.CKA_SIGN, p11.CKA_VALUE_LEN, p11.CKA_EXTRACTABLE, p11.CKA_DESTROYABLE}
	b.Logf("%d attributes", len(s))
	for _, c := range []struct {
		name string
		r    Reader
	}{{"set", s}, {"packed", p}} {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				for _, t := range types {
					if _, ok := c.r.Get(t); ok {
						n++
					}
				}
			}
			if n == 0 {
				b.Fatal("nothing found")
			}
		})
	}
}

// BenchmarkMatch is a find's check of one object (attr.Match), on the map and the packed form.
func BenchmarkMatch(b *testing.B) {
	s := storedAES(b)
	tmpl := []Attribute{au(p11.CKA_CLASS, p11.CKO_SECRET_KEY), ab(p11.CKA_ENCRYPT, true), at(p11.CKA_LABEL, []byte("label"))}
	for _, c := range []struct {
		name string
		r    Reader
	}{{"set", s}, {"packed", Pack(s)}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if !Match(c.r, tmpl) {
					b.Fatal("no match")
				}
			}
		})
	}
}
