package moduletest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

// CloudHSM's vendor-defined mechanisms, with the numbers its cloudhsm_pkcs11_vendor_defs.h gives
// them (CKM_VENDOR_DEFINED or'ed with a standard number or a private one). Spelled out here:
// the test checks the numbers the module answers, not the module's own constants.
var vendorMechs = map[uint]string{
	0x80001087: "CKM_CLOUDHSM_AES_GCM",
	0x80002109: "CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD",
	0x8000210A: "CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD",
	0x8000216F: "CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD",
	0x80000001: "CKM_SP800_108_COUNTER_KDF",
}

const (
	ckmCloudHSMAESGCM = 0x80001087
	ckmKWNoPad        = 0x80002109
	ckmKWPKCS5        = 0x8000210A
	ckmKWZero         = 0x8000216F
	ckmSP800108       = 0x80000001
)

// mechanismTypes is C_GetMechanismList of slot 1, as mechanism types.
func mechanismTypes(t *testing.T) []uint {
	t.Helper()
	list, err := p.GetMechanismList(1)
	must(t, err)
	var have []uint
	for _, m := range list {
		have = append(have, m.Mechanism)
	}
	return have
}

// The vendor mechanisms are offered in profile cloudhsm only: C_GetMechanismList lists them
// there, and in profile standard they are unknown (CKR_MECHANISM_INVALID) to every function.
func TestVendorMechanismsByProfile(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			have := mechanismTypes(t)
			for _, std := range []uint{pkcs11.CKM_RSA_AES_KEY_WRAP, pkcs11.CKM_RSA_X9_31_KEY_PAIR_GEN} {
				if !slices.Contains(have, std) {
					t.Errorf("%s: the list lacks the standard mechanism %#x", profile, std)
				}
			}
			kek := aesKey(t, s, make([]byte, 16), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true))
			target := aesKey(t, s, make([]byte, 16), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true))
			for m, name := range vendorMechs {
				listed := slices.Contains(have, m)
				if listed != (profile == cloudhsm) {
					t.Errorf("%s: %s (%#x) listed: %v", profile, name, m, listed)
				}
				_, err := p.GetMechanismInfo(1, mechs(m, nil))
				if profile == standard {
					wantRV(t, name+" info", err, pkcs11.CKR_MECHANISM_INVALID)
				} else {
					must(t, err)
				}
			}
			if profile == standard {
				_, err := p.WrapKey(s, mechs(ckmKWNoPad, nil), kek, target)
				wantRV(t, "C_WrapKey with CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD", err, pkcs11.CKR_MECHANISM_INVALID)
				gp := pkcs11.NewGCMParams(nil, nil, 128)
				defer gp.Free()
				wantRV(t, "C_EncryptInit with CKM_CLOUDHSM_AES_GCM", p.EncryptInit(s, mechs(ckmCloudHSMAESGCM, gp), kek), pkcs11.CKR_MECHANISM_INVALID)
				rv, _ := DeriveSP800108(uint(s), uint(kek), KDFParams{PRF: pkcs11.CKM_SHA256_HMAC, CounterBits: 32, DKMMethod: 1, DKMBits: 32, ValueLen: 32})
				wantCode(t, "C_DeriveKey with CKM_SP800_108_COUNTER_KDF", rv, pkcs11.CKR_MECHANISM_INVALID)
			}
		})
	}
}

