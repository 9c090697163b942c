package kms

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hsmsim/hsmsim/kms/keymaterial"
	"github.com/hsmsim/hsmsim/kms/masterkey"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Persistence: every key, alias, grant and custom key store is one JSON record in its bbolt
// bucket, written in the same call that changes the in-memory copy (write-through; the in-memory
// maps are what requests read). Secrets in a record (default-store key material, kmsuser
// passwords) are sealed with AES-256-GCM under the master key in kms-master.key, with the
// record's identity as AAD so a sealed value cannot be moved to another record.

var (
	bucketKeys    = []byte("keys")
	bucketAliases = []byte("aliases")
	bucketGrants  = []byte("grants")
	bucketStores  = []byte("stores")
)

const masterKeyFile = "kms-master.key"

// keyRec is a KMS key.
type keyRec struct {
	ID        string    `json:"id"`
	Account   string    `json:"account"`
	Region    string    `json:"region"`
	Created   time.Time `json:"created"`
	Desc      string    `json:"description"`
	Usage     string    `json:"usage"`
	Spec      string    `json:"spec"`
	Origin    string    `json:"origin"`
	Enabled   bool      `json:"enabled"`
	Pending   bool      `json:"pending_deletion,omitempty"`
	DeleteAt  time.Time `json:"delete_at,omitzero"`
	Window    int       `json:"window,omitempty"`
	StoreID   string    `json:"store,omitempty"`
	ClusterID string    `json:"cluster,omitempty"`
	// The key material: Versions, oldest first, the last one encrypts (version numbers start at
	// 1 and appear in every ciphertext), and imported material pending rotation.
	keymaterial.Set
	RotationOn     bool           `json:"rotation,omitempty"`
	RotationPeriod int            `json:"rotation_period,omitempty"`
	NextRotation   time.Time      `json:"next_rotation,omitzero"`
	Tags           []tag          `json:"tags,omitempty"`
	Policy         string         `json:"policy"`
	pol            *policy.Policy // Policy compiled; replaced, never changed
	PublicKey      []byte         `json:"public_key,omitempty"` // DER SubjectPublicKeyInfo (asymmetric)
	// A multi-Region key (multiregion.go) has the same id in every region of its set, and each
	// key of the set names the region of the primary.
	MultiRegion   bool      `json:"multi_region,omitempty"`
	PrimaryRegion string    `json:"primary_region,omitempty"`
	CreatingUntil time.Time `json:"creating_until,omitzero"` // a new replica is Creating until then
	UpdatingUntil time.Time `json:"updating_until,omitzero"` // UpdatePrimaryRegion's Updating, until then
	// UsedTokens are the import tokens that served an import, until they expire (imports.go).
	UsedTokens map[string]time.Time `json:"used_tokens,omitempty"`
}

// matVersion is one generation of a key's material.
type matVersion = keymaterial.Version

type tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

