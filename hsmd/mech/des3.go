package mech

import (
	"crypto/rand"
	"math/bits"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Triple DES (TDEA with three keys, PKCS #11 v2.40 Current Mechanisms "Triple-DES"): key
// generation and the ECB, CBC and CBC_PAD modes, the ones CloudHSM lists (AWS-mech, footnote 5:
// refused by clusters in FIPS mode after 2023). The modes are the AES ones with an 8-byte
// block, and wrap and unwrap as the AES ones do (blockWraps). Key sizes are in bytes and fixed:
// a DES3 key is 24 bytes.

const des3Len = 24

func init() {
	des3Key := (*material).des3
	register(p11.CKM_DES3_KEY_GEN, &entry{minKey: des3Len, maxKey: des3Len,
		implied: attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_DES3)},
		genKey:  des3Generate})
	cbcCheck := blockCheck(des3Key, func(m ckm.Mechanism) error { _, err := cbcIV(m, 8); return err })
	register(p11.CKM_DES3_ECB, blockWraps(&entry{minKey: des3Len, maxKey: des3Len, encrypt: ecbEncrypt(des3Key), decrypt: ecbDecrypt(des3Key),
		check: blockCheck(des3Key, nil)}, 8))
	register(p11.CKM_DES3_CBC, blockWraps(&entry{minKey: des3Len, maxKey: des3Len, encrypt: cbcEncrypt(des3Key, false), decrypt: cbcDecrypt(des3Key, false),
		check: cbcCheck}, 8))
	register(p11.CKM_DES3_CBC_PAD, blockWraps(&entry{minKey: des3Len, maxKey: des3Len, encrypt: cbcEncrypt(des3Key, true), decrypt: cbcDecrypt(des3Key, true),
		check: cbcCheck}, 0))
}

// des3Generate makes 24 random bytes with odd parity in each ("CKM_DES3_KEY_GEN ... generates
// DES3 keys with their parity bits set properly"). The key type has no CKA_VALUE_LEN.
func des3Generate(_ ckm.Mechanism, tmpl attr.Set) (attr.Set, error) {
	if t, ok := tmpl.Ulong(p11.CKA_KEY_TYPE); ok && t != p11.CKK_DES3 {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE %d does not fit CKM_DES3_KEY_GEN", t)
	}
	v := make([]byte, des3Len)
	rand.Read(v)
	for i, b := range v {
		// The low bit of each byte is its parity bit: set it so the byte has an odd count of ones.
		v[i] = b&0xFE | byte(1^bits.OnesCount8(b&0xFE)&1)
	}
	return attr.Set{p11.CKA_VALUE: v}, nil
}

// validDES3 says whether b can be a DES3 key: 24 bytes, each of odd parity.
func validDES3(b []byte) bool {
	if len(b) != des3Len {
		return false
	}
	for _, x := range b {
		if bits.OnesCount8(x)%2 == 0 {
			return false
		}
	}
	return true
}
