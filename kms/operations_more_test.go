package kms

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// keyMaterialCases are the walk's cases of the operations issue 12 added: data key pairs, key
// agreement, imported key material and multi-Region keys. Each first case is a valid request.
func keyMaterialCases() map[string][]opCase {
	s := aws.String
	p256 := types.DataKeyPairSpecEccNistP256
	return map[string][]opCase{
		"GenerateDataKeyPair": {
			{"P-256 pair", "", func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: s(f.sym), KeyPairSpec: p256}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: s(f.disabled), KeyPairSpec: p256}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: s(noKey), KeyPairSpec: p256}))
			}},
			{"signing key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: s(f.sign), KeyPairSpec: p256}))
			}},
		},
		"GenerateDataKeyPairWithoutPlaintext": {
			{"P-256 pair", "", func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyPairWithoutPlaintext(ctx(), &awskms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: s(f.sym), KeyPairSpec: p256}))
			}},
			{"pending key", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyPairWithoutPlaintext(ctx(), &awskms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: s(f.pending), KeyPairSpec: p256}))
			}},
		},
		"DeriveSharedSecret": {
			{"ECDH with a P-256 peer", "", func(f *opFixture) error {
				out, err := f.c.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
				if err != nil {
					return err
				}
				return tryOp(f.c.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: out.KeyMetadata.KeyId,
					KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerP256()}))
			}},
			{"signing key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: s(f.sign),
					KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerP256()}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: s(noKey),
					KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerP256()}))
			}},
		},
		"GetParametersForImport": {
			{"EXTERNAL key", "", func(f *opFixture) error {
				_, err := importParams(f)
				return err
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: s(noKey),
					WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048}))
			}},
		},
		"ImportKeyMaterial": {
			{"OAEP-wrapped material", "", func(f *opFixture) error {
				_, err := importedKey(f)
				return err
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: s(noKey), ImportToken: []byte{1}, EncryptedKeyMaterial: []byte{1},
					ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}))
			}},
		},
		"DeleteImportedKeyMaterial": {
			{"imported key", "", func(f *opFixture) error {
				id, err := importedKey(f)
				if err != nil {
					return err
				}
				return tryOp(f.c.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: s(id)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: s(noKey)}))
			}},
		},
		"ReplicateKey": {
			{"into us-west-2", "", func(f *opFixture) error {
				_, err := replicaOf(f)
				return err
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: s(noKey), ReplicaRegion: s("us-west-2")}))
			}},
		},
		"UpdatePrimaryRegion": {
			{"to the replica's region", "", func(f *opFixture) error {
				id, err := replicaOf(f)
				if err != nil {
					return err
				}
				f.e.clock.Advance(3 * time.Second) // past the replica's Creating
				return tryOp(f.c.UpdatePrimaryRegion(ctx(), &awskms.UpdatePrimaryRegionInput{KeyId: s(id), PrimaryRegion: s("us-west-2")}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.UpdatePrimaryRegion(ctx(), &awskms.UpdatePrimaryRegionInput{KeyId: s(noKey), PrimaryRegion: s("us-west-2")}))
			}},
		},
	}
}

// peerP256 is a fresh P-256 public key as DER SubjectPublicKeyInfo.
func peerP256() []byte {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.PublicKey())
	if err != nil {
		panic(err)
	}
	return der
}

// importParams creates an EXTERNAL key and fetches its import parameters (RSA-2048, OAEP SHA-256).
func importParams(f *opFixture) (*awskms.GetParametersForImportOutput, error) {
	k, err := f.c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if err != nil {
		return nil, err
	}
	return f.c.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: k.KeyMetadata.KeyId,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
}

// importedKey creates an EXTERNAL key and imports 32 random bytes into it.
func importedKey(f *opFixture) (string, error) {
	p, err := importParams(f)
	if err != nil {
		return "", err
	}
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil {
		return "", err
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		return "", err
	}
	_, err = f.c.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: p.KeyId, ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	return aws.ToString(p.KeyId), err
}

// replicaOf creates a multi-Region key and replicates it into us-west-2.
func replicaOf(f *opFixture) (string, error) {
	k, err := f.c.CreateKey(ctx(), &awskms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	if err != nil {
		return "", err
	}
	_, err = f.c.ReplicateKey(ctx(), &awskms.ReplicateKeyInput{KeyId: k.KeyMetadata.KeyId, ReplicaRegion: aws.String("us-west-2")})
	return aws.ToString(k.KeyMetadata.KeyId), err
}
