package attr

import (
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

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
