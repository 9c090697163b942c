package keyimport

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
)

// Material is imported key material checked against its key spec.
type Material struct {
	// Secret is what the KMS keeps (a copy of the input): the raw bytes of a symmetric or HMAC key, the PKCS#8
	// encoding of an asymmetric private key (re-encoded, so equal keys are equal bytes).
	Secret []byte
	// PublicKey is an asymmetric key's DER SubjectPublicKeyInfo; nil otherwise.
	PublicKey []byte
}

// hmacLengths are the lengths of HMAC key material each HMAC key spec accepts, in bytes: from the
// digest length to the hash function's block size ("Requirements for imported key material").
var hmacLengths = map[string][2]int{
	"HMAC_224": {28, 64},
	"HMAC_256": {32, 64},
	"HMAC_384": {48, 128},
	"HMAC_512": {64, 128},
}

// curves are the NIST curves of the ECC key specs whose PKCS#8 keys Go parses.
var curves = map[string]elliptic.Curve{
	"ECC_NIST_P256": elliptic.P256(),
	"ECC_NIST_P384": elliptic.P384(),
	"ECC_NIST_P521": elliptic.P521(),
}

// CheckMaterial checks unwrapped key material against a KMS key spec, as AWS's "Requirements for
// imported key material" states them: 256 bits for SYMMETRIC_DEFAULT; for an HMAC key between the
// digest length and the block size of its hash; for an asymmetric key a DER-encoded PKCS#8
// private key (RFC 5208) of the spec's type and size.
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys-conceptual.html
func CheckMaterial(spec string, m []byte) (*Material, error) {
	switch {
	case spec == "SYMMETRIC_DEFAULT":
		if len(m) != 32 {
			return nil, ErrIncorrectMaterial
		}
		return &Material{Secret: bytes.Clone(m)}, nil
	case strings.HasPrefix(spec, "HMAC_"):
		l, ok := hmacLengths[spec]
		if !ok || len(m) < l[0] || len(m) > l[1] {
			return nil, ErrIncorrectMaterial
		}
		return &Material{Secret: bytes.Clone(m)}, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(m)
	if err != nil {
		return nil, ErrIncorrectMaterial
	}
	var pub any
	switch p := k.(type) {
	case *rsa.PrivateKey:
		if spec != map[int]string{2048: "RSA_2048", 3072: "RSA_3072", 4096: "RSA_4096"}[p.N.BitLen()] {
			return nil, ErrIncorrectMaterial
		}
		pub = &p.PublicKey
	case *ecdsa.PrivateKey:
		if c, ok := curves[spec]; !ok || p.Curve != c {
			return nil, ErrIncorrectMaterial
		}
		pub = &p.PublicKey
	default:
		return nil, ErrIncorrectMaterial
	}
	secret, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, ErrIncorrectMaterial
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, ErrIncorrectMaterial
	}
	return &Material{Secret: secret, PublicKey: spki}, nil
}

// MaterialID is the KeyMaterialId of imported material: 64 hex digits derived from the KMS key id
// and the material, so importing the same material into the same key gives the same id ("KMS
// assigns a unique identifier to the key material based on the KMS key ID and the imported key
// material", ImportKeyMaterial). It is keyed by the material, so it reveals nothing of it.
func MaterialID(keyID string, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("hsmsim kms key material id\x00" + keyID))
	return hex.EncodeToString(m.Sum(nil))
}
