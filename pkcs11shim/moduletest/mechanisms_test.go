// RSA keys below the nodes' 1024-bit minimum are test material here (their refusal is tested);
// Go's crypto/rsa makes them only with this setting.
//
//go:debug rsa1024min=0

package moduletest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
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
			want := func(std, chsm uint) uint {
				if profile == cloudhsm {
					return chsm
				}
				return std
			}
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
