package moduletest

import (
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
)

// The spec names the code of a key or mechanism problem at C_*Init, not at the call that does
// the work: a destroyed key's handle, a key whose usage flag forbids the operation, a mechanism
// that does not take the key's type, a key of a size the mechanism cannot use, and a bad
// mechanism parameter each fail the Init, and a failed Init leaves no operation active.
func TestInitChecksTheKeyAndMechanism(t *testing.T) {
	start(t, standard)
	s := session(t)
	ecPub, ecPriv := ecKeyPair(t, s, false)
	rsaPub, rsaPriv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048)}, nil)
	must(t, err)
	aes := aesKey(t, s, make([]byte, 32))
	noEncrypt := aesKey(t, s, make([]byte, 16), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false))
	noSign, _ := func() (pkcs11.ObjectHandle, pkcs11.ObjectHandle) {
		pub, priv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_EC_KEY_PAIR_GEN, nil),
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, false)},
			[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SIGN, false)})
		must(t, err)
		return priv, pub
	}()
	gone := aesKey(t, s, make([]byte, 16))
	must(t, p.DestroyObject(s, gone))
	small, err := rsa.GenerateKey(rand.Reader, 512)
	must(t, err)
	smallPub, err := p.CreateObject(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
		pkcs11.NewAttribute(pkcs11.CKA_MODULUS, small.N.Bytes()),
		pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(small.E)).Bytes()),
	})
	must(t, err)

	gcm := func(tagBits int) []*pkcs11.Mechanism {
		return mechs(pkcs11.CKM_AES_GCM, pkcs11.NewGCMParams(make([]byte, 12), nil, tagBits))
	}
	pss := pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32)
	for _, c := range []struct {
		name string
		init func() error
		want uint
	}{
		{"EncryptInit, destroyed key", func() error { return p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), gone) }, pkcs11.CKR_KEY_HANDLE_INVALID},
		{"DecryptInit, destroyed key", func() error { return p.DecryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), gone) }, pkcs11.CKR_KEY_HANDLE_INVALID},
		{"SignInit, destroyed key", func() error { return p.SignInit(s, mechs(pkcs11.CKM_AES_CMAC, nil), gone) }, pkcs11.CKR_KEY_HANDLE_INVALID},
		{"EncryptInit, CKA_ENCRYPT false", func() error { return p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), noEncrypt) }, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"DecryptInit, CKA_DECRYPT false", func() error { return p.DecryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), noEncrypt) }, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"SignInit, CKA_SIGN false", func() error { return p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), noSign) }, pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"SignInit, RSA mechanism on an EC key", func() error { return p.SignInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS, nil), ecPriv) }, pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"SignInit, ECDSA on an RSA key", func() error { return p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), rsaPriv) }, pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"VerifyInit, ECDSA on an RSA key", func() error { return p.VerifyInit(s, mechs(pkcs11.CKM_ECDSA, nil), rsaPub) }, pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"VerifyInit, PSS on an EC key", func() error { return p.VerifyInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS_PSS, pss), ecPub) }, pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"EncryptInit, AES mechanism on an RSA key", func() error { return p.EncryptInit(s, mechs(pkcs11.CKM_AES_CBC_PAD, make([]byte, 16)), rsaPub) }, pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"DecryptInit, OAEP on an AES key", func() error {
			return p.DecryptInit(s, mechs(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 0, nil)), aes)
		}, pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"VerifyInit, an RSA-512 key (below the nodes' 1024 bits)", func() error { return p.VerifyInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS, nil), smallPub) }, pkcs11.CKR_KEY_SIZE_RANGE},
		{"EncryptInit, CBC with an 8-byte IV", func() error { return p.EncryptInit(s, mechs(pkcs11.CKM_AES_CBC, make([]byte, 8)), aes) }, pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"EncryptInit, GCM with a 200-bit tag", func() error { return p.EncryptInit(s, gcm(200), aes) }, pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"DecryptInit, GCM with a 200-bit tag", func() error { return p.DecryptInit(s, gcm(200), aes) }, pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"SignInit, PSS with a SHA-1 MGF for SHA-256", func() error {
			return p.SignInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA1, 32)), rsaPriv)
		}, pkcs11.CKR_MECHANISM_PARAM_INVALID},
	} {
		wantRV(t, c.name, c.init(), c.want)
	}

	// A failed Init left nothing active: the same session starts each operation afresh.
	must(t, p.EncryptInit(s, gcm(128), aes))
	_, err = p.Encrypt(s, []byte("after the refusals"))
	must(t, err)
	must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), ecPriv))
	_, err = p.Sign(s, digest("x"))
	must(t, err)
	must(t, p.SignInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS_PSS, pss), rsaPriv))
	_, err = p.Sign(s, []byte("pss"))
	must(t, err)

	// A key this application destroys is refused at the next Init, even right after a
	// successful one (the module forgets what it knew of the handle).
	k := aesKey(t, s, make([]byte, 16))
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
	_, err = p.Encrypt(s, make([]byte, 16))
	must(t, err)
	must(t, p.DestroyObject(s, k))
	wantRV(t, "EncryptInit after the key was destroyed", p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k), pkcs11.CKR_KEY_HANDLE_INVALID)
	// And a usage flag this application turns off is refused at the next Init.
	k = aesKey(t, s, make([]byte, 16))
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
	_, err = p.Encrypt(s, make([]byte, 16))
	must(t, err)
	must(t, p.SetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false)}))
	wantRV(t, "EncryptInit after CKA_ENCRYPT was turned off", p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k), pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED)
}
