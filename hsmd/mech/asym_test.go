package mech

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// sha256DigestInfo is the DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2 note 1).
var sha256DigestInfo = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}

// PKCS#1 v1.5 signatures are deterministic: the registry must produce crypto/rsa's bytes for
// CKM_SHA256_RSA_PKCS and for CKM_RSA_PKCS over a DigestInfo, and they must be the same.
func TestRSAPKCS1v15Deterministic(t *testing.T) {
	std, priv, pub := rsaKeys(t)
	msg := []byte("hsmsim known-answer message")
	h := sha256.Sum256(msg)
	want, err := rsa.SignPKCS1v15(nil, std, crypto.SHA256, h[:])
	mustOK(t, err)

	got, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, priv, msg)
	mustOK(t, err)
	if !bytes.Equal(got, want) {
		t.Fatal("CKM_SHA256_RSA_PKCS differs from crypto/rsa")
	}
	got2, err := Sign(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, priv, append(append([]byte(nil), sha256DigestInfo...), h[:]...))
	mustOK(t, err)
	if !bytes.Equal(got2, want) {
		t.Fatal("CKM_RSA_PKCS over a DigestInfo differs from crypto/rsa")
	}
	mustOK(t, Verify(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, pub, msg, want))
	wantCode(t, Verify(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, pub, []byte("other"), want), p11.CKR_SIGNATURE_INVALID)
	wantCode(t, Verify(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, pub, msg, want[1:]), p11.CKR_SIGNATURE_LEN_RANGE)

	// Every SHA*_RSA_PKCS verifies with crypto/rsa.
	for m, hh := range map[uint32]crypto.Hash{p11.CKM_SHA1_RSA_PKCS: crypto.SHA1, p11.CKM_SHA224_RSA_PKCS: crypto.SHA224,
		p11.CKM_SHA384_RSA_PKCS: crypto.SHA384, p11.CKM_SHA512_RSA_PKCS: crypto.SHA512} {
		sig, err := Sign(ckm.Mechanism{Type: m}, priv, msg)
		mustOK(t, err)
		mustOK(t, rsa.VerifyPKCS1v15(&std.PublicKey, hh, hashOf(hh, msg), sig))
	}
}

func TestRSAPSS(t *testing.T) {
	std, priv, pub := rsaKeys(t)
	msg := []byte("pss message")
	for _, salt := range []uint32{0, 20, 32, 222} {
		for _, tc := range []struct {
			mech uint32
			in   []byte
		}{
			{p11.CKM_SHA256_RSA_PKCS_PSS, msg},
			{p11.CKM_RSA_PKCS_PSS, hashOf(crypto.SHA256, msg)},
		} {
			m := ckm.Mechanism{Type: tc.mech, Param: &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256, SaltLen: salt}}
			sig, err := Sign(m, priv, tc.in)
			mustOK(t, err)
			h := hashOf(crypto.SHA256, msg)
			opts := &rsa.PSSOptions{SaltLength: int(salt)}
			if salt == 0 {
				opts.SaltLength = rsa.PSSSaltLengthAuto // Go has no "exactly zero"; auto accepts it
			}
			if err := rsa.VerifyPSS(&std.PublicKey, crypto.SHA256, h, sig, opts); err != nil {
				t.Fatalf("salt %d: stdlib rejects the registry's signature: %v", salt, err)
			}
			mustOK(t, Verify(m, pub, tc.in, sig))
			sig[10] ^= 1
			wantCode(t, Verify(m, pub, tc.in, sig), p11.CKR_SIGNATURE_INVALID)
		}
	}
	// Zero-salt PSS is encoded here, not by crypto/rsa: check it on many messages so that every
	// bit of the encoding (the top-bit mask included) is exercised against the stdlib verifier.
	m0 := ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256}}
	for i := 0; i < 16; i++ {
		msg := []byte{byte(i)}
		sig, err := Sign(m0, priv, msg)
		mustOK(t, err)
		if err := rsa.VerifyPSS(&std.PublicKey, crypto.SHA256, hashOf(crypto.SHA256, msg), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
			t.Fatalf("zero-salt message %d: %v", i, err)
		}
		mustOK(t, Verify(m0, pub, msg, sig))
	}
	// A stdlib signature with salt = hash length verifies through the registry.
	h := hashOf(crypto.SHA384, msg)
	sig, err := rsa.SignPSS(rand.Reader, std, crypto.SHA384, h, &rsa.PSSOptions{SaltLength: 48})
	mustOK(t, err)
	mustOK(t, Verify(ckm.Mechanism{Type: p11.CKM_SHA384_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA384, MGF: p11.CKG_MGF1_SHA384, SaltLen: 48}}, pub, msg, sig))
	// Salt mismatch is a bad signature.
	wantCode(t, Verify(ckm.Mechanism{Type: p11.CKM_SHA384_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA384, MGF: p11.CKG_MGF1_SHA384, SaltLen: 0}}, pub, msg, sig), p11.CKR_SIGNATURE_INVALID)
}

