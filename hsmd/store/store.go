// Package store is an HSM node's persistent key-value store: bbolt on disk,
// every value sealed at rest under a key only this node holds.
//
// # Layout of a data directory
//
//	node.key  32 random bytes (AES-256), mode 0600: the sealing key. Created by
//	          the first Open. Losing it makes hsm.db unreadable; wiping a node
//	          means removing the whole directory.
//	hsm.db    the bbolt database.
//
// # What is sealed
//
// Every value is sealed with AES-256-GCM under the node key (see seal.go),
// with the bucket name and key as additional data, so a value moved to
// another record fails to open (ErrCorrupt). Bucket names and keys are NOT
// sealed: they are object handles, user names and similar identifiers, not
// secrets, and keeping them in the clear keeps bbolt's ordering (ForEach is
// sorted by key). Callers must not put secrets in keys or bucket names.
//
// # Applied index
//
// The store records the index of the last applied Raft entry in the same
// bbolt transaction as that entry's writes (Commit), so after a crash the data
// and the index always agree: an entry is either fully applied and counted,
// or neither. The index lives in an internal bucket whose name starts with
// "_"; caller bucket names may not start with "_".
//
// # Concurrency
//
// A Store is safe for concurrent use. Commit and Replace are serialized;
// reads (Get, ForEach, Dump) run concurrently with each other and with a
// writer, and each sees one committed state.
package store

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

const (
	keyFileName = "node.key"
	dbFileName  = "hsm.db"

	// metaBucket holds the store's own records. Its "_" prefix is what
	// checkBucket refuses, so no caller write can reach it.
	metaBucket = "_meta"
	// metaApplied is the applied index, 8 bytes big-endian, unsealed (it is
	// not secret, and Open must read it before anything else).
	metaApplied = "applied"
	// metaKeyCheck is a sealed known value: Open unseals it to tell "wrong
	// node.key for this hsm.db" apart from a single corrupt record.
	metaKeyCheck = "keycheck"

	// fillPercent is how full bbolt fills the pages it splits (its default is half). The
	// store's big buckets grow at their end (token objects are keyed by handle, and handles only
	// grow) or are loaded in key order (Replace), which is the append-only case bbolt's
	// Bucket.FillPercent doc names for a higher value: at half, every page of objects is left
	// half empty for inserts that never come, and a key costs twice its size on disk. It is not
	// persisted by bbolt, so every transaction sets it on the buckets it writes.
	fillPercent = 0.95

	// openTimeout bounds the wait for bbolt's file lock, so a second Open of
	// a directory already in use (by this or another process) fails instead
	// of hanging.
	openTimeout = 2 * time.Second
)

var keyCheckValue = []byte("hsmsim node key check v1")

// Options configure Open.
type Options struct {
	// NoSync skips fsync on commit. Only for tests and benchmarks: a crash
	// can lose or corrupt committed data.
	NoSync bool
	// Logger receives lifecycle messages (never values). Nil discards them.
	Logger *slog.Logger
}

// Write is one change in a Commit.
type Write struct {
	Bucket string
	Key    []byte
	// Value is the new value; nil deletes the key (deleting an absent key is
	// not an error). A non-nil empty slice stores an empty value.
	Value []byte
}

// KV is one record of a bucket, as returned by Dump and taken by Replace.
type KV struct {
	Key, Value []byte
}

// Store is an open data directory. See the package doc.
type Store struct {
	db     *bolt.DB
	sealer *sealer
	log    *slog.Logger

	// mu guards closed against Close: every method holds it for reading
	// while it uses db, Close holds it for writing.
	mu     sync.RWMutex
	closed bool

	// writeMu serializes Commit and Replace, so the cached applied index is
	// updated in commit order.
	writeMu sync.Mutex
	applied atomic.Uint64
}

// BoltOptions are the bbolt options of the databases every write goes through: this store and
// the Raft log (cluster). The free list is rebuilt at open instead of written at every commit:
// fewer pages per fsync (in-process key creation at 16 clients: 1,266 against 1,176 creates/s,
// medians of five alternated runs); bbolt derives it from the pages, so durability is the same,
// and a file written with a free list opens as it is. A second Open of a held file fails after
// openTimeout instead of waiting for the lock.
func BoltOptions() *bolt.Options {
	return &bolt.Options{Timeout: openTimeout, NoFreelistSync: true, FreelistType: bolt.FreelistMapType}
}

