// Keys below the node's 1024-bit RSA minimum are test material here (the refusal of them is
// tested); Go's crypto/rsa makes them only with this setting.
//
//go:debug rsa1024min=0

package mech

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// unhex decodes hex that may contain spaces and newlines, as the RFCs print it.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustKey(t testing.TB, obj attr.Set) *Key {
	t.Helper()
	k, err := NewKey(obj)
	if err != nil {
		t.Fatalf("NewKey: %v", err)
	}
	return k
}

func secretObj(kt uint64, v []byte) attr.Set {
	return attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(kt), p11.CKA_VALUE: v}
}

func secretKey(t testing.TB, kt uint64, v []byte) *Key { return mustKey(t, secretObj(kt, v)) }

func rsaObjects(k *rsa.PrivateKey) (priv, pub attr.Set) {
	priv = rsaPrivAttrs(k)
	priv[p11.CKA_CLASS] = attr.Ulong(p11.CKO_PRIVATE_KEY)
	priv[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKK_RSA)
	pub = attr.Set{
		p11.CKA_CLASS: attr.Ulong(p11.CKO_PUBLIC_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA),
		p11.CKA_MODULUS: k.N.Bytes(), p11.CKA_PUBLIC_EXPONENT: big.NewInt(int64(k.E)).Bytes(),
	}
	return priv, pub
}

func ecObjects(t testing.TB, k *ecdsa.PrivateKey) (priv, pub attr.Set) {
	t.Helper()
	c := curveOf(k)
	d, err := k.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	priv = attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC),
		p11.CKA_EC_PARAMS: c.oid, p11.CKA_VALUE: d}
	pub = attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PUBLIC_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC),
		p11.CKA_EC_PARAMS: c.oid, p11.CKA_EC_POINT: derOctetString(pt)}
	return priv, pub
}

var fixedRSA = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	b, err := os.ReadFile("testdata/rsa2048.pem")
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	return k.(*rsa.PrivateKey), nil
})

// rsaKeys answers the fixed 2048-bit test key (testdata/rsa2048.pem) as stdlib key and as
// registry private and public keys.
func rsaKeys(t testing.TB) (*rsa.PrivateKey, *Key, *Key) {
	t.Helper()
	k, err := fixedRSA()
	if err != nil {
		t.Fatal(err)
	}
	priv, pub := rsaObjects(k)
	return k, mustKey(t, priv), mustKey(t, pub)
}

// curveOf answers the registry's curve of a standard-library key (NIST curves only).
func curveOf(k *ecdsa.PrivateKey) *curve {
	for _, c := range curves {
		if n, ok := c.ops.(nist); ok && n.ec == k.Curve {
			return c
		}
	}
	return nil
}

// ecKeysFromScalar builds keys of a NIST curve from a fixed scalar.
func ecKeysFromScalar(t testing.TB, c *curve, d []byte) (*ecdsa.PrivateKey, *Key, *Key) {
	t.Helper()
	k, err := ecdsa.ParseRawPrivateKey(c.ops.(nist).ec, d)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub := ecObjects(t, k)
	return k, mustKey(t, priv), mustKey(t, pub)
}

func wantCode(t testing.TB, err error, want uint32) {
	t.Helper()
	if got := p11.Code(err); got != want {
		t.Fatalf("got %s (%v), want %s", p11.RVName(got), err, p11.RVName(want))
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
