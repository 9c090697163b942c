// Package fault is faults at the AWS API: rules that make the requests they match, on every
// face of an awsapi.Endpoint (the KMS, CloudHSM V2, IAM and STS), fail with a chosen AWS
// error, a 5xx without a body or a connection reset, arrive late, or hang; and a rule that
// leaves a custom key store FAILED as KMS does when its cluster is lost. A Set holds the rules
// and is the endpoint's awsapi.Interceptor; with no rule in force a request costs it one
// atomic load. Every rule expires (default one minute), so a crashed test cannot leave the
// stack broken. The same Rule, as JSON, is the body of the live control API (`hsmsim up`'s
// /_hsmsim/faults), the `api` of a scenario's api-fault step, and what `hsmsim fault add`
// sends.
package fault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Rule is one fault: which requests it matches, what it does to them, and for how long. Empty
// match fields match everything.
type Rule struct {
	// ID names the rule in force (set by Set.Add: api-1, api-2, ...).
	ID string `json:"id,omitempty"`
	// Action is what the rule does; without it, error when Error is set, else latency when
	// Latency is, else fail-keystore when Store is (a rule that says none is refused).
	Action string `json:"action,omitempty"`

	// Services are SigV4 signing names: kms, cloudhsm (cloudhsmv2 is taken for it), iam, sts.
	Services []string `json:"services,omitempty"`
	// Operations are operation names as the wire has them: Encrypt, CreateHsm, AssumeRole.
	Operations []string `json:"operations,omitempty"`
	// Keys match the key a KMS request names, as written in its body (KeyId, SourceKeyId,
	// DestinationKeyId, TargetKeyId): a key id, a key ARN, an alias name or an alias ARN, the ARN
	// forms compared by what follows "key/" or as "alias/NAME". Aliases are not resolved: a
	// rule naming a key id does not match a request naming the key by an alias, nor the other
	// way round. A request naming no key does not match a rule with Keys.
	Keys []string `json:"keys,omitempty"`
	// Regions match the region of the request's credential scope (the endpoint's region when
	// unsigned).
	Regions []string `json:"regions,omitempty"`
	// Callers match the caller's access key id or principal ARN (arn:aws:iam::111122223333:user/app,
	// a role session's arn:aws:sts::...:assumed-role/R/S, or an account's :root).
	Callers []string `json:"callers,omitempty"`
	// Probability is the share of matching requests the rule acts on (default 1), drawn from a
	// generator seeded with Seed (default: the Set's seed and the rule's number), so a scenario
	// run again with its seed meets the same faults on the same requests in the same order.
	Probability *float64 `json:"probability,omitempty"`
	Seed        uint64   `json:"seed,omitempty"`

	// Error, Status, Message: the AWS error of the error action (default KMSInternalException
	// when the action is given; Status and Message default to the ones AWS answers with it), and
	// the status of no-body.
	Error   string `json:"error,omitempty"`
	Status  int    `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	// Latency delays matching requests before anything else the rule does: a Duration text
	// ("200ms") or a distribution (Latency's doc).
	Latency *Latency `json:"latency,omitempty"`
	// Hold caps how long the timeout action holds a request before it drops the connection
	// (default one minute).
	Hold Duration `json:"hold,omitempty"`
	// Store and Code: the fail-keystore action's custom key store id and ConnectionErrorCode
	// (default CLUSTER_NOT_FOUND).
	Store string `json:"store,omitempty"`
	Code  string `json:"code,omitempty"`

	// For is how long the rule stays (default one minute); Expires is when it ends (set by Add).
	For     Duration  `json:"for,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// Hits counts the requests the rule acted on (List fills it).
	Hits int64 `json:"hits,omitempty"`
}

// The actions.
const (
	ActError        = "error"         // an AWS error: Error, Status, Message
	ActNoBody       = "no-body"       // Status (default 500) and no body, as a broken front end answers
	ActReset        = "reset"         // the TCP connection reset (SO_LINGER 0, then close): no answer at all
	ActLatency      = "latency"       // only the delay; then the request runs
	ActTimeout      = "timeout"       // held until the client gives up or Hold passes; then the connection drops
	ActFailKeyStore = "fail-keystore" // the custom key store Store goes FAILED with Code, as when its cluster is lost
)

var actions = []string{ActError, ActNoBody, ActReset, ActLatency, ActTimeout, ActFailKeyStore}

// DefaultFor is how long a rule stays when it does not say.
const DefaultFor = time.Minute

// ConnectionErrorCodes a fail-keystore rule may leave: those of CloudHSM key stores and those of
// every custom key store, as the KMS API reference lists them.
// https://docs.aws.amazon.com/kms/latest/APIReference/API_CustomKeyStoresListEntry.html
var ConnectionErrorCodes = []string{"CLUSTER_NOT_FOUND", "INSUFFICIENT_CLOUDHSM_HSMS", "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET",
	"INTERNAL_ERROR", "INVALID_CREDENTIALS", "NETWORK_ERRORS", "SUBNET_NOT_FOUND", "USER_LOCKED_OUT", "USER_LOGGED_IN", "USER_NOT_FOUND"}

