package moduletest

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
)

var p256OID = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func digest(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func ecKeyPair(t *testing.T, s pkcs11.SessionHandle, token bool, extra ...*pkcs11.Attribute) (pub, priv pkcs11.ObjectHandle) {
	t.Helper()
	pubT := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, token),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
	}
	privT := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, token),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	}, extra...)
	pub, priv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_EC_KEY_PAIR_GEN, nil), pubT, privT)
	if err != nil {
		t.Fatal("EC key pair:", err)
	}
	return pub, priv
}

func sign(t *testing.T, s pkcs11.SessionHandle, m uint, key pkcs11.ObjectHandle, data []byte) []byte {
	t.Helper()
	must(t, p.SignInit(s, mechs(m, nil), key))
	sig, err := p.Sign(s, data)
	if err != nil {
		t.Fatal("sign:", err)
	}
	return sig
}

func attr(t *testing.T, s pkcs11.SessionHandle, o pkcs11.ObjectHandle, typ uint) []byte {
	t.Helper()
	a, err := p.GetAttributeValue(s, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	if err != nil {
		t.Fatalf("attribute 0x%x: %v", typ, err)
	}
	return a[0].Value
}

// ecPublic reads an EC public key out of the token into a Go key.
func ecPublic(t *testing.T, s pkcs11.SessionHandle, pub pkcs11.ObjectHandle) *ecdsa.PublicKey {
	t.Helper()
	point := attr(t, s, pub, pkcs11.CKA_EC_POINT)
	var raw []byte
	if _, err := asn1.Unmarshal(point, &raw); err != nil {
		raw = point // a raw point, not wrapped in an OCTET STRING
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		t.Fatal("EC point:", err)
	}
	return k
}

func ecdsaOK(pub *ecdsa.PublicKey, hash, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	return ecdsa.Verify(pub, hash, new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

func TestECDSA(t *testing.T) {
	start(t, standard)
	s := session(t)
	pub, priv := ecKeyPair(t, s, true)
	goPub := ecPublic(t, s, pub)

	h := digest("hello")
	sig := sign(t, s, pkcs11.CKM_ECDSA, priv, h)
	if !ecdsaOK(goPub, h, sig) {
		t.Fatal("CKM_ECDSA signature does not verify with crypto/ecdsa")
	}
	must(t, p.VerifyInit(s, mechs(pkcs11.CKM_ECDSA, nil), pub))
	must(t, p.Verify(s, h, sig))
	sig[5] ^= 1
	must(t, p.VerifyInit(s, mechs(pkcs11.CKM_ECDSA, nil), pub))
	wantRV(t, "tampered signature", p.Verify(s, h, sig), pkcs11.CKR_SIGNATURE_INVALID)

	// Multi-part: the module buffers the parts, C_SignFinal is the one RPC.
	must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA_SHA256, nil), priv))
	must(t, p.SignUpdate(s, []byte("hel")))
	must(t, p.SignUpdate(s, []byte("lo")))
	sig, err := p.SignFinal(s)
	must(t, err)
	if !ecdsaOK(goPub, h, sig) {
		t.Fatal("CKM_ECDSA_SHA256 multi-part signature does not verify with crypto/ecdsa")
	}
	must(t, p.VerifyInit(s, mechs(pkcs11.CKM_ECDSA_SHA256, nil), pub))
	must(t, p.VerifyUpdate(s, []byte("he")))
	must(t, p.VerifyUpdate(s, []byte("llo")))
	must(t, p.VerifyFinal(s, sig))

	// A Go signature verifies in the token.
	_ = goPub
	must(t, p.VerifyInit(s, mechs(pkcs11.CKM_ECDSA, nil), pub))
	wantRV(t, "short signature", p.Verify(s, h, sig[:10]), pkcs11.CKR_SIGNATURE_LEN_RANGE)
}

