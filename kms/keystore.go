package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// keyStore is where the material of a KMS key lives and where its cryptography runs. A key's
// origin names its store: AWS_KMS keys are the default store's (softwareStore, material made and
// sealed by this process), AWS_CLOUDHSM keys a custom key store's (cloudHSMStore over package
// kms/customstore, material in an HSM cluster). The operations ask the key's store and never which one it is.
type keyStore interface {
	// newKey makes the first version of the material of k, a key being created in store id
	// ("" for the default store), and records it in k.
	newKey(ctx context.Context, c *caller, k *keyRec, id string) error
	// material is version v of k, ready for encryption, decryption and data keys, or the error
	// the operation answers when the store cannot run it now. Callers hold s.mu.
	material(k *keyRec, v matVersion) (keyMaterial, *awsapi.Error)
	// available reports whether k's material can be used now; a key whose material cannot is
	// Unavailable. Callers hold s.mu.
	available(k *keyRec) bool
	// destroy deletes the material of a key whose deletion came due, best effort.
	destroy(ctx context.Context, k *keyRec)
}

// keyMaterial is one version of a symmetric key's material as its store runs it: AES-256-GCM
// with a 12-byte nonce and a 16-byte tag (the ciphertext format's), and the store's random source.
// Its methods are exported so that customstore.Material is one.
type keyMaterial interface {
	// Seal encrypts plain; the store chooses the nonce.
	Seal(ctx context.Context, aad, plain []byte) (nonce, sealed []byte, err error)
	// Open decrypts sealed (ciphertext and tag).
	Open(ctx context.Context, nonce, aad, sealed []byte) ([]byte, error)
	// Random returns n random bytes (data keys come from the key's store).
	Random(ctx context.Context, n int) ([]byte, error)
}

// keyStoreOf is the store of k's material.
func (s *Server) keyStoreOf(k *keyRec) keyStore { return s.keyStores[k.Origin] }
