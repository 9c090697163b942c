package netsim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Endpoint is one participant of the network: a node ("hsm-abc" in AZ "us-east-1a") or a client
// ("client-1", AZ ""). Names must be unique within a Network.
type Endpoint struct {
	Name string `json:"name"`
	AZ   string `json:"az,omitempty"`
}

// maxName bounds endpoint names and AZs (they travel in the preamble).
const maxName = 1024

func (ep Endpoint) validate() error {
	if ep.Name == "" || len(ep.Name) > maxName || len(ep.AZ) > maxName {
		return fmt.Errorf("%w: %+v", ErrInvalidEndpoint, ep)
	}
	return nil
}

// Timing holds the time constants of the simulated TCP. A zero field means its default.
type Timing struct {
	// Retransmit is how long a lost write stalls before its first retransmission (default 200 ms).
	Retransmit time.Duration
	// Break is how long bytes may be held by a partition before their connection is reset; it
	// also bounds the drain of a closed connection (default 10 s).
	Break time.Duration
	// Dial bounds a black-holed dial whose context has no deadline, and the wait for a preamble
	// on an accepted connection (default 10 s).
	Dial time.Duration
}

// Default timing values.
const (
	DefaultRetransmit = 200 * time.Millisecond
	DefaultBreak      = 10 * time.Second
	DefaultDial       = 10 * time.Second
)

const (
	// sendBuffer is how many bytes a connection accepts from Write before delivering them (a
	// socket send buffer); past it Write blocks.
	sendBuffer = 4 << 20
	// maxRetransmits bounds the consecutive losses of one write.
	maxRetransmits = 6
)

// dir is one direction between two names (endpoints or AZs).
type dir struct{ from, to string }

// Network is one rule set and the connections it governs. It is safe for concurrent use.
type Network struct {
	mu      sync.Mutex
	rng     *rand.Rand
	timing  Timing
	addrs   map[string]Endpoint
	cut     map[dir]bool
	iso     map[string]bool
	links   map[dir]Link
	azLinks map[dir]Link
	// changed is closed (and replaced) whenever the rules change, to wake waiters.
	changed chan struct{}
	conns   map[*conn]struct{}
}

// New returns a Network with no rules. seed drives all jitter and loss decisions.
func New(seed int64) *Network {
	return &Network{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x6e657473696d)),
		timing:  Timing{Retransmit: DefaultRetransmit, Break: DefaultBreak, Dial: DefaultDial},
		addrs:   map[string]Endpoint{},
		cut:     map[dir]bool{},
		iso:     map[string]bool{},
		links:   map[dir]Link{},
		azLinks: map[dir]Link{},
		changed: make(chan struct{}),
		conns:   map[*conn]struct{}{},
	}
}

// SetTiming replaces the timing constants; zero fields take their defaults. It affects waits
// that start afterwards.
func (n *Network) SetTiming(t Timing) {
	if t.Retransmit <= 0 {
		t.Retransmit = DefaultRetransmit
	}
	if t.Break <= 0 {
		t.Break = DefaultBreak
	}
	if t.Dial <= 0 {
		t.Dial = DefaultDial
	}
	n.mu.Lock()
	n.timing = t
	n.mu.Unlock()
}

func (n *Network) getTiming() Timing {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.timing
}

// Register records that addr is served by ep, so a dialer knows whom it dials. Listen registers
// its own address; Register is for addresses served by other processes. A later registration
// of the same address replaces the earlier one.
func (n *Network) Register(addr string, ep Endpoint) {
	n.mu.Lock()
	n.addrs[addr] = ep
	n.mu.Unlock()
}

// lookup finds the endpoint serving addr: the exact string, else any loopback or unspecified
// address with the same port.
func (n *Network) lookup(addr string) (Endpoint, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ep, ok := n.addrs[addr]; ok {
		return ep, true
	}
	port, local := loopbackPort(addr)
	if !local {
		return Endpoint{}, false
	}
	for a, ep := range n.addrs {
		if p, l := loopbackPort(a); l && p == port {
			return ep, true
		}
	}
	return Endpoint{}, false
}

// loopbackPort returns addr's port and whether its host is this machine.
func loopbackPort(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	if host == "" || host == "localhost" {
		return port, true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	return port, ip.IsLoopback() || ip.IsUnspecified()
}

// notifyLocked wakes everything waiting for a rule change. n.mu must be held.
func (n *Network) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// Partition cuts both directions between endpoints a and b, replacing any partition between them.
func (n *Network) Partition(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[dir{a, b}] = true
	n.cut[dir{b, a}] = true
	n.notifyLocked()
}

// PartitionOneWay cuts from→to and leaves to→from open, replacing any partition between them.
func (n *Network) PartitionOneWay(from, to string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[dir{from, to}] = true
	delete(n.cut, dir{to, from})
	n.notifyLocked()
}

// IsolateAZ cuts az off from every other AZ, both ways. Endpoints without an AZ are unaffected.
func (n *Network) IsolateAZ(az string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.iso[az] = true
	n.notifyLocked()
}

// SetLink shapes the bytes endpoint from sends to endpoint to (one direction: call it twice for a
// symmetric link). A zero Link removes the rule; negative durations count as zero and Loss is
// clamped to [0, 1].
func (n *Network) SetLink(from, to string, l Link) {
	n.setLink(n.links, dir{from, to}, l.clamp())
}

// SetAZLink shapes the bytes sent from endpoints in fromAZ to endpoints in toAZ, where no SetLink
// rule names the pair. Otherwise as SetLink.
func (n *Network) SetAZLink(fromAZ, toAZ string, l Link) {
	n.setLink(n.azLinks, dir{fromAZ, toAZ}, l.clamp())
}

func (n *Network) setLink(m map[dir]Link, d dir, l Link) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l == (Link{}) {
		delete(m, d)
	} else {
		m[d] = l
	}
	n.notifyLocked()
}

