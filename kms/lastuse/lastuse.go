// Package lastuse records when each KMS key was last used for a cryptographic operation (what
// GetKeyLastUsage answers) and keeps the records in the KMS's bbolt file.
//
// A record is written on every successful Encrypt, Decrypt, Sign and the like, so it stays out
// of bbolt's way: it lands in memory under the Log's own lock, and Flush writes what changed
// since the last flush in one transaction. The KMS flushes every few seconds and when it closes;
// a crash loses at most the records since the last flush, which then show the use before
// (GetKeyLastUsage is eventually consistent on AWS too).
// https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html
package lastuse

import (
	"encoding/json"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucket = []byte("usage")

// trackingStartKey holds, in the bucket, when this data directory began tracking (a key id is a
// UUID, so it cannot clash).
const trackingStartKey = "tracking-start"

// tracked are the operations GetKeyLastUsage reports (the model's
// KeyLastUsageTrackingOperation): the cryptographic ones.
var tracked = map[string]bool{}

func init() {
	for _, op := range []string{"Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
		"GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac", "ReEncrypt", "Sign", "Verify", "VerifyMac"} {
		tracked[op] = true
	}
}

// Tracked says whether op is an operation whose uses are recorded.
func Tracked(op string) bool { return tracked[op] }

// Use is one key's last successful cryptographic operation.
type Use struct {
	Operation string    `json:"op"`
	Time      time.Time `json:"t"`
	EventID   string    `json:"event"`   // the CloudTrail eventId of the request
	RequestID string    `json:"request"` // the KMS request id
}

// Log is every key's last use, in memory and, as of the last Flush, in bbolt.
type Log struct {
	db    *bolt.DB
	start time.Time

	mu    sync.Mutex
	last  map[string]Use  // key id → its last use
	dirty map[string]bool // key id → changed since the last flush (false: forgotten)
}

// Open loads the records from db, starting the tracking at now in a file that has none.
func Open(db *bolt.DB, now time.Time) (*Log, error) {
	l := &Log{db: db, last: map[string]Use{}, dirty: map[string]bool{}}
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(trackingStartKey)); v != nil {
			if err := l.start.UnmarshalText(v); err != nil {
				return err
			}
		} else {
			l.start = now.UTC()
			v, _ := l.start.MarshalText()
			if err := b.Put([]byte(trackingStartKey), v); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			if string(k) == trackingStartKey {
				return nil
			}
			var u Use
			if err := json.Unmarshal(v, &u); err != nil {
				return err
			}
			l.last[string(k)] = u
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// TrackingStart is when tracking began in this data directory.
func (l *Log) TrackingStart() time.Time { return l.start }

// Record notes use u of each key, by key ARN: the keys of a multi-Region set share their id but
// track their use independently (GetKeyLastUsage), and so do keys of other accounts.
func (l *Log) Record(u Use, keys ...string) {
	u.Time = u.Time.UTC()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.last[k] = u
		l.dirty[k] = true
	}
}

// Get is the last use of the key with ARN id.
func (l *Log) Get(id string) (Use, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u, ok := l.last[id]
	return u, ok
}

// Forget drops a deleted key's record.
func (l *Log) Forget(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.last, id)
	l.dirty[id] = false
}

// Flush writes the records changed since the last flush in one bbolt transaction.
func (l *Log) Flush() error {
	l.mu.Lock()
	if len(l.dirty) == 0 {
		l.mu.Unlock()
		return nil
	}
	put := map[string][]byte{}
	var del []string
	for id, live := range l.dirty {
		if live {
			put[id], _ = json.Marshal(l.last[id])
		} else {
			del = append(del, id)
		}
	}
	l.dirty = map[string]bool{}
	l.mu.Unlock()
	return l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for id, v := range put {
			if err := b.Put([]byte(id), v); err != nil {
				return err
			}
		}
		for _, id := range del {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}
