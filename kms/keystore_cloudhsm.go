package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/customstore"
	"github.com/hsmsim/hsmsim/kms/record"
)

// cloudHSMStore is the key store behind every custom key store of type AWS_CLOUDHSM. Package
// customstore keeps the stores, their connections and the key objects in their clusters; this
// adapts it to the KMS's key records: a version's material is its key object's handle.
type cloudHSMStore struct{ *customstore.Store }

var _ keyStore = cloudHSMStore{}

// ClusterDirectory is how the KMS finds the cluster behind a custom key store and reaches it
// (customstore.Directory).
type ClusterDirectory = customstore.Directory

// KMSUserKeyTemplate is the template of the key objects the KMS makes as kmsuser in a custom key
// store's cluster (customstore.KMSUserKeyTemplate). Each call returns a new slice.
func KMSUserKeyTemplate() []attr.Attribute { return customstore.KMSUserKeyTemplate() }

// newKey makes the key material of k in the cluster of store id, labelled with the key ARN.
func (h cloudHSMStore) newKey(ctx context.Context, c *caller, k *keyRec, id string) error {
	clusterID, handle, err := h.NewKey(ctx, c.Account, c.Region, id, k.ID, keyARN(k))
	if err != nil {
		// A cluster that does not answer: CreateKey's model list has no KMSInvalidStateException
		// (what the cryptographic operations answer then, KMSDG:fix-keystore) but the retryable
		// DependencyTimeoutException, 503.
		if e := toAWS(err); e.Type == errInvalidState {
			return awsapi.NewError(errDependencyTimeout, "%s", e.Message)
		}
		return err
	}
	k.StoreID, k.ClusterID = id, clusterID
	k.Versions = []matVersion{{N: 1, ID: randomHex(32), Created: k.Created, Handle: handle}}
	return nil
}

// material is version v of k in its cluster, over the store's connection.
func (h cloudHSMStore) material(k *keyRec, v matVersion) (keyMaterial, *awsapi.Error) {
	m, ok := h.Material(k.StoreID, v.Handle)
	if !ok {
		return nil, errCannotReachCluster()
	}
	return m, nil
}

// available: a custom key store's keys are usable only while it is connected.
func (h cloudHSMStore) available(k *keyRec) bool { return h.Connected(k.StoreID) }

// destroy deletes a deleted key's material from its cluster, best effort.
func (h cloudHSMStore) destroy(ctx context.Context, k *keyRec) {
	handles := make([]uint32, len(k.Versions))
	for i, v := range k.Versions {
		handles[i] = v.Handle
	}
	h.Destroy(ctx, k.StoreID, keyARN(k), handles)
}

// storeHost is what customstore needs of the Server: its persistence and its keys.
type storeHost struct{ s *Server }

func (h storeHost) Put(r *customstore.Record) error { return h.s.db.Put(record.BucketStores, r.ID, r) }
func (h storeHost) Delete(id string) error          { return h.s.db.Del(record.BucketStores, id) }
func (h storeHost) Seal(plain []byte, aad string) []byte {
	return h.s.db.Seal(plain, aad)
}
func (h storeHost) Unseal(sealed []byte, aad string) ([]byte, error) {
	return h.s.db.Unseal(sealed, aad)
}

// HasKeys reports whether a key lives in store id (callers hold s.mu).
func (h storeHost) HasKeys(id string) bool {
	for _, k := range h.s.keys {
		if k.StoreID == id {
			return true
		}
	}
	return false
}
