package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyspec"
)

// Asymmetric keys of the default store: Sign, Verify and GetPublicKey. The private key is the
// sealed PKCS#8 material of the key's (only) version; the public key is kept in the clear. What
// each spec signs with, and how, is package keyspec's.

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

// signKey resolves a key for Sign or Verify and prepares what the algorithm signs.
func signKey(s *Server, c *caller, in *signInput) (*keyRec, []byte, error) {
	k, err := s.usableKey(c, in.KeyId, in.GrantTokens, usageSign)
	if err != nil {
		return nil, nil, err
	}
	if err := keyspec.CheckAlgorithm(k.Spec, usageSign, in.SigningAlgorithm); err != nil {
		return nil, nil, err
	}
	prepared, perr := keyspec.Prepare(in.SigningAlgorithm, in.MessageType, in.Message)
	if perr != nil {
		return nil, nil, perr
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, nil, err
	}
	return k, prepared, nil
}

// privateKey unseals the PKCS#8 private key of an asymmetric default-store key; callers clear it.
func (s *Server) privateKey(k *keyRec) ([]byte, error) {
	return s.software.Secret(k, k.Versions[len(k.Versions)-1])
}

func signOp(s *Server, _ context.Context, c *caller, in *signInput) (*signOutput, error) {
	k, prepared, err := signKey(s, c, in)
	if err != nil {
		return nil, err
	}
	der, err := s.privateKey(k)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	sig, err := keyspec.Sign(der, in.SigningAlgorithm, prepared)
	if err != nil {
		return nil, err
	}
	return &signOutput{KeyId: keyARN(k), Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

func verifyOp(s *Server, _ context.Context, c *caller, in *signInput) (*signOutput, error) {
	k, prepared, err := signKey(s, c, in)
	if err != nil {
		return nil, err
	}
	valid, err := keyspec.Verify(k.PublicKey, in.SigningAlgorithm, prepared, in.Signature)
	if err != nil {
		return nil, err
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
	KeyId                  string
	PublicKey              []byte
	KeySpec                string
	CustomerMasterKeySpec  string
	KeyUsage               string
	EncryptionAlgorithms   []string `json:",omitempty"`
	SigningAlgorithms      []string `json:",omitempty"`
	KeyAgreementAlgorithms []string `json:",omitempty"`
}

func getPublicKey(s *Server, _ context.Context, c *caller, in *publicKeyInput) (*publicKeyOutput, error) {
	k, err := s.usableKey(c, in.KeyId, in.GrantTokens, "")
	if err != nil {
		return nil, err
	}
	if len(k.PublicKey) == 0 {
		return nil, awsapi.NewError(errUnsupported, "%s is not an asymmetric KMS key.", keyARN(k))
	}
	out := &publicKeyOutput{KeyId: keyARN(k), PublicKey: k.PublicKey, KeySpec: k.Spec, CustomerMasterKeySpec: k.Spec, KeyUsage: k.Usage}
	out.EncryptionAlgorithms, out.SigningAlgorithms, _, out.KeyAgreementAlgorithms = k.Algorithms()
	return out, nil
}