// Open opens (creating if needed) the data directory dir: the directory
// itself (0700), the sealing key node.key (32 random bytes, 0600) and hsm.db.
// It refuses a directory where hsm.db exists but node.key does not (the data
// could never be unsealed), and one whose node.key does not match hsm.db.
func Open(dir string, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	dbPath := filepath.Join(dir, dbFileName)
	_, statErr := os.Stat(dbPath)
	dbExists := statErr == nil

	key, err := loadOrCreateKey(filepath.Join(dir, keyFileName), dbExists, log)
	if err != nil {
		return nil, err
	}
	sl, err := newSealer(key)
	clear(key)
	if err != nil {
		return nil, err
	}

	bo := BoltOptions()
	bo.NoSync = opts.NoSync
	db, err := bolt.Open(dbPath, 0o600, bo)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dbPath, err)
	}
	s := &Store{db: db, sealer: sl, log: log}
	if err := s.initMeta(); err != nil {
		db.Close()
		return nil, err
	}
	log.Info("store opened", "dir", dir, "applied_index", s.applied.Load(), "nosync", opts.NoSync)
	return s, nil
}

// loadOrCreateKey reads the node key, or creates it when neither it nor the
// database exists yet. Creation writes a temporary file and links it into
// place, so a crash never leaves a truncated key and two racing Opens agree
// on one key.
func loadOrCreateKey(path string, dbExists bool, log *slog.Logger) ([]byte, error) {
	key, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(key) != nodeKeySize {
			return nil, fmt.Errorf("store: %s is %d bytes, want %d", path, len(key), nodeKeySize)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("node key file is readable by group or others", "path", path, "mode", fi.Mode().Perm())
		}
		return key, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("store: read node key: %w", err)
	case dbExists:
		return nil, fmt.Errorf("store: %s is missing but %s exists: its records cannot be unsealed without the key",
			path, filepath.Join(filepath.Dir(path), dbFileName))
	}

	key = make([]byte, nodeKeySize)
	rand.Read(key)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".node.key.*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("store: create node key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store: write node key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("store: sync node key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("store: write node key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) { // another Open won the race: use its key
			return loadOrCreateKey(path, true, log)
		}
		return nil, fmt.Errorf("store: install node key: %w", err)
	}
	syncDir(filepath.Dir(path))
	log.Info("created node key", "path", path)
	return key, nil
}

// syncDir makes a new directory entry durable; failure only weakens crash
// safety, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// initMeta creates the meta bucket and key check on a new database, checks
// the key on an existing one, and loads the applied index.
func (s *Store) initMeta() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists([]byte(metaBucket))
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if sealed := meta.Get([]byte(metaKeyCheck)); sealed == nil {
			err = meta.Put([]byte(metaKeyCheck), s.sealer.seal(metaBucket, []byte(metaKeyCheck), keyCheckValue))
			if err != nil {
				return fmt.Errorf("store: %w", err)
			}
		} else if v, err := s.sealer.open(metaBucket, []byte(metaKeyCheck), sealed); err != nil || !bytes.Equal(v, keyCheckValue) {
			return fmt.Errorf("%w: node.key does not match hsm.db", ErrCorrupt)
		}
		idx, err := readApplied(meta)
		if err != nil {
			return err
		}
		s.applied.Store(idx)
		return nil
	})
}

func readApplied(meta *bolt.Bucket) (uint64, error) {
	if meta == nil {
		return 0, fmt.Errorf("%w: meta bucket missing", ErrCorrupt)
	}
	v := meta.Get([]byte(metaApplied))
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	default:
		return 0, fmt.Errorf("%w: applied index record is %d bytes", ErrCorrupt, len(v))
	}
}

func writeApplied(tx *bolt.Tx, index uint64) error {
	meta := tx.Bucket([]byte(metaBucket))
	if meta == nil {
		return fmt.Errorf("%w: meta bucket missing", ErrCorrupt)
	}
	return meta.Put([]byte(metaApplied), binary.BigEndian.AppendUint64(nil, index))
}

// checkBucket enforces the bucket-name contract: non-empty, not starting
// with "_" (reserved for the store), no 0x00 byte (it separates bucket from
// key in the sealing AAD).
func checkBucket(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty bucket name", ErrInvalid)
	case strings.HasPrefix(name, "_"):
		return fmt.Errorf("%w: bucket name %q is reserved (starts with \"_\")", ErrInvalid, name)
	case strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("%w: bucket name %q contains a NUL byte", ErrInvalid, name)
	case len(name) > bolt.MaxKeySize:
		return fmt.Errorf("%w: bucket name is %d bytes", ErrInvalid, len(name))
	}
	return nil
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: empty key", ErrInvalid)
	case len(key) > bolt.MaxKeySize:
		return fmt.Errorf("%w: key is %d bytes, max %d", ErrInvalid, len(key), bolt.MaxKeySize)
	}
	return nil
}