// Standard mechanisms that Client SDK 5's list lacks (AWS-mech): SDK 5 maps CKM_AES_KEY_WRAP and
// CKM_AES_KEY_WRAP_PAD to its vendor wraps, and has no cofactor ECDH. Profile cloudhsm does not
// offer them: C_GetMechanismList leaves them out and every function answers
// CKR_MECHANISM_INVALID; profile standard lists them and they work.
func TestStandardMechanismsCloudHSMLacks(t *testing.T) {
	lacks := map[uint]string{pkcs11.CKM_AES_KEY_WRAP: "CKM_AES_KEY_WRAP", pkcs11.CKM_AES_KEY_WRAP_PAD: "CKM_AES_KEY_WRAP_PAD",
		pkcs11.CKM_ECDH1_COFACTOR_DERIVE: "CKM_ECDH1_COFACTOR_DERIVE"}
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			have := mechanismTypes(t)
			want := uint(pkcs11.CKR_OK)
			if profile == cloudhsm {
				want = pkcs11.CKR_MECHANISM_INVALID
			}
			for m, name := range lacks {
				listed := slices.Contains(have, m)
				if listed != (profile == standard) {
					t.Errorf("%s: %s listed: %v", profile, name, listed)
				}
				_, err := p.GetMechanismInfo(1, mechs(m, nil))
				wantRV(t, name+" info", err, want)
			}
			kek := aesKey(t, s, make([]byte, 16), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
			target := aesKey(t, s, make([]byte, 16), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true))
			for _, m := range []uint{pkcs11.CKM_AES_KEY_WRAP, pkcs11.CKM_AES_KEY_WRAP_PAD} {
				_, err := p.WrapKey(s, mechs(m, nil), kek, target)
				wantRV(t, lacks[m]+" C_WrapKey", err, want)
				err = p.EncryptInit(s, mechs(m, nil), kek)
				wantRV(t, lacks[m]+" C_EncryptInit", err, want)
				if err == nil {
					_, err = p.Encrypt(s, make([]byte, 16))
					must(t, err)
				}
			}
			pub, priv := ecKeyPair(t, s, false, pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
			params := pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, attr(t, s, pub, pkcs11.CKA_EC_POINT))
			_, err := p.DeriveKey(s, mechs(pkcs11.CKM_ECDH1_COFACTOR_DERIVE, params), priv, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET),
			})
			wantRV(t, "CKM_ECDH1_COFACTOR_DERIVE C_DeriveKey", err, want)
		})
	}
}

