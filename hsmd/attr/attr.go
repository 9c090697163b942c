// Package attr is the PKCS#11 attribute model of hsmsim: the canonical encoding of attribute
// values, and the rules of the spec (which attributes an object of each class and key type has,
// which may be given in a template, changed later, or read back) as one table, not as scattered ifs.
//
// Canonical encoding, used on the wire, in commands and in the store: CK_ULONG values are 8 bytes
// little-endian, CK_BBOOL is 1 byte (0 or 1), everything else (strings, big integers, DER, dates)
// is the raw bytes PKCS#11 defines. The PKCS#11 module converts from and to the C layout.
package attr

import "encoding/binary"

// Attribute is one (type, value) pair of a template, in canonical encoding.
type Attribute struct {
	Type  uint32
	Value []byte
}

// Set is an object's attributes, type → canonical value. A Set handed to another package is
// never modified by it; use Clone before changing a shared one.
type Set map[uint32][]byte

// Op says which PKCS#11 call a template arrives with; the rules differ per call.
type Op int

const (
	OpCreate   Op = iota // C_CreateObject: the caller supplies every value, key material included
	OpGenerate           // C_GenerateKey / C_GenerateKeyPair: the token makes the material
	OpUnwrap             // C_UnwrapKey: material comes from the unwrapped blob
	OpDerive             // C_DeriveKey: material comes from the derivation
	OpCopy               // C_CopyObject: the template changes a copy of an existing object
)

// Bool encodes a CK_BBOOL.
func Bool(b bool) []byte {
	if b {
		return []byte{1}
	}
	return []byte{0}
}

// Ulong encodes a CK_ULONG.
func Ulong(v uint64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b
}

// Clone returns a deep copy.
func (s Set) Clone() Set {
	c := make(Set, len(s))
	for k, v := range s {
		c[k] = append([]byte(nil), v...)
	}
	return c
}

// Get returns the value of type t (a Set is a Reader).
func (s Set) Get(t uint32) (v []byte, ok bool) {
	v, ok = s[t]
	return v, ok
}

// Bool reads a CK_BBOOL attribute; ok is false when absent or not one byte.
func (s Set) Bool(t uint32) (v, ok bool) { return decodeBool(s.Get(t)) }

// Ulong reads a CK_ULONG attribute; ok is false when absent or not 8 bytes.
func (s Set) Ulong(t uint32) (v uint64, ok bool) { return decodeUlong(s.Get(t)) }

func decodeBool(b []byte, present bool) (v, ok bool) {
	if !present || len(b) != 1 {
		return false, false
	}
	return b[0] != 0, true
}

func decodeUlong(b []byte, present bool) (v uint64, ok bool) {
	if !present || len(b) != 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// FromList turns a template into a Set; later duplicates of a type win only when equal
// (a conflicting duplicate is CKR_TEMPLATE_INCONSISTENT, reported by NewObject).
func FromList(l []Attribute) Set {
	s := make(Set, len(l))
	for _, a := range l {
		s[a.Type] = a.Value
	}
	return s
}
