package mech

import (
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// TestErrorTable produces every code the registry promises at least once, each from the
// situation the spec names it for.
func TestErrorTable(t *testing.T) {
	_, rsaPriv, rsaPub := rsaKeys(t)
	aes16 := secretKey(t, p11.CKK_AES, make([]byte, 16))
	aesOdd := secretKey(t, p11.CKK_AES, make([]byte, 20))
	generic := secretKey(t, p11.CKK_GENERIC_SECRET, make([]byte, 16))
	_, ecPriv, ecPub := ecKeysFromScalar(t, curves[0], unhex(t, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"))
	small, err := rsa.GenerateKey(rand.Reader, 512)
	mustOK(t, err)
	smallObj, _ := rsaObjects(small)
	rsa512 := mustKey(t, smallObj)

	iv := ckm.IV(make([]byte, 16))
	gcm := func(tag uint32) ckm.Mechanism {
		return ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: make([]byte, 12), TagBits: tag}}
	}
	secretTmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)}
	p384OID := []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}
	brainpoolP256r1OID := []byte{0x06, 0x09, 0x2b, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07}
	ecdh := func(p *ckm.ECDH1DeriveParams) ckm.Mechanism {
		return ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: p}
	}
	goodSig, err := Sign(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, ecPriv, []byte("m"))
	mustOK(t, err)
	badPad, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_CBC, Param: iv}, aes16, make([]byte, 16)) // last byte 0: bad padding
	mustOK(t, err)
	kw, err := Wrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aes16, secretObj(p11.CKK_AES, make([]byte, 16)))
	mustOK(t, err)

	cases := []struct {
		name string
		want uint32
		run  func() error
	}{
		{"unknown mechanism", p11.CKR_MECHANISM_INVALID, func() error {
			_, err := Sign(ckm.Mechanism{Type: 0x8FFFFFFF}, aes16, nil) // 0x80000001 is CloudHSM's SP 800-108 KDF
			return err
		}},
		{"digest mechanism asked to encrypt", p11.CKR_MECHANISM_INVALID, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_SHA256}, aes16, nil)
			return err
		}},
		{"AES-ECB asked to digest", p11.CKR_MECHANISM_INVALID, func() error {
			_, err := Digest(ckm.Mechanism{Type: p11.CKM_AES_ECB}, nil)
			return err
		}},
		{"ECDSA has no key generation", p11.CKR_MECHANISM_INVALID, func() error {
			_, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_ECDSA}, attr.Set{})
			return err
		}},
		{"nil key", p11.CKR_KEY_HANDLE_INVALID, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_HMAC}, nil, nil)
			return err
		}},
		{"AES mechanism with a generic secret", p11.CKR_KEY_TYPE_INCONSISTENT, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_ECB}, generic, make([]byte, 16))
			return err
		}},
		{"ECDSA with an RSA key", p11.CKR_KEY_TYPE_INCONSISTENT, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_ECDSA}, rsaPriv, make([]byte, 32))
			return err
		}},
		{"RSA sign with a public key", p11.CKR_KEY_TYPE_INCONSISTENT, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, rsaPub, nil)
			return err
		}},
		{"HMAC with an EC key", p11.CKR_KEY_TYPE_INCONSISTENT, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_HMAC}, ecPriv, nil)
			return err
		}},
		{"ECDH with an EC public key", p11.CKR_KEY_TYPE_INCONSISTENT, func() error {
			_, err := Derive(ecdh(&ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL}), ecPub, secretTmpl)
			return err
		}},
		{"AES key of 20 bytes", p11.CKR_KEY_SIZE_RANGE, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_ECB}, aesOdd, make([]byte, 16))
			return err
		}},
		{"RSA-512 below the node's 1024-bit minimum", p11.CKR_KEY_SIZE_RANGE, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, rsa512, nil)
			return err
		}},
		{"AES key generation of 20 bytes", p11.CKR_KEY_SIZE_RANGE, func() error {
			_, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, attr.Set{p11.CKA_VALUE_LEN: attr.Ulong(20)})
			return err
		}},
		{"generic secret of 801 bytes", p11.CKR_KEY_SIZE_RANGE, func() error {
			_, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_GENERIC_SECRET_KEY_GEN}, attr.Set{p11.CKA_VALUE_LEN: attr.Ulong(801)})
			return err
		}},
		{"RSA modulus not a 256-bit step", p11.CKR_KEY_SIZE_RANGE, func() error {
			_, _, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN}, attr.Set{p11.CKA_MODULUS_BITS: attr.Ulong(2100)}, attr.Set{})
			return err
		}},
		{"CBC without IV", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_CBC}, aes16, make([]byte, 16))
			return err
		}},
		{"CBC with an 8-byte IV", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Decrypt(ckm.Mechanism{Type: p11.CKM_AES_CBC, Param: ckm.IV(make([]byte, 8))}, aes16, make([]byte, 16))
			return err
		}},
		{"GCM with a 64-bit tag", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, _, err := Encrypt(gcm(64), aes16, nil)
			return err
		}},
		{"GCM with CBC's parameter", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: iv}, aes16, nil)
			return err
		}},
		{"CTR with zero counter bits", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_CTR, Param: &ckm.CTRParams{CB: make([]byte, 16)}}, aes16, nil)
			return err
		}},
		{"PSS with a mismatched MGF", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA1, SaltLen: 32}}, rsaPriv, nil)
			return err
		}},
		{"SHA256_RSA_PKCS_PSS with a SHA-1 hashAlg", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA_1, MGF: p11.CKG_MGF1_SHA1}}, rsaPriv, nil)
			return err
		}},
		{"PSS salt too long for the key", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256, SaltLen: 223}}, rsaPriv, nil)
			return err
		}},
		{"OAEP with a mismatched MGF", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_OAEP, Param: &ckm.OAEPParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA1}}, rsaPub, nil)
			return err
		}},
		{"OAEP without parameters", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Decrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_OAEP}, rsaPriv, make([]byte, 256))
			return err
		}},
		{"AES key wrap with a 5-byte IV", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Wrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP, Param: ckm.IV(make([]byte, 5))}, aes16, secretObj(p11.CKK_AES, make([]byte, 16)))
			return err
		}},
		{"ECDH without parameters", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Derive(ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE}, ecPriv, secretTmpl)
			return err
		}},
		{"ECDH with a point off the curve", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			pt := append([]byte{4}, make([]byte, 64)...)
			pt[64] = 1
			_, err := Derive(ecdh(&ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: pt}), ecPriv, secretTmpl)
			return err
		}},
		{"ECDH CKD_NULL with shared data", p11.CKR_MECHANISM_PARAM_INVALID, func() error {
			_, err := Derive(ecdh(&ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, SharedData: []byte{1}, PublicData: ecPub.Attrs.(attr.Set)[p11.CKA_EC_POINT]}), ecPriv, secretTmpl)
			return err
		}},
		{"ECB of 15 bytes", p11.CKR_DATA_LEN_RANGE, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_AES_ECB}, aes16, make([]byte, 15))
			return err
		}},
		{"RSA PKCS#1 v1.5 encrypt of 246 bytes", p11.CKR_DATA_LEN_RANGE, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, rsaPub, make([]byte, 246))
			return err
		}},
		{"RSA_PKCS sign of k-10 bytes", p11.CKR_DATA_LEN_RANGE, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, rsaPriv, make([]byte, 246))
			return err
		}},
		{"RSA_PKCS_PSS of a non-hash length", p11.CKR_DATA_LEN_RANGE, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_PSS, Param: &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256, SaltLen: 32}}, rsaPriv, make([]byte, 31))
			return err
		}},
		{"ECDSA of empty input", p11.CKR_DATA_LEN_RANGE, func() error {
			_, err := Sign(ckm.Mechanism{Type: p11.CKM_ECDSA}, ecPriv, nil)
			return err
		}},
		{"X.509 input above the modulus", p11.CKR_DATA_LEN_RANGE, func() error {
			_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_RSA_X_509}, rsaPub, append([]byte{0xff}, make([]byte, 255)...))
			return err
		}},
		{"CBC decrypt of 17 bytes", p11.CKR_ENCRYPTED_DATA_LEN_RANGE, func() error {
			_, err := Decrypt(ckm.Mechanism{Type: p11.CKM_AES_CBC, Param: iv}, aes16, make([]byte, 17))
			return err
		}},
		{"CBC_PAD decrypt of nothing", p11.CKR_ENCRYPTED_DATA_LEN_RANGE, func() error {
			_, err := Decrypt(ckm.Mechanism{Type: p11.CKM_AES_CBC_PAD, Param: iv}, aes16, nil)
			return err
		}},
		{"GCM decrypt shorter than the tag", p11.CKR_ENCRYPTED_DATA_LEN_RANGE, func() error {
			_, err := Decrypt(gcm(128), aes16, make([]byte, 15))
			return err
		}},
		{"RSA decrypt of 255 bytes", p11.CKR_ENCRYPTED_DATA_LEN_RANGE, func() error {
			_, err := Decrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, rsaPriv, make([]byte, 255))
			return err
		}},
		{"CBC_PAD bad padding", p11.CKR_ENCRYPTED_DATA_INVALID, func() error {
			_, err := Decrypt(ckm.Mechanism{Type: p11.CKM_AES_CBC_PAD, Param: iv}, aes16, badPad)
			return err
		}},
		{"GCM tag failure", p11.CKR_ENCRYPTED_DATA_INVALID, func() error {
			_, err := Decrypt(gcm(128), aes16, make([]byte, 32))
			return err
		}},
		{"RSA PKCS#1 v1.5 bad block", p11.CKR_ENCRYPTED_DATA_INVALID, func() error {
			_, err := Decrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, rsaPriv, make([]byte, 256))
			return err
		}},
		{"ECDSA bad signature", p11.CKR_SIGNATURE_INVALID, func() error {
			return Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, ecPub, []byte("n"), goodSig)
		}},
		{"ECDSA signature of 63 bytes", p11.CKR_SIGNATURE_LEN_RANGE, func() error {
			return Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, ecPub, []byte("m"), goodSig[1:])
		}},
		{"CMAC tag of 8 bytes", p11.CKR_SIGNATURE_LEN_RANGE, func() error {
			return Verify(ckm.Mechanism{Type: p11.CKM_AES_CMAC}, aes16, nil, make([]byte, 8))
		}},
		{"RSA signature of 255 bytes", p11.CKR_SIGNATURE_LEN_RANGE, func() error {
			return Verify(ckm.Mechanism{Type: p11.CKM_RSA_X_509}, rsaPub, nil, make([]byte, 255))
		}},
		{"AES key wrap tampered", p11.CKR_WRAPPED_KEY_INVALID, func() error {
			bad := append([]byte(nil), kw...)
			bad[9] ^= 1
			_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aes16, bad, secretTmpl)
			return err
		}},
		{"unwrapped 16 bytes as an RSA private key", p11.CKR_WRAPPED_KEY_INVALID, func() error {
			_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aes16, kw,
				attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA)})
			return err
		}},
		{"AES key wrap blob of 20 bytes", p11.CKR_WRAPPED_KEY_LEN_RANGE, func() error {
			_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aes16, make([]byte, 20), secretTmpl)
			return err
		}},
		{"AES key wrap blob of 16 bytes", p11.CKR_WRAPPED_KEY_LEN_RANGE, func() error {
			_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aes16, make([]byte, 16), secretTmpl)
			return err
		}},
		{"wrap with an RSA key under AES key wrap", p11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT, func() error {
			_, err := Wrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, rsaPub, secretObj(p11.CKK_AES, make([]byte, 16)))
			return err
		}},
		{"unwrap with an AES key under RSA_PKCS", p11.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, func() error {
			_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, aes16, make([]byte, 256), secretTmpl)
			return err
		}},
		{"wrap with a 20-byte AES key", p11.CKR_WRAPPING_KEY_SIZE_RANGE, func() error {
			_, err := Wrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aesOdd, secretObj(p11.CKK_AES, make([]byte, 16)))
			return err
		}},
		{"unwrap with RSA-512", p11.CKR_UNWRAPPING_KEY_SIZE_RANGE, func() error {
			_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, rsa512, make([]byte, 128), secretTmpl)
			return err
		}},
		{"AES key wrap of a 12-byte key", p11.CKR_KEY_SIZE_RANGE, func() error {
			_, err := Wrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aes16, secretObj(p11.CKK_GENERIC_SECRET, make([]byte, 12)))
			return err
		}},
		{"RSA wrap of a private key", p11.CKR_KEY_NOT_WRAPPABLE, func() error {
			_, err := Wrap(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, rsaPub, ecPriv.Attrs.(attr.Set))
			return err
		}},
		{"wrap of a public key", p11.CKR_KEY_NOT_WRAPPABLE, func() error {
			_, err := Wrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, aes16, ecPub.Attrs.(attr.Set))
			return err
		}},
		{"AES keygen without CKA_VALUE_LEN", p11.CKR_TEMPLATE_INCOMPLETE, func() error {
			_, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, attr.Set{})
			return err
		}},
		{"RSA keygen without CKA_MODULUS_BITS", p11.CKR_TEMPLATE_INCOMPLETE, func() error {
			_, _, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN}, attr.Set{}, attr.Set{})
			return err
		}},
		{"EC keygen without CKA_EC_PARAMS", p11.CKR_TEMPLATE_INCOMPLETE, func() error {
			_, _, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN}, attr.Set{}, attr.Set{})
			return err
		}},
		{"ECDH with a KDF but no CKA_VALUE_LEN", p11.CKR_TEMPLATE_INCOMPLETE, func() error {
			_, err := Derive(ecdh(&ckm.ECDH1DeriveParams{KDF: p11.CKD_SHA256_KDF, PublicData: ecPub.Attrs.(attr.Set)[p11.CKA_EC_POINT]}), ecPriv, secretTmpl)
			return err
		}},
		{"NewKey without CKA_VALUE", p11.CKR_TEMPLATE_INCOMPLETE, func() error {
			_, err := NewKey(attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)})
			return err
		}},
		{"AES keygen with an RSA key type", p11.CKR_TEMPLATE_INCONSISTENT, func() error {
			_, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, attr.Set{p11.CKA_VALUE_LEN: attr.Ulong(16), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA)})
			return err
		}},
		{"unwrap with CKA_VALUE_LEN that disagrees", p11.CKR_TEMPLATE_INCONSISTENT, func() error {
			tm := secretTmpl.Clone()
			tm[p11.CKA_VALUE_LEN] = attr.Ulong(32)
			_, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, aes16, kw, tm)
			return err
		}},
		{"EC keygen on brainpoolP256r1", p11.CKR_CURVE_NOT_SUPPORTED, func() error {
			_, _, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN}, attr.Set{p11.CKA_EC_PARAMS: brainpoolP256r1OID}, attr.Set{})
			return err
		}},
		{"EC params as a printable name", p11.CKR_ATTRIBUTE_VALUE_INVALID, func() error {
			_, _, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN}, attr.Set{p11.CKA_EC_PARAMS: []byte("\x13\x0aprime256v1")}, attr.Set{})
			return err
		}},
		{"RSA keygen with exponent 3", p11.CKR_ATTRIBUTE_VALUE_INVALID, func() error {
			_, _, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN}, attr.Set{p11.CKA_MODULUS_BITS: attr.Ulong(2048), p11.CKA_PUBLIC_EXPONENT: {3}}, attr.Set{})
			return err
		}},
		{"NewKey of an EC private scalar of zero", p11.CKR_ATTRIBUTE_VALUE_INVALID, func() error {
			_, err := NewKey(attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC),
				p11.CKA_EC_PARAMS: p384OID, p11.CKA_VALUE: make([]byte, 48)})
			return err
		}},
		{"ECDH CKA_VALUE_LEN beyond the secret with CKD_NULL", p11.CKR_ATTRIBUTE_VALUE_INVALID, func() error {
			tm := secretTmpl.Clone()
			tm[p11.CKA_KEY_TYPE] = attr.Ulong(p11.CKK_GENERIC_SECRET)
			tm[p11.CKA_VALUE_LEN] = attr.Ulong(33)
			_, err := Derive(ecdh(&ckm.ECDH1DeriveParams{KDF: p11.CKD_NULL, PublicData: ecPub.Attrs.(attr.Set)[p11.CKA_EC_POINT]}), ecPriv, tm)
			return err
		}},
		{"NewKey of a DSA key", p11.CKR_KEY_TYPE_INCONSISTENT, func() error {
			_, err := NewKey(attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_DSA)})
			return err
		}},
	}
	seen := map[uint32]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, tc.run(), tc.want)
			seen[tc.want] = true
		})
	}
	for _, rv := range []uint32{
		p11.CKR_MECHANISM_INVALID, p11.CKR_KEY_TYPE_INCONSISTENT, p11.CKR_KEY_SIZE_RANGE, p11.CKR_MECHANISM_PARAM_INVALID,
		p11.CKR_DATA_LEN_RANGE, p11.CKR_ENCRYPTED_DATA_LEN_RANGE, p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_SIGNATURE_INVALID,
		p11.CKR_SIGNATURE_LEN_RANGE, p11.CKR_WRAPPED_KEY_INVALID, p11.CKR_WRAPPED_KEY_LEN_RANGE, p11.CKR_TEMPLATE_INCOMPLETE,
		p11.CKR_CURVE_NOT_SUPPORTED, p11.CKR_ATTRIBUTE_VALUE_INVALID, p11.CKR_KEY_NOT_WRAPPABLE, p11.CKR_TEMPLATE_INCONSISTENT,
		p11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT, p11.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT, p11.CKR_WRAPPING_KEY_SIZE_RANGE,
		p11.CKR_UNWRAPPING_KEY_SIZE_RANGE, p11.CKR_KEY_HANDLE_INVALID,
	} {
		if !seen[rv] {
			t.Errorf("no case produced %s", p11.RVName(rv))
		}
	}
}
