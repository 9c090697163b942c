package target

// Process mode: the scenario's HSMs are separate "hsmsim hsmd" processes on loopback ports,
// started by this package (the first with --init, the others with --join), instead of
// kms/cloudhsm members in this process.
//
// What the engine and the fault injector do through Env works the same way where it can:
//   - clients dial the processes through Env.Net's dialers, so the HSMs' netsim listeners know
//     each client by its endpoint name;
//   - network rules put in Env.Net (partitions, one-way cuts, links, pause as an isolation) are
//     mirrored to every running HSM with the Cluster.SetFaults admin RPC (rules as JSON), over a
//     control connection of its own (a node-style certificate issued from the customer CA the
//     init node keeps in pki/customerCA.key) that no rule names, so it is never cut;
//   - kill is SIGKILL, restart starts the process again on its data directory;
//   - node states, leaders and applied indexes come from each HSM's GetInfo, polled.
//
// What needs the in-process service is refused with ErrProcessMode: the KMS, wiping a node
// (rejoin with an empty directory), adding or removing HSMs, backups. A token's digest is not
// readable over the API: Env.State is nil in process mode; AppliedIndex and NodeHandles are the
// API's view for the final checks.

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

// ErrProcessMode is what a step process mode cannot carry out wraps.
var ErrProcessMode = errors.New("not supported with separate hsmd processes (--processes)")

// EnvBinary names the hsmsim binary process mode runs (else Options.Binary, else go build).
const EnvBinary = "HSMSIM_BIN"

// controlEndpoint is the netsim name of the runner's control connections (no rule names it).
const controlEndpoint = "scenario-control"

func errProcess(what string) error { return fmt.Errorf("target: %s: %w", what, ErrProcessMode) }

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

type procCluster struct {
	bin     string
	fast    bool
	caPEM   []byte
	ctlTLS  credentials.TransportCredentials
	ctl     *netsim.Network
	mu      sync.Mutex
	nodes   map[string]*procNode // by label
	stop    chan struct{}
	stopped sync.WaitGroup
}

// Processes reports whether the environment runs its HSMs as separate processes.
func (e *Env) Processes() bool { return e.proc != nil }

