package attr

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// DES3 and DES secret keys (PKCS #11 v2.40 Current Mechanisms, "DES3 secret key objects";
// Historical Mechanisms, "DES secret key objects"): CKA_VALUE is 24 or 8 bytes whose every byte
// has odd parity (FIPS 46-3), "attempting to create or unwrap a DES3 key with incorrect parity
// MUST return an error" (for DES: "will return an error"); neither type has CKA_VALUE_LEN;
// CKA_CHECK_VALUE is the first three bytes of the ECB encryption of a zero block under the key.
func TestDESKeys(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		kt       uint64
		key, kcv []byte
		wrongLen []byte
		mech     uint64
	}{
		// K1 = K3 = 0123456789ABCDEF, K2 = FEDCBA9876543210: its check value 08D7B4 is the one
		// key ceremonies print for this well-known test key; a 16-byte (DES2) value is refused.
		{p11.CKK_DES3, unhex("0123456789ABCDEFFEDCBA98765432100123456789ABCDEF"), unhex("08d7b4"),
			unhex("0123456789ABCDEFFEDCBA9876543210"), p11.CKM_DES3_KEY_GEN},
		// DES(0123456789ABCDEF, 0000000000000000) = D5D44FF720683D0D; a DES3 value is refused.
		{p11.CKK_DES, unhex("0123456789ABCDEF"), unhex("d5d44f"),
			unhex("0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"), p11.CKM_DES_KEY_GEN},
	} {
		name := fmt.Sprintf("key type %#x", c.kt)
		create := []Attribute{class(p11.CKO_SECRET_KEY), keyType(c.kt), at(p11.CKA_VALUE, c.key)}
		obj := mustNew(t, OpCreate, create, nil, nil, 0)
		if !bytes.Equal(obj[p11.CKA_CHECK_VALUE], c.kcv) {
			t.Fatalf("%s: CKA_CHECK_VALUE = %x, want %x", name, obj[p11.CKA_CHECK_VALUE], c.kcv)
		}
		for a, want := range map[uint32]bool{p11.CKA_ENCRYPT: true, p11.CKA_DECRYPT: true, p11.CKA_SIGN: false, p11.CKA_VERIFY: false,
			p11.CKA_SENSITIVE: false} {
			if got, _ := obj.Bool(a); got != want {
				t.Errorf("%s: %s defaults to %v, want %v", name, p11.AttrName(a), got, want)
			}
		}
		if _, has := obj[p11.CKA_VALUE_LEN]; has {
			t.Errorf("%s: a DES key type has no CKA_VALUE_LEN", name)
		}

		badParity := append([]byte(nil), c.key...)
		badParity[5] ^= 1
		wrongKCV := append([]byte(nil), c.kcv...)
		wrongKCV[2] ^= 1
		valued := func(v []byte) []Attribute {
			return []Attribute{class(p11.CKO_SECRET_KEY), keyType(c.kt), at(p11.CKA_VALUE, v)}
		}
		for _, tc := range []struct {
			name string
			tmpl []Attribute
			code uint32
		}{
			{"right check value", with(create, at(p11.CKA_CHECK_VALUE, c.kcv)), p11.CKR_OK},
			{"wrong check value", with(create, at(p11.CKA_CHECK_VALUE, wrongKCV)), p11.CKR_ATTRIBUTE_VALUE_INVALID},
			{"bad parity", valued(badParity), p11.CKR_ATTRIBUTE_VALUE_INVALID},
			{"wrong length", valued(c.wrongLen), p11.CKR_ATTRIBUTE_VALUE_INVALID},
			{"empty", valued(nil), p11.CKR_ATTRIBUTE_VALUE_INVALID},
			{"CKA_VALUE_LEN", with(create, au(p11.CKA_VALUE_LEN, uint64(len(c.key)))), p11.CKR_ATTRIBUTE_TYPE_INVALID},
			{"no value", []Attribute{class(p11.CKO_SECRET_KEY), keyType(c.kt)}, p11.CKR_TEMPLATE_INCOMPLETE},
		} {
			_, err := NewObject(OpCreate, tc.tmpl, nil)
			if p11.Code(err) != tc.code {
				t.Errorf("%s, %s: %v, want %s", name, tc.name, err, p11.RVName(tc.code))
			}
		}

		// Generated and unwrapped keys take their value from the call, checked the same way.
		implied := set(class(p11.CKO_SECRET_KEY), keyType(c.kt))
		gen := mustNew(t, OpGenerate, nil, implied, set(at(p11.CKA_VALUE, c.key)), c.mech)
		if !bytes.Equal(gen[p11.CKA_CHECK_VALUE], c.kcv) {
			t.Fatalf("%s: generated key's check value %x", name, gen[p11.CKA_CHECK_VALUE])
		}
		obj, err := NewObject(OpUnwrap, []Attribute{class(p11.CKO_SECRET_KEY), keyType(c.kt)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Complete(OpUnwrap, obj, set(at(p11.CKA_VALUE, badParity)), 0)
		wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
	}
}
