// Package spec is the scenario file format: the Go values a scenario file decodes into, the
// decoder (YAML, every error naming the file, line and field), and the checks that a scenario
// names only things that exist. SCHEMA.md, beside this package, documents the format.
//
// The fault actions are not listed here: each is a FaultKind registered by the fault family
// that injects it (package failpoint), and validation asks the registry (fault.go).
package spec

import (
	"fmt"
	"time"
)

// Pos is where a value was written: file, line and column (1-based).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Range is a duration, or a range "2s..5s" from which the seed draws one value.
type Range struct{ Min, Max time.Duration }

// Fixed is a Range of one value.
func Fixed(d time.Duration) Range { return Range{d, d} }

// IsZero reports an absent range.
func (r Range) IsZero() bool { return r.Min == 0 && r.Max == 0 }

// Scale multiplies both ends.
func (r Range) Scale(f float64) Range {
	return Range{time.Duration(float64(r.Min) * f), time.Duration(float64(r.Max) * f)}
}

func (r Range) String() string {
	if r.Min == r.Max {
		return r.Min.String()
	}
	return r.Min.String() + ".." + r.Max.String()
}

// Scenario is one scenario file.
type Scenario struct {
	File        string
	Name        string // [a-z0-9-]+
	Models      string // the real failure the scenario models
	Description string
	Seed        int64 // fixes the fault schedule; default 1
	Duration    time.Duration
	Short       Profile
	// Capacity is the capacity profile the stack runs with: "cloudhsm" (each HSM at its type's
	// published rates, the KMS at AWS's request quotas), or empty for no limits.
	Capacity  string
	Cluster   Cluster
	Setup     []Step
	Workloads []Workload
	Faults    []Fault
	Expect    Expect
}

// Profile is how the short profile (CI) differs from the full run.
type Profile struct {
	Duration  time.Duration // default: the full duration
	RateScale float64       // workload rates are multiplied by it; default 1
	TimeScale float64       // fault times (at, for, every, delay) are multiplied by it; default Duration/full
}

// Cluster is the shape of the cluster at the start.
type Cluster struct {
	AZs      []AZ   // in file order; node labels n1, n2, ... follow it
	Timeouts string // "fast" (default) or "default" (cluster.DefaultTimeouts)
	HsmType  string // hsm2m.medium (default) or hsm1.medium: whose rates the capacity profile applies
	// Raft timeouts overriding the preset (zero: the preset's): links slower than the preset
	// assumes need a longer heartbeat and leader lease.
	Heartbeat, Election, LeaderLease, Apply time.Duration
}

// AZ is how many HSMs one availability zone starts with.
type AZ struct {
	Name string
	HSMs int
}

// Nodes is how many HSMs the cluster starts with.
func (c Cluster) Nodes() int {
	n := 0
	for _, az := range c.AZs {
		n += az.HSMs
	}
	return n
}

// Setup step kinds.
const (
	StepUser     = "user"     // a crypto user
	StepKey      = "key"      // a token key (or key pair) owned by a crypto user
	StepKMSUser  = "kmsuser"  // the kmsuser crypto user
	StepKeyStore = "keystore" // a custom key store over the cluster, connected
	StepKMSKey   = "kms-key"  // a KMS key (in a custom key store, or the default store)
)

// Step is one setup step.
type Step struct {
	Pos      Pos
	Kind     string
	Name     string
	Password string
	Owner    string // key: the crypto user owning it
	Type     string // key: aes-256, ec-p256
	Store    string // kms-key: the custom key store (empty: the default store)
	Connect  bool   // keystore: connect it (default true)
}

// Faces of the system a workload drives.
const (
	FaceKMS = "kms" // the KMS over the AWS wire (aws-sdk-go-v2)
	FaceHSM = "hsm" // the cluster client (hsmd/client), the calls PKCS#11 makes
	// FacePKCS11 is libhsmsim-pkcs11.so itself, loaded with dlopen (miekg/pkcs11): sessions,
	// C_Login, C_SignInit/C_Sign, the module's own failover.
	FacePKCS11 = "pkcs11"
)

