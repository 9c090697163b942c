package kms

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

// cloudHSMStore is the key store behind every custom key store of type AWS_CLOUDHSM: each key is
// a non-extractable AES-256 object in the store's cluster, owned by kmsuser, and every
// cryptographic operation on it runs in the HSM over the store's connection (connect.go).
type cloudHSMStore struct {
	srv   *Server          // the store records, the lock that guards them and conns, persistence
	dir   ClusterDirectory // finds and dials the clusters
	conns map[string]*storeConn
}

var _ keyStore = (*cloudHSMStore)(nil)

// hsmSession is what the KMS does with a connected cluster (a *client.Client logged in as
// kmsuser).
type hsmSession interface {
	Encrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, ckm.Mechanism, error)
	Decrypt(ctx context.Context, m ckm.Mechanism, key uint32, data []byte) ([]byte, error)
	GenerateRandom(ctx context.Context, n uint32) ([]byte, error)
}

// lookupCluster answers CloudHsmClusterNotFoundException for a missing cluster.
func (h *cloudHSMStore) lookupCluster(ctx context.Context, c *caller, id string) (*cloudhsm.Cluster, error) {
	cl, err := h.dir.Cluster(ctx, c.Account, c.Region, id)
	if errors.Is(err, cloudhsm.ErrClusterNotFound) {
		return nil, awsapi.NewError(errClusterNotFound, "AWS CloudHSM cluster %s not found.", id)
	}
	return cl, err
}

// loggedIn is the logged-in client of a connected store, or nil (callers hold s.mu).
func (h *cloudHSMStore) loggedIn(id string) *client.Client {
	c := h.conns[id]
	if c == nil || c.state != connConnected {
		return nil
	}
	return c.cl
}

// connectedStore finds a store of the caller and the client its connection logged in; a store
// that is not connected is CustomKeyStoreInvalidStateException.
func (h *cloudHSMStore) connectedStore(c *caller, id string) (*storeRec, *client.Client, error) {
	h.srv.mu.RLock()
	defer h.srv.mu.RUnlock()
	st, err := h.srv.storeFor(c, id)
	if err != nil {
		return nil, nil, err
	}
	cl := h.loggedIn(id)
	if cl == nil {
		state, _ := h.connState(id)
		return nil, nil, awsapi.NewError(errStoreInvalidState, "The custom key store %s is not connected (connection state %s).", id, state)
	}
	return st, cl, nil
}

// KMSUserKeyTemplate is the template of the key objects the KMS makes as kmsuser in a custom key
// store's cluster: a token AES-256 key, sensitive and never extractable, that encrypts and
// decrypts (newKey adds the label and id of the KMS key). Scenario workloads make their own keys
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

// newKey makes the key material of k in the cluster of store id: a KMSUserKeyTemplate key,
// labelled with the key ARN, its CKA_ID the key id's bytes.
func (h *cloudHSMStore) newKey(ctx context.Context, c *caller, k *keyRec, id string) error {
	st, sess, err := h.connectedStore(c, id)
	if err != nil {
		return err
	}
	cl, err := h.lookupCluster(ctx, c, st.ClusterID)
	if err != nil {
		return err
	}
	if err := checkClusterAZs(cl); err != nil {
		return err
	}
	k.StoreID, k.ClusterID = st.ID, st.ClusterID
	idBytes, _ := hex.DecodeString(strings.ReplaceAll(k.ID, "-", ""))
	tmpl := append(KMSUserKeyTemplate(),
		attr.Attribute{Type: p11.CKA_LABEL, Value: []byte(keyARN(k))},
		attr.Attribute{Type: p11.CKA_ID, Value: idBytes})
	handle, err := sess.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, tmpl)
	if err != nil {
		return err
	}
	k.Versions = []matVersion{{N: 1, ID: randomHex(32), Created: k.Created, Handle: handle}}
	return nil
}

// material is version v of k in its cluster, over the store's connection.
func (h *cloudHSMStore) material(k *keyRec, v matVersion) (keyMaterial, *awsapi.Error) {
	sess := h.loggedIn(k.StoreID)
	if sess == nil {
		return nil, errCannotReachCluster()
	}
	return hsmMaterial{sess: sess, handle: v.Handle}, nil
}

// available: a custom key store's keys are usable only while it is connected.
func (h *cloudHSMStore) available(k *keyRec) bool { return h.loggedIn(k.StoreID) != nil }

// destroy deletes a deleted key's material from its cluster, best effort: a disconnected store
// leaves it there (KMSDG:fix-keystore, orphaned key material).
func (h *cloudHSMStore) destroy(ctx context.Context, k *keyRec) {
	h.srv.mu.RLock()
	sess := h.loggedIn(k.StoreID)
	h.srv.mu.RUnlock()
	if sess == nil {
		h.srv.log.Warn("key material left in the cluster: store not connected", "key", keyARN(k), "store", k.StoreID)
		return
	}
	for _, v := range k.Versions {
		if err := sess.DestroyObject(ctx, v.Handle); err != nil {
			h.srv.log.Warn("destroying key material in the cluster", "key", keyARN(k), "handle", v.Handle, "err", err)
		}
	}
}

// hsmMaterial is a key version in a cluster: AES-256-GCM runs in the HSM, which chooses the IV.
type hsmMaterial struct {
	sess   hsmSession
	handle uint32
}

func (m hsmMaterial) seal(ctx context.Context, aad, plain []byte) (nonce, sealed []byte, err error) {
	out, used, err := m.sess.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{AAD: aad, TagBits: 128}}, m.handle, plain)
	if err != nil {
		return nil, nil, err
	}
	p, _ := used.Param.(*ckm.GCMParams)
	if p == nil || len(p.IV) != blobNonceLen || len(out) != len(plain)+blobTagLen {
		return nil, nil, fmt.Errorf("the HSM answered an AES-GCM result of an unexpected form")
	}
	return p.IV, out, nil
}

func (m hsmMaterial) open(ctx context.Context, nonce, aad, sealed []byte) ([]byte, error) {
	iv := append([]byte(nil), nonce...)
	return m.sess.Decrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: iv, AAD: aad, TagBits: 128}}, m.handle, sealed)
}

// random is n bytes from the HSM's generator.
func (m hsmMaterial) random(ctx context.Context, n int) ([]byte, error) {
	r, err := m.sess.GenerateRandom(ctx, uint32(n))
	if err != nil {
		return nil, err
	}
	plain := make([]byte, n)
	copy(plain, r)
	return plain, nil
}
