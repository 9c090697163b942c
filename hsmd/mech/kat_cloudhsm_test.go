package mech

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"hash"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Known answers for CloudHSM's vendor mechanisms and the standard ones its Client SDK 5 lists
// (RSA-AES key wrap, X9.31 key-pair generation, ECDH with the X9.63 KDF). Where a published
// vector exists it is used (RFC 3394, RFC 5649, McGrew–Viega GCM, NIST CAVP SP 800-108 and
// ANSI X9.63); where none does (CloudHSM's PKCS #5-padded key wrap, the layout of its GCM and
// KDF parameters) the answer is recomputed here by an independent construction written from the
// specification text.

var secretTmpl = attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)}

// kw38F is the wrapping function W of NIST SP 800-38F §6.1 (Algorithm 1), written in its
// shift-register form, independent of the index form in wrap.go: s = 6(n−1) steps, each
// encrypting A || R2, xoring the step number into A and rotating R2..Rn.
func kw38F(t *testing.T, kek, s []byte) []byte {
	t.Helper()
	b, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	n := len(s) / 8
	a := append([]byte(nil), s[:8]...)
	r := make([][]byte, n-1)
	for i := range r {
		r[i] = append([]byte(nil), s[8*(i+1):8*(i+2)]...)
	}
	blk := make([]byte, 16)
	for step := 1; step <= 6*(n-1); step++ {
		copy(blk, a)
		copy(blk[8:], r[0])
		b.Encrypt(blk, blk)
		var tt [8]byte
		binary.BigEndian.PutUint64(tt[:], uint64(step))
		for i := range 8 {
			a[i] = blk[i] ^ tt[i]
		}
		r = append(r[1:], append([]byte(nil), blk[8:]...))
	}
	out := append([]byte(nil), a...)
	for _, x := range r {
		out = append(out, x...)
	}
	return out
}

