package mech

import (
	"crypto/rand"
	"math/bits"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// DES and Triple DES. Triple DES (TDEA with three keys, PKCS #11 v2.40 Current Mechanisms
// "Triple-DES") is what CloudHSM lists (AWS-mech, footnote 5: refused by clusters in FIPS mode
// after 2023). Single DES (v2.40 Historical Mechanisms, "General block cipher") is in no AWS
// list; the nodes have it for profile standard, where google/pkcs11test's cipher cases and
// fixtures use it, and the module refuses it in profile cloudhsm. Each type has key generation
// and the ECB, CBC and CBC_PAD modes. The modes are the AES ones with an 8-byte block, and wrap
// and unwrap as the AES ones do (blockWraps). Key sizes are in bytes and fixed by the key type:
// a DES key is 8 bytes, a DES3 key 24; neither type has CKA_VALUE_LEN.

const (
	desLen  = 8
	des3Len = 24
)

// desType is one of the two DES key types and its mechanisms.
type desType struct {
	kt                       uint64
	keyLen                   int
	key                      blockKey
	keyGen, ecb, cbc, cbcPad uint32
}

var desTypes = []desType{
	{kt: p11.CKK_DES, keyLen: desLen, key: (*material).des,
		keyGen: p11.CKM_DES_KEY_GEN, ecb: p11.CKM_DES_ECB, cbc: p11.CKM_DES_CBC, cbcPad: p11.CKM_DES_CBC_PAD},
	{kt: p11.CKK_DES3, keyLen: des3Len, key: (*material).des3,
		keyGen: p11.CKM_DES3_KEY_GEN, ecb: p11.CKM_DES3_ECB, cbc: p11.CKM_DES3_CBC, cbcPad: p11.CKM_DES3_CBC_PAD},
}

func init() {
	for _, d := range desTypes {
		n := uint64(d.keyLen)
		register(d.keyGen, &entry{minKey: n, maxKey: n,
			implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(d.kt)},
			genKey:  d.generate})
		cbcCheck := blockCheck(d.key, func(m ckm.Mechanism) error { _, err := cbcIV(m, 8); return err })
		register(d.ecb, blockWraps(&entry{minKey: n, maxKey: n, encrypt: ecbEncrypt(d.key), decrypt: ecbDecrypt(d.key),
			check: blockCheck(d.key, nil)}, 8))
		register(d.cbc, blockWraps(&entry{minKey: n, maxKey: n, encrypt: cbcEncrypt(d.key, false), decrypt: cbcDecrypt(d.key, false),
			check: cbcCheck}, 8))
		register(d.cbcPad, blockWraps(&entry{minKey: n, maxKey: n, encrypt: cbcEncrypt(d.key, true), decrypt: cbcDecrypt(d.key, true),
			check: cbcCheck}, 0))
	}
}

// generate makes the key's bytes with odd parity in each ("CKM_DES_KEY_GEN ... generates DES
// keys", "CKM_DES3_KEY_GEN ... generates DES3 keys", both "with their parity bits set
// properly").
func (d desType) generate(_ ckm.Mechanism, tmpl attr.Set) (attr.Set, error) {
	if t, ok := tmpl.Ulong(p11.CKA_KEY_TYPE); ok && t != d.kt {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE %d does not fit %s", t, p11.MechName(d.keyGen))
	}
	v := make([]byte, d.keyLen)
	rand.Read(v)
	for i, b := range v {
		// The low bit of each byte is its parity bit: set it so the byte has an odd count of ones.
		v[i] = b&0xFE | byte(1^bits.OnesCount8(b&0xFE)&1)
	}
	return attr.Set{p11.CKA_VALUE: v}, nil
}

// desKeyLen is the length a DES key type fixes, or false for a type that is not DES.
func desKeyLen(kt uint64) (int, bool) {
	for _, d := range desTypes {
		if d.kt == kt {
			return d.keyLen, true
		}
	}
	return 0, false
}

// validDESKey says whether b can be a key of DES type kt: its length, each byte of odd parity.
func validDESKey(kt uint64, b []byte) bool {
	if n, _ := desKeyLen(kt); len(b) != n {
		return false
	}
	for _, x := range b {
		if bits.OnesCount8(x)%2 == 0 {
			return false
		}
	}
	return true
}

// isDESType says whether kt is a DES key type, whose length its type fixes.
func isDESType(kt uint64) bool { _, ok := desKeyLen(kt); return ok }
