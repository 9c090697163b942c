// Package target is what a scenario runs against: an HSM cluster the engine starts, loads,
// breaks and inspects. There are two, one per process layout, each its own type:
//
//   - InProcess (inprocess.go): hsmsim's CloudHSM service (kms/cloudhsm) in this process. The
//     scenario's cluster is made through the service's control plane as an operator makes one
//     (provision.go); every HSM is a real cluster.Member with its own data directory, TLS and
//     TCP on 127.0.0.1, every connection through the service's netsim.Network. When the
//     scenario needs it, the KMS runs over the service (kms.go).
//   - Processes (process.go): every HSM is a separate "hsmsim hsmd" process; network rules are
//     mirrored to the processes, kill is SIGKILL.
//
// Both give the engine the same view, written once in base: labels (n1, n2, ... in the order
// HSMs were created; never reused, kept across kills and wipes), node states, the leader, one
// netsim.Network whose rules faults set, and clients whose netsim endpoint names the engine
// knows. Powers beyond that (wipe, add and remove HSMs, restore a backup, run the KMS) are
// methods each target has its own way (both have them all today): a user that needs such a power
// asks for it with an interface of its own (package failpoint's Rejoiner, Resizer, Restorer,
// KMSHost), so a scenario needing a power the chosen target lacks is refused before anything
// starts.
//
// Two things are written here once, each in its own file, for shared code to replace: bringing
// up a cluster through the control plane (provision.go) and the layout of an hsmd data
// directory (nodedir.go).
package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// AdminPassword is the activated admin's password in every scenario cluster.
const AdminPassword = "scenarioAdmin1"

// KMSAccount is the account every scenario request acts for.
const KMSAccount = "111122223333"

// ErrUnsupported is what a scenario step InProcess cannot carry out would wrap (it has every
// power a scenario asks for); Processes has ErrProcessMode.
var ErrUnsupported = errors.New("not supported by the in-process target")

// AZCount is how many HSMs an AZ starts with.
type AZCount struct {
	AZ   string
	HSMs int
}

// Options shape the environment.
type Options struct {
	AZs      []AZCount
	Timeouts cluster.Timeouts
	// Seed seeds netsim's random draws (jitter, loss). Cluster and HSM ids are the service's.
	Seed   int64
	Dir    string // where data directories go; empty: a new temporary directory, removed at Close
	Logger *slog.Logger
	KMS    bool // run the KMS (and serve it on a loopback port); InProcess only
	// Capacity is the capacity profile (hsmd/capacity, kms/quota): "cloudhsm" or none; HsmType
	// the cluster's HSM type (default hsm2m.medium), whose rates the profile applies.
	Capacity, HsmType string
	// Binary is the hsmsim that Processes runs (empty: $HSMSIM_BIN, else built from this module).
	Binary string
}

// node is one HSM as the scenario knows it.
type node struct {
	label, id, az string
	cluster       string // "" the scenario's cluster; else the name of a restored cluster
	removed       bool
}

// NodeInfo is an HSM as the engine sees it.
type NodeInfo struct {
	Label, ID, AZ string
	// Cluster is "" for the scenario's cluster, else the name of the cluster restored from a
	// backup that holds the HSM.
	Cluster     string `json:",omitempty"`
	Up, Removed bool
	Leader      bool
	State       string // HSM state (ACTIVE, DEGRADED, CREATE_IN_PROGRESS), DOWN when not running
	LeaderID    string // the leader this node follows
}

// Region is the region of a list of AZs: each AZ is the region and one letter (us-east-1a).
func Region(azs []string) (string, error) {
	if len(azs) == 0 {
		return "", errors.New("target: a cluster needs at least one AZ")
	}
	region := azs[0][:len(azs[0])-1]
	for _, az := range azs {
		if len(az) < 2 || az[:len(az)-1] != region || az[len(az)-1] < 'a' || az[len(az)-1] > 'f' {
			return "", fmt.Errorf("target: AZ %q: every AZ must be one region and a letter a to f (us-east-1a, us-east-1b, ...)", az)
		}
	}
	return region, nil
}

// live is what base asks of the implementation that embeds it.
type live interface {
	// fill sets what is live about a running HSM: Up, Leader, State, LeaderID.
	fill(n *node, ni *NodeInfo)
	// clientNodes are where the scenario cluster's HSMs listen, and the CA that signed them.
	clientNodes() ([]client.Node, []byte, error)
}

// base is what both targets share: options, data directory, the labelled HSMs, the clients
// made, the network.
type base struct {
	opts      Options
	dir       string
	tempDir   bool
	net       *netsim.Network
	clusterID string
	impl      live

	mu      sync.Mutex
	nodes   []*node
	clients map[string]bool // netsim endpoint names of the clients made
}

func (b *base) init(o Options, impl live) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeouts == (cluster.Timeouts{}) {
		o.Timeouts = cluster.FastTimeouts()
	}
	b.opts, b.impl, b.clients = o, impl, map[string]bool{}
}

// prepare checks the cluster's shape and makes the data directory; it returns the region and
// how many HSMs the cluster starts with.
func (b *base) prepare() (region string, total int, err error) {
	var azs []string
	for _, a := range b.opts.AZs {
		azs = append(azs, a.AZ)
		total += a.HSMs
	}
	if region, err = Region(azs); err != nil {
		return "", 0, err
	}
	if total == 0 {
		return "", 0, errors.New("target: a cluster needs at least one HSM")
	}
	b.dir = b.opts.Dir
	if b.dir == "" {
		d, err := os.MkdirTemp("", "hsmsim-scenario-")
		if err != nil {
			return "", 0, err
		}
		b.dir, b.tempDir = d, true
	}
	return region, total, nil
}

