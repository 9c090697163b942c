package server_test

import (
	"bytes"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// readAttr reads one attribute, failing the test unless it answers rv.
func readAttr(t *testing.T, c *client.Client, h, typ, rv uint32) []byte {
	t.Helper()
	res, err := c.GetAttributes(ctxT(t), h, typ)
	if err != nil {
		t.Fatalf("read %s: %v", p11.AttrName(typ), err)
	}
	if res[0].Rv != rv {
		t.Fatalf("read %s: %s, want %s", p11.AttrName(typ), p11.RVName(res[0].Rv), p11.RVName(rv))
	}
	return res[0].Value
}

func sha1Prefix(b []byte) []byte {
	h := sha1.Sum(b)
	return h[:3]
}

// An X.509 certificate (PKCS#11 v2.40 §4.6.3) is an object of the node like a data object: it
// is stored, found and read, changes only where the spec lets it, and is no key to any crypto
// call, which refuses it before the mechanisms are asked to parse it.
func TestCertificateObjectOnTheNode(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	admin, alice := n.Admin(t), n.Alice(t)
	pub, priv := genEC(t, alice)
	id := []byte{0x42}
	if err := alice.SetAttributes(ctx, priv, []attr.Attribute{{Type: p11.CKA_ID, Value: id}}); err != nil {
		t.Fatal(err)
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "node key"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, ecdsaPublic(t, alice, pub), caKey)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certTemplate := func(token bool, value []byte, certType uint64) []attr.Attribute {
		return []attr.Attribute{
			{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_CERTIFICATE)}, {Type: p11.CKA_CERTIFICATE_TYPE, Value: attr.Ulong(certType)},
			{Type: p11.CKA_TOKEN, Value: attr.Bool(token)}, {Type: p11.CKA_ID, Value: id}, {Type: p11.CKA_LABEL, Value: []byte("node key")},
			{Type: p11.CKA_SUBJECT, Value: parsed.RawSubject}, {Type: p11.CKA_ISSUER, Value: parsed.RawIssuer}, {Type: p11.CKA_VALUE, Value: value}}
	}

	_, err = alice.CreateObject(ctx, certTemplate(true, []byte("not DER"), p11.CKC_X_509))
	wantRV(t, "a certificate whose value is no certificate", err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
	_, err = alice.CreateObject(ctx, certTemplate(true, der, p11.CKC_X_509_ATTR_CERT))
	wantRV(t, "an attribute certificate", err, p11.CKR_ATTRIBUTE_VALUE_INVALID)

	for _, token := range []bool{true, false} {
		h, err := alice.CreateObject(ctx, certTemplate(token, der, p11.CKC_X_509))
		if err != nil {
			t.Fatalf("create a certificate (token %v): %v", token, err)
		}
		found, err := alice.FindObjects(ctx, []attr.Attribute{{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_CERTIFICATE)}, {Type: p11.CKA_ID, Value: id},
			{Type: p11.CKA_TOKEN, Value: attr.Bool(token)}})
		if err != nil || len(found) != 1 || found[0] != h {
			t.Fatalf("find the certificate by class and id: %v %v, want [%d]", found, err, h)
		}
		if v := readAttr(t, alice, h, p11.CKA_VALUE, p11.CKR_OK); !bytes.Equal(v, der) {
			t.Fatal("CKA_VALUE does not read back as the certificate")
		}
		if v := readAttr(t, alice, h, p11.CKA_CHECK_VALUE, p11.CKR_OK); !bytes.Equal(v, sha1Prefix(der)) {
			t.Fatalf("CKA_CHECK_VALUE %x, want the first 3 bytes of SHA-1 of the value, %x", v, sha1Prefix(der))
		}
		if v := readAttr(t, alice, h, p11.CKA_PRIVATE, p11.CKR_OK); !bytes.Equal(v, attr.Bool(false)) {
			t.Fatal("a certificate is private by default")
		}
		readAttr(t, alice, h, p11.CKA_SENSITIVE, p11.CKR_ATTRIBUTE_TYPE_INVALID)

		// No crypto call takes a certificate for a key.
		digest := make([]byte, 32)
		_, err = alice.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, h, digest)
		wantRV(t, "sign with a certificate", err, p11.CKR_KEY_TYPE_INCONSISTENT)
		wantRV(t, "verify with a certificate", alice.Verify(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, h, digest, make([]byte, 64)), p11.CKR_KEY_TYPE_INCONSISTENT)
		_, _, err = alice.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, h, []byte("x"))
		wantRV(t, "encrypt with a certificate", err, p11.CKR_KEY_TYPE_INCONSISTENT)
		_, err = alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, h, priv)
		wantRV(t, "wrap under a certificate", err, p11.CKR_KEY_TYPE_INCONSISTENT)
		_, err = alice.DeriveKey(ctx, ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE}, h, nil)
		wantRV(t, "derive from a certificate", err, p11.CKR_KEY_TYPE_INCONSISTENT)
		kek := genAES(t, alice, false, "kek", attr.Attribute{Type: p11.CKA_WRAP, Value: attr.Bool(true)})
		if _, err := alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, kek, h); err == nil {
			t.Fatal("a certificate was wrapped as if it were a key")
		} else if c := p11.Code(err); c == p11.CKR_GENERAL_ERROR || c == p11.CKR_FUNCTION_FAILED {
			t.Fatalf("wrapping a certificate: %v", err)
		}

		// §4.6.3: only CKA_ID, CKA_ISSUER and CKA_SERIAL_NUMBER change (and the label).
		if err := alice.SetAttributes(ctx, h, []attr.Attribute{{Type: p11.CKA_SERIAL_NUMBER, Value: []byte{2, 1, 7}}, {Type: p11.CKA_LABEL, Value: []byte("renamed")}}); err != nil {
			t.Fatalf("set the serial number: %v", err)
		}
		wantRV(t, "change the value", alice.SetAttributes(ctx, h, []attr.Attribute{{Type: p11.CKA_VALUE, Value: der}}), p11.CKR_ATTRIBUTE_READ_ONLY)
		wantRV(t, "change the subject", alice.SetAttributes(ctx, h, []attr.Attribute{{Type: p11.CKA_SUBJECT, Value: parsed.RawIssuer}}), p11.CKR_ATTRIBUTE_READ_ONLY)
		wantRV(t, "a crypto user trusts a certificate", alice.SetAttributes(ctx, h, []attr.Attribute{{Type: p11.CKA_TRUSTED, Value: attr.Bool(true)}}), p11.CKR_ATTRIBUTE_READ_ONLY)
		if token {
			// CKA_TRUSTED (footnote 10) is the admin's, on certificates as on keys.
			if err := admin.SetAttributes(ctx, h, []attr.Attribute{{Type: p11.CKA_TRUSTED, Value: attr.Bool(true)}}); err != nil {
				t.Fatalf("an admin trusts a certificate: %v", err)
			}
			if v := readAttr(t, alice, h, p11.CKA_TRUSTED, p11.CKR_OK); !bytes.Equal(v, attr.Bool(true)) {
				t.Fatal("CKA_TRUSTED is not true after the admin set it")
			}
		}
		cp, err := alice.CopyObject(ctx, h, []attr.Attribute{{Type: p11.CKA_ID, Value: []byte{0x43}}})
		if err != nil {
			t.Fatalf("copy a certificate: %v", err)
		}
		if v := readAttr(t, alice, cp, p11.CKA_VALUE, p11.CKR_OK); !bytes.Equal(v, der) {
			t.Fatal("the copy's value differs")
		}
		for _, o := range []uint32{cp, h} {
			if err := alice.DestroyObject(ctx, o); err != nil {
				t.Fatalf("destroy a certificate: %v", err)
			}
		}
	}
}

