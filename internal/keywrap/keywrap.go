// Package keywrap is AES key wrap (RFC 3394) and AES key wrap with padding (RFC 5649) over any
// AES cipher.Block and initial value: the one implementation behind the HSM's CKM_AES_KEY_WRAP and
// CKM_AES_KEY_WRAP_PAD (hsmd/mech) and the KMS's RSA_AES_KEY_WRAP import algorithms
// (kms/keyimport). Callers choose the initial value and check input lengths; this package does
// the arithmetic and the integrity checks.
package keywrap

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
)

// DefaultIV is RFC 3394's default initial value; DefaultPadIV the 32-bit constant of RFC 5649's
// alternative initial value (its other half is the length of the key data).
var (
	DefaultIV    = [8]byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}
	DefaultPadIV = [4]byte{0xA6, 0x59, 0x59, 0xA6}
)

// Wrap is W of RFC 3394 §2.2.1 (index form) with initial value a: plain is n ≥ 2 64-bit blocks.
func Wrap(b cipher.Block, a [8]byte, plain []byte) []byte {
	n := len(plain) / 8
	out := make([]byte, 8+len(plain))
	r := out[8:]
	copy(r, plain)
	var blk [16]byte
	for j := 0; j < 6; j++ {
		for i := 0; i < n; i++ {
			copy(blk[:8], a[:])
			copy(blk[8:], r[8*i:8*i+8])
			b.Encrypt(blk[:], blk[:])
			t := uint64(n*j + i + 1)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(blk[:8])^t)
			copy(r[8*i:8*i+8], blk[8:])
		}
	}
	copy(out, a[:])
	clear(blk[:])
	return out
}

// Unwrap is W⁻¹ of RFC 3394 §2.2.2 (ct is at least 3 blocks): it returns the recovered integrity
// value A and the plaintext; the caller checks A.
func Unwrap(b cipher.Block, ct []byte) ([8]byte, []byte) {
	n := len(ct)/8 - 1
	var a [8]byte
	copy(a[:], ct[:8])
	r := append([]byte(nil), ct[8:]...)
	var blk [16]byte
	for j := 5; j >= 0; j-- {
		for i := n - 1; i >= 0; i-- {
			t := uint64(n*j + i + 1)
			binary.BigEndian.PutUint64(blk[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(blk[8:], r[8*i:8*i+8])
			b.Decrypt(blk[:], blk[:])
			copy(a[:], blk[:8])
			copy(r[8*i:8*i+8], blk[8:])
		}
	}
	clear(blk[:])
	return a, r
}

// WrapPad is RFC 5649 with the 32-bit constant prefix: plain (1 to 2³²-1 bytes, which the caller
// checks) padded with zeros to whole blocks, behind the alternative initial value prefix || its
// length; one block is a single AES encryption (§4.1), more go through W.
func WrapPad(b cipher.Block, prefix [4]byte, plain []byte) []byte {
	var a [8]byte
	copy(a[:4], prefix[:])
	binary.BigEndian.PutUint32(a[4:], uint32(len(plain)))
	padded := make([]byte, (len(plain)+7)/8*8)
	copy(padded, plain)
	defer clear(padded)
	if len(padded) == 8 {
		out := make([]byte, 16)
		copy(out, a[:])
		copy(out[8:], padded)
		b.Encrypt(out, out)
		return out
	}
	return Wrap(b, a, padded)
}

// UnwrapPad reverses WrapPad; ok is false when ct has the wrong length or fails RFC 5649's
// integrity check (the prefix, a length that fits the blocks, zero padding).
func UnwrapPad(b cipher.Block, prefix [4]byte, ct []byte) (plain []byte, ok bool) {
	if len(ct) < 16 || len(ct)%8 != 0 {
		return nil, false
	}
	var a [8]byte
	var p []byte
	if len(ct) == 16 {
		var blk [16]byte
		b.Decrypt(blk[:], ct)
		copy(a[:], blk[:8])
		p = append([]byte(nil), blk[8:]...)
		clear(blk[:])
	} else {
		a, p = Unwrap(b, ct)
	}
	mli := int(binary.BigEndian.Uint32(a[4:]))
	ok = subtle.ConstantTimeCompare(a[:4], prefix[:]) == 1 && mli > len(p)-8 && mli <= len(p)
	if ok {
		for _, c := range p[mli:] {
			ok = ok && c == 0
		}
	}
	if !ok {
		clear(p)
		return nil, false
	}
	return p[:mli], true
}
