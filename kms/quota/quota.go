// Package quota is AWS KMS's request quotas at the AWS API: an awsapi.Interceptor that counts
// every KMS request against the quotas AWS applies to it and answers ThrottlingException when
// one is used up, as KMS does. It is the KMS half of hsmsim's capacity profile (the HSM half is
// hsmd/capacity); without it nothing is throttled.
//
// What AWS documents ("Request quotas" and "Throttling AWS KMS requests" in the AWS KMS
// Developer Guide, https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html
// and .../throttling.html), and what this package does with it:
//
//   - Quotas are per account and Region: the caller's account (for a cross-account request, the
//     account that makes it, not the key's) and the Region of the request.
//   - The cryptographic operations share one quota per key type (symmetric, RSA, ECC), each
//     calculated separately; GenerateDataKeyPair(+WithoutPlaintext) share a separate quota per
//     data key pair spec; every other operation has its own rate (CreateKey 5/s, ...).
//   - Requests on keys in an AWS CloudHSM key store also share 1,800 operations per second per
//     key store, not adjustable, with GenerateDataKey, GenerateDataKeyWithoutPlaintext and
//     GenerateRandom costing about three times as much as Encrypt, Decrypt and ReEncrypt (so
//     600 GenerateDataKey/s); they count against the account's symmetric quota too.
//   - "If users in your account submit 1000 DescribeKey requests in a second, AWS KMS throttles
//     all subsequent DescribeKey requests in that second": each quota is a token bucket that
//     holds one second of its rate (at least one request, so 0.25/s is one request in each
//     four seconds) and refills continuously.
//
// The numbers are the defaults of us-east-1 (Limits.AWS); docs/CAPACITY.md lists them with
// their sources.
package quota

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/hsmsim/hsmsim/hsmd/capacity"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/ciphertext"
)

// Throttled is the error a request over a quota gets: ThrottlingException, HTTP 400, with the
// message the AWS KMS Developer Guide quotes ("Throttling AWS KMS requests").
var Throttled = &awsapi.Error{Type: "ThrottlingException", Status: http.StatusBadRequest,
	Message: "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."}

// Keys tells the quotas what kind of key a request uses; the KMS implements it.
type Keys interface {
	// QuotaKey is the key spec of the key ref names (a key id, key ARN, alias name or alias ARN
	// in the caller's account and Region) and, for a key in a custom key store, the store's id;
	// ok is false when ref names no key.
	QuotaKey(c *awsapi.Caller, ref string) (spec, store string, ok bool)
}

// Quotas counts KMS requests against Limits. It is safe for concurrent use.
type Quotas struct {
	lim  Limits
	now  func() time.Time
	mu   sync.Mutex
	keys Keys
	// buckets by account, Region and quota name.
	buckets map[string]*rate.Limiter
}

var _ awsapi.Interceptor = (*Quotas)(nil)

// New counts requests against lim; now is the clock (nil: time.Now). Until UseKeys names the
// KMS, every cryptographic operation counts as one on a symmetric key outside custom key stores.
func New(lim Limits, now func() time.Time) *Quotas {
	if now == nil {
		now = time.Now
	}
	return &Quotas{lim: lim, now: now, buckets: map[string]*rate.Limiter{}}
}

// UseKeys names the KMS whose keys requests use (the KMS is made after its interceptors).
func (q *Quotas) UseKeys(k Keys) {
	q.mu.Lock()
	q.keys = k
	q.mu.Unlock()
}

// charge is one quota a request draws on: cost tokens from the bucket named name, which
// refills at rate per second.
type charge struct {
	name string
	rate float64
	cost int
}

// Intercept refuses a KMS request with Throttled when any quota it draws on is used up; the
// other services of the endpoint (CloudHSM, IAM, STS) pass untouched.
func (q *Quotas) Intercept(_ http.ResponseWriter, _ *http.Request, r *awsapi.Request) (bool, error) {
	if r.Service != "kms" || r.Caller == nil {
		return false, nil
	}
	charges := q.charges(r)
	if len(charges) == 0 {
		return false, nil
	}
	scope := r.Caller.Account + "/" + r.Caller.Region + "/"
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	taken := make([]*rate.Reservation, 0, len(charges))
	for _, c := range charges {
		b := q.buckets[scope+c.name]
		if b == nil {
			b = rate.NewLimiter(rate.Limit(c.rate), int(math.Max(1, math.Ceil(c.rate))))
			q.buckets[scope+c.name] = b
		}
		res := b.ReserveN(now, c.cost)
		if !res.OK() || res.DelayFrom(now) > 0 {
			// Over this quota: the request is refused, and draws on none of them.
			res.CancelAt(now)
			for _, t := range taken {
				t.CancelAt(now)
			}
			return false, Throttled
		}
		taken = append(taken, res)
	}
	return false, nil
}

