package attr

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Single DES secret keys (PKCS #11 v2.40 Historical Mechanisms, "DES secret key objects"):
// CKA_VALUE is 8 bytes whose every byte has odd parity (FIPS 46-3), "attempting to create or
// unwrap a DES key with incorrect parity will return an error"; the key type has no
// CKA_VALUE_LEN (its length is fixed); CKA_CHECK_VALUE is the first three bytes of the ECB
// encryption of a zero block under the key.
func TestDESKeys(t *testing.T) {
	key, _ := hex.DecodeString("0123456789ABCDEF")
	// DES(0123456789ABCDEF, 0000000000000000) = D5D44FF720683D0D, the classic test key's value.
	kcv, _ := hex.DecodeString("d5d44f")
	create := []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES), at(p11.CKA_VALUE, key)}
	obj := mustNew(t, OpCreate, create, nil, nil, 0)
	if !bytes.Equal(obj[p11.CKA_CHECK_VALUE], kcv) {
		t.Fatalf("CKA_CHECK_VALUE = %x, want %x", obj[p11.CKA_CHECK_VALUE], kcv)
	}
	for a, want := range map[uint32]bool{p11.CKA_ENCRYPT: true, p11.CKA_DECRYPT: true, p11.CKA_SIGN: false, p11.CKA_VERIFY: false} {
		if got, _ := obj.Bool(a); got != want {
			t.Errorf("%s defaults to %v, want %v", p11.AttrName(a), got, want)
		}
	}
	if _, has := obj[p11.CKA_VALUE_LEN]; has {
		t.Error("a DES key has no CKA_VALUE_LEN")
	}
	badParity := append([]byte(nil), key...)
	badParity[3] ^= 1
	for _, c := range []struct {
		name string
		tmpl []Attribute
		code uint32
	}{
		{"right check value", with(create, at(p11.CKA_CHECK_VALUE, kcv)), p11.CKR_OK},
		{"wrong check value", with(create, at(p11.CKA_CHECK_VALUE, []byte{0xd5, 0xd4, 0x4e})), p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"bad parity", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES), at(p11.CKA_VALUE, badParity)}, p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"24 bytes (a DES3 key)", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES), at(p11.CKA_VALUE, bytes.Repeat(key, 3))}, p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"empty", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES), at(p11.CKA_VALUE, nil)}, p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{"CKA_VALUE_LEN", with(create, au(p11.CKA_VALUE_LEN, 8)), p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{"no value", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES)}, p11.CKR_TEMPLATE_INCOMPLETE},
	} {
		_, err := NewObject(OpCreate, c.tmpl, nil)
		if p11.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, p11.RVName(c.code))
		}
	}

	// Generated and unwrapped keys take their value from the call, checked the same way.
	implied := set(class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES))
	gen := mustNew(t, OpGenerate, nil, implied, set(at(p11.CKA_VALUE, key)), p11.CKM_DES_KEY_GEN)
	if !bytes.Equal(gen[p11.CKA_CHECK_VALUE], kcv) {
		t.Fatalf("generated key's check value %x", gen[p11.CKA_CHECK_VALUE])
	}
	obj, err := NewObject(OpUnwrap, []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Complete(OpUnwrap, obj, set(at(p11.CKA_VALUE, badParity)), 0)
	wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
}

// CKA_SENSITIVE's default. PKCS #11 v2.40 base spec §4.10 (secret key objects) gives a secret
// key "CK_TRUE if object is sensitive (default CK_FALSE)"; §4.9 (private keys) leaves a private
// key's default to the token (footnote 9), and this token keeps private keys sensitive.
// CKA_ALWAYS_SENSITIVE follows what the key was made with, CKA_NEVER_EXTRACTABLE likewise.
func TestSensitiveDefault(t *testing.T) {
	for name, tmpl := range map[string][]Attribute{"aes": aesCreate(), "generic": genericCreate(),
		"des": {class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES), at(p11.CKA_VALUE, []byte{1, 35, 69, 103, 137, 171, 205, 239})}} {
		obj := mustNew(t, OpCreate, tmpl, nil, nil, 0)
		if s, ok := obj.Bool(p11.CKA_SENSITIVE); !ok || s {
			t.Errorf("%s secret key: CKA_SENSITIVE %v (set %v), want the spec's default false", name, s, ok)
		}
	}
	if s, _ := mustNew(t, OpCreate, rsaPrivCreate(), nil, nil, 0).Bool(p11.CKA_SENSITIVE); !s {
		t.Error("RSA private key: CKA_SENSITIVE false, want this token's default true")
	}
	impliedAES := set(class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES))
	value := set(at(p11.CKA_VALUE, rep(7, 16)))
	for _, c := range []struct {
		name                        string
		tmpl                        []Attribute
		sensitive, always, neverExt bool
	}{
		{"defaults", []Attribute{au(p11.CKA_VALUE_LEN, 16)}, false, false, false},
		{"asked sensitive", []Attribute{au(p11.CKA_VALUE_LEN, 16), ab(p11.CKA_SENSITIVE, true)}, true, true, false},
		{"asked unextractable", []Attribute{au(p11.CKA_VALUE_LEN, 16), ab(p11.CKA_EXTRACTABLE, false)}, false, false, true},
	} {
		obj := mustNew(t, OpGenerate, c.tmpl, impliedAES, value, p11.CKM_AES_KEY_GEN)
		for a, want := range map[uint32]bool{p11.CKA_SENSITIVE: c.sensitive, p11.CKA_ALWAYS_SENSITIVE: c.always, p11.CKA_NEVER_EXTRACTABLE: c.neverExt} {
			if got, _ := obj.Bool(a); got != want {
				t.Errorf("generated AES key, %s: %s %v, want %v", c.name, p11.AttrName(a), got, want)
			}
		}
	}
}
