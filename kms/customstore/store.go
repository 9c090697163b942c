// Package customstore is the KMS's custom key stores of type AWS_CLOUDHSM (aws-semantics.md §1):
// their records, the connection of each to its CloudHSM cluster (the CONNECTING / CONNECTED /
// FAILED state machine, the kmsuser login and password rotation, connect.go) and the HSM side of
// their keys' material: the key objects the KMS makes, uses and destroys as kmsuser in the
// cluster (material.go).
//
// Package kms keeps what is the KMS's: its key records, its keyStore interface (a small adapter
// there turns a key record into the store id, handles and label this package works with), and
// the AWS handlers of the six *CustomKeyStore operations. Those stay in kms as thin wrappers
// over Store's methods because kms's handler table is where every operation is authorized and
// decoded, and pagination is its shared helper; the wrappers pass the caller's account and
// region and nothing else, so every rule, error and message of the operations lives here.
//
// A Store shares its host's lock (Config.Mu): the KMS asks whether a key's store is connected
// while it holds that lock for its keys, and DeleteCustomKeyStore looks at the keys under it.
// It persists its records through the host (Host), as JSON in the host's store with its secrets
// sealed under the host's master key.
package customstore

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Record is a custom key store, as persisted (one JSON record per store).
type Record struct {
	ID          string    `json:"id"`
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	Name        string    `json:"name"`
	ClusterID   string    `json:"cluster"`
	TrustAnchor string    `json:"trust_anchor"`
	Password    []byte    `json:"password"`          // sealed kmsuser password
	Pending     []byte    `json:"pending,omitempty"` // sealed new password while a rotation is under way
	Session     []byte    `json:"session,omitempty"` // sealed credential of KMS's kmsuser login while connected
	Created     time.Time `json:"created"`
	// Connected records that the store should be connected: set by Connect, cleared by
	// Disconnect, so a restart connects it again.
	Connected bool `json:"connected,omitempty"`
}

// Host is what a Store needs of the KMS that keeps it. Put, Delete and HasKeys are called with
// Config.Mu held.
type Host interface {
	// Put writes a store's record; Delete removes it.
	Put(r *Record) error
	Delete(id string) error
	// Seal encrypts a secret of a record under the host's master key; aad names what it is and
	// whose. Unseal reverses it.
	Seal(plain []byte, aad string) []byte
	Unseal(sealed []byte, aad string) ([]byte, error)
	// HasKeys reports whether any KMS key lives in store id.
	HasKeys(id string) bool
}

// Config configures a Store.
type Config struct {
	Host Host
	// Dir finds and dials the clusters. Nil: no cluster exists.
	Dir Directory
	// Mu is the host's lock; it guards the records and the connections.
	Mu *sync.RWMutex
	// Ctx bounds every connection attempt (the host cancels it when it closes); WG counts them.
	Ctx context.Context
	WG  *sync.WaitGroup
	Log *slog.Logger
	Now func() time.Time
}

// Store is every custom key store of type AWS_CLOUDHSM of one KMS: each key of a store is a
// non-extractable AES-256 object in the store's cluster, owned by kmsuser, and every
// cryptographic operation on it runs in the HSM over the store's connection (connect.go).
type Store struct {
	host  Host
	dir   Directory
	mu    *sync.RWMutex
	bgCtx context.Context
	wg    *sync.WaitGroup
	log   *slog.Logger
	now   func() time.Time

	stores map[string]*Record // custom key store id → store (guarded by mu)
	conns  map[string]*storeConn
}

// New makes the Store of a KMS; Load gives it the persisted records, Resume connects them.
func New(cfg Config) *Store {
	if cfg.Dir == nil {
		cfg.Dir = noClusters{}
	}
	return &Store{host: cfg.Host, dir: cfg.Dir, mu: cfg.Mu, bgCtx: cfg.Ctx, wg: cfg.WG, log: cfg.Log, now: cfg.Now,
		stores: map[string]*Record{}, conns: map[string]*storeConn{}}
}

// Load installs a persisted record (while the host opens, before Resume).
func (h *Store) Load(r *Record) { h.stores[r.ID] = r }