func TestRSAOAEPAndPKCSEncryption(t *testing.T) {
	std, priv, pub := rsaKeys(t)
	plain := []byte("a secret of moderate length")
	for _, hc := range []struct {
		mech, mgf uint32
		h         crypto.Hash
	}{{p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, crypto.SHA1}, {p11.CKM_SHA256, p11.CKG_MGF1_SHA256, crypto.SHA256},
		{p11.CKM_SHA512, p11.CKG_MGF1_SHA512, crypto.SHA512}} {
		m := ckm.Mechanism{Type: p11.CKM_RSA_PKCS_OAEP, Param: &ckm.OAEPParams{Hash: hc.mech, MGF: hc.mgf, Source: []byte("label")}}
		ct, _, err := Encrypt(m, pub, plain)
		mustOK(t, err)
		std1, err := rsa.DecryptOAEP(hc.h.New(), nil, std, ct, []byte("label"))
		mustOK(t, err)
		if !bytes.Equal(std1, plain) {
			t.Fatal("stdlib decrypt of registry OAEP")
		}
		ct2, err := rsa.EncryptOAEP(hc.h.New(), rand.Reader, &std.PublicKey, plain, []byte("label"))
		mustOK(t, err)
		back, err := Decrypt(m, priv, ct2)
		mustOK(t, err)
		if !bytes.Equal(back, plain) {
			t.Fatal("registry decrypt of stdlib OAEP")
		}
		_, err = Decrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_OAEP, Param: &ckm.OAEPParams{Hash: hc.mech, MGF: hc.mgf}}, priv, ct2)
		wantCode(t, err, p11.CKR_ENCRYPTED_DATA_INVALID) // wrong label
	}
	ct, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, pub, plain)
	mustOK(t, err)
	std2, err := rsa.DecryptPKCS1v15(nil, std, ct)
	mustOK(t, err)
	back, err := Decrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, priv, ct)
	mustOK(t, err)
	if !bytes.Equal(std2, plain) || !bytes.Equal(back, plain) {
		t.Fatal("PKCS#1 v1.5 round trip")
	}
}

func TestRSAX509(t *testing.T) {
	std, priv, pub := rsaKeys(t)
	m := ckm.Mechanism{Type: p11.CKM_RSA_X_509}
	data := []byte{1, 2, 3, 4}
	sig, err := Sign(m, priv, data)
	mustOK(t, err)
	// Raw RSA of an EMSA-PKCS1-v1_5 block equals the stdlib PKCS#1 v1.5 signature.
	h := sha256.Sum256([]byte("x"))
	em := make([]byte, std.Size())
	t2 := append(append([]byte(nil), sha256DigestInfo...), h[:]...)
	em[1] = 1
	for i := 2; i < len(em)-len(t2)-1; i++ {
		em[i] = 0xff
	}
	copy(em[len(em)-len(t2):], t2)
	raw, err := Sign(m, priv, em)
	mustOK(t, err)
	want, _ := rsa.SignPKCS1v15(nil, std, crypto.SHA256, h[:])
	if !bytes.Equal(raw, want) {
		t.Fatal("X.509 of a PKCS#1 block differs from crypto/rsa")
	}
	mustOK(t, Verify(m, pub, data, sig))
	wantCode(t, Verify(m, pub, []byte{1, 2, 3, 5}, sig), p11.CKR_SIGNATURE_INVALID)
	ct, _, err := Encrypt(m, pub, data)
	mustOK(t, err)
	back, err := Decrypt(m, priv, ct)
	mustOK(t, err)
	if new(big.Int).SetBytes(back).Cmp(new(big.Int).SetBytes(data)) != 0 || len(back) != std.Size() {
		t.Fatal("X.509 round trip")
	}
}

