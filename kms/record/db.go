package record

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hsmsim/hsmsim/kms/grant"
	"github.com/hsmsim/hsmsim/kms/masterkey"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Persistence: every key, alias, grant and custom key store is one JSON record in its bbolt
// bucket, written in the same call that changes the in-memory copy (write-through; the in-memory
// maps are what requests read). Secrets in a record (default-store key material, kmsuser
// passwords) are sealed with AES-256-GCM under the master key in kms-master.key, with the
// record's identity as AAD so a sealed value cannot be moved to another record.

// The buckets.
var (
	BucketKeys    = []byte("keys")
	BucketAliases = []byte("aliases")
	BucketGrants  = []byte("grants")
	BucketStores  = []byte("stores")
)

const masterKeyFile = "kms-master.key"

// DB is the KMS's bbolt file and the master key secrets are sealed with. Its writers hold the
// KMS's lock: DB adds none.
type DB struct {
	bolt *bolt.DB
	mk   *masterkey.Key
}

// Open opens (or creates) kms.db and kms-master.key in dir, with every bucket.
func Open(dir string, noSync bool) (*DB, error) {
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
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{BucketKeys, BucketAliases, BucketGrants, BucketStores} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("kms: open store: %w", err)
	}
	return &DB{bolt: b, mk: mk}, nil
}

// Close closes the file.
func (d *DB) Close() error { return d.bolt.Close() }

// Bolt is the bbolt file, for the packages that keep their own buckets in it (kms/lastuse).
func (d *DB) Bolt() *bolt.DB { return d.bolt }

// Loaded is every key, alias and grant of the file.
type Loaded struct {
	Keys    map[string]*Key   // by Ref
	Aliases map[string]*Alias // by AliasRef
	Grants  []*grant.Grant
}

// Load reads every key, alias and grant, moving records of older layouts to the current one in
// the same transaction.
func (d *DB) Load() (*Loaded, error) {
	l := &Loaded{Keys: map[string]*Key{}, Aliases: map[string]*Alias{}}
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		if err := loadKeys(tx, l); err != nil {
			return err
		}
		if err := each(tx, BucketAliases, func(_ string, a *Alias) { l.Aliases[AliasRef(a.Account, a.Region, a.Name)] = a }); err != nil {
			return err
		}
		return loadGrants(tx, l)
	})
	if err != nil {
		return nil, fmt.Errorf("kms: load store: %w", err)
	}
	return l, nil
}

// loadKeys reads the keys. A database written before keys were stored per region keeps them under
// their bare id: each moves to its reference (Ref) in the same transaction.
func loadKeys(tx *bolt.Tx, l *Loaded) error {
	moved := map[string]*Key{}
	err := each(tx, BucketKeys, func(dbKey string, k *Key) {
		// A policy stored before policies were checked may not parse: the key then allows
		// nobody, as a key whose policy names nobody.
		k.Compiled, _ = policy.ParseKeyPolicy(k.Policy)
		l.Keys[k.Ref()] = k
		if dbKey != k.Ref() {
			moved[dbKey] = k
		}
	})
	if err != nil {
		return err
	}
	b := tx.Bucket(BucketKeys)
	for old, k := range moved {
		if err := putJSON(b, k.Ref(), k); err != nil {
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
func loadGrants(tx *bolt.Tx, l *Loaded) error {
	err := each(tx, BucketGrants, func(_ string, g *grant.Grant) { l.Grants = append(l.Grants, g) })
	if err != nil {
		return err
	}
	for _, g := range l.Grants {
		if g.Region != "" {
			continue
		}
		for _, k := range l.Keys {
			if k.ID == g.KeyID && !k.MultiRegion {
				g.Account, g.Region = k.Account, k.Region
				if err := putJSON(tx.Bucket(BucketGrants), g.ID, g); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Each decodes every record of a bucket and hands each to add.
func Each[T any](d *DB, bucket []byte, add func(*T)) error {
	return d.bolt.View(func(tx *bolt.Tx) error {
		return each(tx, bucket, func(_ string, r *T) { add(r) })
	})
}

// each decodes every record of a bucket and hands each, with its bbolt key, to add.
func each[T any](tx *bolt.Tx, bucket []byte, add func(string, *T)) error {
	return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		add(string(k), &r)
		return nil
	})
}

// Seal seals a secret of the record aad names.
func (d *DB) Seal(plain []byte, aad string) []byte { return d.mk.Seal(plain, aad) }

// Unseal opens what Seal sealed for the same aad.
func (d *DB) Unseal(sealed []byte, aad string) ([]byte, error) { return d.mk.Unseal(sealed, aad) }

// Put writes one record.
func (d *DB) Put(bucket []byte, id string, v any) error {
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

// Del removes records.
func (d *DB) Del(bucket []byte, ids ...string) error {
	return d.bolt.Update(func(tx *bolt.Tx) error {
		for _, id := range ids {
			if err := tx.Bucket(bucket).Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}
