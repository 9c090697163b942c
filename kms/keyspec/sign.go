package keyspec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"encoding/asn1"
	"errors"
	"math/big"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// signingHash is the hash of each signing algorithm: the digest it signs (for the Ed25519
// algorithms, the SHA-512 of Ed25519ph's prehash; ED25519_SHA_512 signs the message itself).
var signingHash = map[string]crypto.Hash{
	"RSASSA_PSS_SHA_256": crypto.SHA256, "RSASSA_PSS_SHA_384": crypto.SHA384, "RSASSA_PSS_SHA_512": crypto.SHA512,
	"RSASSA_PKCS1_V1_5_SHA_256": crypto.SHA256, "RSASSA_PKCS1_V1_5_SHA_384": crypto.SHA384, "RSASSA_PKCS1_V1_5_SHA_512": crypto.SHA512,
	"ECDSA_SHA_256": crypto.SHA256, "ECDSA_SHA_384": crypto.SHA384, "ECDSA_SHA_512": crypto.SHA512,
	"ED25519_SHA_512": crypto.SHA512, "ED25519_PH_SHA_512": crypto.SHA512,
}

// Prepare checks a Sign or Verify message against its MessageType and returns what the key signs.
// The rules are those of the MessageType member of Sign in the KMS API model:
//   - RAW: the algorithm hashes the message; DIGEST: the message is the digest, of the hash's
//     length; EXTERNAL_MU is ML-DSA's alone.
//   - ED25519_SHA_512 (pure Ed25519, RFC 8032) takes RAW only and signs the message itself.
//   - ED25519_PH_SHA_512 (Ed25519ph) takes DIGEST only, a 64-byte SHA-512 digest, and KMS still
//     performs Ed25519ph's own SHA-512 prehash on it (FIPS 186-5 §7.8.1 step 1): the input is
//     hashed twice, once by the caller and once by KMS.
func Prepare(alg, msgType string, msg []byte) ([]byte, *awsapi.Error) {
	h := signingHash[alg]
	raw := msgType == "" || msgType == "RAW"
	switch {
	case alg == "ED25519_SHA_512" && !raw:
		return nil, awsapi.NewError(awsapi.ValidationException, "The ED25519_SHA_512 signing algorithm requires MessageType RAW.")
	case alg == "ED25519_PH_SHA_512" && msgType != "DIGEST":
		return nil, awsapi.NewError(awsapi.ValidationException, "The ED25519_PH_SHA_512 signing algorithm requires MessageType DIGEST.")
	case alg == "ED25519_SHA_512":
		return msg, nil
	case raw:
		hh := h.New()
		hh.Write(msg)
		return hh.Sum(nil), nil
	case msgType == "DIGEST":
		if len(msg) != h.Size() {
			return nil, awsapi.NewError(awsapi.ValidationException, "Digest is invalid length for algorithm %s.", alg)
		}
		if alg == "ED25519_PH_SHA_512" {
			d := sha512.Sum512(msg)
			return d[:], nil
		}
		return msg, nil
	}
	return nil, awsapi.NewError(awsapi.ValidationException, "MessageType %s is not valid with algorithm %s.", msgType, alg)
}

func isPSS(alg string) bool { return strings.HasPrefix(alg, "RSASSA_PSS") }

// Sign signs what Prepare returned with a PKCS#8 private key. RSA-PSS uses a salt as long as the
// digest, and ECDSA signatures are DER-encoded (r, s), as KMS's are.
func Sign(pkcs8 []byte, alg string, prepared []byte) ([]byte, error) {
	priv, err := ParsePrivate(pkcs8)
	if err != nil {
		return nil, err
	}
	h := signingHash[alg]
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if isPSS(alg) {
			return rsa.SignPSS(rand.Reader, p, h, prepared, &rsa.PSSOptions{SaltLength: h.Size()})
		}
		return rsa.SignPKCS1v15(nil, p, h, prepared)
	case *ecdsa.PrivateKey:
		return ecdsa.SignASN1(rand.Reader, p, prepared)
	case *secp256k1.PrivateKey:
		return k1ecdsa.Sign(p, prepared).Serialize(), nil
	case ed25519.PrivateKey:
		if alg == "ED25519_PH_SHA_512" {
			return p.Sign(nil, prepared, &ed25519.Options{Hash: crypto.SHA512})
		}
		return ed25519.Sign(p, prepared), nil
	}
	return nil, errors.New("keyspec: not a signing key")
}

// Verify checks a signature over what Prepare returned with a SubjectPublicKeyInfo.
func Verify(spki []byte, alg string, prepared, sig []byte) (bool, error) {
	pub, err := ParsePublic(spki)
	if err != nil {
		return false, err
	}
	h := signingHash[alg]
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if isPSS(alg) {
			return rsa.VerifyPSS(p, h, prepared, sig, &rsa.PSSOptions{SaltLength: h.Size()}) == nil, nil
		}
		return rsa.VerifyPKCS1v15(p, h, prepared, sig) == nil, nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(p, prepared, sig), nil
	case *secp256k1.PublicKey:
		return verifyK1(p, prepared, sig), nil
	case ed25519.PublicKey:
		opts := &ed25519.Options{}
		if alg == "ED25519_PH_SHA_512" {
			opts.Hash = crypto.SHA512
		}
		return ed25519.VerifyWithOptions(p, prepared, sig, opts) == nil, nil
	}
	return false, errors.New("keyspec: not a verification key")
}

// verifyK1 checks a DER ECDSA signature on secp256k1. It reads (r, s) itself rather than with
// decred's strict DER parser, so that a valid signature with a high s (another signer's) passes.
func verifyK1(p *secp256k1.PublicKey, digest, sig []byte) bool {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 || rs.R.Sign() <= 0 || rs.S.Sign() <= 0 {
		return false
	}
	var r, s secp256k1.ModNScalar
	if len(rs.R.Bytes()) > 32 || len(rs.S.Bytes()) > 32 || r.SetByteSlice(rs.R.Bytes()) || s.SetByteSlice(rs.S.Bytes()) {
		return false
	}
	return k1ecdsa.NewSignature(&r, &s).Verify(digest, p)
}
