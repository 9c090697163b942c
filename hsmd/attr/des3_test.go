package attr

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// DES3 secret keys (PKCS #11 v2.40 Current Mechanisms, "DES3 secret key objects"): CKA_VALUE is
// 24 bytes whose every byte has odd parity (FIPS 46-3), "attempting to create or unwrap a DES3
// key with incorrect parity MUST return an error"; there is no CKA_VALUE_LEN; CKA_CHECK_VALUE
// is the first three bytes of the ECB encryption of a zero block under the key.
func TestDES3Keys(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// K1 = K3 = 0123456789ABCDEF, K2 = FEDCBA9876543210: its check value 08D7B4 is the one key
	// ceremonies print for this well-known test key.
	key := unhex("0123456789ABCDEFFEDCBA98765432100123456789ABCDEF")
	create := []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES3), at(p11.CKA_VALUE, key)}
	obj := mustNew(t, OpCreate, create, nil, nil, 0)
	if got := hex.EncodeToString(obj[p11.CKA_CHECK_VALUE]); got != "08d7b4" {
		t.Fatalf("CKA_CHECK_VALUE = %s, want 08d7b4", got)
	}
	for a, want := range map[uint32]bool{p11.CKA_ENCRYPT: true, p11.CKA_DECRYPT: true, p11.CKA_SIGN: false, p11.CKA_VERIFY: false,
		p11.CKA_SENSITIVE: false} {
		if got, _ := obj.Bool(a); got != want {
			t.Errorf("%s defaults to %v, want %v", p11.AttrName(a), got, want)
		}
	}
	if _, has := obj[p11.CKA_VALUE_LEN]; has {
		t.Error("a DES3 key has no CKA_VALUE_LEN")
	}

	badParity := append([]byte(nil), key...)
	badParity[5] ^= 1
	for _, c := range []struct {
		name string
		tmpl []Attribute
		code uint32
	}{
		{"right check value", with(create, at(p11.CKA_CHECK_VALUE, unhex("08d7b4"))), p11.CKR_OK},
		{"wrong check value", with(create, at(p11.CKA_CHECK_VALUE, unhex("08d7b5"))), p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"bad parity", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES3), at(p11.CKA_VALUE, badParity)}, p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"16 bytes (DES2)", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES3), at(p11.CKA_VALUE, key[:16])}, p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"CKA_VALUE_LEN", with(create, au(p11.CKA_VALUE_LEN, 24)), p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{"no value", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES3)}, p11.CKR_TEMPLATE_INCOMPLETE},
	} {
		_, err := NewObject(OpCreate, c.tmpl, nil)
		if p11.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, p11.RVName(c.code))
		}
	}

	// Generated and unwrapped keys take their value from the call, checked the same way.
	implied := set(class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES3))
	gen := mustNew(t, OpGenerate, nil, implied, set(at(p11.CKA_VALUE, key)), p11.CKM_DES3_KEY_GEN)
	if !bytes.Equal(gen[p11.CKA_CHECK_VALUE], unhex("08d7b4")) {
		t.Fatalf("generated key's check value %x", gen[p11.CKA_CHECK_VALUE])
	}
	obj, err := NewObject(OpUnwrap, []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES3)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Complete(OpUnwrap, obj, set(at(p11.CKA_VALUE, badParity)), 0)
	wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
}