// Heal removes every rule. Held bytes are delivered and black-holed dials proceed.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	clear(n.iso)
	clear(n.links)
	clear(n.azLinks)
	n.notifyLocked()
}

// Clear removes every rule; it is Heal under the name the admin surface uses beside Apply.
func (n *Network) Clear() { n.Heal() }

// HealPair removes the partitions and links between endpoints a and b, both directions. AZ rules
// stay.
func (n *Network) HealPair(a, b string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range []dir{{a, b}, {b, a}} {
		delete(n.cut, d)
		delete(n.links, d)
	}
	n.notifyLocked()
}

// Apply puts one rule in force, as the matching setter would, after checking it is well formed.
func (n *Network) Apply(r Rule) error {
	if err := r.Validate(); err != nil {
		return err
	}
	switch r.Kind {
	case KindPartition:
		n.Partition(r.From, r.To)
	case KindPartitionOneWay:
		n.PartitionOneWay(r.From, r.To)
	case KindIsolateAZ:
		n.IsolateAZ(r.AZ)
	case KindLink:
		n.SetLink(r.From, r.To, r.Link)
	case KindAZLink:
		n.SetAZLink(r.From, r.To, r.Link)
	}
	return nil
}

// Rules returns the rules in force, in a stable order: partitions, one-way partitions, isolated
// AZs, links, AZ links. Applying them to an empty Network reproduces this one's rules.
func (n *Network) Rules() []Rule {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Rule
	for d := range n.cut {
		if !n.cut[dir{d.to, d.from}] {
			out = append(out, Rule{Kind: KindPartitionOneWay, From: d.from, To: d.to})
		} else if d.from < d.to {
			out = append(out, Rule{Kind: KindPartition, From: d.from, To: d.to})
		}
	}
	for az := range n.iso {
		out = append(out, Rule{Kind: KindIsolateAZ, AZ: az})
	}
	for d, l := range n.links {
		out = append(out, Rule{Kind: KindLink, From: d.from, To: d.to, Link: l})
	}
	for d, l := range n.azLinks {
		out = append(out, Rule{Kind: KindAZLink, From: d.from, To: d.to, Link: l})
	}
	slices.SortFunc(out, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)),
			cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To), cmp.Compare(a.AZ, b.AZ))
	})
	return out
}

// Blocked reports whether the rules now cut the bytes from sends to to.
func (n *Network) Blocked(from, to Endpoint) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.blockedLocked(from, to)
}

func (n *Network) blockedLocked(from, to Endpoint) bool {
	if n.cut[dir{from.Name, to.Name}] {
		return true
	}
	return from.AZ != "" && to.AZ != "" && from.AZ != to.AZ && (n.iso[from.AZ] || n.iso[to.AZ])
}

// state reports whether from→to is cut (or, with both, either direction), with a channel closed
// at the next rule change and the timing in force.
func (n *Network) state(from, to Endpoint, both bool) (bool, <-chan struct{}, Timing) {
	n.mu.Lock()
	defer n.mu.Unlock()
	b := n.blockedLocked(from, to) || (both && n.blockedLocked(to, from))
	return b, n.changed, n.timing
}

func (n *Network) linkLocked(from, to Endpoint) (Link, bool) {
	if l, ok := n.links[dir{from.Name, to.Name}]; ok {
		return l, true
	}
	if from.AZ != "" && to.AZ != "" {
		l, ok := n.azLinks[dir{from.AZ, to.AZ}]
		return l, ok
	}
	return Link{}, false
}

// latency is the fixed part of the from→to link, without random decisions.
func (n *Network) latency(from, to Endpoint) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, _ := n.linkLocked(from, to)
	return l.Latency
}

// delay decides how long one write from→to takes to be delivered. It draws from the seeded
// generator: jitter first, then one draw per loss decision.
func (n *Network) delay(from, to Endpoint) time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	l, ok := n.linkLocked(from, to)
	if !ok {
		return 0
	}
	return n.drawLocked(l)
}

func (n *Network) drawLocked(l Link) time.Duration {
	d := l.Latency
	if l.Jitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(l.Jitter)))
	}
	if l.Loss > 0 {
		rto := n.timing.Retransmit
		for i := 0; i < maxRetransmits && n.rng.Float64() < l.Loss; i++ {
			d += rto
			rto *= 2
		}
	}
	return d
}

// CloseConns abruptly resets every live connection to or from the named endpoint, as a killed
// process would. Listeners are left alone.
func (n *Network) CloseConns(endpoint string) {
	n.mu.Lock()
	var victims []*conn
	for c := range n.conns {
		if c.local.Name == endpoint || c.remote.Name == endpoint {
			victims = append(victims, c)
		}
	}
	n.mu.Unlock()
	for _, c := range victims {
		c.abort(ErrReset)
	}
}

func (n *Network) track(c *conn) {
	n.mu.Lock()
	n.conns[c] = struct{}{}
	n.mu.Unlock()
}

func (n *Network) untrack(c *conn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}
