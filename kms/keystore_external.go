package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// importedStore is the key store of keys with imported key material (Origin EXTERNAL). It is the
// default store's sealing and cryptography over material that comes from ImportKeyMaterial
// (imports.go) instead of from this process, and that may be absent: a key is created without
// any, and its material can be deleted or expire and be imported again.
type importedStore struct{ *softwareStore }

var _ keyStore = importedStore{}

// newKey makes no material: the key waits in PendingImport for its first import.
func (importedStore) newKey(context.Context, *caller, *keyRec, string) error { return nil }

// material refuses a version whose material is not imported now. The key state rules refuse such
// a key before this, so this only guards against a version read without them.
func (st importedStore) material(k *keyRec, v matVersion) (keyMaterial, *awsapi.Error) {
	if v.Sealed == nil {
		return nil, errPendingImport(k)
	}
	return st.softwareStore.material(k, v)
}

// forget drops the unsealed copy of a version whose material was deleted or replaced.
func (st *softwareStore) forget(keyID string, n uint32) { st.aeads.Delete(materialAAD(keyID, n)) }
