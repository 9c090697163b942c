package moduletest

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"testing"

	"github.com/miekg/pkcs11"
)

// PKCS #11 v2.40 (Current Mechanisms, the "Mechanisms vs. Functions" tables, footnote "Single-part
// operations only") gives CKM_RSA_PKCS, CKM_RSA_X_509, CKM_RSA_PKCS_OAEP, CKM_RSA_PKCS_PSS and
// CKM_ECDSA no multi-part operations. In profile standard their C_*Update and C_*Final answer
// CKR_OPERATION_NOT_INITIALIZED (no multi-part operation is active; the code is in each of those
// functions' return values, base spec §5.8-5.12) and end the operation, as SoftHSM answers for
// sign and verify; the single-part call still works. Profile cloudhsm answers
// CKR_MECHANISM_INVALID for the mechanisms AWS marks single-part.
func TestSinglePartOnlyMechanisms(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			rsaPub, rsaPriv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil),
				[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, 2048),
					pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})},
				[]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
			must(t, err)
			ecPub, ecPriv := ecKeyPair(t, s, false)
			oaep := pkcs11.NewOAEPParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, pkcs11.CKZ_DATA_SPECIFIED, nil)
			pss := pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32)
			h := digest("single part")
			refused := uint(pkcs11.CKR_OPERATION_NOT_INITIALIZED)
			if profile == cloudhsm {
				refused = pkcs11.CKR_MECHANISM_INVALID
			}
			type op struct {
				init   func() error
				update func() error
				final  func() error
				single func() error
			}
			signOp := func(m *pkcs11.Mechanism, key pkcs11.ObjectHandle) op {
				return op{func() error { return p.SignInit(s, []*pkcs11.Mechanism{m}, key) },
					func() error { return p.SignUpdate(s, h) },
					func() error { _, err := p.SignFinal(s); return err },
					func() error { _, err := p.Sign(s, h); return err }}
			}
			verifyOp := func(m *pkcs11.Mechanism, key, priv pkcs11.ObjectHandle) op {
				must(t, p.SignInit(s, []*pkcs11.Mechanism{m}, priv))
				sig, err := p.Sign(s, h)
				must(t, err)
				return op{func() error { return p.VerifyInit(s, []*pkcs11.Mechanism{m}, key) },
					func() error { return p.VerifyUpdate(s, h) },
					func() error { return p.VerifyFinal(s, sig) },
					func() error { return p.Verify(s, h, sig) }}
			}
			encryptOp := func(m *pkcs11.Mechanism) op {
				return op{func() error { return p.EncryptInit(s, []*pkcs11.Mechanism{m}, rsaPub) },
					func() error { _, err := p.EncryptUpdate(s, h); return err },
					func() error { _, err := p.EncryptFinal(s); return err },
					func() error { _, err := p.Encrypt(s, h); return err }}
			}
			decryptOp := func(m *pkcs11.Mechanism) op {
				must(t, p.EncryptInit(s, []*pkcs11.Mechanism{m}, rsaPub))
				ct, err := p.Encrypt(s, h)
				must(t, err)
				return op{func() error { return p.DecryptInit(s, []*pkcs11.Mechanism{m}, rsaPriv) },
					func() error { _, err := p.DecryptUpdate(s, ct); return err },
					func() error { _, err := p.DecryptFinal(s); return err },
					func() error { _, err := p.Decrypt(s, ct); return err }}
			}
			// CKM_RSA_X_509 is single-part by the spec; AWS does not mark it, so profile cloudhsm
			// buffers it like any multi-part mechanism.
			x509Refused := refused
			if profile == cloudhsm {
				x509Refused = pkcs11.CKR_OK
			}
			m := pkcs11.NewMechanism
			for name, c := range map[string]struct {
				op
				want uint
			}{
				"CKM_RSA_PKCS sign":      {signOp(m(pkcs11.CKM_RSA_PKCS, nil), rsaPriv), refused},
				"CKM_RSA_PKCS verify":    {verifyOp(m(pkcs11.CKM_RSA_PKCS, nil), rsaPub, rsaPriv), refused},
				"CKM_RSA_PKCS encrypt":   {encryptOp(m(pkcs11.CKM_RSA_PKCS, nil)), refused},
				"CKM_RSA_PKCS decrypt":   {decryptOp(m(pkcs11.CKM_RSA_PKCS, nil)), refused},
				"CKM_RSA_PKCS_OAEP enc":  {encryptOp(m(pkcs11.CKM_RSA_PKCS_OAEP, oaep)), refused},
				"CKM_RSA_PKCS_OAEP dec":  {decryptOp(m(pkcs11.CKM_RSA_PKCS_OAEP, oaep)), refused},
				"CKM_RSA_PKCS_PSS sign":  {signOp(m(pkcs11.CKM_RSA_PKCS_PSS, pss), rsaPriv), refused},
				"CKM_RSA_PKCS_PSS check": {verifyOp(m(pkcs11.CKM_RSA_PKCS_PSS, pss), rsaPub, rsaPriv), refused},
				"CKM_ECDSA sign":         {signOp(m(pkcs11.CKM_ECDSA, nil), ecPriv), refused},
				"CKM_ECDSA verify":       {verifyOp(m(pkcs11.CKM_ECDSA, nil), ecPub, ecPriv), refused},
				"CKM_RSA_X_509 sign":     {signOp(m(pkcs11.CKM_RSA_X_509, nil), rsaPriv), x509Refused},
				"CKM_RSA_X_509 encrypt":  {encryptOp(m(pkcs11.CKM_RSA_X_509, nil)), x509Refused},
			} {
				must(t, c.init())
				err := c.update()
				wantRV(t, name+": C_*Update", err, c.want)
				if err == nil {
					must(t, c.final())
				} else {
					wantRV(t, name+": C_*Final after the refused update", c.final(), pkcs11.CKR_OPERATION_NOT_INITIALIZED)
					// C_*Final right after the Init is no single-part call either.
					must(t, c.init())
					wantRV(t, name+": C_*Final without an update", c.final(), c.want)
					wantRV(t, name+": C_*Final after that", c.final(), pkcs11.CKR_OPERATION_NOT_INITIALIZED)
				}
				must(t, c.init())
				must(t, c.single())
			}
		})
	}
}

