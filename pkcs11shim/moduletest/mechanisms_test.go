// RSA keys below the nodes' 1024-bit minimum are test material here (their refusal is tested);
// Go's crypto/rsa makes them only with this setting.
//
//go:debug rsa1024min=0

package moduletest

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"math/big"
	"testing"

	"github.com/miekg/pkcs11"
)

// The issue 16 mechanisms and attributes, as the public conformance suites use them.

// RSA from 1024 bits in profile standard (PKCS #11 sets no minimum; OpenSC's p11test and
// google/pkcs11test make RSA-1024 keys); profile cloudhsm keeps CloudHSM's 2048 (AWS
// "Supported key types for the PKCS #11 library": 2048 to 4096 bits) for generation, import
// and C_GetMechanismInfo.
func TestRSAKeySizesByProfile(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	must(t, err)
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			want := func(std, chsm uint) uint { return byProfile(profile, std, chsm) }
			for _, m := range []uint{pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, pkcs11.CKM_RSA_PKCS, pkcs11.CKM_SHA256_RSA_PKCS_PSS} {
				info, err := p.GetMechanismInfo(1, mechs(m, nil))
				must(t, err)
				if info.MinKeySize != want(1024, 2048) || info.MaxKeySize != 4096 {
					t.Fatalf("mechanism %#x: key sizes %d-%d", m, info.MinKeySize, info.MaxKeySize)
				}
			}
			pub, priv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil),
				[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 1024)}, nil)
			wantRV(t, "RSA-1024 generation", err, want(pkcs11.CKR_OK, pkcs11.CKR_KEY_SIZE_RANGE))
			if err == nil {
				goPub := &rsa.PublicKey{N: new(big.Int).SetBytes(attr(t, s, pub, pkcs11.CKA_MODULUS)), E: 65537}
				if goPub.N.BitLen() != 1024 {
					t.Fatalf("modulus of %d bits", goPub.N.BitLen())
				}
				msg := []byte("rsa-1024")
				h := sha256.Sum256(msg)
				if err := rsa.VerifyPKCS1v15(goPub, crypto.SHA256, h[:], sign(t, s, pkcs11.CKM_SHA256_RSA_PKCS, priv, msg)); err != nil {
					t.Fatal("RSA-1024 signature:", err)
				}
			}
			imported, err := p.CreateObject(s, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
				pkcs11.NewAttribute(pkcs11.CKA_MODULUS, small.N.Bytes()),
				pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, big.NewInt(int64(small.E)).Bytes()),
			})
			wantRV(t, "RSA-1024 import", err, want(pkcs11.CKR_OK, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID))
			if err == nil {
				h := sha256.Sum256([]byte("imported"))
				sig, err := rsa.SignPKCS1v15(rand.Reader, small, crypto.SHA256, h[:])
				must(t, err)
				must(t, p.VerifyInit(s, mechs(pkcs11.CKM_SHA256_RSA_PKCS, nil), imported))
				must(t, p.Verify(s, []byte("imported"), sig))
			}
			// 2048 stays fine in both.
			_, _, err = p.GenerateKeyPair(s, mechs(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil),
				[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048)}, nil)
			must(t, err)
		})
	}
}