// defaultMessages are the messages AWS answers with the errors a fault most often names:
// ThrottlingException's as the KMS developer guide quotes it
// (https://docs.aws.amazon.com/kms/latest/developerguide/throttling.html), the others as the
// KMS API model documents each exception (the API reference's Errors sections).
var defaultMessages = map[string]string{
	"ThrottlingException":        "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.",
	"KMSInternalException":       "The request was rejected because an internal exception occurred. The request can be retried.",
	"DependencyTimeoutException": "The system timed out while trying to fulfill the request. You can retry the request.",
	"KeyUnavailableException":    "The request was rejected because the specified KMS key was not available. You can retry the request.",
}

// Normalize fills the rule's defaults and checks it; the error says what is wrong.
func (r *Rule) Normalize() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Action == "" {
		switch {
		case r.Error != "":
			r.Action = ActError
		case r.Latency != nil:
			r.Action = ActLatency
		case r.Store != "":
			r.Action = ActFailKeyStore
		default:
			return errors.New("a rule says what it does: action, error, latency or store")
		}
	}
	if !slices.Contains(actions, r.Action) {
		bad("action %q: one of %s", r.Action, strings.Join(actions, ", "))
	}
	for i, s := range r.Services {
		if s == "cloudhsmv2" {
			r.Services[i] = "cloudhsm"
		} else if !slices.Contains([]string{"kms", "cloudhsm", "iam", "sts"}, s) {
			bad("services: %q is not kms, cloudhsm, iam or sts", s)
		}
	}
	if r.Probability != nil && (*r.Probability < 0 || *r.Probability > 1) {
		bad("probability %v: between 0 and 1", *r.Probability)
	}
	if r.For < 0 || r.Hold < 0 {
		bad("for and hold: positive durations")
	}
	if r.For == 0 {
		r.For = Duration(DefaultFor)
	}
	switch r.Action {
	case ActError:
		if r.Error == "" {
			r.Error = "KMSInternalException"
		}
		def := awsapi.NewError(r.Error, "")
		if r.Status == 0 {
			r.Status = def.Status
		}
		if r.Message == "" {
			r.Message = defaultMessages[r.Error]
		}
	case ActNoBody:
		if r.Status == 0 {
			r.Status = http.StatusInternalServerError
		}
	case ActLatency:
		if r.Latency == nil {
			bad("the latency action needs latency")
		}
	case ActTimeout:
		if r.Hold == 0 {
			r.Hold = Duration(time.Minute)
		}
	case ActFailKeyStore:
		if r.Store == "" {
			bad("fail-keystore needs store (a custom key store id)")
		}
		if r.Code == "" {
			r.Code = "CLUSTER_NOT_FOUND"
		}
		if !slices.Contains(ConnectionErrorCodes, r.Code) {
			bad("code %q: one of %s", r.Code, strings.Join(ConnectionErrorCodes, ", "))
		}
		if len(r.Services)+len(r.Operations)+len(r.Keys)+len(r.Regions)+len(r.Callers) > 0 || r.Latency != nil {
			bad("fail-keystore acts on the key store, not on requests: no match fields, no latency")
		}
	}
	if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
		bad("status %d: an HTTP error status (400 to 599)", r.Status)
	}
	return errors.Join(errs...)
}

// Describe says the rule in a line (hsmsim fault list).
func (r *Rule) Describe() string {
	var b strings.Builder
	switch r.Action {
	case ActError:
		fmt.Fprintf(&b, "%s (%d)", r.Error, r.Status)
	case ActNoBody:
		fmt.Fprintf(&b, "%d without a body", r.Status)
	case ActTimeout:
		fmt.Fprintf(&b, "hold up to %s", r.Hold)
	case ActFailKeyStore:
		fmt.Fprintf(&b, "key store %s FAILED (%s)", r.Store, r.Code)
	default:
		b.WriteString(r.Action)
	}
	if r.Latency != nil {
		fmt.Fprintf(&b, " after %s", r.Latency)
	}
	for _, m := range []struct {
		name string
		v    []string
	}{{"services", r.Services}, {"operations", r.Operations}, {"keys", r.Keys}, {"regions", r.Regions}, {"callers", r.Callers}} {
		if len(m.v) > 0 {
			fmt.Fprintf(&b, " %s=%s", m.name, strings.Join(m.v, ","))
		}
	}
	if r.Probability != nil {
		fmt.Fprintf(&b, " p=%g", *r.Probability)
	}
	return b.String()
}

// Duration is a time.Duration written as Go writes durations ("1m30s") in JSON; a number is
// seconds.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s any
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch v := s.(type) {
	case float64:
		*d = Duration(v * float64(time.Second))
	case string:
		x, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		*d = Duration(x)
	default:
		return fmt.Errorf("a duration is a string (\"1m\") or seconds")
	}
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }
