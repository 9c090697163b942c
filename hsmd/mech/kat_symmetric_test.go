package mech

import (
	"bytes"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/internal/keywrap"
)

// Known-answer tests from published vectors: FIPS-197, NIST SP 800-38A, the GCM spec
// (McGrew–Viega), RFC 3394, RFC 5649, RFC 4493, RFC 4231/2202 and FIPS 180 "abc".

const sp80038aPlain = `6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51
	30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710`

func TestAESBlockModesKAT(t *testing.T) {
	const k128 = "2b7e151628aed2a6abf7158809cf4f3c"
	const k256 = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
	for _, tc := range []struct {
		name, key, plain, ct string
		m                    func() ckm.Mechanism
	}{
		{"FIPS-197 C.1 AES-128", "000102030405060708090a0b0c0d0e0f", "00112233445566778899aabbccddeeff",
			"69c4e0d86a7b0430d8cdb78070b4c55a", func() ckm.Mechanism { return ckm.Mechanism{Type: p11.CKM_AES_ECB} }},
		{"FIPS-197 C.3 AES-256", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"00112233445566778899aabbccddeeff", "8ea2b7ca516745bfeafc49904b496089",
			func() ckm.Mechanism { return ckm.Mechanism{Type: p11.CKM_AES_ECB} }},
		{"SP800-38A F.1.1 ECB-AES128", k128, sp80038aPlain, `3ad77bb40d7a3660a89ecaf32466ef97 f5d3d58503b9699de785895a96fdbaaf
			43b1cd7f598ece23881b00e3ed030688 7b0c785e27e8ad3f8223207104725dd4`,
			func() ckm.Mechanism { return ckm.Mechanism{Type: p11.CKM_AES_ECB} }},
		{"SP800-38A F.1.5 ECB-AES256", k256, sp80038aPlain, `f3eed1bdb5d2a03c064b5a7e3db181f8 591ccb10d410ed26dc5ba74a31362870
			b6ed21b99ca6f4f9f153e7b1beafed1d 23304b7a39f9f3ff067d8d8f9e24ecc7`,
			func() ckm.Mechanism { return ckm.Mechanism{Type: p11.CKM_AES_ECB} }},
		{"SP800-38A F.2.1 CBC-AES128", k128, sp80038aPlain, `7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2
			73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7`,
			func() ckm.Mechanism {
				return ckm.Mechanism{Type: p11.CKM_AES_CBC, Param: ckm.IV(unhex(t, "000102030405060708090a0b0c0d0e0f"))}
			}},
		{"SP800-38A F.5.1 CTR-AES128", k128, sp80038aPlain, `874d6191b620e3261bef6864990db6ce 9806f66b7970fdff8617187bb9fffdff
			5ae4df3edbd5d35e5b4f09020db03eab 1e031dda2fbe03d1792170a0f3009cee`,
			func() ckm.Mechanism {
				return ckm.Mechanism{Type: p11.CKM_AES_CTR, Param: &ckm.CTRParams{CounterBits: 128, CB: unhex(t, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := secretKey(t, p11.CKK_AES, unhex(t, tc.key))
			plain, want := unhex(t, tc.plain), unhex(t, tc.ct)
			got, _, err := Encrypt(tc.m(), k, plain)
			mustOK(t, err)
			if !bytes.Equal(got, want) {
				t.Fatalf("encrypt = %x, want %x", got, want)
			}
			back, err := Decrypt(tc.m(), k, want)
			mustOK(t, err)
			if !bytes.Equal(back, plain) {
				t.Fatalf("decrypt = %x, want %x", back, plain)
			}
		})
	}
}

func TestAESCBCPadRoundTrip(t *testing.T) {
	k := secretKey(t, p11.CKK_AES, make([]byte, 16))
	m := ckm.Mechanism{Type: p11.CKM_AES_CBC_PAD, Param: ckm.IV(make([]byte, 16))}
	for n := 0; n <= 33; n++ {
		plain := bytes.Repeat([]byte{byte(n)}, n)
		ct, _, err := Encrypt(m, k, plain)
		mustOK(t, err)
		if len(ct) != (n/16+1)*16 {
			t.Fatalf("len %d: ciphertext of %d bytes", n, len(ct))
		}
		// The padded block is plain CBC of plain||PKCS#7 padding.
		padded := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(16 - n%16)}, 16-n%16)...)
		raw, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_CBC, Param: m.Param}, k, padded)
		mustOK(t, err)
		if !bytes.Equal(raw, ct) {
			t.Fatalf("len %d: CBC_PAD differs from CBC of the PKCS#7-padded input", n)
		}
		back, err := Decrypt(m, k, ct)
		mustOK(t, err)
		if !bytes.Equal(back, plain) {
			t.Fatalf("len %d: round trip %x", n, back)
		}
	}
}