// DES3 keys made and wrapped as google/pkcs11test's fixtures do (its default wrap cipher is
// "3DES-ECB"): CKM_DES3_KEY_GEN keys, C_WrapKey with CKM_DES3_ECB under a DES3 key that C_Decrypt
// then opens to the wrapped key's CKA_VALUE, and C_UnwrapKey back into an equal DES3 key. The
// spec's tables give the block modes wrap and unwrap (Current Mechanisms v2.40, "Mechanisms vs.
// Functions"); Client SDK 5 lists none of them for wrapping (AWS-mech), so profile cloudhsm
// refuses them there and does not advertise CKF_WRAP for them.
func TestDES3WrapAsTheSuitesDo(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			gen := func(extra ...*pkcs11.Attribute) pkcs11.ObjectHandle {
				h, err := p.GenerateKey(s, mechs(pkcs11.CKM_DES3_KEY_GEN, nil), append([]*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false)}, extra...))
				must(t, err)
				return h
			}
			k1 := gen(pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true))
			k2 := gen(pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
			for _, m := range []uint{pkcs11.CKM_DES3_ECB, pkcs11.CKM_DES3_CBC, pkcs11.CKM_DES3_CBC_PAD, pkcs11.CKM_AES_ECB, pkcs11.CKM_AES_CBC, pkcs11.CKM_AES_CBC_PAD} {
				info, err := p.GetMechanismInfo(1, mechs(m, nil))
				must(t, err)
				wrapFlags := info.Flags & (pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP)
				if want := map[string]uint{standard: pkcs11.CKF_WRAP | pkcs11.CKF_UNWRAP, cloudhsm: 0}[profile]; wrapFlags != want {
					t.Fatalf("mechanism %#x: wrap flags %#x, want %#x", m, wrapFlags, want)
				}
			}
			blob, err := p.WrapKey(s, mechs(pkcs11.CKM_DES3_ECB, nil), k2, k1)
			if profile == cloudhsm {
				wantRV(t, "C_WrapKey with CKM_DES3_ECB", err, pkcs11.CKR_MECHANISM_INVALID)
				_, err = p.UnwrapKey(s, mechs(pkcs11.CKM_DES3_ECB, nil), k2, make([]byte, 24), []*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_DES3)})
				wantRV(t, "C_UnwrapKey with CKM_DES3_ECB", err, pkcs11.CKR_MECHANISM_INVALID)
				return
			}
			must(t, err)
			must(t, p.DecryptInit(s, mechs(pkcs11.CKM_DES3_ECB, nil), k2))
			opened, err := p.Decrypt(s, blob)
			must(t, err)
			value := attr(t, s, k1, pkcs11.CKA_VALUE)
			if len(value) != 24 || !bytes.Equal(opened, value) {
				t.Fatalf("C_Decrypt of the blob gave %x, want the key's CKA_VALUE %x", opened, value)
			}
			k3, err := p.UnwrapKey(s, mechs(pkcs11.CKM_DES3_ECB, nil), k2, blob, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_DES3),
				pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false)})
			must(t, err)
			if got := attr(t, s, k3, pkcs11.CKA_VALUE); !bytes.Equal(got, value) {
				t.Fatalf("unwrapped key %x, want %x", got, value)
			}
		})
	}
}