// RFC 3394 §4 through CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD: AWS's "AES Key Wrap with No Padding"
// is RFC 3394 with the default IV A6A6A6A6A6A6A6A6, which may be given explicitly but is the
// only IV accepted ("AES key wrapping", AWS CloudHSM User Guide).
func TestCloudHSMKeyWrapNoPadRFC3394(t *testing.T) {
	m := ckm.Mechanism{Type: ckm.CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD}
	for _, tc := range []struct{ kek, data, wrapped string }{
		{"000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
		{"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
	} {
		kek := secretKey(t, p11.CKK_AES, unhex(t, tc.kek))
		for _, mm := range []ckm.Mechanism{m, {Type: m.Type, Param: ckm.IV(unhex(t, "A6A6A6A6A6A6A6A6"))}} {
			got, err := Wrap(mm, kek, secretObj(p11.CKK_GENERIC_SECRET, unhex(t, tc.data)))
			mustOK(t, err)
			if want := unhex(t, tc.wrapped); !bytes.Equal(got, want) {
				t.Fatalf("wrap = %x, want %x", got, want)
			}
			mat, err := Unwrap(mm, kek, got, secretTmpl)
			mustOK(t, err)
			if !bytes.Equal(mat[p11.CKA_VALUE], unhex(t, tc.data)) {
				t.Fatal("unwrap")
			}
		}
	}
	kek := secretKey(t, p11.CKK_AES, make([]byte, 16))
	_, err := Wrap(ckm.Mechanism{Type: m.Type, Param: ckm.IV{1, 2, 3, 4, 5, 6, 7, 8}}, kek, secretObj(p11.CKK_AES, make([]byte, 16)))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	_, err = Wrap(m, kek, secretObj(p11.CKK_GENERIC_SECRET, make([]byte, 20))) // not block-aligned
	wantCode(t, err, p11.CKR_KEY_SIZE_RANGE)
}

// RFC 5649 §6 through CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD: AWS's "AES Key Wrap with Zero
// Padding" is RFC 5649 (SP 800-38F KWP), whose alternative IV is computed from the length and
// may not be given.
func TestCloudHSMKeyWrapZeroPadRFC5649(t *testing.T) {
	m := ckm.Mechanism{Type: ckm.CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD}
	kek := secretKey(t, p11.CKK_AES, unhex(t, "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8"))
	for _, tc := range []struct{ data, wrapped string }{
		{"c37b7e6492584340 bed1220780894115 5068f738", "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"},
		{"466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"},
	} {
		got, err := Wrap(m, kek, secretObj(p11.CKK_GENERIC_SECRET, unhex(t, tc.data)))
		mustOK(t, err)
		if want := unhex(t, tc.wrapped); !bytes.Equal(got, want) {
			t.Fatalf("wrap = %x, want %x", got, want)
		}
		mat, err := Unwrap(m, kek, got, secretTmpl)
		mustOK(t, err)
		if !bytes.Equal(mat[p11.CKA_VALUE], unhex(t, tc.data)) {
			t.Fatal("unwrap")
		}
	}
	_, err := Wrap(ckm.Mechanism{Type: m.Type, Param: ckm.IV{0xA6, 0x59, 0x59, 0xA6}}, kek, secretObj(p11.CKK_AES, make([]byte, 16)))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
}

// CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD has no specification of its own (AWS's table says
// "None"): the key is padded as PKCS #5 pads to 8-byte blocks (1 to 8 bytes, each holding the
// count, so a block-aligned key gains a whole block of 08s, as AWS's known issue about the old
// CKM_AES_KEY_WRAP warns), then wrapped with RFC 3394 under the default IV. Checked here against
// SP 800-38F's W over the same padding, for every length from 1 to 40 bytes and for a PKCS #8
// private key.
func TestCloudHSMKeyWrapPKCS5Pad(t *testing.T) {
	m := ckm.Mechanism{Type: ckm.CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD}
	kekBytes := unhex(t, "000102030405060708090A0B0C0D0E0F")
	kek := secretKey(t, p11.CKK_AES, kekBytes)
	independent := func(key []byte) []byte {
		n := 8 - len(key)%8
		padded := append(append([]byte(nil), key...), bytes.Repeat([]byte{byte(n)}, n)...)
		return kw38F(t, kekBytes, append(unhex(t, "A6A6A6A6A6A6A6A6"), padded...))
	}
	for n := 1; n <= 40; n++ {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(i*7 + n)
		}
		got, err := Wrap(m, kek, secretObj(p11.CKK_GENERIC_SECRET, key))
		mustOK(t, err)
		if want := independent(key); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: wrap = %x, want %x", n, got, want)
		}
		mat, err := Unwrap(m, kek, got, secretTmpl)
		mustOK(t, err)
		if !bytes.Equal(mat[p11.CKA_VALUE], key) {
			t.Fatalf("%d bytes: unwrap = %x", n, mat[p11.CKA_VALUE])
		}
	}
	if got, _ := Wrap(m, kek, secretObj(p11.CKK_AES, make([]byte, 16))); len(got) != 32 {
		t.Fatalf("a 16-byte key wraps to %d bytes, want 32 (8 bytes of padding, 8 of IV)", len(got))
	}
	// A private key travels as PKCS#8, padded the same way.
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustOK(t, err)
	privObj, _ := ecObjects(t, ec)
	der, err := x509.MarshalPKCS8PrivateKey(ec)
	mustOK(t, err)
	got, err := Wrap(m, kek, privObj)
	mustOK(t, err)
	if !bytes.Equal(got, independent(der)) {
		t.Fatal("PKCS#8 wrap differs from the independent construction")
	}
	// Padding bytes that do not all hold the count are refused, as is an IV other than the default.
	bad := kw38F(t, kekBytes, append(unhex(t, "A6A6A6A6A6A6A6A6"), append(make([]byte, 14), 1, 2)...))
	_, err = Unwrap(m, kek, bad, secretTmpl)
	wantCode(t, err, p11.CKR_WRAPPED_KEY_INVALID)
	_, err = Wrap(ckm.Mechanism{Type: m.Type, Param: ckm.IV{1, 2, 3, 4, 5, 6, 7, 8}}, kek, secretObj(p11.CKK_AES, make([]byte, 16)))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
}

