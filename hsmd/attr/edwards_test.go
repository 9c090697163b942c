package attr

import (
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Edwards-curve keys (CKK_EC_EDWARDS, Current Mechanisms v3.0 "Edwards Elliptic curve public/private
// key objects") have the EC
// keys' rows: CKA_EC_PARAMS and CKA_EC_POINT on the public key, CKA_EC_PARAMS and the secret
// CKA_VALUE on the private one; they sign and verify by default, never decrypt, and the
// private key reads CKA_ALWAYS_AUTHENTICATE false.
func TestEdwardsKeys(t *testing.T) {
	name := []byte{0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'}
	pubCreate := []Attribute{class(p11.CKO_PUBLIC_KEY), keyType(p11.CKK_EC_EDWARDS), at(p11.CKA_EC_PARAMS, name), at(p11.CKA_EC_POINT, append([]byte{4, 32}, rep(1, 32)...))}
	privCreate := []Attribute{class(p11.CKO_PRIVATE_KEY), keyType(p11.CKK_EC_EDWARDS), at(p11.CKA_EC_PARAMS, name), at(p11.CKA_VALUE, rep(2, 32))}
	pub, err := NewObject(OpCreate, pubCreate, nil)
	wantCode(t, err, p11.CKR_OK)
	priv, err := NewObject(OpCreate, privCreate, nil)
	wantCode(t, err, p11.CKR_OK)
	for _, c := range []struct {
		obj  Set
		t    uint32
		want bool
	}{{pub, p11.CKA_VERIFY, true}, {pub, p11.CKA_ENCRYPT, false}, {pub, p11.CKA_WRAP, false},
		{priv, p11.CKA_SIGN, true}, {priv, p11.CKA_DECRYPT, false}, {priv, p11.CKA_UNWRAP, false}, {priv, p11.CKA_ALWAYS_AUTHENTICATE, false}} {
		if v, ok := c.obj.Bool(c.t); !ok || v != c.want {
			t.Fatalf("%s = %v (present %v), want %v", p11.AttrName(c.t), v, ok, c.want)
		}
	}
	_, err = NewObject(OpCreate, without(pubCreate, p11.CKA_EC_POINT), nil)
	wantCode(t, err, p11.CKR_TEMPLATE_INCOMPLETE)
	_, err = NewObject(OpCreate, without(privCreate, p11.CKA_VALUE), nil)
	wantCode(t, err, p11.CKR_TEMPLATE_INCOMPLETE)
	implied := Set{p11.CKA_CLASS: Ulong(p11.CKO_PUBLIC_KEY), p11.CKA_KEY_TYPE: Ulong(p11.CKK_EC_EDWARDS)}
	_, err = NewObject(OpGenerate, []Attribute{at(p11.CKA_EC_PARAMS, name), at(p11.CKA_EC_POINT, rep(1, 34))}, implied)
	wantCode(t, err, p11.CKR_ATTRIBUTE_READ_ONLY)
	if _, material := Split(priv); len(material[p11.CKA_VALUE]) != 32 {
		t.Fatal("the private value is not kept apart as key material")
	}
}