// use runs fn with the database unless the store is closed.
func (s *Store) use(fn func(db *bolt.DB) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return fn(s.db)
}

// Commit applies writes and records index as the applied index in ONE bbolt
// transaction: after a crash either all of it is on disk or none of it. If
// any write is invalid, nothing is changed (the transaction is rolled back),
// including the index.
//
// index must be greater than AppliedIndex(), else ErrStaleIndex and nothing
// is written. Gaps are allowed (not every Raft entry reaches the store). An
// empty writes with index > 0 just advances the index, which is how an entry
// that changes nothing (a rejected command) is still counted as applied.
//
// index == 0 means a local-only change that is not part of the replicated
// log (a session object, a node-local counter): the writes are applied and
// the applied index is left as it is.
//
// Writes apply in order, so a later write to the same key wins. Buckets are
// created on first write; deleting from an absent bucket is a no-op.
func (s *Store) Commit(index uint64, writes []Write) error {
	return s.use(func(db *bolt.DB) error {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		err := db.Update(func(tx *bolt.Tx) error {
			if index != 0 {
				cur, err := readApplied(tx.Bucket([]byte(metaBucket)))
				if err != nil {
					return err
				}
				if index <= cur {
					return fmt.Errorf("%w: index %d, applied %d", ErrStaleIndex, index, cur)
				}
			}
			for i, w := range writes {
				if err := s.apply(tx, w); err != nil {
					return fmt.Errorf("store: commit %d: write %d: %w", index, i, err)
				}
			}
			if index != 0 {
				return writeApplied(tx, index)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if index != 0 {
			s.applied.Store(index)
		}
		return nil
	})
}

func (s *Store) apply(tx *bolt.Tx, w Write) error {
	if err := checkBucket(w.Bucket); err != nil {
		return err
	}
	if err := checkKey(w.Key); err != nil {
		return err
	}
	if w.Value == nil {
		b := tx.Bucket([]byte(w.Bucket))
		if b == nil {
			return nil
		}
		return b.Delete(w.Key)
	}
	b, err := tx.CreateBucketIfNotExists([]byte(w.Bucket))
	if err != nil {
		return err
	}
	b.FillPercent = fillPercent
	return b.Put(w.Key, s.sealer.seal(w.Bucket, w.Key, w.Value))
}

// AppliedIndex returns the index of the last Commit or Replace with a
// non-zero index (0 for a new store). After Close it keeps returning the
// last value.
func (s *Store) AppliedIndex() uint64 {
	return s.applied.Load()
}

// Get returns the unsealed value of bucket/key: a fresh copy, safe to keep
// and modify. ErrNotFound if the bucket or key is absent, ErrCorrupt if the
// record does not unseal.
func (s *Store) Get(bucket string, key []byte) ([]byte, error) {
	if err := checkBucket(bucket); err != nil {
		return nil, err
	}
	var out []byte
	err := s.use(func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bucket))
			if b == nil {
				return fmt.Errorf("%w: bucket %q", ErrNotFound, bucket)
			}
			sealed := b.Get(key)
			if sealed == nil {
				return fmt.Errorf("%w: bucket %q key %q", ErrNotFound, bucket, key)
			}
			v, err := s.sealer.open(bucket, key, sealed)
			out = v
			return err
		})
	})
	return out, err
}

// ForEach calls fn for every record of bucket in key order, with unsealed
// copies of key and value. An absent bucket has no records. The records are
// read in one transaction and unsealed before the first call, so fn sees one
// consistent state and may call any Store method (including Commit); if any
// record does not unseal, fn is not called and ErrCorrupt is returned. An
// error from fn stops the iteration and is returned as is.
func (s *Store) ForEach(bucket string, fn func(key, value []byte) error) error {
	if err := checkBucket(bucket); err != nil {
		return err
	}
	var records []KV
	err := s.use(func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			var err error
			records, err = s.readBucket(tx, bucket)
			return err
		})
	})
	if err != nil {
		return err
	}
	for _, r := range records {
		if err := fn(r.Key, r.Value); err != nil {
			return err
		}
	}
	return nil
}

