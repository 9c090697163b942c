package cluster

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Timeouts are the time constants of a member. Zero fields take their DefaultTimeouts value.
type Timeouts struct {
	// Heartbeat is how long a follower goes without hearing from the leader before it starts an
	// election (Raft randomizes it between 1x and 2x).
	Heartbeat time.Duration
	// Election is how long a candidate waits for votes before trying again (randomized likewise).
	Election time.Duration
	// LeaderLease is how long a leader goes without reaching a quorum before it steps down. It
	// must not exceed Heartbeat.
	LeaderLease time.Duration
	// Commit is the longest the leader waits before sending new entries (Raft's CommitTimeout).
	Commit time.Duration
	// Apply bounds one write end to end on the node the client called: waiting for a leader,
	// forwarding, committing and applying. When it runs out the write is refused with ErrNoQuorum.
	Apply time.Duration
	// Transport bounds the I/O of one Raft RPC between nodes.
	Transport time.Duration
	// Health is the period of the health check (HSM state, polling the other members).
	Health time.Duration
}

// DefaultTimeouts give a median failover well under 2 s on loopback: a follower notices a dead
// leader after 0.5 to 1 s and an election takes a round trip.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		Heartbeat:   500 * time.Millisecond,
		Election:    500 * time.Millisecond,
		LeaderLease: 250 * time.Millisecond,
		Commit:      10 * time.Millisecond,
		Apply:       5 * time.Second,
		Transport:   5 * time.Second,
		Health:      500 * time.Millisecond,
	}
}

// FastTimeouts are for tests: quick failover, yet slow enough not to flap on a loaded 2-core
// machine running the race detector.
func FastTimeouts() Timeouts {
	return Timeouts{
		Heartbeat:   250 * time.Millisecond,
		Election:    250 * time.Millisecond,
		LeaderLease: 150 * time.Millisecond,
		Commit:      5 * time.Millisecond,
		Apply:       3 * time.Second,
		Transport:   2 * time.Second,
		Health:      200 * time.Millisecond,
	}
}

func (t Timeouts) withDefaults() Timeouts {
	d := DefaultTimeouts()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&t.Heartbeat, d.Heartbeat)
	set(&t.Election, d.Election)
	set(&t.LeaderLease, d.LeaderLease)
	set(&t.Commit, d.Commit)
	set(&t.Apply, d.Apply)
	set(&t.Transport, d.Transport)
	set(&t.Health, d.Health)
	return t
}

// Config describes one member: an HSM node and its place in the cluster.
type Config struct {
	NodeID  string // hsm-..., also the common name of CertPEM
	AZ      string
	DataDir string // hsm.db and node.key (the node), raft.db and snapshots/ (Raft)

	// APIAddr and RaftAddr are the listen addresses of the gRPC server (node API and Cluster
	// service) and of the Raft transport, "127.0.0.1:0" for any port. The addresses the
	// listeners got are what the member advertises; a restart should pass them again.
	APIAddr  string
	RaftAddr string
	// Bind, when set, is the host the listeners bind to instead of the addresses' host
	// (0.0.0.0 in a container, so a published port reaches them); the member still advertises
	// the addresses' host, with the port each listener got, because that is the name peers and
	// clients dial.
	Bind string
	// Socket, when set, is a Unix socket path the member also serves the node API on, for
	// clients on its host (hsmd/server/local.go; socket.go). A socket that cannot be made is
	// logged and skipped: clients fall back to APIAddr.
	Socket string

	// The node's certificate (ServerAuth and ClientAuth, issued by the trust anchor for the
	// hosts it is reached at) and the trust anchor.
	CertPEM, KeyPEM, CAPEM []byte

	// Network carries every connection (netsim). Nil: a private one with no rules.
	Network *netsim.Network

	NoSync   bool            // tests only: no fsync in the node store nor in raft.db
	KDF      token.KDFParams // zero: token.DefaultKDF
	Timeouts Timeouts

	// SnapshotThreshold is how many new log entries trigger a snapshot, TrailingLogs how many
	// entries a snapshot leaves in the log (so a slightly lagging follower catches up from the
	// log, a far one from the snapshot). Zero: DefaultSnapshotThreshold, DefaultTrailingLogs.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	// SnapshotInterval is how often Raft checks SnapshotThreshold. Zero: DefaultSnapshotInterval.
	SnapshotInterval time.Duration

	Logger *slog.Logger // nil: slog.Default()
	// RaftLogLevel is the level of Raft's own log lines passed to Logger: "warn" when empty.
	RaftLogLevel string

	// OnFatal is called once, from its own goroutine, after the state machine met an entry it
	// cannot apply or its store failed: by then the member has stopped (like a crash) and Err
	// reports the cause. A process hosting one member should exit non-zero; nil logs only.
	OnFatal func(error)
}

// The snapshot policy of a member whose Config leaves it zero. Raft's own defaults (8,192 new
// entries, 10,240 kept, checked every 30 s) kept over 10,000 entries in raft.db after each
// snapshot; here every entry is a key creation about as large as the key's record in the
// snapshot, so that log was as large as the token at CloudHSM's 16,666-key limit (the Scale
// section of docs/BENCHMARKS.md). With these, the log after a snapshot holds 1,024 entries; a
// follower further behind installs the snapshot instead (about 6 MB at the key limit). raft.db
// keeps its pages once grown (bbolt does not shrink files), so the interval matters too: it
// bounds how far the log grows between snapshots.
const (
	DefaultSnapshotThreshold = 2048
	DefaultTrailingLogs      = 1024
	DefaultSnapshotInterval  = 10 * time.Second
)

func (c *Config) check() error {
	if !ValidHSMID(c.NodeID) {
		return fmt.Errorf("cluster: node id %q is not of the form hsm-[2-7a-zA-Z]{11,16}", c.NodeID)
	}
	if c.AZ == "" || c.DataDir == "" {
		return fmt.Errorf("cluster: node %s needs an AZ and a data directory", c.NodeID)
	}
	if c.CertPEM == nil || c.KeyPEM == nil || c.CAPEM == nil {
		return fmt.Errorf("cluster: node %s needs its certificate, key and the trust anchor", c.NodeID)
	}
	if c.APIAddr == "" {
		c.APIAddr = "127.0.0.1:0"
	}
	if c.RaftAddr == "" {
		c.RaftAddr = "127.0.0.1:0"
	}
	if c.Network == nil {
		c.Network = netsim.New(0)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = DefaultSnapshotInterval
	}
	c.Timeouts = c.Timeouts.withDefaults()
	if c.Timeouts.LeaderLease > c.Timeouts.Heartbeat {
		return fmt.Errorf("cluster: leader lease %v exceeds heartbeat timeout %v", c.Timeouts.LeaderLease, c.Timeouts.Heartbeat)
	}
	return nil
}
