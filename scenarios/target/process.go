package target

// Processes: the scenario's HSMs are separate "hsmsim hsmd" processes on loopback ports,
// started by this target (the first with --init, the others with --join), instead of
// kms/cloudhsm members in this process.
//
// What the engine and the fault injector do through a target works the same way where it can:
//   - clients dial the processes through the target's netsim.Network dialers, so the HSMs'
//     netsim listeners know each client by its endpoint name;
//   - network rules put in Net() (partitions, one-way cuts, links, pause as an isolation) are
//     mirrored to every running HSM with the Cluster.SetFaults admin RPC (rules as JSON), over a
//     control connection of its own (a node-style certificate issued from the customer CA the
//     init node keeps in its data directory) that no rule names, so it is never cut;
//   - kill is SIGKILL, restart starts the process again on its data directory, pause is
//     SIGSTOP and its undo SIGCONT (Freeze), and Raft timeouts reach each hsmd as
//     --raft-timeouts;
//   - node states, leaders and applied indexes come from each HSM's GetInfo, polled;
//   - children die with the runner (Pdeathsig on Linux) and what a killed runner left is reaped
//     by the next (leftovers.go).
//
//   - wipe deletes a killed HSM's directory and starts a fresh "hsmd --join" under its old id
//     (--hsm-id) and addresses (Rejoin); add-hsm starts a new joiner (Add); remove-hsm asks the
//     leader to take the HSM out through the Cluster service's Remove, then stops it (Remove).
//
//   - the KMS runs in this process over the hsmd processes (processkms.go).
//
//   - restore-backup asks the leader for a backup (the Cluster service's Backup, sealed under a
//     service key the runner keeps) and starts a new, related cluster of processes from it:
//     "hsmd --restore", then joiners (processrestore.go).
//
// Applied is GetInfo's applied index, Digest the token digest the Cluster service's Status
// gives when asked, and Holds logs in as each crypto user on one HSM and lists its objects.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/pki"
)

// ErrProcessMode is what a step Processes cannot carry out wraps.
var ErrProcessMode = errors.New("not supported with separate hsmd processes (--processes)")

// EnvBinary names the hsmsim binary Processes runs (else Options.Binary, else go build).
const EnvBinary = "HSMSIM_BIN"

// controlEndpoint is the netsim name of the runner's control connections (no rule names it).
const controlEndpoint = "scenario-control"

type procNode struct {
	label, az      string
	dir, api, raft string
	cmd            *exec.Cmd
	done           chan struct{} // closed when the process exited
	log            *os.File
	conn           *grpc.ClientConn // control connection (node certificate)
	info           *hsmpb.InfoResponse
	pushed         string // the rules last pushed to this process ("" none since it started)
}

// Processes runs the scenario's HSMs as separate "hsmsim hsmd" processes.
type Processes struct {
	base
	kmsFace
	region string
	bin    string
	caPEM  []byte
	ctlTLS credentials.TransportCredentials
	ctl    *netsim.Network
	pmu    sync.Mutex
	procs  map[string]*procNode // by label
	// clusters are the restored clusters' ids by name (guarded by base.mu); serviceKey seals
	// their backups (made at the first).
	clusters   map[string]string
	serviceKey []byte
	stop       chan struct{}
	stopped    sync.WaitGroup
}

// NewProcesses makes the target; Start brings it up.
func NewProcesses(o Options) *Processes {
	t := &Processes{ctl: netsim.New(0), procs: map[string]*procNode{}, clusters: map[string]string{}, stop: make(chan struct{})}
	t.init(o, t)
	return t
}

// Unsupported is ErrProcessMode.
func (t *Processes) Unsupported() error { return ErrProcessMode }

// Supports: hsmd processes run with any Raft timeouts (--raft-timeouts carries them).
func (t *Processes) Supports(cluster.Timeouts) error { return nil }

