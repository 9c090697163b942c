package kms

import (
	"context"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/lastuse"
)

// Key last usage (GetKeyLastUsage): every successful cryptographic operation records the keys
// it used in the server's lastuse.Log, which reaches bbolt every usageFlushEvery and at Close
// (package lastuse says why lazily). The event id recorded is the eventID of the request's record
// in the KMS's audit trail (awsapi.EventID, kms/trail).
// https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html

// usageFlushEvery is how often recorded usage reaches bbolt.
const usageFlushEvery = 5 * time.Second

// flushUsage writes the usage records to bbolt (every usageFlushEvery; Close flushes last).
func (s *Server) flushUsage() {
	if err := s.usage.Flush(); err != nil {
		s.log.Error("key usage flush", "err", err)
	}
}

// trackUsage records the keys a successful cryptographic operation (lastuse.Tracked) used, as
// its output names them (keyUser).
func (s *Server) trackUsage(ctx context.Context, op string, out any) {
	u, ok := out.(keyUser)
	if !ok {
		return
	}
	use := lastuse.Use{Operation: op, Time: s.now(), EventID: awsapi.EventID(ctx), RequestID: awsapi.RequestID(ctx)}
	if key, source := u.UsedKeys(); source != "" {
		s.usage.Record(use, key, source)
	} else {
		s.usage.Record(use, key)
	}
}

// keyUser is the output of a tracked operation: it names the key (ARN) the operation used, as
// its KeyId shows it, and ReEncrypt's source key too. A type assertion finds it, where a
// reflective look at the output's fields cost hundreds of ns on every successful operation. The
// method is exported for the audit trail (kms/trail), which names the same keys as resources.
type keyUser interface{ UsedKeys() (key, source string) }

func (o *encryptOutput) UsedKeys() (string, string)     { return o.KeyId, "" }
func (o *decryptOutput) UsedKeys() (string, string)     { return o.KeyId, "" }
func (o *reEncryptOutput) UsedKeys() (string, string)   { return o.KeyId, o.SourceKeyId }
func (o *dataKeyOutput) UsedKeys() (string, string)     { return o.KeyId, "" }
func (o *dataKeyPairOutput) UsedKeys() (string, string) { return o.KeyId, "" }
func (o *deriveOutput) UsedKeys() (string, string)      { return o.KeyId, "" }
func (o *signOutput) UsedKeys() (string, string)        { return o.KeyId, "" }
func (o *macOutput) UsedKeys() (string, string)         { return o.KeyId, "" }

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
		start := s.usage.TrackingStart()
		if k.Created.After(start) {
			start = k.Created
		}
		out := &keyLastUsageOutput{KeyId: k.ID, TrackingStartDate: awsapi.Time(start), KeyCreationDate: awsapi.Time(k.Created)}
		if u, ok := s.usage.Get(keyARN(k)); ok {
			out.KeyLastUsage = &keyLastUsageData{Operation: u.Operation, Timestamp: awsapi.Time(u.Time), CloudTrailEventId: u.EventID, KmsRequestId: u.RequestID}
		}
		return out, nil
	})
}
