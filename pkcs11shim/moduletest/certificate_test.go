package moduletest

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"
)

// issueCert makes a DER certificate for pub, issued by a throwaway CA.
func issueCert(t *testing.T, cn string, pub crypto.PublicKey) (der []byte, cert *x509.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "throwaway CA"}}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	must(t, err)
	cert, err = x509.ParseCertificate(der)
	must(t, err)
	return der, cert
}

func sha1Check(b []byte) []byte {
	h := sha1.Sum(b)
	return h[:3]
}

// A certificate object (PKCS#11 v2.40 §4.6.3) made through the module with miekg/pkcs11: found
// by CKA_CLASS and CKA_ID next to the key it certifies, read back whole, with its check value.
func TestCertificateObject(t *testing.T) {
	start(t, standard)
	s := session(t)
	id := []byte{0x51}
	pub, priv := ecKeyPair(t, s, true, pkcs11.NewAttribute(pkcs11.CKA_ID, id))
	der, cert := issueCert(t, "module cert", ecPublic(t, s, pub))
	template := func(certType uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE),
			pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, certType),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "module cert"),
			pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, cert.RawSubject),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, der),
		}
	}
	_, err := p.CreateObject(s, template(pkcs11.CKC_X_509_ATTR_CERT))
	wantRV(t, "an attribute certificate", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)
	bad := template(pkcs11.CKC_X_509)
	bad[len(bad)-1] = pkcs11.NewAttribute(pkcs11.CKA_VALUE, der[:len(der)-3])
	_, err = p.CreateObject(s, bad)
	wantRV(t, "a value that is no certificate", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)

	h, err := p.CreateObject(s, template(pkcs11.CKC_X_509))
	must(t, err)
	must(t, p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_CERTIFICATE), pkcs11.NewAttribute(pkcs11.CKA_ID, id)}))
	found, _, err := p.FindObjects(s, 10)
	must(t, err)
	must(t, p.FindObjectsFinal(s))
	if len(found) != 1 || found[0] != h {
		t.Fatalf("find by CKA_CLASS and CKA_ID: %v, want [%d]", found, h)
	}
	must(t, p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY), pkcs11.NewAttribute(pkcs11.CKA_ID, id)}))
	found, _, err = p.FindObjects(s, 10)
	must(t, err)
	must(t, p.FindObjectsFinal(s))
	if len(found) != 1 || found[0] != priv {
		t.Fatalf("the private key with the certificate's CKA_ID: %v, want [%d]", found, priv)
	}
	if v := attr(t, s, h, pkcs11.CKA_VALUE); !bytes.Equal(v, der) {
		t.Fatal("CKA_VALUE does not read back as the certificate")
	}
	if _, err := x509.ParseCertificate(attr(t, s, h, pkcs11.CKA_VALUE)); err != nil {
		t.Fatalf("the certificate read back does not parse: %v", err)
	}
	if v := attr(t, s, h, pkcs11.CKA_CHECK_VALUE); !bytes.Equal(v, sha1Check(der)) {
		t.Fatalf("CKA_CHECK_VALUE %x, want %x", v, sha1Check(der))
	}
	// CK_ULONG attributes arrive in the application's layout.
	got, err := p.GetAttributeValue(s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_CATEGORY, nil), pkcs11.NewAttribute(pkcs11.CKA_SUBJECT, nil)})
	must(t, err)
	if !bytes.Equal(got[0].Value, pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_TYPE, pkcs11.CKC_X_509).Value) ||
		!bytes.Equal(got[1].Value, pkcs11.NewAttribute(pkcs11.CKA_CERTIFICATE_CATEGORY, 0).Value) || !bytes.Equal(got[2].Value, cert.RawSubject) {
		t.Fatalf("CKA_CERTIFICATE_TYPE %x, CKA_CERTIFICATE_CATEGORY %x, CKA_SUBJECT %x", got[0].Value, got[1].Value, got[2].Value)
	}
	wantRV(t, "change the certificate's value", p.SetAttributeValue(s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, der)}),
		pkcs11.CKR_ATTRIBUTE_READ_ONLY)
	must(t, p.SetAttributeValue(s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{0x52})}))
	// A certificate is no key. The module resolves the key when the operation's one RPC runs
	// (C_Sign), so the refusal may come from C_SignInit or from C_Sign.
	err = p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), h)
	if err == nil {
		_, err = p.Sign(s, digest("x"))
	}
	wantRV(t, "sign with a certificate", err, pkcs11.CKR_KEY_TYPE_INCONSISTENT)
	must(t, p.DestroyObject(s, h))
}