// charges lists the quotas request r draws on.
func (q *Quotas) charges(r *awsapi.Request) []charge {
	if rps, ok := q.lim.Operations[r.Operation]; ok {
		return []charge{{name: r.Operation, rate: rps, cost: 1}}
	}
	if r.Operation == "GenerateDataKeyPair" || r.Operation == "GenerateDataKeyPairWithoutPlaintext" {
		var b struct{ KeyPairSpec string }
		_ = json.Unmarshal(r.Body, &b)
		if rps, ok := q.lim.KeyPairs[b.KeyPairSpec]; ok {
			return []charge{{name: "GenerateDataKeyPair/" + b.KeyPairSpec, rate: rps, cost: 1}}
		}
		return nil
	}
	units, ok := cryptoOps[r.Operation]
	if !ok {
		return nil // an operation AWS lists no quota for
	}
	spec, store := q.keyOf(r)
	out := []charge{{name: "crypto/" + keyClass(spec), rate: q.lim.crypto(keyClass(spec)), cost: 1}}
	if store != "" {
		out = append(out, charge{name: "custom-key-store/" + store, rate: q.lim.CustomKeyStore, cost: units})
	}
	return out
}

// cryptoOps are the cryptographic operations, with the units each takes of a custom key
// store's quota.
var cryptoOps = map[string]int{
	"Encrypt": 1, "Decrypt": 1, "ReEncrypt": 1,
	"GenerateDataKey": 3, "GenerateDataKeyWithoutPlaintext": 3, "GenerateRandom": 3,
	"GenerateMac": 1, "VerifyMac": 1, "Sign": 1, "Verify": 1, "DeriveSharedSecret": 1,
}

// keyOf finds the key a cryptographic request uses: its KeyId (ReEncrypt: the destination
// key; Decrypt without one: the key its ciphertext names), or GenerateRandom's key store.
func (q *Quotas) keyOf(r *awsapi.Request) (spec, store string) {
	var b struct {
		KeyId, DestinationKeyId, CustomKeyStoreId string
		CiphertextBlob                            []byte
	}
	if json.Unmarshal(r.Body, &b) != nil {
		return "", ""
	}
	if r.Operation == "GenerateRandom" {
		return "", b.CustomKeyStoreId
	}
	ref := b.KeyId
	if r.Operation == "ReEncrypt" {
		ref = b.DestinationKeyId
	}
	if ref == "" && len(b.CiphertextBlob) > 0 {
		if blob, ok := ciphertext.Parse(b.CiphertextBlob); ok {
			ref = blob.KeyID
		}
	}
	q.mu.Lock()
	keys := q.keys
	q.mu.Unlock()
	if keys == nil || ref == "" {
		return "", ""
	}
	spec, store, _ = keys.QuotaKey(r.Caller, ref)
	return spec, store
}

// Key classes of the shared cryptographic quotas.
const (
	classSymmetric = "symmetric"
	classRSA       = "rsa"
	classECC       = "ecc"
)

// keyClass is the shared quota a key spec's operations count against; a key that was not
// found (the request will fail) counts as symmetric, as most keys are.
func keyClass(spec string) string {
	switch {
	case strings.HasPrefix(spec, "RSA_"):
		return classRSA
	case strings.HasPrefix(spec, "ECC_"), spec == "SM2":
		return classECC
	}
	return classSymmetric
}

// Front is the interceptor chain in front of a KMS endpoint of capacity profile profile, whose
// live faults are faults: with the CloudHSM profile (capacity.ProfileCloudHSM), AWS's request
// quotas come first, because AWS's front end refuses a throttled request before anything else
// sees it, and the Quotas are returned for UseKeys once the KMS is open; with any other profile,
// the faults alone and no Quotas. `hsmsim up` and the scenario targets both build their
// endpoint's front with it.
func Front(profile string, faults awsapi.Interceptor) (awsapi.Interceptor, *Quotas) {
	var q *Quotas
	if profile == capacity.ProfileCloudHSM {
		q = New(AWS, nil)
	}
	return awsapi.Chain(q, faults), q
}