// CKM_CLOUDHSM_AES_GCM: the HSM makes a 12-byte IV and prepends it, so the output is
// IV || ciphertext || tag and decryption reads the IV from the front (AWS, "Supported mechanisms
// for the PKCS #11 library", footnote 3). McGrew–Viega test case 4 in that layout decrypts; an
// encryption opens with crypto/cipher under the IV it carries; a caller's IV is refused.
func TestCloudHSMAESGCM(t *testing.T) {
	k := secretKey(t, p11.CKK_AES, unhex(t, "feffe9928665731c6d6a8f9467308308"))
	aad := unhex(t, "feedfacedeadbeeffeedfacedeadbeefabaddad2")
	plain := unhex(t, `d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
		1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`)
	blob := unhex(t, `cafebabefacedbaddecaf888
		42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
		21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091 5bc94fbc3221a5db94fae95ae7121a47`)
	m := ckm.Mechanism{Type: ckm.CKM_CLOUDHSM_AES_GCM, Param: &ckm.GCMParams{AAD: aad, TagBits: 128}}
	got, err := Decrypt(m, k, blob)
	mustOK(t, err)
	if !bytes.Equal(got, plain) {
		t.Fatalf("decrypt = %x", got)
	}
	bad := append([]byte(nil), blob...)
	bad[0] ^= 1 // the IV is authenticated
	_, err = Decrypt(m, k, bad)
	wantCode(t, err, p11.CKR_ENCRYPTED_DATA_INVALID)
	_, err = Decrypt(m, k, blob[:12+15])
	wantCode(t, err, p11.CKR_ENCRYPTED_DATA_LEN_RANGE)

	ct, _, err := Encrypt(m, k, plain)
	mustOK(t, err)
	ct2, _, err := Encrypt(m, k, plain)
	mustOK(t, err)
	if len(ct) != 12+len(plain)+16 || bytes.Equal(ct[:12], ct2[:12]) {
		t.Fatalf("ciphertext of %d bytes; IVs %x and %x", len(ct), ct[:12], ct2[:12])
	}
	b, _ := aes.NewCipher(unhex(t, "feffe9928665731c6d6a8f9467308308"))
	g, _ := cipher.NewGCM(b)
	if open, err := g.Open(nil, ct[:12], ct[12:], aad); err != nil || !bytes.Equal(open, plain) {
		t.Fatalf("crypto/cipher cannot open IV||ct||tag: %v", err)
	}
	// A 12-byte tag shortens the output; the IV is still 12 bytes in front.
	short := ckm.Mechanism{Type: m.Type, Param: &ckm.GCMParams{TagBits: 96}}
	ct, _, err = Encrypt(short, k, plain)
	mustOK(t, err)
	if len(ct) != 12+len(plain)+12 {
		t.Fatalf("96-bit tag: %d bytes", len(ct))
	}
	back, err := Decrypt(short, k, ct)
	mustOK(t, err)
	if !bytes.Equal(back, plain) {
		t.Fatal("96-bit tag round trip")
	}
	withIV := ckm.Mechanism{Type: m.Type, Param: &ckm.GCMParams{IV: make([]byte, 12), TagBits: 128}}
	_, _, err = Encrypt(withIV, k, plain)
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	wantCode(t, Check(p11.CKA_DECRYPT, withIV, k), p11.CKR_MECHANISM_PARAM_INVALID)
	mustOK(t, Check(p11.CKA_DECRYPT, m, k))

	// Wrap and unwrap use the same layout.
	target := bytes.Repeat([]byte{5}, 32)
	w, err := Wrap(m, k, secretObj(p11.CKK_AES, target))
	mustOK(t, err)
	if open, err := g.Open(nil, w[:12], w[12:], aad); err != nil || !bytes.Equal(open, target) {
		t.Fatalf("wrapped key does not open as IV||ct||tag: %v", err)
	}
	mat, err := Unwrap(m, k, w, secretTmpl)
	mustOK(t, err)
	if !bytes.Equal(mat[p11.CKA_VALUE], target) {
		t.Fatal("unwrap")
	}
}