func (e *Env) startProcesses(ctx context.Context) error {
	if e.opts.KMS {
		return errProcess("the KMS face (custom key stores, KMS keys, KMS workloads)")
	}
	fast := e.opts.Timeouts == cluster.FastTimeouts()
	if !fast && e.opts.Timeouts != cluster.DefaultTimeouts() {
		return errProcess("custom Raft timeouts (hsmd takes either its defaults or --fast-timeouts)")
	}
	bin, err := hsmsimBinary(ctx, e.opts.Binary, e.dir)
	if err != nil {
		return err
	}
	p := &procCluster{bin: bin, fast: fast, ctl: netsim.New(0), nodes: map[string]*procNode{}, stop: make(chan struct{})}
	e.proc = p
	e.Net = netsim.New(e.opts.Seed)
	var first *procNode
	for _, a := range e.opts.AZs {
		for i := 0; i < a.HSMs; i++ {
			label := fmt.Sprintf("n%d", len(e.nodes)+1)
			n := &procNode{label: label, az: a.AZ, dir: filepath.Join(e.dir, label)}
			if n.api, err = freePort(); err != nil {
				return err
			}
			if n.raft, err = freePort(); err != nil {
				return err
			}
			args := []string{"--listen", n.api, "--raft-listen", n.raft, "--az", a.AZ}
			if first == nil {
				args = append(args, "--init", "--admin-password", AdminPassword)
			} else {
				pd := filepath.Join(first.dir, "pki")
				args = append(args, "--join", first.api, "--ca-cert", filepath.Join(pd, "customerCA.crt"), "--ca-key", filepath.Join(pd, "customerCA.key"))
			}
			if err := p.start(n, args...); err != nil {
				return err
			}
			id, err := waitIdentity(ctx, n)
			if err != nil {
				return err
			}
			if first == nil {
				first = n
				if err := p.control(first.dir); err != nil {
					return err
				}
			}
			if n.conn, err = p.dialControl(n.api); err != nil {
				return err
			}
			e.Net.Register(n.api, netsim.Endpoint{Name: id, AZ: a.AZ})
			p.mu.Lock()
			p.nodes[label] = n
			p.mu.Unlock()
			e.mu.Lock()
			e.nodes = append(e.nodes, &node{label: label, id: id, az: a.AZ})
			e.mu.Unlock()
		}
	}
	var cid string
	if b, err := os.ReadFile(filepath.Join(first.dir, "node.json")); err == nil {
		var v struct {
			ClusterID string `json:"cluster_id"`
		}
		_ = json.Unmarshal(b, &v)
		cid = v.ClusterID
	}
	e.ClusterID = cid
	p.stopped.Add(2)
	go p.poll(e)
	go p.mirror(e)
	return e.WaitActive(ctx, 30*time.Second)
}

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
func (p *procCluster) start(n *procNode, args ...string) error {
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
	if p.fast {
		all = append(all, "--fast-timeouts")
	}
	cmd := exec.Command(p.bin, all...)
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("target: starting %s: %w", n.label, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	n.cmd, n.done, n.pushed, n.info = cmd, done, "", nil
	p.mu.Unlock()
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

// waitIdentity waits until the new HSM has its place (hsmd writes node.json then) and returns
// its id.
func waitIdentity(ctx context.Context, n *procNode) (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(n.dir, "node.json")); err == nil {
			var v struct {
				NodeID string `json:"node_id"`
			}
			if json.Unmarshal(b, &v) == nil && v.NodeID != "" {
				return v.NodeID, nil
			}
		}
		if !running(n) {
			return "", fmt.Errorf("target: hsmd %s exited while starting (log %s.log): %s", n.label, n.dir, tail(n.dir+".log"))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("target: hsmd %s did not take its place within 60s (log %s.log)", n.label, n.dir)
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
func (p *procCluster) control(initDir string) error {
	pd := filepath.Join(initDir, "pki")
	caPEM, err := os.ReadFile(filepath.Join(pd, "customerCA.crt"))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(pd, "customerCA.key"))
	if err != nil {
		return err
	}
	ca, err := pki.LoadCA(caPEM, keyPEM)
	if err != nil {
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
	p.caPEM, p.ctlTLS = caPEM, credentials.NewTLS(cfg)
	return nil
}

func (p *procCluster) dialControl(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(p.ctlTLS),
		grpc.WithContextDialer(p.ctl.Dialer(netsim.Endpoint{Name: controlEndpoint})))
}

func (p *procCluster) node(label string) *procNode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes[label]
}

// poll asks every running HSM for its view (GetInfo) every 50 ms.
func (p *procCluster) poll(e *Env) {
	defer p.stopped.Done()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		nodes := make([]*procNode, 0, len(p.nodes))
		for _, n := range p.nodes {
			nodes = append(nodes, n)
		}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				info, err := p.info(n)
				p.mu.Lock()
				if err == nil {
					n.info = info
				} else if !running(n) {
					n.info = nil
				}
				p.mu.Unlock()
			}()
		}
		wg.Wait()
	}
}

func (p *procCluster) info(n *procNode) (*hsmpb.InfoResponse, error) {
	p.mu.Lock()
	up, conn := running(n), n.conn
	p.mu.Unlock()
	if !up || conn == nil {
		return nil, errors.New("not running")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return hsmpb.NewHSMClient(conn).GetInfo(ctx, &hsmpb.Empty{})
}

// mirror pushes Env.Net's rules to every running HSM whenever they changed (or it restarted).
func (p *procCluster) mirror(e *Env) {
	defer p.stopped.Done()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		var rules []string
		for _, r := range e.Net.Rules() {
			b, err := json.Marshal(r)
			if err == nil {
				rules = append(rules, string(b))
			}
		}
		key := "[" + strings.Join(rules, ",") + "]"
		p.mu.Lock()
		var todo []*procNode
		for _, n := range p.nodes {
			if running(n) && n.pushed != key && n.conn != nil {
				todo = append(todo, n)
			}
		}
		p.mu.Unlock()
		var wg sync.WaitGroup
		for _, n := range todo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				defer cancel()
				if _, err := clusterpb.NewClusterClient(n.conn).SetFaults(ctx, &clusterpb.SetFaultsRequest{Clear: true, RulesJson: rules}); err == nil {
					p.mu.Lock()
					n.pushed = key
					p.mu.Unlock()
				}
			}()
		}
		wg.Wait()
	}
}

