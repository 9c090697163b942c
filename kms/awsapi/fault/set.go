package fault

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// KeyStores is what a fail-keystore rule acts on: the KMS's custom key stores (kms.Server).
type KeyStores interface {
	// FailCustomKeyStore leaves a store FAILED with a ConnectionErrorCode, its connection to
	// the cluster dropped, and returns what puts it back.
	FailCustomKeyStore(id, code string) (undo func(), err error)
}

// Config shapes a Set.
type Config struct {
	// Seed seeds each rule's draws (with the rule's number) unless the rule has its own.
	Seed uint64
	// Now is the clock of expiries. Nil: time.Now.
	Now func() time.Time
}

// Set is the rules in force. It is the awsapi.Interceptor of an endpoint; its methods are safe
// for concurrent use.
type Set struct {
	cfg Config
	// live is what Intercept reads: the request rules in force, nil when there are none.
	live atomic.Pointer[[]*rule]

	mu     sync.Mutex
	rules  map[string]*rule
	seq    int
	stores KeyStores // nil: fail-keystore rules are refused
}

// UseKeyStores gives fail-keystore rules the KMS's key stores (the KMS is opened with the Set
// as its endpoint's interceptor, so it comes second).
func (s *Set) UseKeyStores(k KeyStores) {
	s.mu.Lock()
	s.stores = k
	s.mu.Unlock()
}

// rule is a Rule in force.
type rule struct {
	Rule
	hits  atomic.Int64
	timer *time.Timer
	undo  func() // what the rule did outside the request path (a failed key store)

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

// New makes an empty Set.
func New(cfg Config) *Set {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Set{cfg: cfg, rules: map[string]*rule{}}
}

// Add puts a rule in force until its For has passed (or Remove, or Clear) and returns it as
// in force: with its id and expiry.
func (s *Set) Add(r Rule) (Rule, error) {
	if err := r.Normalize(); err != nil {
		return Rule{}, err
	}
	var undo func()
	if r.Action == ActFailKeyStore {
		s.mu.Lock()
		stores := s.stores
		s.mu.Unlock()
		if stores == nil {
			return Rule{}, fmt.Errorf("fail-keystore: this endpoint has no custom key stores")
		}
		var err error
		if undo, err = stores.FailCustomKeyStore(r.Store, r.Code); err != nil {
			return Rule{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	r.ID = "api-" + strconv.Itoa(s.seq)
	r.Expires = s.cfg.Now().Add(time.Duration(r.For))
	seed := r.Seed
	if seed == 0 {
		seed = s.cfg.Seed
	}
	in := &rule{Rule: r, undo: undo, rng: rand.New(rand.NewPCG(seed, uint64(s.seq)))}
	id := r.ID
	in.timer = time.AfterFunc(time.Duration(r.For), func() { s.Remove(id) })
	s.rules[id] = in
	s.publish()
	return r, nil
}

// Remove ends a rule; false when none has that id.
func (s *Set) Remove(id string) bool {
	s.mu.Lock()
	r := s.rules[id]
	delete(s.rules, id)
	if r != nil {
		r.timer.Stop()
		s.publish()
	}
	s.mu.Unlock()
	if r != nil {
		s.undo(r)
	}
	return r != nil
}

// Clear ends every rule and says how many there were.
func (s *Set) Clear() int {
	s.mu.Lock()
	rules := s.rules
	s.rules = map[string]*rule{}
	for _, r := range rules {
		r.timer.Stop()
	}
	s.publish()
	s.mu.Unlock()
	for _, r := range rules {
		s.undo(r)
	}
	return len(rules)
}

// undo reverses what a rule did outside the request path.
func (s *Set) undo(r *rule) {
	if r.undo != nil {
		r.undo()
	}
}

// List returns the rules in force, oldest first, with their hits so far.
func (s *Set) List() []Rule {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Rule, 0, len(s.rules))
	for _, r := range s.rules {
		x := r.Rule
		x.Hits = r.hits.Load()
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return ruleNum(out[i].ID) < ruleNum(out[j].ID) })
	return out
}

func ruleNum(id string) int {
	n, _ := strconv.Atoi(id[len("api-"):])
	return n
}

// publish makes Intercept see the request rules in force, in the order they were added
// (callers hold mu).
func (s *Set) publish() {
	var live []*rule
	for _, r := range s.rules {
		if r.Action != ActFailKeyStore {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		s.live.Store(nil)
		return
	}
	sort.Slice(live, func(i, j int) bool { return ruleNum(live[i].ID) < ruleNum(live[j].ID) })
	s.live.Store(&live)
}

// draw says whether the rule acts on this request and, if so, its delay.
func (r *rule) draw() (act bool, delay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Probability != nil && r.rng.Float64() >= *r.Probability {
		return false, 0
	}
	if r.Latency != nil {
		delay = r.Latency.Draw(r.rng)
	}
	return true, delay
}