// Multi-part ECB, CBC, CBC_PAD and CTR stream: each C_EncryptUpdate and C_DecryptUpdate returns
// the output of the whole blocks it has (a CBC_PAD decryption holds its last block back for
// C_DecryptFinal, which strips the padding), as google/pkcs11test's EncryptDecryptParts expects
// block by block, and the whole equals the single-part C_Encrypt of the same input (which
// TestAES, TestDES3 and hsmd/mech's known-answer tests check against crypto/cipher), and for CTR
// crypto/cipher's own. The parts are deliberately not whole blocks.
func TestStreamingMultiPart(t *testing.T) {
	start(t, standard, func(c *moduleConfig) { c.MaxBuffer = 4096 })
	s := session(t)
	aesValue := bytes.Repeat([]byte{0x5A}, 32)
	aesK := aesKey(t, s, aesValue)
	des3K, err := p.CreateObject(s, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_DES3),
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, bytes.Repeat([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}, 3))})
	must(t, err)
	aesB, _ := aes.NewCipher(aesValue)
	plain := make([]byte, 1024)
	rand.Read(plain)
	ivA, ivD := bytes.Repeat([]byte{7}, 16), bytes.Repeat([]byte{8}, 8)
	cb := append(bytes.Repeat([]byte{0xC0}, 8), make([]byte, 8)...)
	ctr := func(in []byte) []byte {
		out := make([]byte, len(in))
		cipher.NewCTR(aesB, cb).XORKeyStream(out, in)
		return out
	}
	single := func(m []*pkcs11.Mechanism, k pkcs11.ObjectHandle, in []byte) []byte {
		must(t, p.EncryptInit(s, m, k))
		out, err := p.Encrypt(s, in)
		must(t, err)
		return out
	}
	parts := []int{1, 7, 16, 33, 100, 3, 250}
	for _, c := range []struct {
		name   string
		m      []*pkcs11.Mechanism
		key    pkcs11.ObjectHandle
		block  int
		padded bool
		in     []byte
		want   []byte
	}{
		{"AES-ECB", mechs(pkcs11.CKM_AES_ECB, nil), aesK, 16, false, plain, nil},
		{"AES-CBC", mechs(pkcs11.CKM_AES_CBC, ivA), aesK, 16, false, plain, nil},
		{"AES-CBC-PAD", mechs(pkcs11.CKM_AES_CBC_PAD, ivA), aesK, 16, true, plain[:1000], nil},
		{"AES-CTR", mechs(pkcs11.CKM_AES_CTR, ctrParams(64, cb)), aesK, 16, false, plain[:1001], ctr(plain[:1001])},
		{"DES3-ECB", mechs(pkcs11.CKM_DES3_ECB, nil), des3K, 8, false, plain, nil},
		{"DES3-CBC", mechs(pkcs11.CKM_DES3_CBC, ivD), des3K, 8, false, plain, nil},
		{"DES3-CBC-PAD", mechs(pkcs11.CKM_DES3_CBC_PAD, ivD), des3K, 8, true, plain[:1001], nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if whole := single(c.m, c.key, c.in); c.want == nil {
				c.want = whole
			} else if !bytes.Equal(whole, c.want) {
				t.Fatal("single-part CTR differs from crypto/cipher's")
			}
			// run feeds in through C_*Update in the parts above, checking each update's output
			// is exactly the whole blocks it could give, and returns the outputs and C_*Final's.
			run := func(update func(pkcs11.SessionHandle, []byte) ([]byte, error), final func(pkcs11.SessionHandle) ([]byte, error), in []byte, holdLast bool) []byte {
				var out []byte
				fed, given := 0, 0
				for i := 0; fed < len(in); i++ {
					n := min(parts[i%len(parts)], len(in)-fed)
					got, err := update(s, in[fed:fed+n])
					must(t, err)
					fed += n
					ready := fed - fed%c.block
					if holdLast && ready == fed && ready > 0 {
						ready -= c.block
					}
					if len(got) != ready-given {
						t.Fatalf("after %d bytes an update gave %d bytes, want %d", fed, len(got), ready-given)
					}
					given += len(got)
					out = append(out, got...)
				}
				last, err := final(s)
				must(t, err)
				return append(out, last...)
			}
			must(t, p.EncryptInit(s, c.m, c.key))
			if got := run(p.EncryptUpdate, p.EncryptFinal, c.in, false); !bytes.Equal(got, c.want) {
				t.Fatal("multi-part encryption differs from the single-part one")
			}
			must(t, p.DecryptInit(s, c.m, c.key))
			if got := run(p.DecryptUpdate, p.DecryptFinal, c.want, c.padded); !bytes.Equal(got, c.in) {
				t.Fatal("multi-part decryption does not give the plaintext back")
			}
		})
	}

	// A large input in parts, past max_buffer (4096 here): nothing is held but a partial block.
	big := make([]byte, 1<<20+5)
	rand.Read(big)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CTR, ctrParams(64, cb)), aesK))
	var got []byte
	for i := 0; i < len(big); i += 3000 {
		part, err := p.EncryptUpdate(s, big[i:min(i+3000, len(big))])
		must(t, err)
		got = append(got, part...)
	}
	last, err := p.EncryptFinal(s)
	must(t, err)
	if got = append(got, last...); !bytes.Equal(got, ctr(big)) {
		t.Fatal("1 MiB of CTR in 3000-byte parts differs from crypto/cipher's")
	}

	// ECB with a partial block left at C_EncryptFinal: CKR_DATA_LEN_RANGE (pkcs11test
	// EncryptFinalErrors2 accepts it there or at the update).
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), aesK))
	_, err = p.EncryptUpdate(s, make([]byte, 15))
	must(t, err)
	_, err = p.EncryptFinal(s)
	wantRV(t, "C_EncryptFinal with 15 bytes left", err, pkcs11.CKR_DATA_LEN_RANGE)

	// A CTR counter of 2 bits starting at 2 has two blocks left: the third would repeat a
	// counter, which the spec's wrap rule forbids.
	two := append(bytes.Repeat([]byte{0xAA}, 15), 0x02)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CTR, ctrParams(2, two)), aesK))
	_, err = p.EncryptUpdate(s, make([]byte, 32))
	must(t, err)
	_, err = p.EncryptUpdate(s, make([]byte, 16))
	wantRV(t, "CTR past its counter", err, pkcs11.CKR_DATA_LEN_RANGE)
	// Nor may a partial block wait for C_EncryptFinal once the counter is used up.
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CTR, ctrParams(2, two)), aesK))
	_, err = p.EncryptUpdate(s, make([]byte, 40))
	wantRV(t, "CTR with a partial block past its counter", err, pkcs11.CKR_DATA_LEN_RANGE)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CTR, ctrParams(2, two)), aesK))
	_, err = p.EncryptUpdate(s, make([]byte, 32))
	must(t, err)
	_, err = p.EncryptUpdate(s, make([]byte, 1))
	wantRV(t, "one more byte once the counter is used up", err, pkcs11.CKR_DATA_LEN_RANGE)
}