// readBucket unseals every record of bucket into copies, in key order.
func (s *Store) readBucket(tx *bolt.Tx, bucket string) ([]KV, error) {
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return nil, nil
	}
	records := []KV{}
	c := b.Cursor()
	for k, sealed := c.First(); k != nil; k, sealed = c.Next() {
		if sealed == nil { // a nested bucket: the store never creates one
			return nil, fmt.Errorf("%w: bucket %q key %q is a nested bucket", ErrCorrupt, bucket, k)
		}
		v, err := s.sealer.open(bucket, k, sealed)
		if err != nil {
			return nil, err
		}
		records = append(records, KV{Key: bytes.Clone(k), Value: v})
	}
	return records, nil
}

// Replace atomically drops the buckets named in data and loads data in their
// place, setting the applied index to index: this is snapshot restore. Buckets
// data does not name are left alone (the node's own records, the cluster's
// membership), so a restore never drops what the snapshot does not carry. Unlike
// Commit, index is not required to grow (a restore installs whatever state
// the snapshot holds). A nil Value is stored as an empty value. A bucket
// with no records is created empty. Invalid bucket names, empty keys or a
// key listed twice in one bucket return ErrInvalid and change nothing.
func (s *Store) Replace(index uint64, data map[string][]KV) error {
	for bucket, kvs := range data {
		if err := checkBucket(bucket); err != nil {
			return fmt.Errorf("store: replace: %w", err)
		}
		seen := make(map[string]struct{}, len(kvs))
		for _, kv := range kvs {
			if err := checkKey(kv.Key); err != nil {
				return fmt.Errorf("store: replace: bucket %q: %w", bucket, err)
			}
			if _, dup := seen[string(kv.Key)]; dup {
				return fmt.Errorf("%w: replace: bucket %q: key %q listed twice", ErrInvalid, bucket, kv.Key)
			}
			seen[string(kv.Key)] = struct{}{}
		}
	}
	return s.use(func(db *bolt.DB) error {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
		err := db.Update(func(tx *bolt.Tx) error {
			for bucket := range data {
				if err := tx.DeleteBucket([]byte(bucket)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
					return fmt.Errorf("store: replace: drop %q: %w", bucket, err)
				}
			}
			for bucket, kvs := range data {
				b, err := tx.CreateBucket([]byte(bucket))
				if err != nil {
					return fmt.Errorf("store: replace: %w", err)
				}
				b.FillPercent = fillPercent
				for _, kv := range kvs {
					v := kv.Value
					if v == nil {
						v = []byte{}
					}
					if err := b.Put(kv.Key, s.sealer.seal(bucket, kv.Key, v)); err != nil {
						return fmt.Errorf("store: replace: bucket %q: %w", bucket, err)
					}
				}
			}
			return writeApplied(tx, index)
		})
		if err != nil {
			return err
		}
		s.applied.Store(index)
		s.log.Info("store replaced", "applied_index", index, "buckets", len(data))
		return nil
	})
}

// Dump returns every data bucket, each sorted by key, and the applied index,
// all read in one transaction (a consistent view for a snapshot). Values are
// unsealed copies; the caller is responsible for protecting them (snapshots
// wrap them under the cluster key). Empty buckets are included.
func (s *Store) Dump() (index uint64, data map[string][]KV, err error) {
	err = s.use(func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			idx, err := readApplied(tx.Bucket([]byte(metaBucket)))
			if err != nil {
				return err
			}
			var names []string
			err = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				if !strings.HasPrefix(string(name), "_") {
					names = append(names, string(name))
				}
				return nil
			})
			if err != nil {
				return err
			}
			out := make(map[string][]KV, len(names))
			for _, name := range names {
				kvs, err := s.readBucket(tx, name)
				if err != nil {
					return err
				}
				out[name] = kvs
			}
			index, data = idx, out
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	return index, data, nil
}

// Close closes the database. It waits for running calls to finish; every
// call after it, including a second Close, returns ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	s.log.Info("store closed", "applied_index", s.applied.Load())
	return nil
}

// Size is the size of the database in bytes (bbolt's file as of the last commit), for metrics;
// 0 once the store is closed.
func (s *Store) Size() int64 {
	var n int64
	_ = s.use(func(db *bolt.DB) error {
		return db.View(func(tx *bolt.Tx) error {
			n = tx.Size()
			return nil
		})
	})
	return n
}