// removeDir removes a temporary data directory (Close).
func (b *base) removeDir() {
	if b.tempDir {
		_ = os.RemoveAll(b.dir)
	}
}

// ClusterID is the scenario's cluster (the one workloads, setup and faults act on).
func (b *base) ClusterID() string { return b.clusterID }

// Net is the network every HSM and client connection goes through; faults set its rules.
func (b *base) Net() *netsim.Network { return b.net }

// nextLabel is the label the next HSM gets.
func (b *base) nextLabel() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return "n" + strconv.Itoa(len(b.nodes)+1)
}

// addNode labels a new HSM with the next label.
func (b *base) addNode(id, az, clusterName string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := &node{label: "n" + strconv.Itoa(len(b.nodes)+1), id: id, az: az, cluster: clusterName}
	b.nodes = append(b.nodes, n)
	return n.label
}

func (b *base) node(label string) (*node, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.nodes {
		if n.label == label {
			return n, nil
		}
	}
	return nil, fmt.Errorf("target: no node %s", label)
}

func (b *base) isRemoved(n *node) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return n.removed
}

// Nodes lists every HSM ever created (removed ones too), in the order they were created.
func (b *base) Nodes() []NodeInfo {
	b.mu.Lock()
	nodes := append([]*node(nil), b.nodes...)
	b.mu.Unlock()
	out := make([]NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		removed := b.isRemoved(n)
		ni := NodeInfo{Label: n.label, ID: n.id, AZ: n.az, Cluster: n.cluster, Removed: removed, State: "DOWN"}
		b.impl.fill(n, &ni)
		if removed {
			ni.State = "DELETED"
		}
		out = append(out, ni)
	}
	return out
}

// waitActive waits until every running HSM not removed is ACTIVE (a voter in touch with a
// leader), as CloudHSM reports HSMs before KMS counts them.
func (b *base) waitActive(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var waiting []string
		for _, n := range b.Nodes() {
			if n.Up && !n.Removed && n.State != "ACTIVE" {
				waiting = append(waiting, n.Label+" "+n.State)
			}
		}
		if len(waiting) == 0 {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("target: HSMs not ACTIVE after %s: %v", within, waiting)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Label returns the label of the HSM with id id ("" if none).
func (b *base) Label(id string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range b.nodes {
		if n.id == id {
			return n.label
		}
	}
	return ""
}

// ID is the HSM id of a label.
func (b *base) ID(label string) string {
	n, err := b.node(label)
	if err != nil {
		return ""
	}
	return n.id
}

// Leader is the label of the running HSM that leads the scenario's cluster ("" when none does).
func (b *base) Leader() string {
	for _, n := range b.Nodes() {
		if n.Cluster == "" && n.Up && !n.Removed && n.Leader {
			return n.Label
		}
	}
	return ""
}

// Endpoints are the netsim names of every HSM and client, for faults that cut an HSM off from
// everyone.
func (b *base) Endpoints() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, n := range b.nodes {
		out = append(out, n.id)
	}
	for c := range b.clients {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// addClient makes name one of the Endpoints.
func (b *base) addClient(name string) {
	b.mu.Lock()
	b.clients[name] = true
	b.mu.Unlock()
}

// Client dials every HSM of the scenario's cluster through the netsim endpoint name (not
// logged in). observe, if set, hears of every attempt.
func (b *base) Client(name string, observe func(client.Attempt)) (*client.Client, error) {
	return b.SessionClient(name, nil, observe)
}

// SessionClient is Client sharing sess (credential and read-your-writes index) with other
// clients; nil: a session of its own. Failover between the HSMs is the client's own.
func (b *base) SessionClient(name string, sess *client.Session, observe func(client.Attempt)) (*client.Client, error) {
	nodes, ca, err := b.impl.clientNodes()
	if err != nil {
		return nil, err
	}
	b.addClient(name)
	return client.Dial(client.Config{Nodes: nodes, CAPEM: ca, Dialer: b.net.Dialer(netsim.Endpoint{Name: name}),
		Session: sess, AttemptTimeout: b.attempt(), Observe: observe})
}

// attempt bounds one attempt of the engine's clients (and the PKCS#11 module's).
func (b *base) attempt() time.Duration { return b.opts.Timeouts.Apply + time.Second }

// Admin returns a client logged in as the admin.
func (b *base) Admin(ctx context.Context, name string) (*client.Client, error) {
	cl, err := b.Client(name, nil)
	if err != nil {
		return nil, err
	}
	if _, err := cl.Login(ctx, token.AdminName, AdminPassword); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// writePKCS11Config writes the client config file libhsmsim-pkcs11.so reads, with the module's
// log sent to a file beside it, and returns its path. The module runs its own Go runtime and
// dials the HSMs with plain TCP, so netsim sees its connections as the "external" endpoint
// (rules apply on the HSMs' side); Endpoints includes it from now on.
func (b *base) writePKCS11Config(cfg *client.FileConfig) (string, error) {
	cfg.LogFile = filepath.Join(b.dir, "pkcs11.log")
	cfg.LogLevel = "warn"
	cfg.Attempt = b.attempt().String() // as the engine's own clients
	path := filepath.Join(b.dir, "pkcs11-client.json")
	if err := cfg.Write(path); err != nil {
		return "", err
	}
	b.addClient(netsim.External.Name)
	return path, nil
}
