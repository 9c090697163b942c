package trail

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Record is one audit record, as AWS CloudTrail shapes the record of a KMS API call
// (CloudTrail record contents: https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html;
// KMS's examples: https://docs.aws.amazon.com/kms/latest/developerguide/understanding-kms-entries.html).
// hsmsim adds the request's latency under additionalEventData (latencyMillis), which the
// console shows.
type Record struct {
	EventVersion        string          `json:"eventVersion"`
	UserIdentity        Identity        `json:"userIdentity"`
	EventTime           time.Time       `json:"eventTime"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	AWSRegion           string          `json:"awsRegion"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	ErrorCode           string          `json:"errorCode,omitempty"`
	ErrorMessage        string          `json:"errorMessage,omitempty"`
	RequestParameters   json.RawMessage `json:"requestParameters"`
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData Additional      `json:"additionalEventData"`
	RequestID           string          `json:"requestID"`
	EventID             string          `json:"eventID"`
	ReadOnly            bool            `json:"readOnly"`
	Resources           []Resource      `json:"resources,omitempty"`
	EventType           string          `json:"eventType"`
	ManagementEvent     bool            `json:"managementEvent"`
	RecipientAccountID  string          `json:"recipientAccountId"`
	EventCategory       string          `json:"eventCategory"`
}

// Identity is a record's userIdentity: who signed the request.
type Identity struct {
	Type        string `json:"type"` // Root, IAMUser, AssumedRole, AWSService
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	UserName    string `json:"userName,omitempty"`
}

// Resource is a KMS key the request acted on.
type Resource struct {
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// Additional is what hsmsim adds: the request's latency, from arrival to answer.
type Additional struct {
	LatencyMillis float64 `json:"latencyMillis"`
}

// Latency is the request's latency.
func (r *Record) Latency() time.Duration {
	return time.Duration(r.AdditionalEventData.LatencyMillis * float64(time.Millisecond))
}

// CloudTrail's constants for the records of KMS calls.
const (
	EventVersion = "1.08"
	EventSource  = "kms.amazonaws.com"
	keyType      = "AWS::KMS::Key"
)

// identity is userIdentity for c (nil: the request was refused before its caller was known).
func identity(c *awsapi.Caller) Identity {
	if c == nil {
		return Identity{Type: "Unknown"}
	}
	p := c.Who()
	id := Identity{PrincipalID: p.UserID, ARN: p.ARN, AccountID: c.Account, AccessKeyID: c.AccessKey}
	switch p.Type {
	case policy.PrincipalUser:
		id.Type, id.UserName = "IAMUser", p.Username
	case policy.PrincipalAssumedRole:
		id.Type = "AssumedRole"
	case policy.PrincipalService:
		id.Type = "AWSService"
	default:
		id.Type = "Root"
	}
	return id
}

// readOnly says whether CloudTrail marks operation op readOnly: the cryptographic operations
// and the operations that only read (Describe*, Get*, List*).
func readOnly(op string) bool {
	switch op {
	case "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
		"GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "GenerateRandom", "Sign", "Verify", "DeriveSharedSecret":
		return true
	}
	return strings.HasPrefix(op, "Describe") || strings.HasPrefix(op, "Get") || strings.HasPrefix(op, "List")
}

// appendRecord writes r as one JSON object, without encoding/json's reflection: this runs for
// every request the KMS answers.
func appendRecord(b []byte, r *Record) []byte {
	str := func(name, v string) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		b = awsapi.AppendString(b, v)
	}
	raw := func(name string, v []byte) {
		b = append(b, ',', '"')
		b = append(b, name...)
		b = append(b, '"', ':')
		if len(v) == 0 {
			v = []byte("null")
		}
		b = append(b, v...)
	}
	b = append(b, `{"eventVersion":`...)
	b = awsapi.AppendString(b, r.EventVersion)
	u := &r.UserIdentity
	b = append(b, `,"userIdentity":{"type":`...)
	b = awsapi.AppendString(b, u.Type)
	for _, f := range [...]struct{ k, v string }{{"principalId", u.PrincipalID}, {"arn", u.ARN}, {"accountId", u.AccountID},
		{"accessKeyId", u.AccessKeyID}, {"userName", u.UserName}} {
		if f.v != "" {
			str(f.k, f.v)
		}
	}
	b = append(b, '}')
	b = append(b, `,"eventTime":"`...)
	b = r.EventTime.UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	b = append(b, '"')
	str("eventSource", r.EventSource)
	str("eventName", r.EventName)
	str("awsRegion", r.AWSRegion)
	str("sourceIPAddress", r.SourceIPAddress)
	str("userAgent", r.UserAgent)
	if r.ErrorCode != "" {
		str("errorCode", r.ErrorCode)
		str("errorMessage", r.ErrorMessage)
	}
	raw("requestParameters", r.RequestParameters)
	raw("responseElements", r.ResponseElements)
	b = append(b, `,"additionalEventData":{"latencyMillis":`...)
	b = strconv.AppendFloat(b, r.AdditionalEventData.LatencyMillis, 'f', 3, 64)
	b = append(b, '}')
	str("requestID", r.RequestID)
	str("eventID", r.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, r.ReadOnly)
	if len(r.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i, res := range r.Resources {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"accountId":`...)
			b = awsapi.AppendString(b, res.AccountID)
			b = append(b, `,"type":`...)
			b = awsapi.AppendString(b, res.Type)
			b = append(b, `,"ARN":`...)
			b = awsapi.AppendString(b, res.ARN)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	str("eventType", r.EventType)
	b = append(b, `,"managementEvent":`...)
	b = strconv.AppendBool(b, r.ManagementEvent)
	str("recipientAccountId", r.RecipientAccountID)
	str("eventCategory", r.EventCategory)
	return append(b, '}')
}