// RFC 6979 A.2.5: P-256 key and the signatures of "sample" and "test" with SHA-256.
func TestECDSARFC6979Vectors(t *testing.T) {
	c := curves[0]
	std, priv, pub := ecKeysFromScalar(t, c, unhex(t, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"))
	ux, uy := unhex(t, "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"),
		unhex(t, "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")
	pt := append(append([]byte{4}, ux...), uy...)
	if got := pub.Attrs.(attr.Set)[p11.CKA_EC_POINT]; !bytes.Equal(got, derOctetString(pt)) {
		t.Fatal("public point differs from RFC 6979's")
	}
	for msg, rs := range map[string]string{
		"sample": "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716 F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
		"test":   "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367 019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083",
	} {
		sig := unhex(t, rs)
		mustOK(t, Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, pub, []byte(msg), sig))
		h := sha256.Sum256([]byte(msg))
		mustOK(t, Verify(ckm.Mechanism{Type: p11.CKM_ECDSA}, pub, h[:], sig))
		sig[5] ^= 1
		wantCode(t, Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, pub, []byte(msg), sig), p11.CKR_SIGNATURE_INVALID)
	}
	// Sign through the registry, verify with the standard library.
	for _, m := range []uint32{p11.CKM_ECDSA_SHA1, p11.CKM_ECDSA_SHA224, p11.CKM_ECDSA_SHA256, p11.CKM_ECDSA_SHA384, p11.CKM_ECDSA_SHA512} {
		sig, err := Sign(ckm.Mechanism{Type: m}, priv, []byte("sample"))
		mustOK(t, err)
		if len(sig) != 64 {
			t.Fatalf("signature of %d bytes, want r||s of 64", len(sig))
		}
		hh := map[uint32]crypto.Hash{p11.CKM_ECDSA_SHA1: crypto.SHA1, p11.CKM_ECDSA_SHA224: crypto.SHA224,
			p11.CKM_ECDSA_SHA256: crypto.SHA256, p11.CKM_ECDSA_SHA384: crypto.SHA384, p11.CKM_ECDSA_SHA512: crypto.SHA512}[m]
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&std.PublicKey, hashOf(hh, []byte("sample")), r, s) {
			t.Fatalf("%s: stdlib rejects the registry's signature", p11.MechName(m))
		}
	}
}

func TestECDSAAllCurves(t *testing.T) {
	for _, c := range curves {
		pubAdd, privAdd, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN}, attr.Set{p11.CKA_EC_PARAMS: c.oid}, attr.Set{})
		mustOK(t, err)
		privObj := privAdd.Clone()
		privObj[p11.CKA_CLASS], privObj[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKO_PRIVATE_KEY), attr.Ulong(p11.CKK_EC)
		pubObj := pubAdd.Clone()
		pubObj[p11.CKA_CLASS], pubObj[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKO_PUBLIC_KEY), attr.Ulong(p11.CKK_EC)
		if len(privAdd[p11.CKA_VALUE]) != c.size {
			t.Fatalf("%s: CKA_VALUE of %d bytes", c.name, len(privAdd[p11.CKA_VALUE]))
		}
		priv, pub := mustKey(t, privObj), mustKey(t, pubObj)
		sig, err := Sign(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA384}, priv, []byte("m"))
		mustOK(t, err)
		if len(sig) != 2*c.size {
			t.Fatalf("%s: signature of %d bytes", c.name, len(sig))
		}
		mustOK(t, Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA384}, pub, []byte("m"), sig))
		n, ok := c.ops.(nist)
		if !ok {
			continue // secp256k1: checked against a reference implementation in kat_curves_test.go
		}
		stdPub, err := ecdsa.ParseUncompressedPublicKey(n.ec, pub.impl.(*material).ecPub.point())
		mustOK(t, err)
		if !ecdsa.Verify(stdPub, hashOf(crypto.SHA384, []byte("m")), new(big.Int).SetBytes(sig[:c.size]), new(big.Int).SetBytes(sig[c.size:])) {
			t.Fatalf("%s: stdlib rejects", c.name)
		}
	}
}