// nodeInfo fills what the last GetInfo of the HSM said.
func (p *procCluster) nodeInfo(n *node, ni *NodeInfo) {
	pn := p.node(n.label)
	if pn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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

func (p *procCluster) kill(label string) error {
	n := p.node(label)
	if n == nil || !running(n) {
		return fmt.Errorf("target: %s is not running", label)
	}
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-n.done
	p.mu.Lock()
	n.info = nil
	p.mu.Unlock()
	return nil
}

func (p *procCluster) restart(ctx context.Context, label string) error {
	n := p.node(label)
	if n == nil {
		return fmt.Errorf("target: no node %s", label)
	}
	if running(n) {
		return fmt.Errorf("target: %s is running", label)
	}
	if err := p.start(n); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for { // serving again: it answers GetInfo
		if _, err := p.info(n); err == nil {
			return nil
		}
		if !running(n) {
			return fmt.Errorf("target: hsmd %s exited on restart: %s", label, tail(n.dir+".log"))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("target: hsmd %s not serving 30s after its restart", label)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *procCluster) clientNodes(e *Env) []client.Node {
	var out []client.Node
	for _, n := range e.Nodes() {
		if pn := p.node(n.Label); pn != nil && !n.Removed {
			out = append(out, client.Node{ID: n.ID, AZ: n.AZ, Addr: pn.api})
		}
	}
	return out
}

func (p *procCluster) pkcs11Config(e *Env) (string, error) {
	anchor := filepath.Join(e.dir, "customerCA.crt")
	if err := os.WriteFile(anchor, p.caPEM, 0o600); err != nil {
		return "", err
	}
	cfg := client.FileConfig{ClusterID: e.ClusterID, TrustAnchor: anchor, Nodes: p.clientNodes(e),
		LogFile: filepath.Join(e.dir, "pkcs11.log"), LogLevel: "warn", Attempt: (e.opts.Timeouts.Apply + time.Second).String()}
	path := filepath.Join(e.dir, "pkcs11-client.json")
	if err := cfg.Write(path); err != nil {
		return "", err
	}
	e.mu.Lock()
	e.clients[netsim.External.Name] = true
	e.mu.Unlock()
	return path, nil
}

func (p *procCluster) close() {
	close(p.stop)
	p.stopped.Wait()
	p.mu.Lock()
	nodes := p.nodes
	p.mu.Unlock()
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
	}
}

// AppliedIndex is a running HSM's applied index as its GetInfo says now (ok false when it does
// not answer). In process mode it stands in for State().Applied().
func (e *Env) AppliedIndex(label string) (uint64, bool) {
	if e.proc == nil {
		if st := e.State(label); st != nil {
			return st.Applied(), true
		}
		return 0, false
	}
	n := e.proc.node(label)
	if n == nil {
		return 0, false
	}
	info, err := e.proc.info(n)
	if err != nil {
		return 0, false
	}
	return info.AppliedIndex, true
}

// NodeHandles lists the token objects one HSM holds that the given crypto users see, by logging
// in as each on that HSM alone (FindObjects over the node API); the stand-in for reading the
// token in process mode.
func (e *Env) NodeHandles(ctx context.Context, label string, users map[string]string) (map[uint32]bool, error) {
	if e.proc == nil {
		return nil, errors.New("target: NodeHandles is for process mode")
	}
	n := e.proc.node(label)
	if n == nil {
		return nil, fmt.Errorf("target: no node %s", label)
	}
	out := map[uint32]bool{}
	for user, pw := range users {
		cl, err := client.Dial(client.Config{Addr: n.api, CAPEM: e.proc.caPEM, Dialer: e.proc.ctl.Dialer(netsim.Endpoint{Name: controlEndpoint}),
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
			out[h] = true
		}
	}
	return out, nil
}