// NIST CAVP KDFCTR_gen.txt (SP 800-108 counter mode, counter before the fixed input), the first
// HMAC_SHA256 vector, through the KDF core.
func TestSP800108CounterCAVP(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prf       func() hash.Hash
		rBits     int
		ki, fixed string
		lBits     int
		ko        string
	}{
		{"HMAC_SHA256 RLEN=8", sha256.New, 8, "3edc6b5b8f7aadbd713732b482b8f979286e1ea3b8f8f99c30c884cfe3349b83",
			`98e9988bb4cc8b34d7922e1c68ad692ba2a1d9ae15149571675f17a77ad49e80c8d2a85e831a26445b1f0ff44d7084a1
			 7206b4896c8112daad18605a`, 128, "6c037652990674a07844732d0ad985f9"},
	} {
		got := kdfCounter(tc.prf, unhex(t, tc.ki), tc.rBits, unhex(t, tc.fixed), tc.lBits/8)
		if want := unhex(t, tc.ko); !bytes.Equal(got, want) {
			t.Errorf("%s: KO = %x, want %x", tc.name, got, want)
		}
	}
}

// CKM_SP800_108_COUNTER_KDF as AWS's sample describes it: K(i) = PRF(KI, [i] || Label || 0x00 ||
// Context || [L]), counter of 16 or 32 bits, L of 8, 16, 32 or 64 bits counting the derived key
// (sum of keys) or every PRF output computed (sum of segments). Recomputed here with
// crypto/hmac for several widths, PRFs and lengths.
func TestSP800108CounterKDF(t *testing.T) {
	base := secretKey(t, p11.CKK_AES, bytes.Repeat([]byte{0x42}, 32))
	label, context := []byte{0x01, 0xab, 0xe1}, []byte{0x0c, 0x09, 0x7e, 0x07}
	independent := func(h func() hash.Hash, r, w int, lBits uint64, n int) []byte {
		var out []byte
		for i := uint64(1); len(out) < n; i++ {
			mac := hmac.New(h, bytes.Repeat([]byte{0x42}, 32))
			ctr := binary.BigEndian.AppendUint64(nil, i)
			mac.Write(ctr[8-r/8:])
			mac.Write(label)
			mac.Write([]byte{0})
			mac.Write(context)
			l := binary.BigEndian.AppendUint64(nil, lBits)
			mac.Write(l[8-w/8:])
			out = mac.Sum(out)
		}
		return out[:n]
	}
	for _, tc := range []struct {
		prf      uint32
		h        func() hash.Hash
		hLen     int
		r, w     uint32
		method   uint32
		keyType  uint64
		valueLen int
	}{
		{p11.CKM_SHA256_HMAC, sha256.New, 32, 32, 32, ckm.SP800108DKMSumOfKeys, p11.CKK_AES, 32},
		{p11.CKM_SHA512_HMAC, sha512.New, 64, 16, 8, ckm.SP800108DKMSumOfKeys, p11.CKK_AES, 16},
		{p11.CKM_SHA256_HMAC, sha256.New, 32, 32, 64, ckm.SP800108DKMSumOfSegments, p11.CKK_GENERIC_SECRET, 48},
		{p11.CKM_SHA384_HMAC, sha512.New384, 48, 16, 16, ckm.SP800108DKMSumOfKeys, p11.CKK_GENERIC_SECRET, 100},
	} {
		m := ckm.Mechanism{Type: ckm.CKM_SP800_108_COUNTER_KDF, Param: &ckm.SP800108Params{PRF: tc.prf,
			CounterBits: tc.r, DKMMethod: tc.method, DKMBits: tc.w, Label: label, Context: context}}
		tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(tc.keyType),
			p11.CKA_VALUE_LEN: attr.Ulong(uint64(tc.valueLen))}
		got, err := Derive(m, base, tmpl)
		mustOK(t, err)
		lBits := uint64(8 * tc.valueLen)
		if tc.method == ckm.SP800108DKMSumOfSegments {
			lBits = uint64(8 * tc.hLen * ((tc.valueLen + tc.hLen - 1) / tc.hLen))
		}
		if want := independent(tc.h, int(tc.r), int(tc.w), lBits, tc.valueLen); !bytes.Equal(got[p11.CKA_VALUE], want) {
			t.Errorf("%s r=%d w=%d method %d: %x, want %x", p11.MechName(tc.prf), tc.r, tc.w, tc.method, got[p11.CKA_VALUE], want)
		}
	}
	good := ckm.SP800108Params{PRF: p11.CKM_SHA256_HMAC, CounterBits: 32, DKMMethod: ckm.SP800108DKMSumOfKeys, DKMBits: 32}
	aes32 := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES), p11.CKA_VALUE_LEN: attr.Ulong(32)}
	for name, c := range map[string]struct {
		edit func(*ckm.SP800108Params)
		key  *Key
		tmpl attr.Set
		want uint32
	}{
		"a PRF that is no HMAC":      {func(p *ckm.SP800108Params) { p.PRF = p11.CKM_SHA256 }, base, aes32, p11.CKR_MECHANISM_PARAM_INVALID},
		"an 8-bit counter":           {func(p *ckm.SP800108Params) { p.CounterBits = 8 }, base, aes32, p11.CKR_MECHANISM_PARAM_INVALID},
		"a 24-bit DKM length":        {func(p *ckm.SP800108Params) { p.DKMBits = 24 }, base, aes32, p11.CKR_MECHANISM_PARAM_INVALID},
		"an unknown DKM method":      {func(p *ckm.SP800108Params) { p.DKMMethod = 3 }, base, aes32, p11.CKR_MECHANISM_PARAM_INVALID},
		"an L that overflows 8 bits": {func(p *ckm.SP800108Params) { p.DKMBits = 8 }, base, aes32, p11.CKR_MECHANISM_PARAM_INVALID},
		"an EC base key":             {nil, ecPrivForTest(t), aes32, p11.CKR_KEY_TYPE_INCONSISTENT},
		"no CKA_VALUE_LEN": {nil, base, attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY),
			p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)}, p11.CKR_TEMPLATE_INCOMPLETE},
		"an AES key of 20 bytes": {nil, base, attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY),
			p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES), p11.CKA_VALUE_LEN: attr.Ulong(20)}, p11.CKR_ATTRIBUTE_VALUE_INVALID},
	} {
		p := good
		if c.edit != nil {
			c.edit(&p)
		}
		_, err := Derive(ckm.Mechanism{Type: ckm.CKM_SP800_108_COUNTER_KDF, Param: &p}, c.key, c.tmpl)
		if p11.Code(err) != c.want {
			t.Errorf("%s: %v, want %s", name, err, p11.RVName(c.want))
		}
	}
	_, err := Derive(ckm.Mechanism{Type: ckm.CKM_SP800_108_COUNTER_KDF}, base, aes32)
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
}