// `pkcs11-tool --write-object --type cert` stores a certificate on a live `hsmsim up`, and
// `--read-object --type cert` gives the same bytes back.
func TestCertificatePkcs11Tool(t *testing.T) {
	needTool(t, "pkcs11-tool", "opensc")
	live := startHsmsimUp(t)
	const label, id = "tool-cert", "61"
	live.keyPair(t, "EC:prime256v1", label, id)
	der, _ := issueCert(t, label, live.publicKey(t, id))
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.der"), filepath.Join(dir, "out.der")
	must(t, os.WriteFile(in, der, 0o600))
	live.pkcs11Tool(t, "--write-object", in, "--type", "cert", "--id", id, "--label", label)
	if list := live.pkcs11Tool(t, "--list-objects", "--type", "cert"); !strings.Contains(list, "Certificate Object") || !strings.Contains(list, label) {
		t.Fatalf("pkcs11-tool --list-objects --type cert does not show the certificate:\n%s", list)
	}
	live.pkcs11Tool(t, "--read-object", "--type", "cert", "--id", id, "--output-file", out)
	got, err := os.ReadFile(out)
	must(t, err)
	if !bytes.Equal(got, der) {
		t.Fatalf("pkcs11-tool --read-object --type cert gave %d bytes, not the %d written", len(got), len(der))
	}
}

// CKA_CHECK_VALUE of secret keys through the module: an AES key's is the first three bytes of
// the zero block encrypted under it (checked with crypto/aes), a generic secret's the first
// three bytes of SHA-1 of its value; it reads from a sensitive key; a template's must match.
func TestCheckValue(t *testing.T) {
	start(t, standard)
	s := session(t)
	value := bytes.Repeat([]byte{0x3C}, 32)
	block, err := aes.NewCipher(value)
	must(t, err)
	want := make([]byte, 16)
	block.Encrypt(want, make([]byte, 16))
	want = want[:3]

	k := aesKey(t, s, value, pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true))
	if got := attr(t, s, k, pkcs11.CKA_CHECK_VALUE); !bytes.Equal(got, want) {
		t.Fatalf("AES key: CKA_CHECK_VALUE %x, want %x", got, want)
	}
	_, err = p.GetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	wantRV(t, "the sensitive key's value", err, pkcs11.CKR_ATTRIBUTE_SENSITIVE)
	aesKey(t, s, value, pkcs11.NewAttribute(pkcs11.CKA_CHECK_VALUE, want))
	_, err = p.CreateObject(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value), pkcs11.NewAttribute(pkcs11.CKA_CHECK_VALUE, []byte{1, 2, 3})})
	wantRV(t, "create with a wrong check value", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)

	g, err := p.GenerateKey(s, mechs(pkcs11.CKM_GENERIC_SECRET_KEY_GEN, nil), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 40), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)})
	must(t, err)
	if got, v := attr(t, s, g, pkcs11.CKA_CHECK_VALUE), attr(t, s, g, pkcs11.CKA_VALUE); !bytes.Equal(got, sha1Check(v)) {
		t.Fatalf("generic secret: CKA_CHECK_VALUE %x, want %x", got, sha1Check(v))
	}
}

// CKA_ALWAYS_AUTHENTICATE through the module: false on every private key; a template asking for
// true is refused, since the token has no per-use re-authentication.
func TestAlwaysAuthenticate(t *testing.T) {
	start(t, standard)
	s := session(t)
	_, priv := ecKeyPair(t, s, false)
	if v := attr(t, s, priv, pkcs11.CKA_ALWAYS_AUTHENTICATE); !bytes.Equal(v, []byte{0}) {
		t.Fatalf("CKA_ALWAYS_AUTHENTICATE = %x, want CK_FALSE", v)
	}
	_, _, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_EC_KEY_PAIR_GEN, nil),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID)},
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, true)})
	wantRV(t, "a key pair with CKA_ALWAYS_AUTHENTICATE true", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)
	ecKeyPair(t, s, false, pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_AUTHENTICATE, false))
}
