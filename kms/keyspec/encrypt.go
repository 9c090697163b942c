package keyspec

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// RSA encryption: RSAES-OAEP (RFC 8017 §7.1) with MGF1 over the same hash and an empty label.
// KMS's ciphertext for an RSA key is the raw OAEP ciphertext, so that one made offline with the
// public key decrypts in KMS and the other way round.

var oaepHash = map[string]crypto.Hash{"RSAES_OAEP_SHA_1": crypto.SHA1, "RSAES_OAEP_SHA_256": crypto.SHA256}

// MaxPlaintext is the most bytes an RSA key of modulus size bytes encrypts with alg: the OAEP
// bound k - 2·hLen - 2, which gives the table of the Encrypt operation in the KMS API Reference
// (RSA_2048: 214 bytes with RSAES_OAEP_SHA_1, 190 with RSAES_OAEP_SHA_256; RSA_3072: 342 and
// 318; RSA_4096: 470 and 446), also in "RSA key specs for encryption and decryption":
// https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html
// https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html
func MaxPlaintext(size int, alg string) int { return size - 2*oaepHash[alg].Size() - 2 }

// Encrypt encrypts plain under a SubjectPublicKeyInfo RSA key, refusing a plaintext longer than
// the key and algorithm allow with ValidationException (the exception KMS answers for it).
func Encrypt(spki []byte, spec, alg string, plain []byte) ([]byte, error) {
	p, err := parseAs[*rsa.PublicKey](spki, ParsePublic)
	if err != nil {
		return nil, err
	}
	if n := MaxPlaintext(p.Size(), alg); len(plain) > n {
		return nil, awsapi.NewError(awsapi.ValidationException, "Algorithm %s and key spec %s cannot encrypt data larger than %d bytes.", alg, spec, n)
	}
	return rsa.EncryptOAEP(oaepHash[alg].New(), rand.Reader, p, plain, nil)
}

// Decrypt decrypts an OAEP ciphertext with a PKCS#8 RSA key. A ciphertext that does not decrypt
// (of another key, another algorithm, or altered) is InvalidCiphertextException.
func Decrypt(pkcs8 []byte, alg string, ct []byte) ([]byte, error) {
	p, err := parseAs[*rsa.PrivateKey](pkcs8, ParsePrivate)
	if err != nil {
		return nil, err
	}
	plain, err := rsa.DecryptOAEP(oaepHash[alg].New(), nil, p, ct, nil)
	if err != nil {
		return nil, awsapi.NewError(errInvalidCiphertext, "")
	}
	return plain, nil
}