func ecPrivForTest(t *testing.T) *Key {
	_, priv, _ := ecKeysFromScalar(t, curves[0], bytes.Repeat([]byte{7}, 32))
	return priv
}

// CKM_RSA_AES_KEY_WRAP (PKCS#11 v2.40 §2.1.21): a fresh AES key of ulAESKeyBits is wrapped with
// RSA-OAEP, the target with that key by AES key wrap with padding (RFC 5649), and the two are
// concatenated. Opened here with crypto/rsa and the RFC 5649 unwrap, for a secret and a private
// key.
func TestRSAAESKeyWrap(t *testing.T) {
	rk, rsaPriv, rsaPub := rsaKeys(t)
	oaep := ckm.OAEPParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256}
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	mustOK(t, err)
	ecPrivObj, _ := ecObjects(t, ec)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	mustOK(t, err)
	secret := bytes.Repeat([]byte{9}, 24)
	for _, bits := range []uint32{128, 192, 256} {
		m := ckm.Mechanism{Type: p11.CKM_RSA_AES_KEY_WRAP, Param: &ckm.RSAAESKeyWrapParams{AESKeyBits: bits, OAEP: oaep}}
		for _, target := range []struct {
			obj   attr.Set
			bytes []byte
			tmpl  attr.Set
		}{
			{secretObj(p11.CKK_AES, secret), secret, attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)}},
			{ecPrivObj, ecDER, attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC)}},
		} {
			w, err := Wrap(m, rsaPub, target.obj)
			mustOK(t, err)
			tmpKey, err := rsa.DecryptOAEP(sha256.New(), nil, rk, w[:rk.Size()], nil)
			mustOK(t, err)
			if len(tmpKey) != int(bits/8) {
				t.Fatalf("temporary AES key of %d bytes, want %d", len(tmpKey), bits/8)
			}
			mat, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, secretKey(t, p11.CKK_AES, tmpKey), w[rk.Size():], secretTmpl)
			mustOK(t, err)
			if !bytes.Equal(mat[p11.CKA_VALUE], target.bytes) {
				t.Fatal("the RFC 5649 part does not hold the target key")
			}
			back, err := Unwrap(m, rsaPriv, w, target.tmpl)
			mustOK(t, err)
			if target.obj[p11.CKA_CLASS][0] == byte(p11.CKO_SECRET_KEY) && !bytes.Equal(back[p11.CKA_VALUE], secret) {
				t.Fatal("unwrap of the secret key")
			}
			if !bytes.Equal(back[p11.CKA_VALUE], target.obj[p11.CKA_VALUE]) {
				t.Fatal("unwrap gives another key")
			}
		}
	}
	bad := ckm.Mechanism{Type: p11.CKM_RSA_AES_KEY_WRAP, Param: &ckm.RSAAESKeyWrapParams{AESKeyBits: 100, OAEP: oaep}}
	_, err = Wrap(bad, rsaPub, secretObj(p11.CKK_AES, secret))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	_, err = Wrap(ckm.Mechanism{Type: p11.CKM_RSA_AES_KEY_WRAP}, rsaPub, secretObj(p11.CKK_AES, secret))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	m := ckm.Mechanism{Type: p11.CKM_RSA_AES_KEY_WRAP, Param: &ckm.RSAAESKeyWrapParams{AESKeyBits: 256, OAEP: oaep}}
	_, err = Unwrap(m, rsaPriv, make([]byte, rk.Size()+8), secretTmpl)
	wantCode(t, err, p11.CKR_WRAPPED_KEY_LEN_RANGE)
	_, err = Wrap(m, secretKey(t, p11.CKK_AES, make([]byte, 16)), secretObj(p11.CKK_AES, secret))
	wantCode(t, err, p11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
}