func TestAESCTRCounterBits(t *testing.T) {
	k := secretKey(t, p11.CKK_AES, make([]byte, 16))
	cb := make([]byte, 16)
	cb[15] = 0xfe // an 8-bit counter at 254 has two blocks left
	m := ckm.Mechanism{Type: p11.CKM_AES_CTR, Param: &ckm.CTRParams{CounterBits: 8, CB: cb}}
	_, _, err := Encrypt(m, k, make([]byte, 32))
	mustOK(t, err)
	_, _, err = Encrypt(m, k, make([]byte, 33))
	wantCode(t, err, p11.CKR_DATA_LEN_RANGE)
	_, err = Decrypt(m, k, make([]byte, 33))
	wantCode(t, err, p11.CKR_ENCRYPTED_DATA_LEN_RANGE)
}

func TestAESGCMKAT(t *testing.T) {
	const k3 = "feffe9928665731c6d6a8f9467308308"
	const p3 = `d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
		1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255`
	const p4 = `d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72
		1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39`
	const aad = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
	for _, tc := range []struct {
		name, key, iv, plain, aad, ct, tag string
	}{
		{"TC1", "00000000000000000000000000000000", "000000000000000000000000", "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"},
		{"TC2", "00000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "",
			"0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
		{"TC3", k3, "cafebabefacedbaddecaf888", p3, "",
			`42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
			 21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985`, "4d5c2af327cd64a62cf35abd2ba6fab4"},
		{"TC4", k3, "cafebabefacedbaddecaf888", p4, aad,
			`42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e
			 21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091`, "5bc94fbc3221a5db94fae95ae7121a47"},
		{"TC5 8-byte IV", k3, "cafebabefacedbad", p4, aad,
			`61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423
			 73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598`, "3612d2e79e3b0785561be14aaca2fccb"},
		{"TC6 60-byte IV", k3, `9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728
			c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b`, p4, aad,
			`8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca7
			 01e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5`, "619cc5aefffe0bfa462af43c1699d050"},
	} {
		// Each vector with the full tag and with the tag cut to 12 bytes (a GCM tag of t bytes
		// is the first t of the full one), which for TC5/TC6 takes the short-tag, odd-IV path.
		for _, tagLen := range []int{16, 12} {
			k := secretKey(t, p11.CKK_AES, unhex(t, tc.key))
			m := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: unhex(t, tc.iv), AAD: unhex(t, tc.aad), TagBits: uint32(8 * tagLen)}}
			want := append(unhex(t, tc.ct), unhex(t, tc.tag)[:tagLen]...)
			got, used, err := Encrypt(m, k, unhex(t, tc.plain))
			mustOK(t, err)
			if !bytes.Equal(got, want) {
				t.Fatalf("%s/%d: encrypt = %x, want %x", tc.name, tagLen, got, want)
			}
			if !bytes.Equal(used.Param.(*ckm.GCMParams).IV, unhex(t, tc.iv)) {
				t.Fatalf("%s: caller's IV not kept", tc.name)
			}
			back, err := Decrypt(m, k, want)
			mustOK(t, err)
			if !bytes.Equal(back, unhex(t, tc.plain)) {
				t.Fatalf("%s/%d: decrypt = %x", tc.name, tagLen, back)
			}
			bad := append([]byte(nil), want...)
			bad[len(bad)-1] ^= 1
			_, err = Decrypt(m, k, bad)
			wantCode(t, err, p11.CKR_ENCRYPTED_DATA_INVALID)
		}
	}
}

func TestAESGCMHSMGeneratedIV(t *testing.T) {
	k := secretKey(t, p11.CKK_AES, make([]byte, 32))
	p := &ckm.GCMParams{AAD: []byte("aad"), TagBits: 128}
	m := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: p}
	ct1, used1, err := Encrypt(m, k, []byte("hello"))
	mustOK(t, err)
	_, used2, err := Encrypt(m, k, []byte("hello"))
	mustOK(t, err)
	iv1, iv2 := used1.Param.(*ckm.GCMParams).IV, used2.Param.(*ckm.GCMParams).IV
	if len(iv1) != 12 || bytes.Equal(iv1, iv2) {
		t.Fatalf("generated IVs %x, %x: want two different 12-byte IVs", iv1, iv2)
	}
	if len(p.IV) != 0 {
		t.Fatal("Encrypt changed the caller's parameter")
	}
	if used1.Type != p11.CKM_AES_GCM || !bytes.Equal(used1.Param.(*ckm.GCMParams).AAD, p.AAD) {
		t.Fatal("used mechanism lost type or AAD")
	}
	back, err := Decrypt(used1, k, ct1)
	mustOK(t, err)
	if string(back) != "hello" {
		t.Fatalf("decrypt with the returned IV = %q", back)
	}
	_, err = Decrypt(m, k, ct1)
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
}

