package attr

import (
	"iter"
	"slices"
)

// Reader is read access to an object's attributes by type: a Set, or the Packed form a token
// keeps its stored objects in. The rules that only read an object (Match, Read, Permits) take
// a Reader, so the token's hot paths (a find, the check before a crypto call, a
// C_GetAttributeValue) read the packed form in place.
type Reader interface {
	Get(t uint32) (v []byte, ok bool)
	Bool(t uint32) (v, ok bool)
	Ulong(t uint32) (v uint64, ok bool)
}

// Packed is an immutable attribute set in compact form: the types sorted in one array, the
// values end to end in another. It exists for memory: a stored key has about 29 attributes
// (the spec's defaults are real attributes), and a Go map of 29 entries takes 64 slots, about
// 2,400 bytes, where Packed takes about 400 (issue 17, memory per key; docs/BENCHMARKS.md).
// A lookup scans the sorted types (see index). The zero Packed is empty.
//
// Packed holds one pointer, so converting it to a Reader does not allocate: attr.Match and
// attr.Permits run on every find and crypto call.
type Packed struct{ p *packed }

type packed struct {
	ents []entry // sorted by type, no type twice
	vals []byte  // the values end to end, in ents' order
}

// entry is one attribute: its type and where its value ends in vals (it starts where the
// previous one ends). Values are bounded far below 4 GiB by the RPC message limit.
type entry struct{ typ, end uint32 }

// Pack copies s into a Packed. Nothing of s is shared: s may change afterwards.
func Pack(s Set) Packed {
	if len(s) == 0 {
		return Packed{}
	}
	p := &packed{ents: make([]entry, 0, len(s))}
	n := 0
	for t, v := range s {
		p.ents = append(p.ents, entry{typ: t})
		n += len(v)
	}
	slices.SortFunc(p.ents, func(a, b entry) int { return cmpUint32(a.typ, b.typ) })
	p.vals = make([]byte, 0, n)
	for i := range p.ents {
		p.vals = append(p.vals, s[p.ents[i].typ]...)
		p.ents[i].end = uint32(len(p.vals))
	}
	return Packed{p}
}

func cmpUint32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// value is the i'th value as a full slice (cap = len), so an append to it copies instead of
// writing into the next value.
func (p *packed) value(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = p.ents[i-1].end
	}
	return p.vals[start:p.ents[i].end:p.ents[i].end]
}

// Get returns the value of type t, which the caller must not modify.
func (p Packed) Get(t uint32) ([]byte, bool) {
	q, i := p.find(t)
	if i < 0 {
		return nil, false
	}
	return q.value(i), true
}

// Bool reads a CK_BBOOL attribute, as Set.Bool does.
func (p Packed) Bool(t uint32) (v, ok bool) {
	q, i := p.find(t)
	if i < 0 {
		return false, false
	}
	return decodeBool(q.value(i), true)
}

// Ulong reads a CK_ULONG attribute, as Set.Ulong does.
func (p Packed) Ulong(t uint32) (v uint64, ok bool) {
	q, i := p.find(t)
	if i < 0 {
		return 0, false
	}
	return decodeUlong(q.value(i), true)
}

// find is where type t is, or -1. It is small enough to be inlined into Get, Bool and Ulong,
// so a lookup through a Reader costs one call, as a map lookup does (Bool calling Get was a
// second call on every check before a crypto operation).
func (p Packed) find(t uint32) (*packed, int) {
	if p.p == nil {
		return nil, -1
	}
	return p.p, p.p.index(t)
}

// index is where type t is, or -1: a scan in type order that stops at the first type not
// below t. Measured against a branch-free binary search (BenchmarkObjectUse in hsmd/token), the
// scan is faster for what the hot paths read: the types are sorted and the ones looked up on
// every find and crypto call are the low numbers (CKA_CLASS 0, CKA_PRIVATE 2, CKA_LABEL 3,
// CKA_KEY_TYPE and the usage flags from 0x100), near the front, and the loop has no chain of
// dependent loads.
func (p *packed) index(t uint32) int {
	for i := range p.ents {
		if p.ents[i].typ >= t {
			if p.ents[i].typ == t {
				return i
			}
			return -1
		}
	}
	return -1
}

// Len is the number of attributes.
func (p Packed) Len() int {
	if p.p == nil {
		return 0
	}
	return len(p.p.ents)
}

// All yields every attribute, sorted by type. The values must not be modified.
func (p Packed) All() iter.Seq2[uint32, []byte] {
	return func(yield func(uint32, []byte) bool) {
		for i := 0; i < p.Len(); i++ {
			if !yield(p.p.ents[i].typ, p.p.value(i)) {
				return
			}
		}
	}
}

// Set returns the attributes as a new Set, for the rules that build a changed object from it
// (Copy, Modify) and for the mechanisms. The map is the caller's; the values are shared with p
// and must not be modified, as for any Set handed over.
func (p Packed) Set() Set {
	s := make(Set, p.Len())
	for t, v := range p.All() {
		s[t] = v
	}
	return s
}
