package customstore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// The HSM side of a custom key store's keys: each version of a KMS key is one key object in the
// store's cluster, named by its handle, made, used and destroyed over the store's kmsuser login.

// The AES-GCM form of the KMS ciphertext format (kms/CIPHERTEXT.md): a 12-byte IV, a 16-byte tag.
const (
	gcmIVLen  = 12
	gcmTagLen = 16
)

// hsmSession is what the KMS does with a connected cluster (a *client.Client logged in as
// kmsuser).
type hsmSession interface {
	Encrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, ckm.Mechanism, error)
	Decrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, error)
	GenerateRandom(ctx context.Context, n uint32) ([]byte, error)
}

// lookupCluster answers CloudHsmClusterNotFoundException for a missing cluster.
func (h *Store) lookupCluster(ctx context.Context, account, region, id string) (*cloudhsm.Cluster, error) {
	cl, err := h.dir.Cluster(ctx, account, region, id)
	if errors.Is(err, cloudhsm.ErrClusterNotFound) {
		return nil, awsapi.NewError(errClusterNotFound, "AWS CloudHSM cluster %s not found.", id)
	}
	return cl, err
}

// Client is the logged-in client of a connected store, or nil (callers hold the host's lock).
func (h *Store) Client(id string) *client.Client {
	c := h.conns[id]
	if c == nil || c.state != connConnected {
		return nil
	}
	return c.cl
}

// Connected reports whether store id is connected, so its keys' material can be used now
// (callers hold the host's lock).
func (h *Store) Connected(id string) bool { return h.Client(id) != nil }

// connectedStore finds a store of the account and region and the client its connection logged
// in; a store that is not connected is CustomKeyStoreInvalidStateException.
func (h *Store) connectedStore(account, region, id string) (*Record, *client.Client, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	st, err := h.storeFor(account, region, id)
	if err != nil {
		return nil, nil, err
	}
	cl := h.Client(id)
	if cl == nil {
		state, _ := h.connState(id)
		return nil, nil, awsapi.NewError(errStoreInvalidState, "The custom key store %s is not connected (connection state %s).", id, state)
	}
	return st, cl, nil
}

// GenerateRandom is n random bytes from the cluster of store id (GenerateRandom with a
// CustomKeyStoreId).
func (h *Store) GenerateRandom(ctx context.Context, account, region, id string, n int) ([]byte, error) {
	_, sess, err := h.connectedStore(account, region, id)
	if err != nil {
		return nil, err
	}
	return sess.GenerateRandom(ctx, uint32(n))
}

// KMSUserKeyTemplate is the template of the key objects the KMS makes as kmsuser in a custom key
// store's cluster: a token AES-256 key, sensitive and never extractable, that encrypts and
// decrypts (NewKey adds the label and id of the KMS key). Scenario workloads make their own keys
// with it, so that they are keys of the same kind. Each call returns a new slice.
func KMSUserKeyTemplate() []attr.Attribute {
	return []attr.Attribute{
		{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)},
		{Type: p11.CKA_KEY_TYPE, Value: attr.Ulong(p11.CKK_AES)},
		{Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)},
		{Type: p11.CKA_TOKEN, Value: attr.Bool(true)},
		{Type: p11.CKA_SENSITIVE, Value: attr.Bool(true)},
		{Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(false)},
		{Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)},
		{Type: p11.CKA_DECRYPT, Value: attr.Bool(true)},
	}
}

// NewKey makes the first material of KMS key keyID (its ARN label) in the cluster of store id of
// the account and region: a KMSUserKeyTemplate key, labelled with the key ARN, its CKA_ID the
// key id's bytes. It returns the cluster and the key object's handle.
func (h *Store) NewKey(ctx context.Context, account, region, id, keyID, label string) (clusterID string, handle uint32, err error) {
	st, sess, err := h.connectedStore(account, region, id)
	if err != nil {
		return "", 0, err
	}
	cl, err := h.lookupCluster(ctx, account, region, st.ClusterID)
	if err != nil {
		return "", 0, err
	}
	if err := checkClusterAZs(cl); err != nil {
		return "", 0, err
	}
	idBytes, _ := hex.DecodeString(strings.ReplaceAll(keyID, "-", ""))
	tmpl := append(KMSUserKeyTemplate(),
		attr.Attribute{Type: p11.CKA_LABEL, Value: []byte(label)},
		attr.Attribute{Type: p11.CKA_ID, Value: idBytes})
	handle, err = sess.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, tmpl)
	if err != nil {
		return "", 0, err
	}
	return st.ClusterID, handle, nil
}

// Material is key object handle of store id over the store's connection; false when the store
// is not connected (callers hold the host's lock).
func (h *Store) Material(id string, handle uint32) (Material, bool) {
	sess := h.Client(id)
	if sess == nil {
		return Material{}, false
	}
	return Material{sess: sess, handle: handle}, true
}

// Destroy deletes a deleted key's material (the objects handles, the key labelled label) from the
// cluster of store id, best effort: a disconnected store leaves it there (KMSDG:fix-keystore,
// orphaned key material).
func (h *Store) Destroy(ctx context.Context, id, label string, handles []uint32) {
	h.mu.RLock()
	sess := h.Client(id)
	h.mu.RUnlock()
	if sess == nil {
		h.log.Warn("key material left in the cluster: store not connected", "key", label, "store", id)
		return
	}
	for _, hd := range handles {
		if err := sess.DestroyObject(ctx, hd); err != nil {
			h.log.Warn("destroying key material in the cluster", "key", label, "handle", hd, "err", err)
		}
	}
}

// Material is a key version in a cluster: AES-256-GCM runs in the HSM, which chooses the IV.
type Material struct {
	sess   hsmSession
	handle uint32
}

// Seal encrypts plain with AES-256-GCM under aad; the HSM chooses the IV (nonce).
func (m Material) Seal(ctx context.Context, aad, plain []byte) (nonce, sealed []byte, err error) {
	out, used, err := m.sess.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{AAD: aad, TagBits: 128}}, m.handle, plain)
	if err != nil {
		return nil, nil, err
	}
	p, _ := used.Param.(*ckm.GCMParams)
	if p == nil || len(p.IV) != gcmIVLen || len(out) != len(plain)+gcmTagLen {
		return nil, nil, fmt.Errorf("the HSM answered an AES-GCM result of an unexpected form")
	}
	return p.IV, out, nil
}

// Open decrypts sealed (ciphertext and tag).
func (m Material) Open(ctx context.Context, nonce, aad, sealed []byte) ([]byte, error) {
	iv := append([]byte(nil), nonce...)
	return m.sess.Decrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: iv, AAD: aad, TagBits: 128}}, m.handle, sealed)
}

// Random is n bytes from the HSM's generator.
func (m Material) Random(ctx context.Context, n int) ([]byte, error) {
	r, err := m.sess.GenerateRandom(ctx, uint32(n))
	if err != nil {
		return nil, err
	}
	plain := make([]byte, n)
	copy(plain, r)
	return plain, nil
}