// RFC 3394 §4.1, §4.3, §4.6 and RFC 5649 §6, through Wrap/Unwrap of secret-key objects.
func TestAESKeyWrapKAT(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mech      uint32
		kek, data string
		wrapped   string
	}{
		{"RFC3394 4.1", p11.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
			"1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
		{"RFC3394 4.3", p11.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF",
			"96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"},
		{"RFC3394 4.6", p11.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
			"00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
		{"RFC5649 6 (20 bytes)", p11.CKM_AES_KEY_WRAP_PAD, "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8",
			"c37b7e6492584340 bed1220780894115 5068f738", "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"},
		{"RFC5649 6 (7 bytes)", p11.CKM_AES_KEY_WRAP_PAD, "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8",
			"466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kek := secretKey(t, p11.CKK_AES, unhex(t, tc.kek))
			data := unhex(t, tc.data)
			m := ckm.Mechanism{Type: tc.mech}
			got, err := Wrap(m, kek, secretObj(p11.CKK_GENERIC_SECRET, data))
			mustOK(t, err)
			if want := unhex(t, tc.wrapped); !bytes.Equal(got, want) {
				t.Fatalf("wrap = %x, want %x", got, want)
			}
			tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)}
			mat, err := Unwrap(m, kek, got, tmpl)
			mustOK(t, err)
			if !bytes.Equal(mat[p11.CKA_VALUE], data) {
				t.Fatalf("unwrap = %x", mat[p11.CKA_VALUE])
			}
			bad := append([]byte(nil), got...)
			bad[0] ^= 1
			_, err = Unwrap(m, kek, bad, tmpl)
			wantCode(t, err, p11.CKR_WRAPPED_KEY_INVALID)
			// The same algorithm through C_Encrypt.
			ct, _, err := Encrypt(m, kek, data)
			mustOK(t, err)
			if !bytes.Equal(ct, got) {
				t.Fatal("Encrypt differs from Wrap")
			}
		})
	}
}

func TestAESKeyWrapCustomIV(t *testing.T) {
	kek := secretKey(t, p11.CKK_AES, make([]byte, 16))
	target := secretObj(p11.CKK_AES, bytes.Repeat([]byte{7}, 16))
	tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)}
	for _, tc := range []struct {
		mech uint32
		iv   ckm.IV
	}{{p11.CKM_AES_KEY_WRAP, ckm.IV{1, 2, 3, 4, 5, 6, 7, 8}}, {p11.CKM_AES_KEY_WRAP_PAD, ckm.IV{1, 2, 3, 4}}} {
		w, err := Wrap(ckm.Mechanism{Type: tc.mech, Param: tc.iv}, kek, target)
		mustOK(t, err)
		_, err = Unwrap(ckm.Mechanism{Type: tc.mech}, kek, w, tmpl)
		wantCode(t, err, p11.CKR_WRAPPED_KEY_INVALID) // default IV does not match
		mat, err := Unwrap(ckm.Mechanism{Type: tc.mech, Param: tc.iv}, kek, w, tmpl)
		mustOK(t, err)
		if !bytes.Equal(mat[p11.CKA_VALUE], target[p11.CKA_VALUE]) {
			t.Fatal("custom-IV round trip")
		}
	}
}

// RFC 5649 §3: the message length indicator must be within the last block; a blob whose MLI
// claims fewer bytes than 8*(n-1)+1 is invalid even when the "padding" is all zeros.
func TestAESKeyWrapPadRejectsShortMLI(t *testing.T) {
	kek := secretKey(t, p11.CKK_AES, make([]byte, 16))
	b := kek.impl.(*material).block
	a := [8]byte{0xA6, 0x59, 0x59, 0xA6, 0, 0, 0, 3}
	blob := keywrap.Wrap(b, a, append([]byte{1, 2, 3}, make([]byte, 13)...)) // 16 bytes, MLI 3
	tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)}
	_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, kek, blob, tmpl)
	wantCode(t, err, p11.CKR_WRAPPED_KEY_INVALID)
	a[7] = 9 // within 9..16: valid
	blob = keywrap.Wrap(b, a, append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, make([]byte, 7)...))
	mat, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, kek, blob, tmpl)
	mustOK(t, err)
	if len(mat[p11.CKA_VALUE]) != 9 {
		t.Fatal("MLI 9")
	}
}