// RFC 5903 §8.1: ECDH on the 256-bit random ECP group.
func TestECDHRFC5903(t *testing.T) {
	c := curves[0]
	_, iKey, _ := ecKeysFromScalar(t, c, unhex(t, "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"))
	gr := append(append([]byte{4}, unhex(t, "D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63")...),
		unhex(t, "56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB")...)
	want := unhex(t, "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE")
	tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)}
	for _, pd := range [][]byte{gr, derOctetString(gr)} { // raw point and DER OCTET STRING
		for _, mech := range []uint32{p11.CKM_ECDH1_DERIVE, p11.CKM_ECDH1_COFACTOR_DERIVE} {
			got, err := Derive(ckm.Mechanism{Type: mech, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: pd}}, iKey, tmpl)
			mustOK(t, err)
			if !bytes.Equal(got[p11.CKA_VALUE], want) {
				t.Fatalf("ECDH = %x, want %x", got[p11.CKA_VALUE], want)
			}
		}
	}
	// CKD_NULL with CKA_VALUE_LEN keeps the trailing bytes.
	t16 := tmpl.Clone()
	t16[p11.CKA_VALUE_LEN] = attr.Ulong(16)
	got, err := Derive(ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: gr}}, iKey, t16)
	mustOK(t, err)
	if !bytes.Equal(got[p11.CKA_VALUE], want[16:]) {
		t.Fatal("truncated CKD_NULL")
	}
	// X9.63 with SHA-256: Hash(Z || 00000001 || SharedInfo) || Hash(Z || 00000002 || SharedInfo), cut.
	t40 := tmpl.Clone()
	t40[p11.CKA_VALUE_LEN] = attr.Ulong(40)
	got, err = Derive(ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_SHA256_KDF, SharedData: []byte("info"), PublicData: gr}}, iKey, t40)
	mustOK(t, err)
	b1 := sha256.Sum256(append(append(append([]byte(nil), want...), 0, 0, 0, 1), "info"...))
	b2 := sha256.Sum256(append(append(append([]byte(nil), want...), 0, 0, 0, 2), "info"...))
	if exp := append(b1[:], b2[:8]...); !bytes.Equal(got[p11.CKA_VALUE], exp) {
		t.Fatalf("X9.63 KDF = %x, want %x", got[p11.CKA_VALUE], exp)
	}
	// An AES key of 32 bytes comes straight from a P-256 secret.
	aesT := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)}
	got, err = Derive(ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: &ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: gr}}, iKey, aesT)
	mustOK(t, err)
	if len(got[p11.CKA_VALUE]) != 32 {
		t.Fatal("AES from ECDH")
	}
}

func TestKeyGeneration(t *testing.T) {
	for _, n := range []uint64{16, 24, 32} {
		mat, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, attr.Set{p11.CKA_VALUE_LEN: attr.Ulong(n)})
		mustOK(t, err)
		if len(mat[p11.CKA_VALUE]) != int(n) {
			t.Fatalf("AES key of %d bytes", len(mat[p11.CKA_VALUE]))
		}
		if v, _ := mat.Ulong(p11.CKA_VALUE_LEN); v != n {
			t.Fatal("CKA_VALUE_LEN")
		}
	}
	mat, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_GENERIC_SECRET_KEY_GEN}, attr.Set{p11.CKA_VALUE_LEN: attr.Ulong(800)})
	mustOK(t, err)
	if len(mat[p11.CKA_VALUE]) != 800 {
		t.Fatal("generic secret")
	}

	pubAdd, privAdd, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN},
		attr.Set{p11.CKA_MODULUS_BITS: attr.Ulong(2048), p11.CKA_PUBLIC_EXPONENT: {1, 0, 1}}, attr.Set{})
	mustOK(t, err)
	for _, a := range []uint32{p11.CKA_MODULUS, p11.CKA_PUBLIC_EXPONENT, p11.CKA_PRIVATE_EXPONENT, p11.CKA_PRIME_1,
		p11.CKA_PRIME_2, p11.CKA_EXPONENT_1, p11.CKA_EXPONENT_2, p11.CKA_COEFFICIENT} {
		if len(privAdd[a]) == 0 {
			t.Fatalf("private half lacks %s", p11.AttrName(a))
		}
	}
	if !bytes.Equal(pubAdd[p11.CKA_PUBLIC_EXPONENT], []byte{1, 0, 1}) || len(pubAdd[p11.CKA_MODULUS]) != 256 {
		t.Fatal("public half")
	}
	// The CRT values agree with the standard library's.
	k := &rsa.PrivateKey{PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(privAdd[p11.CKA_MODULUS]), E: 65537},
		D:      new(big.Int).SetBytes(privAdd[p11.CKA_PRIVATE_EXPONENT]),
		Primes: []*big.Int{new(big.Int).SetBytes(privAdd[p11.CKA_PRIME_1]), new(big.Int).SetBytes(privAdd[p11.CKA_PRIME_2])}}
	mustOK(t, k.Validate())
	k.Precompute()
	if !bytes.Equal(k.Precomputed.Dp.Bytes(), privAdd[p11.CKA_EXPONENT_1]) || !bytes.Equal(k.Precomputed.Qinv.Bytes(), privAdd[p11.CKA_COEFFICIENT]) {
		t.Fatal("CRT values differ from crypto/rsa's")
	}
}

