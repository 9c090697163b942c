package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/softstore"
)

// softwareStore is the default key store (package kms/softstore): the material of AWS_KMS keys
// is made by this process and kept sealed under the master key in each key's record. Symmetric
// material encrypts in this process; asymmetric and HMAC material signs and MACs here too
// (sign.go, mac.go), and only this store rotates (rotation.go).
type softwareStore struct{ *softstore.Store }

var _ keyStore = softwareStore{}

func (st softwareStore) newKey(_ context.Context, _ *caller, k *keyRec, _ string) error {
	v, pub, err := st.NewMaterial(k, 1, "")
	if err != nil {
		return err
	}
	k.Versions, k.PublicKey = []matVersion{v}, pub
	return nil
}

func (st softwareStore) material(k *keyRec, v matVersion) (keyMaterial, *awsapi.Error) {
	return st.Material(k, v), nil
}

// available: the default store's material is always at hand.
func (st softwareStore) available(*keyRec) bool { return true }

// destroy has nothing to do: the material goes with the key's record.
func (st softwareStore) destroy(context.Context, *keyRec) {}
