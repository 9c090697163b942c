package kms

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyspec"
)

// HMAC keys of the default store: GenerateMac and VerifyMac.

func macHash(alg string) (func() hash.Hash, bool) {
	switch alg {
	case "HMAC_SHA_224":
		return sha256.New224, true
	case "HMAC_SHA_256":
		return sha256.New, true
	case "HMAC_SHA_384":
		return sha512.New384, true
	case "HMAC_SHA_512":
		return sha512.New, true
	}
	return nil, false
}

type macInput struct {
	KeyId        string
	Message      []byte
	MacAlgorithm string
	Mac          []byte
	GrantTokens  []string
	DryRun       bool
}

type macOutput struct {
	Mac          []byte `json:",omitempty"`
	MacValid     bool   `json:",omitempty"`
	MacAlgorithm string
	KeyId        string
}

// computeMac resolves the key of a MAC request and computes the MAC of its message.
func computeMac(s *Server, c *caller, in *macInput) (*keyRec, []byte, error) {
	k, err := s.usableKey(c, in.KeyId, in.GrantTokens, usageMac)
	if err != nil {
		return nil, nil, err
	}
	h, ok := macHash(in.MacAlgorithm)
	if !ok || keyspec.Algorithms(k.Spec, usageMac)[0] != in.MacAlgorithm {
		return nil, nil, awsapi.NewError(errInvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", in.MacAlgorithm, k.Spec)
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, nil, err
	}
	key, err := s.software.Secret(k, k.Versions[len(k.Versions)-1])
	if err != nil {
		return nil, nil, err
	}
	m := hmac.New(h, key)
	clear(key)
	m.Write(in.Message)
	return k, m.Sum(nil), nil
}

func generateMac(s *Server, _ context.Context, c *caller, in *macInput) (*macOutput, error) {
	k, tag, err := computeMac(s, c, in)
	if err != nil {
		return nil, err
	}
	return &macOutput{Mac: tag, MacAlgorithm: in.MacAlgorithm, KeyId: keyARN(k)}, nil
}

func verifyMac(s *Server, _ context.Context, c *caller, in *macInput) (*macOutput, error) {
	k, tag, err := computeMac(s, c, in)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(tag, in.Mac) {
		return nil, awsapi.NewError(errInvalidMac, "")
	}
	return &macOutput{MacValid: true, MacAlgorithm: in.MacAlgorithm, KeyId: keyARN(k)}, nil
}