func TestRSA(t *testing.T) {
	start(t, standard)
	s := session(t)
	pub, priv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil),
		[]*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
		},
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
	must(t, err)
	bits := attr(t, s, pub, pkcs11.CKA_MODULUS_BITS)
	if len(bits) != 8 || binary.NativeEndian.Uint64(bits) != 2048 {
		t.Fatalf("CKA_MODULUS_BITS in C layout: %x", bits)
	}
	goPub := &rsa.PublicKey{N: new(big.Int).SetBytes(attr(t, s, pub, pkcs11.CKA_MODULUS)),
		E: int(new(big.Int).SetBytes(attr(t, s, pub, pkcs11.CKA_PUBLIC_EXPONENT)).Int64())}

	msg := []byte("rsa message")
	h := sha256.Sum256(msg)
	sig := sign(t, s, pkcs11.CKM_SHA256_RSA_PKCS, priv, msg)
	if err := rsa.VerifyPKCS1v15(goPub, crypto.SHA256, h[:], sig); err != nil {
		t.Fatal("CKM_SHA256_RSA_PKCS:", err)
	}

	pss := pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32)
	must(t, p.SignInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS_PSS, pss), priv))
	sig, err = p.Sign(s, msg)
	must(t, err)
	if err := rsa.VerifyPSS(goPub, crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Fatal("CKM_SHA256_RSA_PKCS_PSS:", err)
	}
	must(t, p.VerifyInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS_PSS, pss), pub))
	must(t, p.Verify(s, msg, sig))

	// OAEP: Go encrypts to the token's public key, the token decrypts; and the other way round.
	label := []byte("label")
	oaep := pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, pkcs11.CKZ_DATA_SPECIFIED, label)
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, goPub, []byte("secret"), label)
	must(t, err)
	must(t, p.DecryptInit(s, mechs(pkcs11.CKM_RSA_PKCS_OAEP, oaep), priv))
	pt, err := p.Decrypt(s, ct)
	must(t, err)
	if string(pt) != "secret" {
		t.Fatalf("OAEP decrypt: %q", pt)
	}
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_RSA_PKCS_OAEP, oaep), pub))
	ct, err = p.Encrypt(s, []byte("again"))
	must(t, err)
	must(t, p.DecryptInit(s, mechs(pkcs11.CKM_RSA_PKCS_OAEP, oaep), priv))
	pt, err = p.Decrypt(s, ct)
	must(t, err)
	if string(pt) != "again" {
		t.Fatalf("OAEP round trip: %q", pt)
	}
}

// aesKey creates an AES key with a known value, so Go can check the token's ciphertexts.
func aesKey(t *testing.T, s pkcs11.SessionHandle, value []byte, extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
	t.Helper()
	k, err := p.CreateObject(s, append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, value),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
	}, extra...))
	must(t, err)
	return k
}