func TestAESCMACKAT(t *testing.T) {
	k := secretKey(t, p11.CKK_AES, unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	msg := unhex(t, sp80038aPlain)
	m := ckm.Mechanism{Type: p11.CKM_AES_CMAC}
	for _, tc := range []struct {
		n   int
		tag string
	}{ // RFC 4493 §4 examples 1-4 (= SP 800-38B D.1)
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		got, err := Sign(m, k, msg[:tc.n])
		mustOK(t, err)
		if want := unhex(t, tc.tag); !bytes.Equal(got, want) {
			t.Fatalf("CMAC(%d bytes) = %x, want %x", tc.n, got, want)
		}
		mustOK(t, Verify(m, k, msg[:tc.n], got))
		got[0] ^= 1
		wantCode(t, Verify(m, k, msg[:tc.n], got), p11.CKR_SIGNATURE_INVALID)
	}
}

func TestHMACKAT(t *testing.T) {
	key1 := bytes.Repeat([]byte{0x0b}, 20)
	for _, tc := range []struct {
		name      string
		mech      uint32
		key, data []byte
		mac       string
	}{
		{"RFC2202 1 SHA-1", p11.CKM_SHA_1_HMAC, key1, []byte("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
		{"RFC4231 1 SHA-224", p11.CKM_SHA224_HMAC, key1, []byte("Hi There"), "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"},
		{"RFC4231 1 SHA-256", p11.CKM_SHA256_HMAC, key1, []byte("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"RFC4231 1 SHA-384", p11.CKM_SHA384_HMAC, key1, []byte("Hi There"),
			"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{"RFC4231 1 SHA-512", p11.CKM_SHA512_HMAC, key1, []byte("Hi There"),
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{"RFC4231 2 SHA-256", p11.CKM_SHA256_HMAC, []byte("Jefe"), []byte("what do ya want for nothing?"),
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := secretKey(t, p11.CKK_GENERIC_SECRET, tc.key)
			m := ckm.Mechanism{Type: tc.mech}
			got, err := Sign(m, k, tc.data)
			mustOK(t, err)
			if want := unhex(t, tc.mac); !bytes.Equal(got, want) {
				t.Fatalf("HMAC = %x, want %x", got, want)
			}
			mustOK(t, Verify(m, k, tc.data, got))
			wantCode(t, Verify(m, k, tc.data, got[:len(got)-1]), p11.CKR_SIGNATURE_LEN_RANGE)
			got[3] ^= 0x80
			wantCode(t, Verify(m, k, tc.data, got), p11.CKR_SIGNATURE_INVALID)
		})
	}
	// CloudHSM lets HMAC use AES keys too.
	_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_HMAC}, secretKey(t, p11.CKK_AES, make([]byte, 32)), []byte("x"))
	mustOK(t, err)
}

func TestDigestKAT(t *testing.T) {
	for m, want := range map[uint32]string{
		p11.CKM_SHA_1:  "a9993e364706816aba3e25717850c26c9cd0d89d",
		p11.CKM_SHA224: "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
		p11.CKM_SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		p11.CKM_SHA384: "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
		p11.CKM_SHA512: "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	} {
		got, err := Digest(ckm.Mechanism{Type: m}, []byte("abc"))
		mustOK(t, err)
		if !bytes.Equal(got, unhex(t, want)) {
			t.Errorf("%s(abc) = %x, want %s", p11.MechName(m), got, want)
		}
	}
}

func TestPKCS7Unpad(t *testing.T) {
	blk := func(tail ...byte) []byte { return append(bytes.Repeat([]byte{0xAA}, 32-len(tail)), tail...) }
	for _, tc := range []struct {
		name string
		b    []byte
		n    int
		ok   bool
	}{
		{"one byte", blk(1), 31, true},
		{"full block", blk(bytes.Repeat([]byte{16}, 16)...), 16, true},
		{"five", blk(5, 5, 5, 5, 5), 27, true},
		{"zero", blk(0), 0, false},
		{"seventeen", blk(bytes.Repeat([]byte{17}, 17)...), 0, false},
		{"inner byte differs", blk(5, 4, 5, 5, 5), 0, false},
		{"first pad byte differs", blk(4, 5, 5, 5, 5)[1:], 0, false},
	} {
		n, ok := pkcs7Len(tc.b)
		if ok != tc.ok || (ok && n != tc.n) {
			t.Errorf("%s: (%d, %v), want (%d, %v)", tc.name, n, ok, tc.n, tc.ok)
		}
	}
}
