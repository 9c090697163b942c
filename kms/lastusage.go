package kms

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Key last usage (GetKeyLastUsage): every successful cryptographic operation records, for each
// key it used, the operation, the time, the CloudTrail event id of the request and its KMS
// request id. The record is the hot path's only write, so it stays out of bbolt's way: it lands
// in memory under its own lock (not s.mu), and a background flush writes what changed to bbolt
// every usageFlushEvery and at Close. A crash loses at most the last interval's records, which
// then show the previous last use: a bounded staleness AWS's own eventually consistent answer
// also has. hsmsim keeps no CloudTrail log, so the event id is the one its record would carry.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html

// usageFlushEvery is how often recorded usage reaches bbolt.
const usageFlushEvery = 5 * time.Second

var bucketUsage = []byte("usage")

// trackingStartKey holds, in bucketUsage, when this data directory began tracking usage (a key
// id is a UUID, so it cannot clash).
const trackingStartKey = "tracking-start"

// trackedOps are the operations GetKeyLastUsage reports (the model's
// KeyLastUsageTrackingOperation): the cryptographic ones.
var trackedOps = map[string]bool{}

func init() {
	for _, op := range []string{"Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
		"GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac", "ReEncrypt", "Sign", "Verify", "VerifyMac"} {
		trackedOps[op] = true
	}
}

// keyUsage is one key's last successful cryptographic operation.
type keyUsage struct {
	Operation string    `json:"op"`
	Time      time.Time `json:"t"`
	EventID   string    `json:"event"`
	RequestID string    `json:"request"`
}

// usageLog is every key's last usage, in memory and lazily in bbolt.
type usageLog struct {
	db    *db
	start time.Time // when tracking began in this data directory

	mu    sync.Mutex
	last  map[string]keyUsage // key id → its last usage
	dirty map[string]bool     // key id → written since the last flush (false: forgotten)
}

// openUsage loads the usage records, starting the tracking now on a data directory that has none.
func openUsage(d *db, now time.Time) (*usageLog, error) {
	u := &usageLog{db: d, last: map[string]keyUsage{}, dirty: map[string]bool{}}
	err := d.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketUsage)
		if err != nil {
			return err
		}
		if v := b.Get([]byte(trackingStartKey)); v != nil {
			if err := u.start.UnmarshalText(v); err != nil {
				return err
			}
		} else {
			u.start = now.UTC()
			v, _ := u.start.MarshalText()
			if err := b.Put([]byte(trackingStartKey), v); err != nil {
				return err
			}
		}
		return b.ForEach(func(k, v []byte) error {
			if string(k) == trackingStartKey {
				return nil
			}
			var r keyUsage
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			u.last[string(k)] = r
			return nil
		})
	})
	return u, err
}

// record notes a successful use of each key (by ARN or id).
func (u *usageLog) record(op, requestID string, at time.Time, keys ...string) {
	r := keyUsage{Operation: op, Time: at.UTC(), EventID: awsapi.NewUUID(), RequestID: requestID}
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, k := range keys {
		id := k[strings.LastIndexByte(k, '/')+1:]
		u.last[id] = r
		u.dirty[id] = true
	}
}

// get is key id's last usage.
func (u *usageLog) get(id string) (keyUsage, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	r, ok := u.last[id]
	return r, ok
}

// forget drops a deleted key's record.
func (u *usageLog) forget(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.last, id)
	u.dirty[id] = false
}

// flush writes the records changed since the last flush in one bbolt transaction.
func (u *usageLog) flush() error {
	u.mu.Lock()
	if len(u.dirty) == 0 {
		u.mu.Unlock()
		return nil
	}
	put := map[string][]byte{}
	var del []string
	for id, live := range u.dirty {
		if live {
			put[id], _ = json.Marshal(u.last[id])
		} else {
			del = append(del, id)
		}
	}
	u.dirty = map[string]bool{}
	u.mu.Unlock()
	return u.db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUsage)
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

// flusher flushes the usage records every usageFlushEvery until Close, which flushes last.
func (s *Server) flusher() {
	defer s.wg.Done()
	t := time.NewTicker(usageFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case <-t.C:
			if err := s.usage.flush(); err != nil {
				s.log.Error("key usage flush", "err", err)
			}
		}
	}
}

// trackUsage records the keys a successful tracked operation used: its output's KeyId and, for
// ReEncrypt, SourceKeyId (each an ARN). Every cryptographic output names its key there.
func (s *Server) trackUsage(ctx context.Context, op string, out any) {
	if !trackedOps[op] {
		return
	}
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return
	}
	var keys []string
	for _, f := range []string{"KeyId", "SourceKeyId"} {
		if fv := v.Elem().FieldByName(f); fv.IsValid() && fv.Kind() == reflect.String && fv.String() != "" {
			keys = append(keys, fv.String())
		}
	}
	s.usage.record(op, awsapi.RequestID(ctx), s.now(), keys...)
}

// ---- GetKeyLastUsage ----

type keyLastUsageData struct {
	Operation         string
	Timestamp         *awsapi.Timestamp
	CloudTrailEventId string
	KmsRequestId      string
}

type keyLastUsageOutput struct {
	KeyId             string
	KeyLastUsage      *keyLastUsageData `json:",omitempty"`
	TrackingStartDate *awsapi.Timestamp
	KeyCreationDate   *awsapi.Timestamp
}

func getKeyLastUsage(s *Server, _ context.Context, c *caller, in *keyIDInput) (*keyLastUsageOutput, error) {
	// Only a key id or key ARN: "Alias names are not supported" (GetKeyLastUsageRequest KeyId).
	if strings.HasPrefix(in.KeyId, "alias/") || strings.Contains(in.KeyId, ":alias/") {
		return nil, awsapi.NewError(errNotFound, "GetKeyLastUsage does not accept an alias: %s", in.KeyId)
	}
	return viewKey(s, c, in.KeyId, func(k *keyRec) (*keyLastUsageOutput, error) {
		// Tracking started at the later of the key's creation and this data directory's start.
		start := s.usage.start
		if k.Created.After(start) {
			start = k.Created
		}
		out := &keyLastUsageOutput{KeyId: k.ID, TrackingStartDate: awsapi.Time(start), KeyCreationDate: awsapi.Time(k.Created)}
		if r, ok := s.usage.get(k.ID); ok {
			out.KeyLastUsage = &keyLastUsageData{Operation: r.Operation, Timestamp: awsapi.Time(r.Time), CloudTrailEventId: r.EventID, KmsRequestId: r.RequestID}
		}
		return out, nil
	})
}