func TestAES(t *testing.T) {
	start(t, standard, func(c *moduleConfig) { c.MaxBuffer = 4096 })
	s := session(t)
	gen, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "aes-gen")})
	must(t, err)
	if l := attr(t, s, gen, pkcs11.CKA_VALUE_LEN); len(l) != 8 || l[0] != 32 {
		t.Fatalf("CKA_VALUE_LEN %x", l)
	}

	value := bytes.Repeat([]byte{7}, 32)
	k := aesKey(t, s, value)
	block, _ := aes.NewCipher(value)
	iv := bytes.Repeat([]byte{1}, 16)
	plain := bytes.Repeat([]byte("0123456789"), 100)

	// CBC_PAD single-part, checked against Go.
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CBC_PAD, iv), k))
	ct, err := p.Encrypt(s, plain)
	must(t, err)
	padded := append(append([]byte{}, plain...), bytes.Repeat([]byte{8}, 8)...)
	want := make([]byte, len(padded))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(want, padded)
	if !bytes.Equal(ct, want) {
		t.Fatal("CKM_AES_CBC_PAD ciphertext differs from crypto/cipher's")
	}
	// Multi-part decrypt of it, in parts that are not whole blocks: the updates give the whole
	// blocks they can (all but the last, which C_DecryptFinal unpads), C_DecryptFinal the rest.
	must(t, p.DecryptInit(s, mechs(pkcs11.CKM_AES_CBC_PAD, iv), k))
	var got []byte
	for i := 0; i < len(ct); i += 100 {
		part, err := p.DecryptUpdate(s, ct[i:min(i+100, len(ct))])
		must(t, err)
		got = append(got, part...)
	}
	last, err := p.DecryptFinal(s)
	must(t, err)
	if got = append(got, last...); !bytes.Equal(got, plain) {
		t.Fatal("multi-part CBC_PAD decrypt")
	}

	// GCM with the caller's IV (profile standard).
	gcmIV := bytes.Repeat([]byte{9}, 12)
	gp := pkcs11.NewGCMParams(gcmIV, []byte("aad"), 128)
	defer gp.Free()
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, gp), k))
	ct, err = p.Encrypt(s, plain)
	must(t, err)
	aead, _ := cipher.NewGCM(block)
	if !bytes.Equal(ct, aead.Seal(nil, gcmIV, plain, []byte("aad"))) {
		t.Fatal("CKM_AES_GCM ciphertext differs from crypto/cipher's")
	}
	gd := pkcs11.NewGCMParams(gcmIV, []byte("aad"), 128)
	defer gd.Free()
	must(t, p.DecryptInit(s, mechs(pkcs11.CKM_AES_GCM, gd), k))
	pt, err := p.Decrypt(s, ct)
	must(t, err)
	if !bytes.Equal(pt, plain) {
		t.Fatal("GCM round trip")
	}

	// CTR with its parameter struct.
	ctrBlock := bytes.Repeat([]byte{3}, 16)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CTR, ctrParams(128, ctrBlock)), k))
	ct, err = p.Encrypt(s, plain[:37])
	must(t, err)
	want = make([]byte, 37)
	cipher.NewCTR(block, ctrBlock).XORKeyStream(want, plain[:37])
	if !bytes.Equal(ct, want) {
		t.Fatal("CKM_AES_CTR ciphertext differs from crypto/cipher's")
	}

	// Past max_buffer a buffered multi-part operation (GCM: the block modes stream and keep no
	// more than a block) fails with CKR_DATA_LEN_RANGE and ends.
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, gp), k))
	_, err = p.EncryptUpdate(s, make([]byte, 4000))
	must(t, err)
	_, err = p.EncryptUpdate(s, make([]byte, 100))
	wantRV(t, "past max_buffer", err, pkcs11.CKR_DATA_LEN_RANGE)
	_, err = p.EncryptFinal(s)
	wantRV(t, "after the operation ended", err, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	// CBC_PAD streams: the same amount passes max_buffer without failing.
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CBC_PAD, iv), k))
	for range 3 {
		_, err = p.EncryptUpdate(s, make([]byte, 4000))
		must(t, err)
	}
	ct, err = p.EncryptFinal(s)
	must(t, err)
	if len(ct) != 16 {
		t.Fatalf("CBC_PAD C_EncryptFinal gave %d bytes, want the last, padded block", len(ct))
	}

	// Digest, single- and multi-part, equals Go's.
	must(t, p.DigestInit(s, mechs(pkcs11.CKM_SHA256, nil)))
	d, err := p.Digest(s, []byte("hello"))
	must(t, err)
	if !bytes.Equal(d, digest("hello")) {
		t.Fatal("CKM_SHA256")
	}
	must(t, p.DigestInit(s, mechs(pkcs11.CKM_SHA256, nil)))
	must(t, p.DigestUpdate(s, []byte("hel")))
	must(t, p.DigestUpdate(s, []byte("lo")))
	d, err = p.DigestFinal(s)
	must(t, err)
	if !bytes.Equal(d, digest("hello")) {
		t.Fatal("multi-part CKM_SHA256")
	}
	// Operation rules.
	must(t, p.SignInit(s, mechs(pkcs11.CKM_SHA256_HMAC, nil), k))
	wantRV(t, "second C_SignInit", p.SignInit(s, mechs(pkcs11.CKM_SHA256_HMAC, nil), k), pkcs11.CKR_OPERATION_ACTIVE)
	_, err = p.Sign(s, []byte("x"))
	must(t, err)
	wantRV(t, "unknown mechanism", p.EncryptInit(s, mechs(0x7FFF0000, nil), k), pkcs11.CKR_MECHANISM_INVALID)
	wantRV(t, "digest mechanism for encrypt", p.EncryptInit(s, mechs(pkcs11.CKM_SHA256, nil), k), pkcs11.CKR_MECHANISM_INVALID)

	r, err := p.GenerateRandom(s, 3<<20) // more than one node call
	must(t, err)
	if len(r) != 3<<20 || bytes.Equal(r[:32], make([]byte, 32)) {
		t.Fatal("C_GenerateRandom")
	}
}