// In profile cloudhsm a streamed CKM_AES_CBC still takes at most AWS's 16,272 bytes per
// operation (AWS-mech "Maximum data size for each mechanism"), counted over the updates.
func TestStreamingKeepsCloudHSMLimits(t *testing.T) {
	start(t, cloudhsm)
	s := session(t)
	k := aesKey(t, s, make([]byte, 32))
	iv := make([]byte, 16)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_CBC, iv), k))
	out, err := p.EncryptUpdate(s, make([]byte, 16000))
	must(t, err)
	if len(out) != 16000 {
		t.Fatalf("update gave %d bytes", len(out))
	}
	_, err = p.EncryptUpdate(s, make([]byte, 272))
	must(t, err)
	_, err = p.EncryptUpdate(s, make([]byte, 16))
	wantRV(t, "AES-CBC past 16,272 bytes over the updates", err, pkcs11.CKR_DATA_LEN_RANGE)
	_, err = p.EncryptFinal(s)
	wantRV(t, "after the refused update", err, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
}

// PKCS #11 v3.0's Ed25519 numbers; miekg/pkcs11's constants stop at v2.40.
const (
	ckkECEdwards           = 0x40
	ckmECEdwardsKeyPairGen = 0x1055
	ckmEdDSA               = 0x1057
)

// ed25519Name and ed25519OID are the two CKA_EC_PARAMS forms v3.0 gives edwards25519: the curve
// name as a DER PrintableString and RFC 8410's OID 1.3.101.112 (what OpenSC's pkcs11-tool writes).
var (
	ed25519Name = []byte{0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's', '2', '5', '5', '1', '9'}
	ed25519OID  = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
)

