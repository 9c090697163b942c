package attr

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// testCert is a small X.509 certificate (Ed25519, so deterministic and under 255 bytes: the
// fuzz corpus encodes a value's length in one byte).
var testCert, testCertSubject, testCertIssuer, testCertSerial = func() (der, subject, issuer, serial []byte) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5C}, ed25519.SeedSize))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(0x2A), Subject: pkix.Name{CommonName: "c"},
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	return der, c.RawSubject, c.RawIssuer, []byte{0x02, 0x01, 0x2A}
}()

func certCreate() []Attribute {
	return []Attribute{class(p11.CKO_CERTIFICATE), au(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509),
		at(p11.CKA_SUBJECT, testCertSubject), at(p11.CKA_VALUE, testCert)}
}

// X.509 public key certificates: PKCS#11 v2.40 §4.6.2 (common certificate attributes) and
// §4.6.3 (X.509 attributes), with their footnotes.
func TestCertificateNewObject(t *testing.T) {
	if len(testCert) > 0xFE {
		t.Fatalf("the test certificate is %d bytes; the fuzz seeds need it under 255", len(testCert))
	}
	empty := []byte{}
	kcv := sha1KCV(testCert)
	cases := []newObjectCase{
		{name: "defaults", op: OpCreate, tmpl: certCreate(), want: map[uint32][]byte{
			p11.CKA_CLASS: Ulong(p11.CKO_CERTIFICATE), p11.CKA_CERTIFICATE_TYPE: Ulong(p11.CKC_X_509),
			// Storage: a certificate is public information, so unlike a key it is not private
			// unless asked (v2.40 §4.4 leaves CKA_PRIVATE's default to the token).
			p11.CKA_TOKEN: Bool(false), p11.CKA_PRIVATE: Bool(false), p11.CKA_MODIFIABLE: Bool(true),
			p11.CKA_LABEL: empty, p11.CKA_COPYABLE: Bool(true), p11.CKA_DESTROYABLE: Bool(true),
			// §4.6.2
			p11.CKA_TRUSTED: Bool(false), p11.CKA_CERTIFICATE_CATEGORY: Ulong(0),
			p11.CKA_START_DATE: empty, p11.CKA_END_DATE: empty, p11.CKA_PUBLIC_KEY_INFO: empty,
			// §4.6.3
			p11.CKA_SUBJECT: testCertSubject, p11.CKA_ID: empty, p11.CKA_ISSUER: empty, p11.CKA_SERIAL_NUMBER: empty,
			p11.CKA_VALUE: testCert, p11.CKA_URL: empty, p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY: empty,
			p11.CKA_HASH_OF_ISSUER_PUBLIC_KEY: empty, p11.CKA_JAVA_MIDP_SECURITY_DOMAIN: Ulong(0),
			p11.CKA_NAME_HASH_ALGORITHM: Ulong(p11.CKM_SHA_1)},
			// No key attributes, and the check value comes with Complete.
			absent: []uint32{p11.CKA_KEY_TYPE, p11.CKA_SENSITIVE, p11.CKA_EXTRACTABLE, p11.CKA_LOCAL, p11.CKA_KEY_GEN_MECHANISM,
				p11.CKA_SIGN, p11.CKA_VERIFY, p11.CKA_ENCRYPT, p11.CKA_DERIVE, p11.CKA_APPLICATION, p11.CKA_CHECK_VALUE}},
		{name: "everything given", op: OpCreate, tmpl: with(certCreate(), ab(p11.CKA_TOKEN, true), ab(p11.CKA_PRIVATE, true),
			at(p11.CKA_LABEL, []byte("cert")), at(p11.CKA_ID, []byte{0x42}), at(p11.CKA_ISSUER, testCertIssuer),
			at(p11.CKA_SERIAL_NUMBER, testCertSerial), au(p11.CKA_CERTIFICATE_CATEGORY, 1), at(p11.CKA_START_DATE, []byte("20250101")),
			at(p11.CKA_END_DATE, []byte("20350101")), au(p11.CKA_JAVA_MIDP_SECURITY_DOMAIN, 3), au(p11.CKA_NAME_HASH_ALGORITHM, p11.CKM_SHA256),
			at(p11.CKA_URL, []byte("https://example.test/c.der")), at(p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, rep(1, 32)),
			at(p11.CKA_HASH_OF_ISSUER_PUBLIC_KEY, rep(2, 32)), at(p11.CKA_CHECK_VALUE, kcv)),
			want: map[uint32][]byte{p11.CKA_PRIVATE: Bool(true), p11.CKA_ID: {0x42}, p11.CKA_ISSUER: testCertIssuer,
				p11.CKA_CERTIFICATE_CATEGORY: Ulong(1), p11.CKA_JAVA_MIDP_SECURITY_DOMAIN: Ulong(3), p11.CKA_CHECK_VALUE: kcv}},
		// CKA_TRUSTED (footnote 10, SO only) is gated by the token layer, which knows the role.
		{name: "trusted", op: OpCreate, tmpl: with(certCreate(), ab(p11.CKA_TRUSTED, true)), want: map[uint32][]byte{p11.CKA_TRUSTED: Bool(true)}},
		{name: "category authority", op: OpCreate, tmpl: with(certCreate(), au(p11.CKA_CERTIFICATE_CATEGORY, 2))},
		{name: "category other entity", op: OpCreate, tmpl: with(certCreate(), au(p11.CKA_CERTIFICATE_CATEGORY, 3))},
		{name: "a URL with both hashes", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_URL, []byte("u")),
			at(p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, rep(1, 20)), at(p11.CKA_HASH_OF_ISSUER_PUBLIC_KEY, rep(2, 20)))},
		{name: "hashes without a URL", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, rep(1, 20)))},

		// Footnote 1: CKA_CERTIFICATE_TYPE and CKA_SUBJECT must be in the template; CKA_VALUE
		// (footnote 2) too, since this token keeps the certificate itself, not a URL to it.
		{name: "no certificate type", op: OpCreate, tmpl: without(certCreate(), p11.CKA_CERTIFICATE_TYPE), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "no subject", op: OpCreate, tmpl: without(certCreate(), p11.CKA_SUBJECT), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "no value", op: OpCreate, tmpl: without(certCreate(), p11.CKA_VALUE), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "no value but a URL", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_VALUE), at(p11.CKA_URL, []byte("u")),
			at(p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, rep(1, 20)), at(p11.CKA_HASH_OF_ISSUER_PUBLIC_KEY, rep(2, 20))), code: p11.CKR_TEMPLATE_INCOMPLETE},

		// Only X.509 public key certificates are in scope.
		{name: "attribute certificate", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_CERTIFICATE_TYPE), au(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509_ATTR_CERT)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "WTLS certificate", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_CERTIFICATE_TYPE), au(p11.CKA_CERTIFICATE_TYPE, p11.CKC_WTLS)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "vendor certificate", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_CERTIFICATE_TYPE), au(p11.CKA_CERTIFICATE_TYPE, p11.CKC_VENDOR_DEFINED)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "certificate type not a CK_ULONG", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_CERTIFICATE_TYPE), at(p11.CKA_CERTIFICATE_TYPE, []byte{0})), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},

		// The value must be a certificate.
		{name: "value not DER", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, []byte("not a certificate"))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "value empty", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, nil)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "value truncated", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, testCert[:len(testCert)-1])), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "value with trailing bytes", op: OpCreate, tmpl: with(without(certCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, append(append([]byte{}, testCert...), 0))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},

		// Values of the enumerated attributes, and the check value.
		{name: "category 4", op: OpCreate, tmpl: with(certCreate(), au(p11.CKA_CERTIFICATE_CATEGORY, 4)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "midp domain 4", op: OpCreate, tmpl: with(certCreate(), au(p11.CKA_JAVA_MIDP_SECURITY_DOMAIN, 4)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "name hash not a digest", op: OpCreate, tmpl: with(certCreate(), au(p11.CKA_NAME_HASH_ALGORITHM, p11.CKM_AES_ECB)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "wrong check value", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_CHECK_VALUE, []byte{1, 2, 3})), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "check value by the AES rule", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_CHECK_VALUE, kcv[:2])), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "bad date", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_START_DATE, []byte("2025"))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},

		// Footnote 4: the hashes can only be empty if CKA_URL is.
		{name: "a URL without hashes", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_URL, []byte("u"))), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "a URL with one hash", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_URL, []byte("u")), at(p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, rep(1, 20))), code: p11.CKR_TEMPLATE_INCONSISTENT},

		// Certificates carry no key attributes, and only C_CreateObject makes them.
		{name: "key type", op: OpCreate, tmpl: with(certCreate(), keyType(p11.CKK_RSA)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "sensitive", op: OpCreate, tmpl: with(certCreate(), ab(p11.CKA_SENSITIVE, false)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "verify", op: OpCreate, tmpl: with(certCreate(), ab(p11.CKA_VERIFY, true)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "application", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_APPLICATION, []byte("a"))), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "modulus", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_MODULUS, modulus2048)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "owner (attribute certificates only)", op: OpCreate, tmpl: with(certCreate(), at(p11.CKA_OWNER, []byte("o"))), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "generate", op: OpGenerate, tmpl: certCreate(), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "unwrap", op: OpUnwrap, tmpl: certCreate(), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "derive", op: OpDerive, tmpl: certCreate(), code: p11.CKR_TEMPLATE_INCONSISTENT},
		// And the certificate attributes are not keys' or data objects'.
		{name: "certificate type on a key", op: OpCreate, tmpl: with(aesCreate(), au(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "certificate type on a data object", op: OpCreate, tmpl: with(dataCreate(), au(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "issuer on a public key", op: OpCreate, tmpl: with(rsaPubCreate(), at(p11.CKA_ISSUER, testCertIssuer)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "url on a data object", op: OpCreate, tmpl: with(dataCreate(), at(p11.CKA_URL, []byte("u"))), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NewObject(c.op, c.tmpl, c.implied)
			wantCode(t, err, c.code)
			if err != nil {
				return
			}
			for typ, v := range c.want {
				if g, ok := got[typ]; !ok || !bytes.Equal(g, v) {
					t.Errorf("%s = %x (present %v), want %x", p11.AttrName(typ), g, ok, v)
				}
			}
			for _, typ := range c.absent {
				if _, ok := got[typ]; ok {
					t.Errorf("%s present, want absent", p11.AttrName(typ))
				}
			}
			// Whatever NewObject accepts completes, with the check value of §4.6.2: the first
			// three bytes of the SHA-1 hash of CKA_VALUE.
			whole, err := Complete(OpCreate, got, nil, 0)
			if err != nil {
				t.Fatalf("Complete: %v", err)
			}
			if !bytes.Equal(whole[p11.CKA_CHECK_VALUE], kcv) {
				t.Fatalf("CKA_CHECK_VALUE = %x, want %x", whole[p11.CKA_CHECK_VALUE], kcv)
			}
		})
	}
}

func TestCertificateChanges(t *testing.T) {
	cert := fixtures(t)["cert"]
	frozen := cert.Clone()
	frozen[p11.CKA_MODIFIABLE] = Bool(false)
	cases := []struct {
		name    string
		obj     Set
		copying bool
		tmpl    []Attribute
		code    uint32
	}{
		// §4.6.3: "Only the CKA_ID, CKA_ISSUER, and CKA_SERIAL_NUMBER attributes may be modified
		// after the object is created", besides the storage attributes' own rules.
		{"id", cert, false, []Attribute{at(p11.CKA_ID, []byte{1})}, p11.CKR_OK},
		{"issuer", cert, false, []Attribute{at(p11.CKA_ISSUER, testCertIssuer)}, p11.CKR_OK},
		{"serial number", cert, false, []Attribute{at(p11.CKA_SERIAL_NUMBER, testCertSerial)}, p11.CKR_OK},
		{"label", cert, false, []Attribute{at(p11.CKA_LABEL, []byte("l"))}, p11.CKR_OK},
		{"trusted (by an admin; the token layer gates it)", cert, false, []Attribute{ab(p11.CKA_TRUSTED, true)}, p11.CKR_OK},
		{"copyable true to false", cert, false, []Attribute{ab(p11.CKA_COPYABLE, false)}, p11.CKR_OK},
		{"value", cert, false, []Attribute{at(p11.CKA_VALUE, testCert)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"subject", cert, false, []Attribute{at(p11.CKA_SUBJECT, testCertSubject)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"certificate type", cert, false, []Attribute{au(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"category", cert, false, []Attribute{au(p11.CKA_CERTIFICATE_CATEGORY, 1)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"check value", cert, false, []Attribute{at(p11.CKA_CHECK_VALUE, sha1KCV(testCert))}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"start date", cert, false, []Attribute{at(p11.CKA_START_DATE, []byte("20250101"))}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"end date", cert, false, []Attribute{at(p11.CKA_END_DATE, []byte("20250101"))}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"url", cert, false, []Attribute{at(p11.CKA_URL, nil)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"hash of subject public key", cert, false, []Attribute{at(p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, nil)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"midp domain", cert, false, []Attribute{au(p11.CKA_JAVA_MIDP_SECURITY_DOMAIN, 0)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"public key info", cert, false, []Attribute{at(p11.CKA_PUBLIC_KEY_INFO, nil)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"token", cert, false, []Attribute{ab(p11.CKA_TOKEN, true)}, p11.CKR_ATTRIBUTE_READ_ONLY},
		{"key attribute", cert, false, []Attribute{ab(p11.CKA_SIGN, true)}, p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{"not modifiable", frozen, false, []Attribute{at(p11.CKA_ID, []byte{1})}, p11.CKR_ACTION_PROHIBITED},

		{"copy to the token, private", cert, true, []Attribute{ab(p11.CKA_TOKEN, true), ab(p11.CKA_PRIVATE, true), at(p11.CKA_ID, []byte{2})}, p11.CKR_OK},
		{"copy with another value", cert, true, []Attribute{at(p11.CKA_VALUE, testCert)}, p11.CKR_ATTRIBUTE_READ_ONLY},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.copying {
				_, err = Copy(c.obj, c.tmpl)
			} else {
				_, err = Modify(c.obj, c.tmpl)
			}
			wantCode(t, err, c.code)
		})
	}
}

func TestCertificateIsNoKey(t *testing.T) {
	cert := fixtures(t)["cert"]
	// Nothing of a certificate is secret: every attribute reads back, CKA_VALUE included,
	// though it has no CKA_SENSITIVE or CKA_EXTRACTABLE to say so.
	for typ, v := range cert {
		got, err := Read(cert, typ)
		if err != nil || !bytes.Equal(got, v) {
			t.Fatalf("%s: read %x, %v", p11.AttrName(typ), got, err)
		}
	}
	if _, mat := Split(cert); len(mat) != 0 {
		t.Fatalf("a certificate has material: %v", mat)
	}
	wantCode(t, Permits(cert, p11.CKA_VERIFY), p11.CKR_KEY_TYPE_INCONSISTENT)
	if !Match(cert, []Attribute{class(p11.CKO_CERTIFICATE), at(p11.CKA_VALUE, testCert)}) {
		t.Fatal("a search by class and value does not find the certificate")
	}
	// A damaged certificate (its type lost) still reveals no more than a data object would.
	damaged := cert.Clone()
	delete(damaged, p11.CKA_CERTIFICATE_TYPE)
	if _, mat := Split(damaged); len(mat) != 0 {
		t.Fatalf("a damaged certificate has material: %v", mat)
	}
}