type aliasRec struct {
	Name    string    `json:"name"`
	Account string    `json:"account"`
	Region  string    `json:"region"`
	Target  string    `json:"target"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

func aliasKey(account, region, name string) string { return account + "/" + region + "/" + name }

// keyRef is how keys are found in Server.keys and stored in bbolt: by account, region and key id,
// because the keys of a multi-Region set share their id.
func keyRef(account, region, id string) string { return account + "/" + region + "/" + id }

func (k *keyRec) ref() string { return keyRef(k.Account, k.Region, k.ID) }

// keyAt is the key id of account and region (callers hold s.mu).
func (s *Server) keyAt(account, region, id string) *keyRec {
	return s.keys[keyRef(account, region, id)]
}

// db is the persistence of a Server: its bbolt file and the master key secrets are sealed with.
type db struct {
	bolt *bolt.DB
	mk   *masterkey.Key // seals secrets in records
}

// openDB opens (or creates) kms.db and kms-master.key in dir.
func openDB(dir string, noSync bool) (*db, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	mk, err := masterkey.Open(filepath.Join(dir, masterKeyFile))
	if err != nil {
		return nil, err
	}
	b, err := bolt.Open(filepath.Join(dir, "kms.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("kms: open store: %w", err)
	}
	return &db{bolt: b, mk: mk}, nil
}

func (d *db) close() error { return d.bolt.Close() }

// load reads every record into s's maps, creating the buckets on first start.
func (d *db) load(s *Server) error {
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketKeys, bucketAliases, bucketGrants, bucketStores} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if err := loadKeys(tx, s); err != nil {
			return err
		}
		if err := loadBucket(tx, bucketAliases, func(a *aliasRec) { s.aliases[aliasKey(a.Account, a.Region, a.Name)] = a }); err != nil {
			return err
		}
		if err := loadGrants(tx, s); err != nil {
			return err
		}
		return loadBucket(tx, bucketStores, s.hsm.Load)
	})
	if err != nil {
		return fmt.Errorf("kms: load store: %w", err)
	}
	return nil
}

// loadKeys reads the keys. A database written before keys were stored per region keeps them under
// their bare id: each moves to its reference (keyRef) in the same transaction.
func loadKeys(tx *bolt.Tx, s *Server) error {
	moved := map[string]*keyRec{}
	err := loadBucketKeyed(tx, bucketKeys, func(dbKey string, k *keyRec) {
		// A policy stored before policies were checked may not parse: the key then allows
		// nobody (authorize), as a key whose policy names nobody.
		k.pol, _ = policy.ParseKeyPolicy(k.Policy)
		s.keys[k.ref()] = k
		if dbKey != k.ref() {
			moved[dbKey] = k
		}
	})
	if err != nil {
		return err
	}
	b := tx.Bucket(bucketKeys)
	for old, k := range moved {
		if err := putJSON(b, k.ref(), k); err != nil {
			return err
		}
		if err := b.Delete([]byte(old)); err != nil {
			return err
		}
	}
	return nil
}

// loadGrants reads the grants (after the keys). A grant stored before grants named their key's
// region belongs to the one key of its id (databases of that time had no multi-Region keys); it
// is rewritten with that key's account and region.
func loadGrants(tx *bolt.Tx, s *Server) error {
	var old []*grantRec
	if err := loadBucket(tx, bucketGrants, func(g *grantRec) {
		if g.Region == "" {
			old = append(old, g)
			return
		}
		s.grants.Put(g)
	}); err != nil {
		return err
	}
	for _, g := range old {
		for _, k := range s.keys {
			if k.ID == g.KeyID && !k.MultiRegion {
				g.Account, g.Region = k.Account, k.Region
				if err := putJSON(tx.Bucket(bucketGrants), g.ID, g); err != nil {
					return err
				}
			}
		}
		s.grants.Put(g)
	}
	return nil
}

// loadBucket decodes every record of a bucket and hands each to add.
func loadBucket[T any](tx *bolt.Tx, bucket []byte, add func(*T)) error {
	return loadBucketKeyed(tx, bucket, func(_ string, r *T) { add(r) })
}

// loadBucketKeyed is loadBucket that also hands add each record's bbolt key.
func loadBucketKeyed[T any](tx *bolt.Tx, bucket []byte, add func(string, *T)) error {
	return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		add(string(k), &r)
		return nil
	})
}

func (d *db) seal(plain []byte, aad string) []byte { return d.mk.Seal(plain, aad) }

func (d *db) unseal(sealed []byte, aad string) ([]byte, error) { return d.mk.Unseal(sealed, aad) }

// put writes one record (callers hold s.mu).
func (d *db) put(bucket []byte, id string, v any) error {
	return d.bolt.Update(func(tx *bolt.Tx) error { return putJSON(tx.Bucket(bucket), id, v) })
}

// putJSON writes v as record id of b.
func putJSON(b *bolt.Bucket, id string, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(id), j)
}

// del removes records (callers hold s.mu).
func (d *db) del(bucket []byte, ids ...string) error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if err := tx.Bucket(bucket).Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// clone copies a key record so a change can be persisted before it becomes visible.
func (k *keyRec) clone() *keyRec {
	c := *k
	c.Set = k.Set.Clone()
	c.Tags = append([]tag(nil), k.Tags...)
	c.UsedTokens = maps.Clone(k.UsedTokens)
	return &c
}

// saveKey persists k and installs it (callers hold s.mu for writing). The primary key of a
// multi-Region set passes its shared properties on to its replicas (multiregion.go).
func (s *Server) saveKey(k *keyRec) error {
	if err := s.db.put(bucketKeys, k.ref(), k); err != nil {
		return err
	}
	s.keys[k.ref()] = k
	return s.shareWithReplicas(k)
}
