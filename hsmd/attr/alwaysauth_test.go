package attr

import (
	"bytes"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// CKA_ALWAYS_AUTHENTICATE (PKCS#11 v2.40 §4.9, private key objects): every private key has it,
// default CK_FALSE. The token has no per-use re-authentication (C_Login with
// CKU_CONTEXT_SPECIFIC), so a key that asks for it would be a promise the token does not keep:
// true is refused, false is fine, and reading it always works.
func TestAlwaysAuthenticate(t *testing.T) {
	aa := func(v bool) Attribute { return ab(p11.CKA_ALWAYS_AUTHENTICATE, v) }
	cases := []struct {
		name    string
		op      Op
		tmpl    []Attribute
		implied Set
		code    uint32
		want    []byte // on success, the value NewObject gives it
	}{
		{"rsa private create defaults false", OpCreate, rsaPrivCreate(), nil, p11.CKR_OK, Bool(false)},
		{"ec private create defaults false", OpCreate, ecPrivCreate(), nil, p11.CKR_OK, Bool(false)},
		{"ec private generate defaults false", OpGenerate, nil, impliedECPriv, p11.CKR_OK, Bool(false)},
		{"rsa private generate defaults false", OpGenerate, nil, impliedRSAPriv, p11.CKR_OK, Bool(false)},
		{"private unwrap defaults false", OpUnwrap, []Attribute{class(p11.CKO_PRIVATE_KEY), keyType(p11.CKK_EC)}, nil, p11.CKR_OK, Bool(false)},
		{"false on create", OpCreate, with(ecPrivCreate(), aa(false)), nil, p11.CKR_OK, Bool(false)},
		{"false on generate", OpGenerate, []Attribute{aa(false)}, impliedRSAPriv, p11.CKR_OK, Bool(false)},

		{"true on create", OpCreate, with(ecPrivCreate(), aa(true)), nil, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
		{"true on rsa create", OpCreate, with(rsaPrivCreate(), aa(true)), nil, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
		{"true on generate", OpGenerate, []Attribute{aa(true)}, impliedECPriv, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
		{"true on unwrap", OpUnwrap, []Attribute{class(p11.CKO_PRIVATE_KEY), keyType(p11.CKK_RSA), aa(true)}, nil, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
		{"C true as 0x02", OpCreate, with(ecPrivCreate(), at(p11.CKA_ALWAYS_AUTHENTICATE, []byte{2})), nil, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
		{"not a CK_BBOOL", OpCreate, with(ecPrivCreate(), at(p11.CKA_ALWAYS_AUTHENTICATE, []byte{0, 0})), nil, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},

		// Only private keys have it.
		{"on a public key", OpCreate, with(ecPubCreate(), aa(false)), nil, p11.CKR_ATTRIBUTE_TYPE_INVALID, nil},
		{"on a secret key", OpCreate, with(aesCreate(), aa(false)), nil, p11.CKR_ATTRIBUTE_TYPE_INVALID, nil},
		{"on a data object", OpCreate, with(dataCreate(), aa(false)), nil, p11.CKR_ATTRIBUTE_TYPE_INVALID, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj, err := NewObject(c.op, c.tmpl, c.implied)
			wantCode(t, err, c.code)
			if strings.HasPrefix(c.name, "true") && !strings.Contains(err.Error(), "re-authentication") {
				t.Fatalf("the refusal does not say why: %v", err)
			}
			if err != nil {
				return
			}
			if got := obj[p11.CKA_ALWAYS_AUTHENTICATE]; !bytes.Equal(got, c.want) {
				t.Fatalf("CKA_ALWAYS_AUTHENTICATE = %x, want %x", got, c.want)
			}
		})
	}

	// A whole private key has it; it reads back whatever the key's protection, and it cannot
	// change (the spec gives it no footnote 8): not to true, which the token cannot honour, and
	// not even to the value it has.
	for name, obj := range fixtures(t) {
		_, isPriv := map[string]bool{"rsaPriv": true, "ecPriv": true}[name]
		if !isPriv {
			if _, has := obj[p11.CKA_ALWAYS_AUTHENTICATE]; has {
				t.Errorf("%s has CKA_ALWAYS_AUTHENTICATE", name)
			}
			continue
		}
		locked, err := Modify(obj, []Attribute{ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []Set{obj, locked} {
			v, err := Read(o, p11.CKA_ALWAYS_AUTHENTICATE)
			wantCode(t, err, p11.CKR_OK)
			if !bytes.Equal(v, Bool(false)) {
				t.Fatalf("%s: read %x, want CK_FALSE", name, v)
			}
		}
		_, err = Modify(obj, []Attribute{aa(true)})
		wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
		_, err = Modify(obj, []Attribute{aa(false)})
		wantCode(t, err, p11.CKR_ATTRIBUTE_READ_ONLY)
		_, err = Copy(obj, []Attribute{aa(true)})
		wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
		if !Match(locked, []Attribute{aa(false)}) {
			t.Fatalf("%s: a search for CKA_ALWAYS_AUTHENTICATE false does not find it", name)
		}
	}
}