// Private keys wrap as PKCS#8 and come back as the same PKCS#11 components.
func TestWrapPrivateKeys(t *testing.T) {
	std, _, _ := rsaKeys(t)
	rsaObj, _ := rsaObjects(std)
	ecStd, err := ecdsa.GenerateKey(curves[2].ops.(nist).ec, rand.Reader)
	mustOK(t, err)
	ecObj, _ := ecObjects(t, ecStd)
	kek := secretKey(t, p11.CKK_AES, bytes.Repeat([]byte{9}, 32))
	for _, m := range []ckm.Mechanism{
		{Type: p11.CKM_AES_KEY_WRAP_PAD},
		{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: make([]byte, 12), TagBits: 128}},
	} {
		for _, obj := range []attr.Set{rsaObj, ecObj} {
			w, err := Wrap(m, kek, obj)
			mustOK(t, err)
			tmpl := attr.Set{p11.CKA_CLASS: obj[p11.CKA_CLASS], p11.CKA_KEY_TYPE: obj[p11.CKA_KEY_TYPE]}
			mat, err := Unwrap(m, kek, w, tmpl)
			mustOK(t, err)
			for a, v := range mat {
				if !bytes.Equal(obj[a], v) {
					t.Fatalf("%s: %s differs after unwrap", p11.MechName(m.Type), p11.AttrName(a))
				}
			}
			if len(mat) < 2 {
				t.Fatal("too few attributes")
			}
		}
	}
	// The blob is PKCS#8: decrypting it with plain GCM parses with x509.
	m := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: make([]byte, 12), TagBits: 128}}
	w, err := Wrap(m, kek, ecObj)
	mustOK(t, err)
	der, err := Decrypt(m, kek, w)
	mustOK(t, err)
	if _, err := x509.ParsePKCS8PrivateKey(der); err != nil {
		t.Fatal(err)
	}
	// GCM wrap with an empty IV fills the caller's parameter.
	p := &ckm.GCMParams{TagBits: 128}
	w, err = Wrap(ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: p}, kek, secretObj(p11.CKK_AES, make([]byte, 16)))
	mustOK(t, err)
	if len(p.IV) != 12 {
		t.Fatal("GCM wrap did not return its IV")
	}
	_, err = Unwrap(ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: p}, kek, w,
		attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)})
	mustOK(t, err)
}

func TestRSAWrapSecretKeys(t *testing.T) {
	_, priv, pub := rsaKeys(t)
	target := secretObj(p11.CKK_AES, bytes.Repeat([]byte{5}, 32))
	tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)}
	for _, m := range []ckm.Mechanism{{Type: p11.CKM_RSA_PKCS},
		{Type: p11.CKM_RSA_PKCS_OAEP, Param: &ckm.OAEPParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256}}} {
		w, err := Wrap(m, pub, target)
		mustOK(t, err)
		mat, err := Unwrap(m, priv, w, tmpl)
		mustOK(t, err)
		if !bytes.Equal(mat[p11.CKA_VALUE], target[p11.CKA_VALUE]) {
			t.Fatal("RSA wrap round trip")
		}
		_, err = Unwrap(m, priv, w[1:], tmpl)
		wantCode(t, err, p11.CKR_WRAPPED_KEY_LEN_RANGE)
	}
}