// CKM_RSA_X9_31_KEY_PAIR_GEN makes the same key pairs as CKM_RSA_PKCS_KEY_PAIR_GEN (AWS: "
// functionally identical", with stronger guarantees on p and q): a valid two-prime key whose
// modulus has the bits asked for.
func TestRSAX931KeyPairGen(t *testing.T) {
	im, err := Implied(p11.CKM_RSA_X9_31_KEY_PAIR_GEN)
	mustOK(t, err)
	if kt, _ := im.Ulong(p11.CKA_KEY_TYPE); kt != p11.CKK_RSA {
		t.Fatal("implied key type")
	}
	pub, priv, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_X9_31_KEY_PAIR_GEN}, attr.Set{p11.CKA_MODULUS_BITS: attr.Ulong(2048)}, attr.Set{})
	mustOK(t, err)
	priv[p11.CKA_CLASS], priv[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKO_PRIVATE_KEY), attr.Ulong(p11.CKK_RSA)
	k := mustKey(t, priv)
	if n := k.impl.(*material).rsaPriv.N.BitLen(); n != 2048 || !bytes.Equal(pub[p11.CKA_MODULUS], priv[p11.CKA_MODULUS]) {
		t.Fatalf("modulus of %d bits", n)
	}
	// Below the nodes' 1024-bit minimum (CloudHSM's 2048 is the cloudhsm profile's, in the module).
	_, _, err = GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_X9_31_KEY_PAIR_GEN}, attr.Set{p11.CKA_MODULUS_BITS: attr.Ulong(768)}, attr.Set{})
	wantCode(t, err, p11.CKR_KEY_SIZE_RANGE)
}

// ANSI X9.63 KDF (the CKD_SHA*_KDF of CKM_ECDH1_DERIVE): NIST CAVP ansx963_2001.rsp, SHA-256,
// 192-bit Z, no SharedInfo, 128 bits of key data.
func TestX963KDFCAVP(t *testing.T) {
	got := x963KDF(crypto.SHA256, unhex(t, "96c05619d56c328ab95fe84b18264b08725b85e33fd34f08"), nil, 16)
	if want := unhex(t, "443024c3dae66b95e6f5670601558f71"); !bytes.Equal(got, want) {
		t.Fatalf("X9.63 = %x, want %x", got, want)
	}
}