// Workload operations.
const (
	OpEncrypt         = "encrypt"           // kms, hsm
	OpDecrypt         = "decrypt"           // kms: decrypts what this run encrypted
	OpGenerateDataKey = "generate-data-key" // kms
	OpCreateKey       = "create-key"        // kms: CreateKey in a store
	OpSign            = "sign"              // hsm: ECDSA with a setup key
	OpGenerateKey     = "generate-key"      // hsm: token AES key, kept (a write)
	OpKeyLifecycle    = "key-lifecycle"     // hsm: create, use, destroy keys (linearizability)
)

// Workload is load on one face.
type Workload struct {
	Pos         Pos
	Name        string
	Face        string
	Op          string
	Keys        []string // kms: KMS keys (setup names); hsm sign/encrypt: setup keys
	Store       string   // kms create-key: the custom key store
	User        string   // hsm: the crypto user; default the first user of the setup
	Rate        float64  // operations per second over all workers; 0: as fast as they go
	Concurrency int      // workers; default 1
	Transport   string   // kms: "http" (loopback, default) or "inproc" (the handler, no socket)
	Timeout     time.Duration
}

// Event trigger kinds.
const (
	OnLeaderChange  = "leader-change"  // the leader differs from the one when the trigger was armed
	OnWrites        = "writes"         // count successful writes (all workloads)
	OnOps           = "ops"            // count successful operations (of workload, or all)
	OnKeyStoreState = "keystore-state" // store reaches state
	OnFired         = "fired"          // the fault named by After was injected (and finished)
)

// Fault is one entry of the fault schedule: when, what, for how long, how often.
type Fault struct {
	Pos    Pos
	Name   string // default fault-N
	Do     string // the action: a registered FaultKind
	At     Range  // time trigger, since the load started
	When   *Event // event trigger (instead of At)
	Delay  Range  // after the event
	For    Range  // undo after this long; zero: stays until the end of the run
	Repeat Repeat

	Node     string   // selector: leader, follower, random, n2, az:<name>, last-added
	Nodes    []string // partition: selectors of one side
	AZ       string
	From, To string   // one-way: selectors
	Between  []string // link: two AZ names, or two node selectors
	Latency  time.Duration
	Jitter   time.Duration
	Loss     float64
	Password string
	Store    string
	Cluster  string // update-keystore: the restored cluster's name (from restore-backup)
	// API is api-fault's rule at the AWS API, as JSON (package kms/awsapi/fault's Rule; the
	// file writes it as a mapping).
	API []byte

	// Expect is what an operator action must return: "ok" (default), or an error code
	// (CloudHsmClusterInvalidConfigurationException), or "any".
	Expect string
}

// Event is an event trigger.
type Event struct {
	Kind     string
	Count    int
	Workload string
	Store    string
	State    string
	After    string // arm the trigger only once this fault (by name) was injected
}

// Repeat injects a fault several times: Times injections, Every apart.
type Repeat struct {
	Times int
	Every Range
}

// Phases an error or latency budget applies to.
const (
	DuringAlways     = "always"      // the whole load phase
	DuringSteady     = "steady"      // no fault active (after grace)
	DuringFaults     = "faults"      // some fault active
	DuringMajorityUp = "majority-up" // a majority of the voters is up and reachable
)

// Expect is what must hold for the scenario to pass.
type Expect struct {
	NoLostKeys     bool // every acknowledged key is on every node after heal; every ciphertext decrypts
	Converged      bool // every node's token digest identical after heal
	Linearizable   bool // key histories linearizable (porcupine)
	ConvergeWithin time.Duration
	Failover       time.Duration // after a fault that takes the leader away, a new leader within
	WriteRecovery  time.Duration // after a fault, a successful write within
	Errors         []ErrorBudget
	ClientErrors   []ErrorCodes
	Latency        []LatencyBudget
	Idle           []IdleBudget
	KeyStores      []KeyStoreExpect
	Throttled      []ThrottleBudget
}

