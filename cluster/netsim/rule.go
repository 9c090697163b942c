package netsim

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// RuleKind names what a Rule does.
type RuleKind string

// The kinds of rule.
const (
	// KindPartition cuts both directions between endpoints From and To.
	KindPartition RuleKind = "partition"
	// KindPartitionOneWay cuts From→To; To→From still flows.
	KindPartitionOneWay RuleKind = "partition-one-way"
	// KindIsolateAZ cuts AZ off from every other AZ, both ways.
	KindIsolateAZ RuleKind = "isolate-az"
	// KindLink shapes the bytes endpoint From sends to endpoint To.
	KindLink RuleKind = "link"
	// KindAZLink shapes the bytes sent from AZ From to AZ To.
	KindAZLink RuleKind = "az-link"
)

// Rule is one rule in force, as a JSON-serializable value:
//
//	{"kind":"partition","from":"hsm-a","to":"hsm-b"}
//	{"kind":"partition-one-way","from":"hsm-a","to":"hsm-b"}
//	{"kind":"isolate-az","az":"us-east-1a"}
//	{"kind":"link","from":"hsm-a","to":"hsm-b","link":{"latency":"50ms","jitter":"5ms","loss":0.01}}
//	{"kind":"az-link","from":"us-east-1a","to":"us-east-1b","link":{"latency":"2ms"}}
//
// For KindAZLink, From and To are AZ names. A link rule whose Link is zero removes that link.
type Rule struct {
	Kind RuleKind `json:"kind"`
	From string   `json:"from,omitempty"`
	To   string   `json:"to,omitempty"`
	AZ   string   `json:"az,omitempty"`
	Link Link     `json:"link,omitzero"`
}

// Link shapes one direction of traffic. See the package documentation for what each field does
// on a stream connection.
type Link struct {
	Latency time.Duration // added to the delivery of every write
	Jitter  time.Duration // plus a uniform random delay in [0, Jitter)
	Loss    float64       // probability in [0, 1] that a write stalls for a retransmission
}

// linkJSON is Link on the wire: durations as Go duration strings ("50ms").
type linkJSON struct {
	Latency string  `json:"latency,omitempty"`
	Jitter  string  `json:"jitter,omitempty"`
	Loss    float64 `json:"loss,omitempty"`
}

// MarshalJSON writes durations as strings such as "50ms".
func (l Link) MarshalJSON() ([]byte, error) {
	var j linkJSON
	if l.Latency != 0 {
		j.Latency = l.Latency.String()
	}
	if l.Jitter != 0 {
		j.Jitter = l.Jitter.String()
	}
	j.Loss = l.Loss
	return json.Marshal(j)
}

// UnmarshalJSON reads durations written as strings such as "50ms".
func (l *Link) UnmarshalJSON(b []byte) error {
	var j linkJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var out Link
	var err error
	if j.Latency != "" {
		if out.Latency, err = time.ParseDuration(j.Latency); err != nil {
			return fmt.Errorf("netsim: link latency: %w", err)
		}
	}
	if j.Jitter != "" {
		if out.Jitter, err = time.ParseDuration(j.Jitter); err != nil {
			return fmt.Errorf("netsim: link jitter: %w", err)
		}
	}
	out.Loss = j.Loss
	*l = out
	return nil
}

func (l Link) validate() error {
	if l.Latency < 0 || l.Jitter < 0 || math.IsNaN(l.Loss) || l.Loss < 0 || l.Loss > 1 {
		return fmt.Errorf("%w: link %v: durations must be ≥ 0 and loss in [0, 1]", ErrInvalidRule, l)
	}
	return nil
}

// clamp makes l valid, for the setters that take a Link directly.
func (l Link) clamp() Link {
	l.Latency = max(l.Latency, 0)
	l.Jitter = max(l.Jitter, 0)
	if math.IsNaN(l.Loss) || l.Loss < 0 {
		l.Loss = 0
	}
	l.Loss = min(l.Loss, 1)
	return l
}

func (l Link) String() string {
	return fmt.Sprintf("latency=%v jitter=%v loss=%g", l.Latency, l.Jitter, l.Loss)
}

// Validate reports whether r is well formed.
func (r Rule) Validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s: %s", ErrInvalidRule, r, why) }
	switch r.Kind {
	case KindPartition, KindPartitionOneWay, KindLink, KindAZLink:
		if r.From == "" || r.To == "" {
			return bad("from and to are required")
		}
		if r.AZ != "" {
			return bad("az is not used by this kind")
		}
		if r.Kind == KindLink || r.Kind == KindAZLink {
			return r.Link.validate()
		}
		if r.From == r.To {
			return bad("from and to must differ")
		}
		if r.Link != (Link{}) {
			return bad("link is not used by this kind")
		}
	case KindIsolateAZ:
		if r.AZ == "" {
			return bad("az is required")
		}
		if r.From != "" || r.To != "" || r.Link != (Link{}) {
			return bad("only az is used by this kind")
		}
	default:
		return bad("unknown kind")
	}
	return nil
}

// String renders r for reports: "partition hsm-a <-> hsm-b", "link hsm-a -> hsm-b latency=…".
func (r Rule) String() string {
	switch r.Kind {
	case KindPartition:
		return fmt.Sprintf("partition %s <-> %s", r.From, r.To)
	case KindPartitionOneWay:
		return fmt.Sprintf("partition %s -> %s", r.From, r.To)
	case KindIsolateAZ:
		return fmt.Sprintf("isolate-az %s", r.AZ)
	case KindLink, KindAZLink:
		return fmt.Sprintf("%s %s -> %s %s", r.Kind, r.From, r.To, r.Link)
	}
	return fmt.Sprintf("%q from=%q to=%q az=%q", string(r.Kind), r.From, r.To, r.AZ)
}

// kindOrder sorts Rules() output.
func kindOrder(k RuleKind) int {
	switch k {
	case KindPartition:
		return 0
	case KindPartitionOneWay:
		return 1
	case KindIsolateAZ:
		return 2
	case KindLink:
		return 3
	case KindAZLink:
		return 4
	}
	return 5
}