func TestRegistryInfo(t *testing.T) {
	ts := Types()
	if len(ts) < 40 {
		t.Fatalf("only %d mechanisms", len(ts))
	}
	for i := 1; i < len(ts); i++ {
		if ts[i-1] >= ts[i] {
			t.Fatal("Types not sorted")
		}
	}
	for _, m := range ts {
		inf, err := Lookup(m)
		mustOK(t, err)
		if inf.Flags&p11.CKF_HW == 0 || inf.Flags == p11.CKF_HW {
			t.Fatalf("%s: flags %#x", p11.MechName(m), inf.Flags)
		}
	}
	for _, tc := range []struct {
		m        uint32
		min, max uint64
		flags    uint64
	}{
		{p11.CKM_AES_KEY_GEN, 16, 32, p11.CKF_HW | p11.CKF_GENERATE},
		{p11.CKM_GENERIC_SECRET_KEY_GEN, 1, 800, p11.CKF_HW | p11.CKF_GENERATE},
		{p11.CKM_RSA_PKCS_KEY_PAIR_GEN, 1024, 4096, p11.CKF_HW | p11.CKF_GENERATE_KEY_PAIR},
		{p11.CKM_EC_KEY_PAIR_GEN, 224, 521, p11.CKF_HW | p11.CKF_GENERATE_KEY_PAIR | p11.CKF_EC_F_P | p11.CKF_EC_NAMEDCURVE | p11.CKF_EC_UNCOMPRESS},
		{p11.CKM_AES_GCM, 16, 32, p11.CKF_HW | p11.CKF_ENCRYPT | p11.CKF_DECRYPT | p11.CKF_WRAP | p11.CKF_UNWRAP},
		{p11.CKM_AES_CBC_PAD, 16, 32, p11.CKF_HW | p11.CKF_ENCRYPT | p11.CKF_DECRYPT | p11.CKF_WRAP | p11.CKF_UNWRAP},
		{p11.CKM_AES_KEY_WRAP, 16, 32, p11.CKF_HW | p11.CKF_ENCRYPT | p11.CKF_DECRYPT | p11.CKF_WRAP | p11.CKF_UNWRAP},
		{p11.CKM_RSA_PKCS, 1024, 4096, p11.CKF_HW | p11.CKF_ENCRYPT | p11.CKF_DECRYPT | p11.CKF_SIGN | p11.CKF_VERIFY | p11.CKF_WRAP | p11.CKF_UNWRAP},
		{p11.CKM_RSA_PKCS_OAEP, 1024, 4096, p11.CKF_HW | p11.CKF_ENCRYPT | p11.CKF_DECRYPT | p11.CKF_WRAP | p11.CKF_UNWRAP},
		{p11.CKM_SHA256_RSA_PKCS_PSS, 1024, 4096, p11.CKF_HW | p11.CKF_SIGN | p11.CKF_VERIFY},
		{p11.CKM_ECDSA, 224, 521, p11.CKF_HW | p11.CKF_SIGN | p11.CKF_VERIFY | p11.CKF_EC_F_P | p11.CKF_EC_NAMEDCURVE | p11.CKF_EC_UNCOMPRESS},
		{p11.CKM_ECDH1_DERIVE, 224, 521, p11.CKF_HW | p11.CKF_DERIVE | p11.CKF_EC_F_P | p11.CKF_EC_NAMEDCURVE | p11.CKF_EC_UNCOMPRESS},
		{p11.CKM_SHA256_HMAC, 1, 800, p11.CKF_HW | p11.CKF_SIGN | p11.CKF_VERIFY},
		{p11.CKM_AES_CMAC, 16, 32, p11.CKF_HW | p11.CKF_SIGN | p11.CKF_VERIFY},
		{p11.CKM_SHA512, 0, 0, p11.CKF_HW | p11.CKF_DIGEST},
	} {
		inf, err := Lookup(tc.m)
		mustOK(t, err)
		if inf != (Info{tc.min, tc.max, tc.flags}) {
			t.Errorf("%s: %+v, want %+v", p11.MechName(tc.m), inf, Info{tc.min, tc.max, tc.flags})
		}
	}
	for m, kt := range map[uint32]uint64{p11.CKM_AES_KEY_GEN: p11.CKK_AES, p11.CKM_GENERIC_SECRET_KEY_GEN: p11.CKK_GENERIC_SECRET,
		p11.CKM_RSA_PKCS_KEY_PAIR_GEN: p11.CKK_RSA, p11.CKM_EC_KEY_PAIR_GEN: p11.CKK_EC} {
		s, err := Implied(m)
		mustOK(t, err)
		if v, _ := s.Ulong(p11.CKA_KEY_TYPE); v != kt {
			t.Errorf("%s implies key type %d", p11.MechName(m), v)
		}
		s[p11.CKA_KEY_TYPE] = attr.Ulong(99) // a caller's change must not reach the registry
	}
	if s, _ := Implied(p11.CKM_AES_KEY_GEN); !bytes.Equal(s[p11.CKA_KEY_TYPE], attr.Ulong(p11.CKK_AES)) {
		t.Fatal("Implied returned the registry's own set")
	}
	_, err := Implied(p11.CKM_AES_GCM)
	wantCode(t, err, p11.CKR_MECHANISM_INVALID)
	_, err = Lookup(0x80001234)
	wantCode(t, err, p11.CKR_MECHANISM_INVALID)
}

func TestRegisterRefusesDuplicates(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate registration did not panic")
		}
	}()
	register(p11.CKM_AES_GCM, &entry{})
}
