package kms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"slices"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Asymmetric keys of the default store: Sign, Verify and GetPublicKey. The private key is the
// sealed PKCS#8 material of the key's (only) version; the public key is kept in the clear.

type signInput struct {
	KeyId            string
	Message          []byte
	MessageType      string
	Signature        []byte // Verify only
	SigningAlgorithm string
	GrantTokens      []string
	DryRun           bool
}

type signOutput struct {
	KeyId            string
	Signature        []byte `json:",omitempty"`
	SignatureValid   bool   `json:",omitempty"`
	SigningAlgorithm string
}

// signingHash is the hash of each signing algorithm KMS offers for RSA and NIST-curve keys.
var signingHash = map[string]crypto.Hash{
	"RSASSA_PSS_SHA_256": crypto.SHA256, "RSASSA_PSS_SHA_384": crypto.SHA384, "RSASSA_PSS_SHA_512": crypto.SHA512,
	"RSASSA_PKCS1_V1_5_SHA_256": crypto.SHA256, "RSASSA_PKCS1_V1_5_SHA_384": crypto.SHA384, "RSASSA_PKCS1_V1_5_SHA_512": crypto.SHA512,
	"ECDSA_SHA_256": crypto.SHA256, "ECDSA_SHA_384": crypto.SHA384, "ECDSA_SHA_512": crypto.SHA512,
}

// signKey resolves a key for Sign or Verify and computes the digest the algorithm signs.
func signKey(s *Server, c *caller, in *signInput) (*keyRec, []byte, crypto.Hash, error) {
	k, err := s.usableKey(c, in.KeyId, in.GrantTokens, usageSign)
	if err != nil {
		return nil, nil, 0, err
	}
	h, ok := signingHash[in.SigningAlgorithm]
	if !ok || !slices.Contains(specAlgorithms[k.Spec].sign, in.SigningAlgorithm) {
		return nil, nil, 0, awsapi.NewError(errInvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", in.SigningAlgorithm, k.Spec)
	}
	var digest []byte
	switch in.MessageType {
	case "", "RAW":
		hh := h.New()
		hh.Write(in.Message)
		digest = hh.Sum(nil)
	case "DIGEST":
		if len(in.Message) != h.Size() {
			return nil, nil, 0, awsapi.NewError(awsapi.ValidationException, "Digest is invalid length for algorithm %s.", in.SigningAlgorithm)
		}
		digest = in.Message
	default:
		return nil, nil, 0, awsapi.NewError(awsapi.ValidationException, "MessageType %s is not valid with algorithm %s.", in.MessageType, in.SigningAlgorithm)
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, nil, 0, err
	}
	return k, digest, h, nil
}

func isPSS(alg string) bool { return strings.HasPrefix(alg, "RSASSA_PSS") }

func signOp(s *Server, _ context.Context, c *caller, in *signInput) (*signOutput, error) {
	k, digest, h, err := signKey(s, c, in)
	if err != nil {
		return nil, err
	}
	der, err := s.software.secret(k, k.Versions[len(k.Versions)-1])
	if err != nil {
		return nil, err
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	clear(der)
	if err != nil {
		return nil, err
	}
	var sig []byte
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		if isPSS(in.SigningAlgorithm) {
			// KMS uses a salt as long as the digest.
			sig, err = rsa.SignPSS(rand.Reader, p, h, digest, &rsa.PSSOptions{SaltLength: h.Size()})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, p, h, digest)
		}
	case *ecdsa.PrivateKey:
		sig, err = ecdsa.SignASN1(rand.Reader, p, digest) // KMS returns DER-encoded ECDSA signatures
	}
	if err != nil {
		return nil, err
	}
	return &signOutput{KeyId: keyARN(k), Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

func verifyOp(s *Server, _ context.Context, c *caller, in *signInput) (*signOutput, error) {
	k, digest, h, err := signKey(s, c, in)
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(k.PublicKey)
	if err != nil {
		return nil, err
	}
	valid := false
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if isPSS(in.SigningAlgorithm) {
			valid = rsa.VerifyPSS(p, h, digest, in.Signature, &rsa.PSSOptions{SaltLength: h.Size()}) == nil
		} else {
			valid = rsa.VerifyPKCS1v15(p, h, digest, in.Signature) == nil
		}
	case *ecdsa.PublicKey:
		valid = ecdsa.VerifyASN1(p, digest, in.Signature)
	}
	if !valid {
		// KMS answers an invalid signature with an exception, not SignatureValid false.
		return nil, awsapi.NewError(errInvalidSignature, "")
	}
	return &signOutput{KeyId: keyARN(k), SignatureValid: true, SigningAlgorithm: in.SigningAlgorithm}, nil
}

type publicKeyInput struct {
	KeyId       string
	GrantTokens []string
}

type publicKeyOutput struct {
	KeyId                 string
	PublicKey             []byte
	KeySpec               string
	CustomerMasterKeySpec string
	KeyUsage              string
	SigningAlgorithms     []string `json:",omitempty"`
}

func getPublicKey(s *Server, _ context.Context, c *caller, in *publicKeyInput) (*publicKeyOutput, error) {
	k, err := s.usableKey(c, in.KeyId, in.GrantTokens, "")
	if err != nil {
		return nil, err
	}
	if len(k.PublicKey) == 0 {
		return nil, awsapi.NewError(errUnsupported, "%s is not an asymmetric KMS key.", keyARN(k))
	}
	return &publicKeyOutput{KeyId: keyARN(k), PublicKey: k.PublicKey, KeySpec: k.Spec, CustomerMasterKeySpec: k.Spec,
		KeyUsage: k.Usage, SigningAlgorithms: specAlgorithms[k.Spec].sign}, nil
}
