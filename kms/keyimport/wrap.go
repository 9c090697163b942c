package keyimport

import (
	"crypto/aes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"

	"github.com/hsmsim/hsmsim/internal/keywrap"
)

// Wrapping algorithms (GetParametersForImport's WrappingAlgorithm) and wrapping key specs
// (WrappingKeySpec) that hsmsim serves.
const (
	RSAESOAEPSHA1       = "RSAES_OAEP_SHA_1"
	RSAESOAEPSHA256     = "RSAES_OAEP_SHA_256"
	RSAAESKeyWrapSHA1   = "RSA_AES_KEY_WRAP_SHA_1"
	RSAAESKeyWrapSHA256 = "RSA_AES_KEY_WRAP_SHA_256"

	RSA2048 = "RSA_2048"
	RSA3072 = "RSA_3072"
	RSA4096 = "RSA_4096"
)

// CheckParameters accepts the (WrappingAlgorithm, WrappingKeySpec) pairs hsmsim serves: the four
// RSA algorithms with the three RSA key sizes.
func CheckParameters(alg, spec string) error {
	if alg == "SM2PKE" || spec == "SM2" {
		return ErrSM2
	}
	switch alg {
	case RSAESOAEPSHA1, RSAESOAEPSHA256, RSAAESKeyWrapSHA1, RSAAESKeyWrapSHA256:
	case "RSAES_PKCS1_V1_5":
		return ErrDeprecatedAlgorithm
	default:
		return fmt.Errorf("unsupported wrapping algorithm %q", alg)
	}
	if _, ok := specBits[spec]; !ok {
		return ErrUnsupportedSpec
	}
	return nil
}

var specBits = map[string]int{RSA2048: 2048, RSA3072: 3072, RSA4096: 4096}

// NewWrappingKey makes a fresh RSA key pair of a wrapping key spec: every GetParametersForImport
// hands out a new one.
func NewWrappingKey(spec string) (*rsa.PrivateKey, error) {
	bits, ok := specBits[spec]
	if !ok {
		return nil, ErrUnsupportedSpec
	}
	return rsa.GenerateKey(rand.Reader, bits)
}

// oaepHash is the hash of an algorithm's RSAES-OAEP step; MGF1 uses the same hash, as in the
// OpenSSL commands of AWS's guide (rsa_oaep_md and rsa_mgf1_md alike).
func oaepHash(alg string) (hash.Hash, bool, error) {
	switch alg {
	case RSAESOAEPSHA1:
		return sha1.New(), false, nil
	case RSAESOAEPSHA256:
		return sha256.New(), false, nil
	case RSAAESKeyWrapSHA1:
		return sha1.New(), true, nil
	case RSAAESKeyWrapSHA256:
		return sha256.New(), true, nil
	}
	return nil, false, fmt.Errorf("unsupported wrapping algorithm %q", alg)
}

// Unwrap decrypts key material wrapped under priv with alg. For the RSA_AES_KEY_WRAP algorithms
// the input is the RSAES-OAEP encryption of an AES key (as long as the RSA modulus) followed by
// the material wrapped under that AES key (RFC 5649).
func Unwrap(priv *rsa.PrivateKey, alg string, wrapped []byte) ([]byte, error) {
	h, hybrid, err := oaepHash(alg)
	if err != nil {
		return nil, err
	}
	if !hybrid {
		m, err := rsa.DecryptOAEP(h, nil, priv, wrapped, nil)
		if err != nil {
			return nil, ErrUndecryptable
		}
		return m, nil
	}
	n := priv.Size()
	if len(wrapped) <= n {
		return nil, ErrUndecryptable
	}
	kek, err := rsa.DecryptOAEP(h, nil, priv, wrapped[:n], nil)
	if err != nil {
		return nil, ErrUndecryptable
	}
	defer clear(kek)
	return KeyUnwrapPad(kek, wrapped[n:])
}

// Wrap is the client's side of Unwrap, for Go callers that import key material (and tests): it
// encrypts material under the wrapping public key with alg, using a fresh AES-256 key for the
// RSA_AES_KEY_WRAP algorithms.
func Wrap(pub *rsa.PublicKey, alg string, material []byte) ([]byte, error) {
	h, hybrid, err := oaepHash(alg)
	if err != nil {
		return nil, err
	}
	if !hybrid {
		return rsa.EncryptOAEP(h, rand.Reader, pub, material, nil)
	}
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	defer clear(kek)
	head, err := rsa.EncryptOAEP(h, rand.Reader, pub, kek, nil)
	if err != nil {
		return nil, err
	}
	tail, err := KeyWrapPad(kek, material)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}

// KeyWrapPad is AES key wrap with padding (RFC 5649, package internal/keywrap) of plain under kek
// (16, 24 or 32 bytes), with the default initial value as OpenSSL's id-aes256-wrap-pad uses it.
func KeyWrapPad(kek, plain []byte) ([]byte, error) {
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	if len(plain) == 0 || uint64(len(plain)) > 0xFFFFFFFF {
		return nil, errors.New("keyimport: key data must be 1 to 2^32-1 bytes")
	}
	return keywrap.WrapPad(b, keywrap.DefaultPadIV, plain), nil
}

// KeyUnwrapPad reverses KeyWrapPad; any failure of its integrity check is ErrUndecryptable.
func KeyUnwrapPad(kek, wrapped []byte) ([]byte, error) {
	b, err := aes.NewCipher(kek)
	if err != nil {
		return nil, ErrUndecryptable
	}
	p, ok := keywrap.UnwrapPad(b, keywrap.DefaultPadIV, wrapped)
	if !ok {
		return nil, ErrUndecryptable
	}
	return p, nil
}