// In profile cloudhsm, a C application wraps and unwraps with each CKM_CLOUDHSM_AES_KEY_WRAP_*,
// encrypts and decrypts with CKM_CLOUDHSM_AES_GCM (pIV NULL, the IV in front of the
// ciphertext), wraps with CKM_RSA_AES_KEY_WRAP, and derives with CKM_SP800_108_COUNTER_KDF
// through the vendor parameter structs.
func TestCloudHSMVendorMechanisms(t *testing.T) {
	start(t, cloudhsm)
	s := session(t)
	kekValue := bytes.Repeat([]byte{0x11}, 32)
	kek := aesKey(t, s, kekValue, pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
	targetValue := bytes.Repeat([]byte{0x22}, 16)
	target := aesKey(t, s, targetValue, pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
	ecb := func(k pkcs11.ObjectHandle) []byte {
		must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
		ct, err := p.Encrypt(s, make([]byte, 16))
		must(t, err)
		return ct
	}
	unwrapTmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
	}
	for _, c := range []struct {
		mech    uint
		name    string
		wantLen int
	}{
		{ckmKWNoPad, "NO_PAD", 24},    // RFC 3394: the key and an 8-byte integrity block
		{ckmKWPKCS5, "PKCS5_PAD", 32}, // a whole block of PKCS #5 padding first
		{ckmKWZero, "ZERO_PAD", 24},   // RFC 5649: no padding needed for 16 bytes
	} {
		w, err := p.WrapKey(s, mechs(c.mech, nil), kek, target)
		if err != nil {
			t.Fatalf("C_WrapKey with CKM_CLOUDHSM_AES_KEY_WRAP_%s: %v", c.name, err)
		}
		if len(w) != c.wantLen {
			t.Fatalf("%s: a 16-byte key wraps to %d bytes, want %d", c.name, len(w), c.wantLen)
		}
		u, err := p.UnwrapKey(s, mechs(c.mech, nil), kek, w, unwrapTmpl)
		if err != nil {
			t.Fatalf("C_UnwrapKey with CKM_CLOUDHSM_AES_KEY_WRAP_%s: %v", c.name, err)
		}
		if !bytes.Equal(ecb(u), ecb(target)) {
			t.Fatalf("%s: the unwrapped key differs", c.name)
		}
	}

	// CKM_CLOUDHSM_AES_GCM: pIV NULL; the ciphertext is IV || ct || tag and opens with Go's GCM.
	aad := []byte("associated")
	gp := pkcs11.NewGCMParams(nil, aad, 128)
	defer gp.Free()
	must(t, p.EncryptInit(s, mechs(ckmCloudHSMAESGCM, gp), kek))
	plain := []byte("vendor GCM plaintext")
	ct, err := p.Encrypt(s, plain)
	must(t, err)
	if len(ct) != 12+len(plain)+16 {
		t.Fatalf("CKM_CLOUDHSM_AES_GCM output of %d bytes, want IV(12)+%d+tag(16)", len(ct), len(plain))
	}
	b, _ := aes.NewCipher(kekValue)
	g, _ := cipher.NewGCM(b)
	if open, err := g.Open(nil, ct[:12], ct[12:], aad); err != nil || !bytes.Equal(open, plain) {
		t.Fatalf("IV||ct||tag does not open: %v", err)
	}
	must(t, p.DecryptInit(s, mechs(ckmCloudHSMAESGCM, gp), kek))
	back, err := p.Decrypt(s, ct)
	must(t, err)
	if !bytes.Equal(back, plain) {
		t.Fatalf("decrypt = %q", back)
	}
	withIV := pkcs11.NewGCMParams(make([]byte, 12), nil, 128)
	defer withIV.Free()
	wantRV(t, "CKM_CLOUDHSM_AES_GCM with a pIV", p.EncryptInit(s, mechs(ckmCloudHSMAESGCM, withIV), kek), pkcs11.CKR_MECHANISM_PARAM_INVALID)
	w, err := p.WrapKey(s, mechs(ckmCloudHSMAESGCM, gp), kek, target)
	must(t, err)
	u, err := p.UnwrapKey(s, mechs(ckmCloudHSMAESGCM, gp), kek, w, unwrapTmpl)
	must(t, err)
	if !bytes.Equal(ecb(u), ecb(target)) {
		t.Fatal("CKM_CLOUDHSM_AES_GCM unwrapped key differs")
	}

	// CKM_RSA_AES_KEY_WRAP with an RSA pair made on the token.
	rsaPub, rsaPriv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_RSA_X9_31_KEY_PAIR_GEN, nil),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)},
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
	must(t, err)
	rsaAES := &pkcs11.RSAAESKeyWrapParams{AESKeyBits: 256, OAEPParams: pkcs11.OAEPParams{
		HashAlg: pkcs11.CKM_SHA256, MGF: pkcs11.CKG_MGF1_SHA256, SourceType: pkcs11.CKZ_DATA_SPECIFIED}}
	w, err = p.WrapKey(s, mechs(pkcs11.CKM_RSA_AES_KEY_WRAP, rsaAES), rsaPub, target)
	must(t, err)
	if len(w) != 256+24 {
		t.Fatalf("RSA-AES wrap of %d bytes, want 256 (OAEP) + 24 (RFC 5649)", len(w))
	}
	u, err = p.UnwrapKey(s, mechs(pkcs11.CKM_RSA_AES_KEY_WRAP, rsaAES), rsaPriv, w, unwrapTmpl)
	must(t, err)
	if !bytes.Equal(ecb(u), ecb(target)) {
		t.Fatal("CKM_RSA_AES_KEY_WRAP unwrapped key differs")
	}

	// CKM_SP800_108_COUNTER_KDF through its vendor structs, checked against HMAC-SHA256 here.
	baseValue := bytes.Repeat([]byte{0x33}, 32)
	base := aesKey(t, s, baseValue, pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
	label, context := []byte{0x01, 0xab, 0xe1}, []byte{0x0c, 0x09, 0x7e, 0x07}
	rv, h := DeriveSP800108(uint(s), uint(base), KDFParams{PRF: pkcs11.CKM_SHA256_HMAC, CounterBits: 32, DKMMethod: 1, DKMBits: 32,
		Label: label, Context: context, ValueLen: 48})
	wantCode(t, "C_DeriveKey with CKM_SP800_108_COUNTER_KDF", rv, pkcs11.CKR_OK)
	var want []byte
	for i := uint32(1); len(want) < 48; i++ {
		mac := hmac.New(sha256.New, baseValue)
		mac.Write(binary.BigEndian.AppendUint32(nil, i))
		mac.Write(label)
		mac.Write([]byte{0})
		mac.Write(context)
		mac.Write(binary.BigEndian.AppendUint32(nil, 48*8))
		want = mac.Sum(want)
	}
	if got := attr(t, s, pkcs11.ObjectHandle(h), pkcs11.CKA_VALUE); !bytes.Equal(got, want[:48]) {
		t.Fatalf("derived %x, want %x", got, want[:48])
	}
	rv, _ = DeriveSP800108(uint(s), uint(base), KDFParams{PRF: pkcs11.CKM_SHA256_HMAC, CounterBits: 8, DKMMethod: 1, DKMBits: 32, ValueLen: 32})
	wantCode(t, "an 8-bit counter", rv, pkcs11.CKR_MECHANISM_PARAM_INVALID)
}

