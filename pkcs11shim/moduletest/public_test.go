package moduletest

import (
	"bytes"
	"crypto/aes"
	"crypto/sha256"
	"testing"

	"github.com/miekg/pkcs11"
)

// publicAES is the template of a public (CKA_PRIVATE false) AES session key, as the fixtures of
// google/pkcs11test make them in sessions that are not logged in.
func publicAES(token bool, label string) []*pkcs11.Attribute {
	return []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, token),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false), pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
	}
}

// PKCS#11 the v2.40 Usage Guide's session states: a public session (no login) has R/W access to public session
// objects, R/O (R/W in a R/W session) to public token objects, and none to private ones. In
// profile standard the module does all of it; private objects answer CKR_USER_NOT_LOGGED_IN.
func TestPublicSessionWork(t *testing.T) {
	start(t, standard)
	ro, rw := open(t, false), open(t, true)
	gen := mechs(pkcs11.CKM_AES_KEY_GEN, nil)

	k, err := p.GenerateKey(ro, gen, publicAES(false, "public-session"))
	must(t, err)
	must(t, p.EncryptInit(ro, mechs(pkcs11.CKM_AES_ECB, nil), k))
	pt := bytes.Repeat([]byte("sixteen bytes!!!"), 2)
	ct, err := p.Encrypt(ro, pt)
	must(t, err)
	attrs, err := p.GetAttributeValue(ro, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	must(t, err)
	block, err := aes.NewCipher(attrs[0].Value)
	must(t, err)
	want := make([]byte, len(pt))
	block.Encrypt(want, pt[:16])
	block.Encrypt(want[16:], pt[16:])
	if !bytes.Equal(ct, want) {
		t.Fatalf("public-session ECB %x, crypto/aes says %x", ct, want)
	}
	must(t, p.DecryptInit(ro, mechs(pkcs11.CKM_AES_ECB, nil), k))
	if back, err := p.Decrypt(ro, ct); err != nil || !bytes.Equal(back, pt) {
		t.Fatalf("decrypt without a login: %x %v", back, err)
	}
	must(t, p.DigestInit(ro, mechs(pkcs11.CKM_SHA256, nil)))
	if d, err := p.Digest(ro, pt); err != nil || !bytes.Equal(d, sum256(pt)) {
		t.Fatalf("digest without a login: %x %v", d, err)
	}
	must(t, p.FindObjectsInit(rw, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "public-session")}))
	hs, _, err := p.FindObjects(rw, 10)
	must(t, err)
	must(t, p.FindObjectsFinal(rw))
	if len(hs) != 1 || hs[0] != k {
		t.Fatalf("another public session of the application finds %v, want [%d]", hs, k)
	}
	must(t, p.SetAttributeValue(ro, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "renamed")}))
	data, err := p.CreateObject(ro, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false), pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte{0xde, 0xad})})
	must(t, err)
	cp, err := p.CopyObject(ro, data, nil)
	must(t, err)
	must(t, p.DestroyObject(ro, cp))

	// Private objects need a login; token objects a R/W session.
	_, err = p.GenerateKey(ro, gen, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16)})
	wantRV(t, "a private session key (CKA_PRIVATE defaults to true)", err, pkcs11.CKR_USER_NOT_LOGGED_IN)
	_, err = p.GenerateKey(ro, gen, publicAES(true, "public-token"))
	wantRV(t, "a public token key from a R/O session", err, pkcs11.CKR_SESSION_READ_ONLY)
	tok, err := p.GenerateKey(rw, gen, publicAES(true, "public-token"))
	must(t, err)
	_, err = p.GenerateKey(rw, gen, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true), pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true)})
	wantRV(t, "a private token key without a login", err, pkcs11.CKR_USER_NOT_LOGGED_IN)
	wantRV(t, "destroy a token key from a R/O session", p.DestroyObject(ro, tok), pkcs11.CKR_SESSION_READ_ONLY)

	// The login keeps the public session's objects, and the logout too; the login's own
	// session objects end with it (v2.40 §5.6, C_Logout).
	must(t, p.Login(rw, pkcs11.CKU_USER, pin))
	must(t, p.EncryptInit(rw, mechs(pkcs11.CKM_AES_ECB, nil), k))
	_, err = p.Encrypt(rw, pt)
	must(t, err)
	private := aesKey(t, rw, make([]byte, 16))
	must(t, p.Logout(rw))
	_, err = p.GetAttributeValue(ro, private, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	wantRV(t, "the login's session key after C_Logout", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
	must(t, p.EncryptInit(ro, mechs(pkcs11.CKM_AES_ECB, nil), k))
	_, err = p.Encrypt(ro, pt)
	must(t, err)
	must(t, p.DestroyObject(rw, tok))

	// Closing the session that made them ends them.
	must(t, p.CloseSession(ro))
	_, err = p.GetAttributeValue(rw, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	wantRV(t, "a closed public session's key", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
}

func sum256(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// In profile cloudhsm a session does nothing with objects before a login: AWS documents no
// public-session access for Client SDK 5 (docs/PKCS11.md, "Public sessions").
func TestPublicSessionCloudHSM(t *testing.T) {
	start(t, cloudhsm)
	s := open(t, true)
	_, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), publicAES(false, "public"))
	wantRV(t, "a public session key in profile cloudhsm", err, pkcs11.CKR_USER_NOT_LOGGED_IN)
	_, err = p.CreateObject(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false)})
	wantRV(t, "a public data object in profile cloudhsm", err, pkcs11.CKR_USER_NOT_LOGGED_IN)
	wantRV(t, "an Init without a login", p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), 0x80000001), pkcs11.CKR_USER_NOT_LOGGED_IN)
}