// ctrParams is CK_AES_CTR_PARAMS in C layout (miekg/pkcs11 has no helper for it).
func ctrParams(bits uint64, cb []byte) []byte {
	b := make([]byte, 8, 24)
	for i := range 8 {
		b[i] = byte(bits >> (8 * i))
	}
	return append(b, cb...)
}

func TestWrapUnwrap(t *testing.T) {
	start(t, standard)
	s := session(t)
	kek := aesKey(t, s, bytes.Repeat([]byte{5}, 32))
	value := bytes.Repeat([]byte{6}, 16)
	target := aesKey(t, s, value, pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true))

	wrapped, err := p.WrapKey(s, mechs(pkcs11.CKM_AES_KEY_WRAP_PAD, nil), kek, target)
	must(t, err)
	unwrapped, err := p.UnwrapKey(s, mechs(pkcs11.CKM_AES_KEY_WRAP_PAD, nil), kek, wrapped, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
	})
	must(t, err)
	// The unwrapped key encrypts as the original does.
	enc := func(k pkcs11.ObjectHandle) []byte {
		must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
		ct, err := p.Encrypt(s, make([]byte, 16))
		must(t, err)
		return ct
	}
	if !bytes.Equal(enc(target), enc(unwrapped)) {
		t.Fatal("the unwrapped key differs from the original")
	}

	// RSA-OAEP wraps a secret key too.
	pub, priv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048)}, nil)
	must(t, err)
	oaep := pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 0, nil)
	wrapped, err = p.WrapKey(s, mechs(pkcs11.CKM_RSA_PKCS_OAEP, oaep), pub, target)
	must(t, err)
	u2, err := p.UnwrapKey(s, mechs(pkcs11.CKM_RSA_PKCS_OAEP, oaep), priv, wrapped, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
	})
	must(t, err)
	if !bytes.Equal(enc(target), enc(u2)) {
		t.Fatal("the RSA-OAEP unwrapped key differs from the original")
	}

	// A non-extractable key is never wrapped.
	fixed := aesKey(t, s, value, pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false))
	_, err = p.WrapKey(s, mechs(pkcs11.CKM_AES_KEY_WRAP_PAD, nil), kek, fixed)
	wantRV(t, "wrap an unextractable key", err, pkcs11.CKR_KEY_UNEXTRACTABLE)
}

// ECDH: two EC key pairs derive the same secret.
func TestDerive(t *testing.T) {
	start(t, standard)
	s := session(t)
	pubA, privA := ecKeyPair(t, s, false, pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
	pubB, privB := ecKeyPair(t, s, false, pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
	derive := func(priv, peer pkcs11.ObjectHandle) []byte {
		point := attr(t, s, peer, pkcs11.CKA_EC_POINT)
		params := pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, point)
		k, err := p.DeriveKey(s, mechs(pkcs11.CKM_ECDH1_DERIVE, params), priv, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		})
		must(t, err)
		return attr(t, s, k, pkcs11.CKA_VALUE)
	}
	a, b := derive(privA, pubB), derive(privB, pubA)
	if len(a) != 32 || !bytes.Equal(a, b) {
		t.Fatalf("ECDH secrets differ: %x %x", a, b)
	}
}