// CloudHSM's documented limits, in profile cloudhsm, next to profile standard doing the same by
// the spec: the maximum data sizes of "Maximum data size for each mechanism" (AWS: HMAC, AES-CBC,
// AES-GCM) answered CKR_DATA_LEN_RANGE (CKR_ENCRYPTED_DATA_LEN_RANGE on decryption), the
// single-part-only mechanisms (C_*Update answered CKR_MECHANISM_INVALID, the code AWS's known
// issue gives for multi-part AES-GCM), and C_DigestKey, which is not in CloudHSM's function list.
func TestCloudHSMLimits(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			in := func(std, chsm uint) uint {
				if profile == cloudhsm {
					return chsm
				}
				return std
			}
			key := aesKey(t, s, make([]byte, 32), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
				pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
			for _, c := range []struct {
				name  string
				mech  uint
				limit int
			}{{"CKM_SHA_1_HMAC", pkcs11.CKM_SHA_1_HMAC, 16288}, {"CKM_SHA224_HMAC", pkcs11.CKM_SHA224_HMAC, 16256},
				{"CKM_SHA256_HMAC", pkcs11.CKM_SHA256_HMAC, 16288}, {"CKM_SHA384_HMAC", pkcs11.CKM_SHA384_HMAC, 16224},
				{"CKM_SHA512_HMAC", pkcs11.CKM_SHA512_HMAC, 16224}} {
				must(t, p.SignInit(s, mechs(c.mech, nil), key))
				sig, err := p.Sign(s, make([]byte, c.limit))
				if err != nil {
					t.Fatalf("%s over %d bytes: %v", c.name, c.limit, err)
				}
				must(t, p.SignInit(s, mechs(c.mech, nil), key))
				_, err = p.Sign(s, make([]byte, c.limit+1))
				wantRV(t, c.name+" one byte past the limit", err, in(pkcs11.CKR_OK, pkcs11.CKR_DATA_LEN_RANGE))
				must(t, p.VerifyInit(s, mechs(c.mech, nil), key))
				wantRV(t, c.name+" verify past the limit", p.Verify(s, make([]byte, c.limit+1), sig), in(pkcs11.CKR_SIGNATURE_INVALID, pkcs11.CKR_DATA_LEN_RANGE))
			}
			iv := make([]byte, 16)
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CBC, iv), key))
			ct, err := p.Encrypt(s, make([]byte, 16272))
			must(t, err)
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CBC, iv), key))
			_, err = p.Encrypt(s, make([]byte, 16288))
			wantRV(t, "AES-CBC past 16272 bytes", err, in(pkcs11.CKR_OK, pkcs11.CKR_DATA_LEN_RANGE))
			must(t, p.DecryptInit(s, mechs(pkcs11.CKM_AES_CBC, iv), key))
			_, err = p.Decrypt(s, append(ct, make([]byte, 16)...))
			wantRV(t, "AES-CBC decryption past 16272 bytes", err, in(pkcs11.CKR_OK, pkcs11.CKR_ENCRYPTED_DATA_LEN_RANGE))
			gp := pkcs11.NewGCMParams(nil, nil, 128)
			defer gp.Free()
			if profile == cloudhsm {
				must(t, p.EncryptInit(s, mechs(ckmCloudHSMAESGCM, gp), key))
				_, err = p.Encrypt(s, make([]byte, 16224))
				must(t, err)
				must(t, p.EncryptInit(s, mechs(ckmCloudHSMAESGCM, gp), key))
				_, err = p.Encrypt(s, make([]byte, 16225))
				wantRV(t, "CKM_CLOUDHSM_AES_GCM past 16224 bytes", err, pkcs11.CKR_DATA_LEN_RANGE)
			}

			// Single-part only: C_*Update ends the operation, with CKR_MECHANISM_INVALID in CloudHSM
			// and CKR_OPERATION_NOT_INITIALIZED by the spec (singlepart_test.go has every mechanism).
			_, ecPriv := ecKeyPair(t, s, false)
			must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), ecPriv))
			wantRV(t, "C_SignUpdate with CKM_ECDSA", p.SignUpdate(s, digest("x")), in(pkcs11.CKR_OPERATION_NOT_INITIALIZED, pkcs11.CKR_MECHANISM_INVALID))
			_, err = p.SignFinal(s)
			wantRV(t, "C_SignFinal after the refused update", err, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
			must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), ecPriv))
			_, err = p.Sign(s, digest("single part is fine"))
			must(t, err)

			// The key is not sensitive in profile standard (the spec's default for a secret key),
			// so it can be digested there; CloudHSM has no C_DigestKey.
			must(t, p.DigestInit(s, mechs(pkcs11.CKM_SHA256, nil)))
			wantRV(t, "C_DigestKey", p.DigestKey(s, key), in(pkcs11.CKR_OK, pkcs11.CKR_FUNCTION_NOT_SUPPORTED))
			if profile == standard {
				_, err = p.DigestFinal(s)
				must(t, err)
				sensitive := aesKey(t, s, make([]byte, 16), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true))
				must(t, p.DigestInit(s, mechs(pkcs11.CKM_SHA256, nil)))
				wantRV(t, "C_DigestKey of a sensitive key", p.DigestKey(s, sensitive), pkcs11.CKR_KEY_INDIGESTIBLE)
			}
		})
	}
}

// pkcs11-tool -M, run as a user runs it against a cluster whose client config says profile
// cloudhsm, lists the vendor mechanisms with their numbers (pkcs11-tool prints a mechanism it has
// no name for as mechtype-0x80001087); with profile standard it lists none of them.
func TestPkcs11ToolListsVendorMechanisms(t *testing.T) {
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Skip("pkcs11-tool is not installed (Debian package opensc; make test installs it)")
	}
	for _, profile := range []string{cloudhsm, standard} {
		newCluster(t, profile)
		out, err := exec.Command(tool, "--module", libPath, "-M").CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs11-tool -M (%s): %v\n%s", profile, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if profile == cloudhsm && strings.Contains(strings.ToLower(line), "0x8000") {
				t.Logf("pkcs11-tool -M: %s", strings.TrimSpace(line))
			}
		}
		for m, name := range vendorMechs {
			found := strings.Contains(string(out), fmt.Sprintf("mechtype-0x%X,", m)) // OpenSC's form for a nameless mechanism
			if found != (profile == cloudhsm) {
				t.Errorf("%s: pkcs11-tool -M shows %s (%#x): %v\n%s", profile, name, m, found, out)
			}
		}
	}
}
