// RSA keys below the nodes' 1024-bit minimum are test material here (their refusal is tested);
// Go's crypto/rsa makes them only with this setting.
//
//go:debug rsa1024min=0

package moduletest

import (
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