// DES3, in both profiles (AWS-mech lists it; SoftHSM has it): C_GenerateKey with
// CKM_DES3_KEY_GEN and no CKA_VALUE_LEN, CKA_CHECK_VALUE, and CBC checked with crypto/des. In
// profile cloudhsm CKM_DES3_CBC takes at most 16,280 bytes (AWS's "Maximum data size for each
// mechanism").
func TestDES3(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			k, err := p.GenerateKey(s, mechs(pkcs11.CKM_DES3_KEY_GEN, nil), []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)})
			must(t, err)
			v := attr(t, s, k, pkcs11.CKA_VALUE)
			b, err := des.NewTripleDESCipher(v)
			must(t, err)
			zero := make([]byte, 8)
			b.Encrypt(zero, zero)
			if kcv := attr(t, s, k, pkcs11.CKA_CHECK_VALUE); !bytes.Equal(kcv, zero[:3]) {
				t.Fatalf("CKA_CHECK_VALUE %x, want %x", kcv, zero[:3])
			}
			iv := []byte("8 bytes!")
			msg := bytes.Repeat([]byte("des3 cbc"), 2035) // 16,280 bytes
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_DES3_CBC, iv), k))
			ct, err := p.Encrypt(s, msg)
			must(t, err)
			want := make([]byte, len(msg))
			cipher.NewCBCEncrypter(b, iv).CryptBlocks(want, msg)
			if !bytes.Equal(ct, want) {
				t.Fatal("CKM_DES3_CBC differs from crypto/des")
			}
			must(t, p.DecryptInit(s, mechs(pkcs11.CKM_DES3_CBC_PAD, iv), k))
			_, err = p.Decrypt(s, ct)
			wantRV(t, "CBC_PAD over unpadded data", err, pkcs11.CKR_ENCRYPTED_DATA_INVALID)
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_DES3_CBC, iv), k))
			_, err = p.Encrypt(s, append(msg, msg[:8]...))
			over := uint(pkcs11.CKR_OK)
			if profile == cloudhsm {
				over = pkcs11.CKR_DATA_LEN_RANGE
			}
			wantRV(t, "CKM_DES3_CBC past 16,280 bytes", err, over)
			// Multi-part ECB, as the mode allows.
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_DES3_ECB, nil), k))
			_, err = p.EncryptUpdate(s, msg[:16])
			must(t, err)
			_, err = p.EncryptFinal(s)
			must(t, err)
		})
	}
}
