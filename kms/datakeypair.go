package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/grant"
	"github.com/hsmsim/hsmsim/kms/keyspec"
)

// Asymmetric operations beyond signing: GenerateDataKeyPair and its WithoutPlaintext twin (a key
// pair made here, its PKCS#8 private key encrypted under a symmetric key like a data key), and
// DeriveSharedSecret (ECDH with a KEY_AGREEMENT key's private key).

type dataKeyPairInput struct {
	KeyId             string
	EncryptionContext map[string]string
	KeyPairSpec       string
	GrantTokens       []string
	DryRun            bool
	Recipient         *struct{}
}

type dataKeyPairOutput struct {
	PrivateKeyCiphertextBlob []byte
	PrivateKeyPlaintext      []byte `json:",omitempty"`
	PublicKey                []byte
	KeyId                    string
	KeyPairSpec              string
	KeyMaterialId            string
}

// generateDataKeyPair follows GenerateDataKeyPair in the KMS API Reference: the key that
// encrypts the private key is a symmetric encryption key of the default store ("You cannot
// specify an asymmetric KMS key or a KMS key in a custom key store"); SM2 is a China Regions
// spec, answered elsewhere as CreateKey answers it.
func generateDataKeyPair(s *Server, ctx context.Context, c *caller, in *dataKeyPairInput) (*dataKeyPairOutput, error) {
	if err := checkNoRecipient(in.Recipient); err != nil {
		return nil, err
	}
	if err := grant.CheckTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if in.KeyPairSpec == "SM2" {
		return nil, awsapi.NewError(errUnsupported, "KeyPairSpec SM2 is not supported in this Region")
	}
	ck, err := encryptingKey(s, c, in.KeyId, "", false)
	if err != nil {
		return nil, err
	}
	if ck.k.Origin != originKMS {
		return nil, awsapi.NewError(errUnsupported, "%s is in a custom key store: GenerateDataKeyPair does not support KMS keys in a custom key store.", keyARN(ck.k))
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	priv, pub, err := keyspec.Generate(in.KeyPairSpec)
	if err != nil {
		return nil, err
	}
	blob, err := encrypt(ctx, ck, in.EncryptionContext, priv)
	if err != nil {
		return nil, err
	}
	return &dataKeyPairOutput{PrivateKeyCiphertextBlob: blob, PrivateKeyPlaintext: priv, PublicKey: pub, KeyId: keyARN(ck.k),
		KeyPairSpec: in.KeyPairSpec, KeyMaterialId: ck.v.ID}, nil
}

var generateDataKeyPairWithoutPlaintext = withoutPlaintext(generateDataKeyPair, func(o *dataKeyPairOutput) *[]byte { return &o.PrivateKeyPlaintext })

// withoutPlaintext is the WithoutPlaintext twin of a data key operation f: its answer with the
// plaintext key (which plain points at) wiped and left out.
func withoutPlaintext[In, Out any](f func(*Server, context.Context, *caller, *In) (*Out, error), plain func(*Out) *[]byte) func(*Server, context.Context, *caller, *In) (*Out, error) {
	return func(s *Server, ctx context.Context, c *caller, in *In) (*Out, error) {
		out, err := f(s, ctx, c, in)
		if err != nil {
			return nil, err
		}
		p := plain(out)
		clear(*p)
		*p = nil
		return out, nil
	}
}

type deriveInput struct {
	KeyId                 string
	KeyAgreementAlgorithm string
	PublicKey             []byte
	GrantTokens           []string
	DryRun                bool
	Recipient             *struct{}
}

type deriveOutput struct {
	KeyId                 string
	SharedSecret          []byte
	KeyAgreementAlgorithm string
	KeyOrigin             string
}

// deriveSharedSecret follows DeriveSharedSecret in the KMS API Reference: a KEY_AGREEMENT key
// (any other usage is InvalidKeyUsageException), ECDH, and the raw shared secret.
func deriveSharedSecret(s *Server, _ context.Context, c *caller, in *deriveInput) (*deriveOutput, error) {
	if err := checkNoRecipient(in.Recipient); err != nil {
		return nil, err
	}
	k, err := s.usableKey(c, in.KeyId, in.GrantTokens, usageAgree)
	if err != nil {
		return nil, err
	}
	if err := keyspec.CheckAlgorithm(k.Spec, usageAgree, in.KeyAgreementAlgorithm); err != nil {
		return nil, err
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	der, err := s.privateKey(k)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	secret, err := keyspec.Derive(der, in.PublicKey)
	if err != nil {
		return nil, err
	}
	return &deriveOutput{KeyId: keyARN(k), SharedSecret: secret, KeyAgreementAlgorithm: in.KeyAgreementAlgorithm, KeyOrigin: k.Origin}, nil
}