// ThrottleBudget bounds how much of a workload's KMS traffic AWS's request quotas refused
// (ThrottlingException, with the capacity profile): "the app stayed under the quota".
type ThrottleBudget struct {
	Pos      Pos
	Workload string  // empty: every workload
	Max      int     // throttled operations at most (-1: not checked)
	MaxShare float64 // throttled share of the operations at most (0..1; -1: not checked)
}

// ErrorBudget bounds the failed operations of a workload in a phase.
type ErrorBudget struct {
	Pos      Pos
	Workload string // empty: every workload
	During   string
	Max      int     // failed operations at most (-1: not checked)
	MaxRate  float64 // failed fraction at most (0..1; -1: not checked)
	Grace    time.Duration
}

// ErrorCodes says which exact error codes a workload's clients may see, and must see.
type ErrorCodes struct {
	Pos      Pos
	Workload string
	Allowed  []string
	MustSee  []string
}

// LatencyBudget bounds the latency of a workload's successful operations.
type LatencyBudget struct {
	Pos      Pos
	Workload string
	During   string
	P50, P99 time.Duration
	Max      time.Duration
	Grace    time.Duration
}

// IdleBudget is a throughput floor: within the phase, a workload never goes longer than Max
// without completing an operation successfully (a stalled application, even if nothing fails).
type IdleBudget struct {
	Pos      Pos
	Workload string
	During   string
	Max      time.Duration
	Grace    time.Duration // each phase interval's first Grace is not counted
}

// KeyStoreExpect is a custom key store state that must be reached.
type KeyStoreExpect struct {
	Pos    Pos
	Store  string
	State  string // CONNECTED, FAILED, DISCONNECTED, ...
	Code   string // ConnectionErrorCode, with FAILED
	After  string // fault name: reached after that fault was injected; empty: at the end
	Within time.Duration
}

// Profile returns the scenario as the short profile runs it: duration, rates and fault times
// scaled.
func (s *Scenario) Profile(short bool) *Scenario {
	out := *s
	if !short {
		return &out
	}
	p := s.Short
	if p.Duration == 0 {
		p.Duration = s.Duration
	}
	if p.RateScale == 0 {
		p.RateScale = 1
	}
	if p.TimeScale == 0 {
		p.TimeScale = float64(p.Duration) / float64(s.Duration)
	}
	out.Duration = p.Duration
	out.Workloads = append([]Workload(nil), s.Workloads...)
	for i := range out.Workloads {
		out.Workloads[i].Rate *= p.RateScale
	}
	out.Faults = append([]Fault(nil), s.Faults...)
	for i := range out.Faults {
		f := &out.Faults[i]
		f.At, f.Delay, f.For = f.At.Scale(p.TimeScale), f.Delay.Scale(p.TimeScale), f.For.Scale(p.TimeScale)
		f.Repeat.Every = f.Repeat.Every.Scale(p.TimeScale)
	}
	return &out
}

// Fault returns the fault named name.
func (s *Scenario) Fault(name string) *Fault {
	for i := range s.Faults {
		if s.Faults[i].Name == name {
			return &s.Faults[i]
		}
	}
	return nil
}

// Workload returns the workload named name.
func (s *Scenario) Workload(name string) *Workload {
	for i := range s.Workloads {
		if s.Workloads[i].Name == name {
			return &s.Workloads[i]
		}
	}
	return nil
}

// NeedsKMS reports whether the scenario uses the KMS.
func (s *Scenario) NeedsKMS() bool {
	for _, st := range s.Setup {
		if st.Kind == StepKeyStore || st.Kind == StepKMSKey {
			return true
		}
	}
	for _, w := range s.Workloads {
		if w.Face == FaceKMS {
			return true
		}
	}
	return false
}