// Ed25519 through the module as OpenSC's p11test and pkcs11-tool use it (PKCS #11 v3.0:
// CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA, CKK_EC_EDWARDS), checked against crypto/ed25519: key
// pairs with either CKA_EC_PARAMS form, signatures Go verifies, Go's signatures the module
// verifies, an imported public key, and CKA_ALWAYS_AUTHENTICATE readable on the private key.
// Profile cloudhsm has none of it (AWS lists no EdDSA).
func TestEd25519(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			gen := func(params []byte) (pkcs11.ObjectHandle, pkcs11.ObjectHandle, error) {
				return p.GenerateKeyPair(s, mechs(ckmECEdwardsKeyPairGen, nil),
					[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)},
					[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)})
			}
			if profile == cloudhsm {
				_, _, err := gen(ed25519OID)
				wantRV(t, "CKM_EC_EDWARDS_KEY_PAIR_GEN", err, pkcs11.CKR_MECHANISM_INVALID)
				_, err = p.GetMechanismInfo(1, mechs(ckmEdDSA, nil))
				wantRV(t, "C_GetMechanismInfo(CKM_EDDSA)", err, pkcs11.CKR_MECHANISM_INVALID)
				_, err = p.CreateObject(s, []*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
					pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519OID), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, append([]byte{4, 32}, make([]byte, 32)...))})
				wantRV(t, "importing an Ed25519 key", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)
				return
			}
			info, err := p.GetMechanismInfo(1, mechs(ckmEdDSA, nil))
			must(t, err)
			if info.MinKeySize != 255 || info.Flags&(pkcs11.CKF_SIGN|pkcs11.CKF_VERIFY) != pkcs11.CKF_SIGN|pkcs11.CKF_VERIFY {
				t.Fatalf("CKM_EDDSA info %+v", info)
			}
			for _, params := range [][]byte{ed25519Name, ed25519OID} {
				pub, priv, err := gen(params)
				must(t, err)
				if got := attr(t, s, pub, pkcs11.CKA_EC_PARAMS); !bytes.Equal(got, params) {
					t.Fatalf("CKA_EC_PARAMS %x, want %x as given", got, params)
				}
				if kt := attr(t, s, priv, pkcs11.CKA_KEY_TYPE); kt[0] != ckkECEdwards {
					t.Fatalf("CKA_KEY_TYPE %x", kt)
				}
				if aa := attr(t, s, priv, pkcs11.CKA_ALWAYS_AUTHENTICATE); !bytes.Equal(aa, []byte{0}) {
					t.Fatalf("CKA_ALWAYS_AUTHENTICATE %x", aa)
				}
				var raw []byte
				if rest, err := asn1.Unmarshal(attr(t, s, pub, pkcs11.CKA_EC_POINT), &raw); err != nil || len(rest) != 0 || len(raw) != ed25519.PublicKeySize {
					t.Fatalf("CKA_EC_POINT is not the DER OCTET STRING of a 32-byte key: %v", err)
				}
				goPub := ed25519.PublicKey(raw)
				msg := []byte("ed25519 through PKCS#11")
				sig := sign(t, s, ckmEdDSA, priv, msg)
				if !ed25519.Verify(goPub, msg, sig) {
					t.Fatal("crypto/ed25519 does not verify the module's signature")
				}
				must(t, p.VerifyInit(s, mechs(ckmEdDSA, nil), pub))
				must(t, p.Verify(s, msg, sig))
				// Multi-part signing buffers (EdDSA hashes the message twice).
				must(t, p.SignInit(s, mechs(ckmEdDSA, nil), priv))
				must(t, p.SignUpdate(s, msg[:7]))
				must(t, p.SignUpdate(s, msg[7:]))
				sig2, err := p.SignFinal(s)
				must(t, err)
				if !bytes.Equal(sig, sig2) {
					t.Fatal("multi-part Ed25519 differs from single-part (Ed25519 is deterministic)")
				}
			}
			// A public key made by Go, imported, verifies Go's signatures and refuses a changed one.
			gp, gs, err := ed25519.GenerateKey(rand.Reader)
			must(t, err)
			point, _ := asn1.Marshal([]byte(gp))
			imp, err := p.CreateObject(s, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
				pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, ed25519OID), pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, point),
				pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)})
			must(t, err)
			sig := ed25519.Sign(gs, []byte("from Go"))
			must(t, p.VerifyInit(s, mechs(ckmEdDSA, nil), imp))
			must(t, p.Verify(s, []byte("from Go"), sig))
			sig[0] ^= 1
			must(t, p.VerifyInit(s, mechs(ckmEdDSA, nil), imp))
			wantRV(t, "a changed signature", p.Verify(s, []byte("from Go"), sig), pkcs11.CKR_SIGNATURE_INVALID)
			_, _, err = gen([]byte{0x13, 0x0a, 'e', 'd', 'w', 'a', 'r', 'd', 's', '4', '4', '8'})
			wantRV(t, "edwards448", err, pkcs11.CKR_CURVE_NOT_SUPPORTED)
		})
	}
}

// Usage flags on EC keys: PKCS #11 puts CKA_DECRYPT, CKA_UNWRAP and CKA_DERIVE on every private
// key and CKA_ENCRYPT, CKA_WRAP on every public key (v2.40 §4.8, §4.9), whatever the key type
// can do, and names no code that refuses them. A template asking for them gets them: they read
// back as asked, never dropped, and a mechanism the key type cannot run is refused at its
// C_*Init with CKR_KEY_TYPE_INCONSISTENT.
func TestECUsageFlagsAreKept(t *testing.T) {
	start(t, standard)
	s := session(t)
	pub, priv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_EC_KEY_PAIR_GEN, nil),
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true)},
		[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true), pkcs11.NewAttribute(pkcs11.CKA_SIGN, true)})
	must(t, err)
	for _, c := range []struct {
		o pkcs11.ObjectHandle
		a uint
	}{{pub, pkcs11.CKA_ENCRYPT}, {pub, pkcs11.CKA_WRAP}, {pub, pkcs11.CKA_VERIFY}, {priv, pkcs11.CKA_DECRYPT},
		{priv, pkcs11.CKA_UNWRAP}, {priv, pkcs11.CKA_DERIVE}, {priv, pkcs11.CKA_SIGN}} {
		if v := attr(t, s, c.o, c.a); !bytes.Equal(v, []byte{1}) {
			t.Fatalf("attribute %#x reads %x, want CK_TRUE as the template asked", c.a, v)
		}
	}
	wantRV(t, "C_DecryptInit with RSA-OAEP on an EC key", p.DecryptInit(s,
		mechs(pkcs11.CKM_RSA_PKCS_OAEP, pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 0, nil)), priv), pkcs11.CKR_KEY_TYPE_INCONSISTENT)
}
