package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hsmsim/hsmsim/kms/keymaterial"
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

type grantRec struct {
	ID          string            `json:"id"`
	KeyID       string            `json:"key"`
	Name        string            `json:"name,omitempty"`
	Grantee     string            `json:"grantee"`
	Retiring    string            `json:"retiring,omitempty"`
	Operations  []string          `json:"operations"`
	Constraints *grantConstraints `json:"constraints,omitempty"`
	Created     time.Time         `json:"created"`
	Token       string            `json:"token"`
}

type grantConstraints struct {
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
}

func aliasKey(account, region, name string) string { return account + "/" + region + "/" + name }

// db is the persistence of a Server: its bbolt file and the master key secrets are sealed with.
type db struct {
	bolt *bolt.DB
	aead cipher.AEAD // AES-256-GCM under the master key
}

// openDB opens (or creates) kms.db and kms-master.key in dir.
func openDB(dir string, noSync bool) (*db, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	mk, err := loadMasterKey(filepath.Join(dir, masterKeyFile))
	if err != nil {
		return nil, err
	}
	blk, _ := aes.NewCipher(mk)
	aead, _ := cipher.NewGCM(blk)
	b, err := bolt.Open(filepath.Join(dir, "kms.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: noSync})
	if err != nil {
		return nil, fmt.Errorf("kms: open store: %w", err)
	}
	return &db{bolt: b, aead: aead}, nil
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
		if err := loadBucket(tx, bucketKeys, func(k *keyRec) {
			// A policy stored before policies were checked may not parse: the key then allows
			// nobody (authorize), as a key whose policy names nobody.
			k.pol, _ = policy.ParseKeyPolicy(k.Policy)
			s.keys[k.ID] = k
		}); err != nil {
			return err
		}
		if err := loadBucket(tx, bucketAliases, func(a *aliasRec) { s.aliases[aliasKey(a.Account, a.Region, a.Name)] = a }); err != nil {
			return err
		}
		if err := loadBucket(tx, bucketGrants, s.putGrant); err != nil {
			return err
		}
		return loadBucket(tx, bucketStores, s.hsm.Load)
	})
	if err != nil {
		return fmt.Errorf("kms: load store: %w", err)
	}
	return nil
}

// loadBucket decodes every record of a bucket and hands each to add.
func loadBucket[T any](tx *bolt.Tx, bucket []byte, add func(*T)) error {
	return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		add(&r)
		return nil
	})
}

// loadMasterKey reads the 32-byte master key, creating it on first start.
func loadMasterKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		b = make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return b, f.Close()
	}
	if err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("kms: %s: master key must be 32 bytes, found %d", path, len(b))
	}
	return b, nil
}

// seal encrypts a secret for the store; aad names what it is and whose.
func (d *db) seal(plain []byte, aad string) []byte {
	nonce := make([]byte, d.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return d.aead.Seal(nonce, nonce, plain, []byte(aad))
}

func (d *db) unseal(sealed []byte, aad string) ([]byte, error) {
	ns := d.aead.NonceSize()
	if len(sealed) < ns {
		return nil, errors.New("kms: sealed value too short")
	}
	p, err := d.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(aad))
	if err != nil {
		return nil, fmt.Errorf("kms: unseal %s: %w", aad, err)
	}
	return p, nil
}

// put writes one record (callers hold s.mu).
func (d *db) put(bucket []byte, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return d.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put([]byte(id), b) })
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

// saveKey persists k and installs it (callers hold s.mu for writing).
func (s *Server) saveKey(k *keyRec) error {
	if err := s.db.put(bucketKeys, k.ID, k); err != nil {
		return err
	}
	s.keys[k.ID] = k
	return nil
}