// Start starts the processes, one at a time (the first initializes the cluster, the others
// join it), and waits until every HSM is ACTIVE. On an error, everything started is stopped.
func (t *Processes) Start(ctx context.Context) (err error) {
	region, _, err := t.prepare()
	if err != nil {
		return err
	}
	t.region = region
	fixed := ""
	if !t.tempDir {
		fixed = t.dir
	}
	if r := ReapLeftovers(fixed, os.TempDir()); len(r.Killed)+len(r.Removed) > 0 {
		t.opts.Logger.Warn("reaped what a killed runner left", "killed", r.Killed, "removed", r.Removed)
	}
	if err := writePID(filepath.Join(t.dir, runnerPIDFile), os.Getpid()); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.bin, err = hsmsimBinary(ctx, t.opts.Binary, t.dir); err != nil {
		return err
	}
	t.net = netsim.New(t.opts.Seed)
	var first *procNode
	for _, a := range t.opts.AZs {
		for i := 0; i < a.HSMs; i++ {
			how := []string{"--init", "--admin-password", AdminPassword}
			if first != nil {
				how = t.joinArgs(first.api)
			}
			n, err := t.launch(ctx, a.AZ, "", how)
			if err != nil {
				return err
			}
			if first == nil {
				first = n
			}
		}
	}
	if id, err := cluster.NodeDir(first.dir).ReadIdentity(); err == nil {
		t.clusterID = id.ClusterID
	}
	t.stopped.Add(2)
	go t.poll()
	go t.mirror()
	if err := t.waitActive(ctx, 30*time.Second); err != nil {
		return err
	}
	if t.opts.KMS {
		return t.startKMS(&t.base, region, t, nil)
	}
	return nil
}

// launch starts a new HSM of the cluster name ("" the scenario's) in az under the next label,
// how it takes its place given by how: the very first makes the scenario's cluster with --init,
// and its customer CA becomes the runner's (control); the others join a cluster (joinArgs:
// through the peers' APIs, certificates from the runner's copy of the customer CA, so a wiped or
// removed first HSM takes nothing with it) or restore one (processrestore.go).
func (t *Processes) launch(ctx context.Context, az, name string, how []string) (*procNode, error) {
	label := t.nextLabel()
	n := &procNode{label: label, az: az, dir: filepath.Join(t.dir, label)}
	var err error
	if n.api, err = freePort(); err != nil {
		return nil, err
	}
	if n.raft, err = freePort(); err != nil {
		return nil, err
	}
	args := append([]string{"--listen", n.api, "--raft-listen", n.raft, "--az", az}, how...)
	if err := t.start(n, args...); err != nil {
		return nil, err
	}
	id, err := waitIdentity(ctx, n)
	if err != nil {
		return nil, err
	}
	if t.ctlTLS == nil {
		if err := t.control(cluster.NodeDir(n.dir)); err != nil {
			return nil, err
		}
	}
	if n.conn, err = t.dialControl(n.api); err != nil {
		return nil, err
	}
	t.net.Register(n.api, netsim.Endpoint{Name: id, AZ: az})
	t.pmu.Lock()
	t.procs[label] = n
	t.pmu.Unlock()
	t.addNode(id, az, name)
	return n, nil
}

// joinArgs are the flags of an hsmd joining through the API addresses peers.
func (t *Processes) joinArgs(peers ...string) []string {
	return []string{"--join", strings.Join(peers, ","), "--ca-cert", filepath.Join(t.dir, caCertFile), "--ca-key", filepath.Join(t.dir, caKeyFile)}
}

// The runner's copy of the customer CA (certificate and key), beside the HSMs' directories.
const caCertFile, caKeyFile = "customer-ca.crt", "customer-ca.key"