// CKA_CHECK_VALUE of secret keys through the node: computed at generation, creation and unwrap
// as the key types define it (checked here with crypto/aes and crypto/sha1), readable when the
// key is sensitive, and a template's must match.
func TestCheckValueOnTheNode(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	alice := n.Alice(t)
	open := []attr.Attribute{{Type: p11.CKA_SENSITIVE, Value: attr.Bool(false)}, {Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(true)}}
	kcvAES := func(key []byte) []byte {
		b, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 16)
		b.Encrypt(out, make([]byte, 16))
		return out[:3]
	}
	kcv := func(v []byte) attr.Attribute { return attr.Attribute{Type: p11.CKA_CHECK_VALUE, Value: v} }

	for _, token := range []bool{true, false} {
		k := genAES(t, alice, token, "open", open...)
		value := readAttr(t, alice, k, p11.CKA_VALUE, p11.CKR_OK)
		if got := readAttr(t, alice, k, p11.CKA_CHECK_VALUE, p11.CKR_OK); !bytes.Equal(got, kcvAES(value)) {
			t.Fatalf("generated AES key: CKA_CHECK_VALUE %x, want %x", got, kcvAES(value))
		}
		g, err := alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_GENERIC_SECRET_KEY_GEN},
			append([]attr.Attribute{{Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(48)}, {Type: p11.CKA_TOKEN, Value: attr.Bool(token)}}, open...))
		if err != nil {
			t.Fatal(err)
		}
		gv := readAttr(t, alice, g, p11.CKA_VALUE, p11.CKR_OK)
		if got := readAttr(t, alice, g, p11.CKA_CHECK_VALUE, p11.CKR_OK); !bytes.Equal(got, sha1Prefix(gv)) {
			t.Fatalf("generated generic secret: CKA_CHECK_VALUE %x, want %x", got, sha1Prefix(gv))
		}
		// A sensitive key's check value reads; its value does not.
		s := genAES(t, alice, token, "sensitive", attr.Attribute{Type: p11.CKA_SENSITIVE, Value: attr.Bool(true)})
		readAttr(t, alice, s, p11.CKA_VALUE, p11.CKR_ATTRIBUTE_SENSITIVE)
		if got := readAttr(t, alice, s, p11.CKA_CHECK_VALUE, p11.CKR_OK); len(got) != 3 {
			t.Fatalf("sensitive key: CKA_CHECK_VALUE %x", got)
		}
		_, err = alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, append(aesTemplate(token, "guess"), kcv([]byte{1, 2, 3})))
		wantRV(t, "generate with a check value", err, p11.CKR_ATTRIBUTE_READ_ONLY)
	}

	key := bytes.Repeat([]byte{0x6B}, 32)
	create := func(check []byte) (uint32, error) {
		return alice.CreateObject(ctx, []attr.Attribute{{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)},
			{Type: p11.CKA_KEY_TYPE, Value: attr.Ulong(p11.CKK_AES)}, {Type: p11.CKA_VALUE, Value: key}, kcv(check)})
	}
	_, err := create([]byte{0, 0, 0})
	wantRV(t, "create with a wrong check value", err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
	h, err := create(kcvAES(key))
	if err != nil {
		t.Fatalf("create with the right check value: %v", err)
	}

	// Unwrap: the check value of the unwrapped key, which a template may state.
	kek := genAES(t, alice, true, "kek", attr.Attribute{Type: p11.CKA_WRAP, Value: attr.Bool(true)}, attr.Attribute{Type: p11.CKA_UNWRAP, Value: attr.Bool(true)})
	wrapped, err := alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, h)
	if err != nil {
		t.Fatal(err)
	}
	unwrapT := func(check []byte) []attr.Attribute {
		return []attr.Attribute{{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)}, {Type: p11.CKA_KEY_TYPE, Value: attr.Ulong(p11.CKK_AES)},
			{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, kcv(check)}
	}
	_, err = alice.UnwrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, wrapped, unwrapT([]byte{9, 9, 9}))
	wantRV(t, "unwrap with a wrong check value", err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
	u, err := alice.UnwrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, wrapped, unwrapT(kcvAES(key)))
	if err != nil {
		t.Fatalf("unwrap with the right check value: %v", err)
	}
	if got := readAttr(t, alice, u, p11.CKA_CHECK_VALUE, p11.CKR_OK); !bytes.Equal(got, kcvAES(key)) {
		t.Fatalf("unwrapped key: CKA_CHECK_VALUE %x", got)
	}
	// A search by check value finds the created and the unwrapped key, and nothing else.
	found, err := alice.FindObjects(ctx, []attr.Attribute{kcv(kcvAES(key))})
	if err != nil || len(found) != 2 {
		t.Fatalf("find by check value: %v %v", found, err)
	}
}

// CKA_ALWAYS_AUTHENTICATE (v2.40 §4.9) is on every private key the node makes, false; a key
// pair that asks for true is refused, since the token has no per-use re-authentication.
func TestAlwaysAuthenticateOnTheNode(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	alice := n.Alice(t)
	_, priv := genEC(t, alice)
	if v := readAttr(t, alice, priv, p11.CKA_ALWAYS_AUTHENTICATE, p11.CKR_OK); !bytes.Equal(v, attr.Bool(false)) {
		t.Fatalf("CKA_ALWAYS_AUTHENTICATE = %x, want CK_FALSE", v)
	}
	for _, v := range []bool{true, false} {
		_, _, err := alice.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
			[]attr.Attribute{{Type: p11.CKA_EC_PARAMS, Value: p256OID}},
			[]attr.Attribute{{Type: p11.CKA_ALWAYS_AUTHENTICATE, Value: attr.Bool(v)}})
		want := p11.CKR_OK
		if v {
			want = p11.CKR_ATTRIBUTE_VALUE_INVALID
		}
		wantRV(t, "a key pair with CKA_ALWAYS_AUTHENTICATE "+map[bool]string{true: "true", false: "false"}[v], err, uint32(want))
	}
}