// hsmsimBinary is the binary to run: given, $HSMSIM_BIN, or built from this module into dir.
func hsmsimBinary(ctx context.Context, given, dir string) (string, error) {
	if given != "" {
		return given, nil
	}
	if b := os.Getenv(EnvBinary); b != "" {
		return b, nil
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	mod := strings.TrimSpace(string(out))
	if err != nil || mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("target: no hsmsim binary: set $%s or run inside the hsmsim module (%v)", EnvBinary, err)
	}
	bin := filepath.Join(dir, "bin", "hsmsim")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/hsmsim")
	cmd.Dir = filepath.Dir(mod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("target: building hsmsim: %v\n%s", err, b)
	}
	return bin, nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs "hsmsim hsmd" on n's data directory with args (none: a restart).
func (t *Processes) start(n *procNode, args ...string) error {
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return err
	}
	if n.log == nil {
		f, err := os.OpenFile(n.dir+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		n.log = f
	}
	all := append([]string{"hsmd", "--data-dir", n.dir, "--log-level", "warn"}, args...)
	if to := t.opts.Timeouts; to != (cluster.Timeouts{}) && to != cluster.DefaultTimeouts() {
		all = append(all, "--raft-timeouts", to.String())
	}
	if t.opts.Capacity != "" { // each hsmd holds itself to its type's rates
		all = append(all, "--capacity", t.opts.Capacity)
		if t.opts.HsmType != "" {
			all = append(all, "--hsm-type", t.opts.HsmType)
		}
	}
	cmd := exec.Command(t.bin, all...)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	cmd.SysProcAttr = childAttr() // dies with the runner (Linux)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("target: starting %s: %w", n.label, err)
	}
	if err := writePID(n.dir+".pid", cmd.Process.Pid); err != nil { // for ReapLeftovers, if the runner is killed
		_ = cmd.Process.Kill()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.pmu.Lock()
	n.cmd, n.done, n.pushed, n.info = cmd, done, "", nil
	t.pmu.Unlock()
	return nil
}

func running(n *procNode) bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// waitIdentity waits until the new HSM has its place (hsmd writes its identity then) and
// returns its id.
func waitIdentity(ctx context.Context, n *procNode) (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if id, err := cluster.NodeDir(n.dir).ReadIdentity(); err == nil && id.NodeID != "" {
			return id.NodeID, nil
		}
		if !running(n) {
			return "", fmt.Errorf("target: hsmd %s exited while starting (log %s.log): %s", n.label, n.dir, tail(n.dir+".log"))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("target: hsmd %s did not take its place within 60s (log %s.log): %s", n.label, n.dir, tail(n.dir+".log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return strings.TrimSpace(string(b))
}

// control reads the customer CA from the init node's directory and issues the runner a
// node-style certificate (an hsm- common name), which the Cluster service requires.
func (t *Processes) control(initDir cluster.NodeDir) error {
	ca, err := initDir.CustomerCA()
	if err != nil {
		return err
	}
	caPEM := ca.CertPEM
	keyPEM, err := os.ReadFile(initDir.CustomerCAKeyPath())
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(t.dir, caCertFile), caPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(t.dir, caKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	cert, key, err := ca.Issue(cluster.NewHSMID(), nil, true)
	if err != nil {
		return err
	}
	cfg, err := pki.ClientTLS(caPEM, "127.0.0.1", cert, key)
	if err != nil {
		return err
	}
	t.caPEM, t.ctlTLS = caPEM, credentials.NewTLS(cfg)
	return nil
}

func (t *Processes) dialControl(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(t.ctlTLS),
		grpc.WithContextDialer(t.ctl.Dialer(netsim.Endpoint{Name: controlEndpoint})))
}

func (t *Processes) proc(label string) *procNode {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	return t.procs[label]
}

// poll asks every running HSM for its view (GetInfo) every 50 ms.
func (t *Processes) poll() {
	defer t.stopped.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		t.pmu.Lock()
		nodes := make([]*procNode, 0, len(t.procs))
		for _, n := range t.procs {
			nodes = append(nodes, n)
		}
		t.pmu.Unlock()
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				info, err := t.info(n)
				t.pmu.Lock()
				if err == nil {
					n.info = info
				} else if !running(n) {
					n.info = nil
				}
				t.pmu.Unlock()
			}()
		}
		wg.Wait()
	}
}

func (t *Processes) info(n *procNode) (*hsmpb.InfoResponse, error) {
	t.pmu.Lock()
	up, conn := running(n), n.conn
	t.pmu.Unlock()
	if !up || conn == nil {
		return nil, errors.New("not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return hsmpb.NewHSMClient(conn).GetInfo(ctx, &hsmpb.Empty{})
}

// mirror pushes Net()'s rules to every running HSM whenever they changed (or it restarted).
func (t *Processes) mirror() {
	defer t.stopped.Done()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-tick.C:
		}
		var rules []string
		for _, r := range t.net.Rules() {
			b, err := json.Marshal(r)
			if err == nil {
				rules = append(rules, string(b))
			}
		}
		key := "[" + strings.Join(rules, ",") + "]"
		t.pmu.Lock()
		var todo []*procNode
		for _, n := range t.procs {
			if running(n) && n.pushed != key && n.conn != nil {
				todo = append(todo, n)
			}
		}
		t.pmu.Unlock()
		var wg sync.WaitGroup
		for _, n := range todo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				if _, err := clusterpb.NewClusterClient(n.conn).SetFaults(ctx, &clusterpb.SetFaultsRequest{Clear: true, RulesJson: rules}); err == nil {
					t.pmu.Lock()
					n.pushed = key
					t.pmu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
}

// fill sets what the last GetInfo of the HSM said.
func (t *Processes) fill(n *node, ni *NodeInfo) {
	pn := t.proc(n.label)
	if pn == nil {
		return
	}
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if !running(pn) {
		return
	}
	ni.Up, ni.State = true, "UNREACHABLE"
	if pn.info == nil {
		return
	}
	ni.LeaderID = pn.info.LeaderId
	ni.Leader = pn.info.LeaderId != "" && pn.info.LeaderId == n.id
	for _, m := range pn.info.Members {
		if m.Id == n.id {
			ni.State = m.State
		}
	}
}

// Kill stops an HSM with SIGKILL; its data directory stays.
func (t *Processes) Kill(label string) error {
	n := t.proc(label)
	if n == nil || !running(n) {
		return fmt.Errorf("target: %s is not running", label)
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-n.done
	t.pmu.Lock()
	n.info = nil
	t.pmu.Unlock()
	return nil
}

// Freeze stops an HSM's process with SIGSTOP, as the pause fault asks: the kernel keeps its
// sockets open and queues what peers send, but the process neither reads nor answers until
// thaw sends SIGCONT. thaw does nothing to a process that exited meanwhile.
func (t *Processes) Freeze(label string) (thaw func() error, err error) {
	n := t.proc(label)
	if n == nil || !running(n) {
		return nil, fmt.Errorf("target: %s is not running", label)
	}
	p := n.cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		return nil, err
	}
	return func() error {
		if err := p.Signal(syscall.SIGCONT); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return err
		}
		return nil
	}, nil
}

// Restart starts a killed HSM's process again on its data directory and addresses, and
// waits until it answers.
func (t *Processes) Restart(ctx context.Context, label string) error {
	n := t.proc(label)
	if n == nil {
		return fmt.Errorf("target: no node %s", label)
	}
	if running(n) {
		return fmt.Errorf("target: %s is running", label)
	}
	if err := t.start(n); err != nil {
		return err
	}
	return t.serving(ctx, n, "restart", false)
}

// peers are the API addresses of the running HSMs of the cluster name ("" the scenario's) but
// except.
func (t *Processes) peers(name, except string) []string {
	var out []string
	for _, n := range t.Nodes() {
		if pn := t.proc(n.Label); pn != nil && n.Cluster == name && n.Up && !n.Removed && n.Label != except {
			out = append(out, pn.api)
		}
	}
	return out
}

// serving waits until the HSM's process answers GetInfo (what, for the error: why it started),
// and with active until its GetInfo says it is ACTIVE too.
func (t *Processes) serving(ctx context.Context, n *procNode, what string, active bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := t.info(n); err == nil && (!active || t.state(n.label) == "ACTIVE") {
			return nil
		}
		if !running(n) {
			return fmt.Errorf("target: hsmd %s exited on %s: %s", n.label, what, tail(n.dir+".log"))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("target: hsmd %s not serving 30s after its %s (state %s)", n.label, what, t.state(n.label))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (t *Processes) state(label string) string {
	for _, n := range t.Nodes() {
		if n.Label == label {
			return n.State
		}
	}
	return ""
}

// Rejoin deletes a killed HSM's data directory and starts a fresh "hsmsim hsmd --join" under its
// old id (--hsm-id) on its old addresses, as a replaced disk: the leader takes the old member
// out of the configuration, stages the new one, which catches up from a snapshot and the log,
// and promotes it (the cluster's Join). It returns once the HSM is ACTIVE.
func (t *Processes) Rejoin(ctx context.Context, label string) error {
	n := t.proc(label)
	nn, err := t.node(label)
	if n == nil || err != nil {
		return fmt.Errorf("target: no node %s", label)
	}
	if running(n) {
		if err := t.Kill(label); err != nil {
			return err
		}
	}
	peers := t.peers(nn.cluster, label)
	if len(peers) == 0 {
		return fmt.Errorf("target: %s has no running peer to rejoin through", label)
	}
	if err := os.RemoveAll(n.dir); err != nil {
		return err
	}
	args := append([]string{"--listen", n.api, "--raft-listen", n.raft, "--az", n.az, "--hsm-id", t.ID(label)}, t.joinArgs(peers...)...)
	if err := t.start(n, args...); err != nil {
		return err
	}
	if _, err := waitIdentity(ctx, n); err != nil {
		return err
	}
	return t.serving(ctx, n, "rejoin", true)
}

// Add starts a new hsmd process in az that joins the scenario's cluster (as CreateHsm adds an
// HSM), and returns its label once it is ACTIVE.
func (t *Processes) Add(ctx context.Context, az string) (string, error) {
	peers := t.peers("", "")
	if len(peers) == 0 {
		return "", errors.New("target: no running HSM to join through")
	}
	n, err := t.launch(ctx, az, "", t.joinArgs(peers...))
	if err != nil {
		return "", err
	}
	return n.label, t.serving(ctx, n, "start", true)
}

// Remove takes an HSM out of the cluster as DeleteHsm does: the Cluster service's Remove,
// asked of another running HSM over its control connection and following redirects to the
// leader, then its process stopped (SIGTERM) and its data directory deleted.
func (t *Processes) Remove(ctx context.Context, label string) error {
	n, err := t.node(label)
	if err != nil {
		return err
	}
	if t.isRemoved(n) {
		return fmt.Errorf("target: %s is already removed", label)
	}
	if via := t.peers(n.cluster, label); len(via) > 0 {
		if err := t.removeMember(ctx, via, n.id); err != nil {
			return fmt.Errorf("target: removing %s from the cluster: %w", label, err)
		}
	}
	t.mu.Lock()
	n.removed = true
	t.mu.Unlock()
	pn := t.proc(label)
	if pn != nil && running(pn) {
		_ = pn.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-pn.done:
		case <-time.After(5 * time.Second):
			_ = pn.cmd.Process.Kill()
			<-pn.done
		}
	}
	if pn != nil {
		_ = os.RemoveAll(pn.dir)
	}
	return nil
}

// removeMember asks the HSMs at via in turn to remove id, following a redirect to the leader,
// until one did or ctx ends.
func (t *Processes) removeMember(ctx context.Context, via []string, id string) error {
	byAPI := map[string]*grpc.ClientConn{}
	t.pmu.Lock()
	for _, n := range t.procs {
		byAPI[n.api] = n.conn
	}
	t.pmu.Unlock()
	var last error
	for {
		for _, addr := range via {
			for hops := 0; hops < 5 && addr != ""; hops++ {
				conn := byAPI[addr]
				if conn == nil {
					last = fmt.Errorf("redirected to %s, no HSM of this run", addr)
					break
				}
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				r, err := clusterpb.NewClusterClient(conn).Remove(cctx, &clusterpb.RemoveRequest{Id: id})
				cancel()
				if err != nil {
					last = err
					break
				}
				if r.Redirect == "" {
					return nil
				}
				addr = r.Redirect
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (t *Processes) clientNodes() ([]client.Node, []byte, error) {
	var out []client.Node
	for _, n := range t.Nodes() {
		if pn := t.proc(n.Label); pn != nil && !n.Removed && n.Cluster == "" {
			out = append(out, client.Node{ID: n.ID, AZ: n.AZ, Addr: pn.api})
		}
	}
	return out, t.caPEM, nil
}

// PKCS11Config writes the client config file libhsmsim-pkcs11.so reads (the processes'
// addresses, the customer CA as trust anchor) and returns its path.
func (t *Processes) PKCS11Config() (string, error) {
	anchor := filepath.Join(t.dir, "trust-anchor.crt")
	if err := os.WriteFile(anchor, t.caPEM, 0o600); err != nil {
		return "", err
	}
	nodes, _, _ := t.clientNodes()
	return t.writePKCS11Config(&client.FileConfig{ClusterID: t.clusterID, TrustAnchor: anchor, Nodes: nodes})
}

// Close stops every process (SIGKILL) and removes a temporary directory.
func (t *Processes) Close() {
	t.closeKMS()
	close(t.stop)
	t.stopped.Wait()
	t.pmu.Lock()
	nodes := t.procs
	t.pmu.Unlock()
	for _, n := range nodes {
		if running(n) {
			_ = n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.done
		}
		if n.conn != nil {
			_ = n.conn.Close()
		}
		if n.log != nil {
			_ = n.log.Close()
		}
		_ = os.Remove(n.dir + ".pid")
	}
	_ = os.Remove(filepath.Join(t.dir, runnerPIDFile))
	t.removeDir()
}

// Applied is a running HSM's applied index as its GetInfo says now (ok false when it does not
// answer).
func (t *Processes) Applied(label string) (uint64, bool) {
	n := t.proc(label)
	if n == nil {
		return 0, false
	}
	info, err := t.info(n)
	if err != nil {
		return 0, false
	}
	return info.AppliedIndex, true
}

// Digest is a running HSM's token digest (hex), asked of its Cluster service (Status with
// with_digest) over the control connection; ok false when it does not answer, or its token
// moved while it hashed it (settle asks again).
func (t *Processes) Digest(label string) (string, bool) {
	n := t.proc(label)
	if n == nil {
		return "", false
	}
	t.pmu.Lock()
	up, conn := running(n), n.conn
	t.pmu.Unlock()
	if !up || conn == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := clusterpb.NewClusterClient(conn).Status(ctx, &clusterpb.StatusRequest{WithDigest: true})
	if err != nil || st.TokenDigest == "" {
		return "", false
	}
	return st.TokenDigest, true
}

// Holds says which of handles one HSM holds, as the given crypto users see its token: it logs in
// as each on that HSM alone and lists the objects (FindObjects over the node API), the stand-in
// for reading the token.
func (t *Processes) Holds(ctx context.Context, label string, handles []uint32, users map[string]string) (map[uint32]bool, error) {
	n := t.proc(label)
	if n == nil {
		return nil, fmt.Errorf("target: no node %s", label)
	}
	have := map[uint32]bool{}
	for user, pw := range users {
		cl, err := client.Dial(client.Config{Addr: n.api, CAPEM: t.caPEM, Dialer: t.ctl.Dialer(netsim.Endpoint{Name: controlEndpoint}),
			AttemptTimeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		hs, err := func() ([]uint32, error) {
			defer cl.Close()
			if _, err := cl.Login(ctx, user, pw); err != nil {
				return nil, fmt.Errorf("login %s: %w", user, err)
			}
			defer func() { _ = cl.Logout(context.WithoutCancel(ctx)) }()
			return cl.FindObjects(ctx, nil)
		}()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
		for _, h := range hs {
			have[h] = true
		}
	}
	out := map[uint32]bool{}
	for _, h := range handles {
		if have[h] {
			out[h] = true
		}
	}
	return out, nil
}
