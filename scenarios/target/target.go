// Package target is what a scenario runs against: hsmsim's CloudHSM service (kms/cloudhsm) in
// this process. The scenario's cluster is made through the service's control plane, as an
// operator makes one (CreateCluster, CreateHsm per HSM, InitializeCluster with a CSR signed by
// a customer CA, the admin activated); every HSM is a real cluster.Member with its own data
// directory, TLS and TCP on 127.0.0.1, every connection through the service's netsim.Network.
// When the scenario needs it, the KMS runs over the service (its control plane, and its cluster
// directory through Env, which names the KMS's client endpoint "kms" so faults can cut it).
//
// Env adds what a scenario needs on top of the service: labels (n1, n2, ... in the order HSMs
// were created; never reused, kept across kills and wipes), the clusters restored from backups
// by name, and clients whose netsim endpoint names the engine knows.
package target

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// AdminPassword is the activated admin's password in every scenario cluster.
const AdminPassword = "scenarioAdmin1"

// KMSAccount is the account every scenario request acts for.
const KMSAccount = "111122223333"

// kdf keeps argon2id real but cheap: scenarios log in often.
var kdf = token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

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
	KMS    bool // run the KMS (and serve it on a loopback port)
	// Processes runs the HSMs as separate "hsmsim hsmd" processes (process.go); Binary is the
	// hsmsim to run (empty: $HSMSIM_BIN, else built from this module).
	Processes bool
	Binary    string
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

// Env is a running scenario environment.
type Env struct {
	// ClusterID is the scenario's cluster (the one workloads, setup and faults act on).
	ClusterID string
	Svc       *cloudhsm.Service
	Net       *netsim.Network

	opts    Options
	log     *slog.Logger
	dir     string
	tempDir bool
	req     *awsapi.Caller
	anchor  []byte // the customer CA: InitializeCluster's trust anchor, key stores' too

	mu       sync.Mutex
	nodes    []*node
	clusters map[string]string // restored cluster name → id
	clients  map[string]bool   // netsim endpoint names of the clients made

	kms    *kms.Server
	kmsSrv *httptest.Server

	proc *procCluster // process mode; nil in-process
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

// Start creates the environment: the service, the scenario's cluster made and activated
// through it (admin password AdminPassword), every HSM ACTIVE; then the KMS when asked for.
func Start(ctx context.Context, o Options) (*Env, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timeouts == (cluster.Timeouts{}) {
		o.Timeouts = cluster.FastTimeouts()
	}
	var azs []string
	total := 0
	for _, a := range o.AZs {
		azs = append(azs, a.AZ)
		total += a.HSMs
	}
	region, err := Region(azs)
	if err != nil {
		return nil, err
	}
	if total == 0 {
		return nil, errors.New("target: a cluster needs at least one HSM")
	}
	e := &Env{opts: o, log: o.Logger, clients: map[string]bool{}, clusters: map[string]string{},
		req: &awsapi.Caller{Account: KMSAccount, Region: region}}
	e.dir = o.Dir
	if e.dir == "" {
		d, err := os.MkdirTemp("", "hsmsim-scenario-")
		if err != nil {
			return nil, err
		}
		e.dir, e.tempDir = d, true
	}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()
	if o.Processes {
		if err := e.startProcesses(ctx); err != nil {
			return nil, err
		}
		ok = true
		return e, nil
	}
	e.Net = netsim.New(o.Seed)
	e.Svc, err = cloudhsm.Open(cloudhsm.Config{DataDir: filepath.Join(e.dir, "cloudhsm"), Region: region, AccountID: KMSAccount,
		Network: e.Net, Logger: o.Logger, NoSync: true, KDF: kdf, Timeouts: o.Timeouts,
		SnapshotThreshold: 256, TrailingLogs: 128, SnapshotInterval: time.Second})
	if err != nil {
		return nil, err
	}
	if e.ClusterID, err = e.createCluster(ctx, "", ""); err != nil {
		return nil, err
	}
	if err := e.initialize(ctx); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := e.Svc.WaitActive(wctx, e.ClusterID, total); err != nil {
		return nil, err
	}
	if err := e.WaitActive(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	if o.KMS {
		if err := e.startKMS(region); err != nil {
			return nil, err
		}
	}
	ok = true
	return e, nil
}

// createCluster makes a cluster (from a backup when source is set) with the scenario's HSMs
// per AZ, labelling them in order; name is "" for the scenario's cluster.
func (e *Env) createCluster(ctx context.Context, name, source string) (string, error) {
	var subnets []string
	for _, a := range e.opts.AZs {
		if id := cloudhsm.SubnetID(a.AZ); !slices.Contains(subnets, id) {
			subnets = append(subnets, id)
		}
	}
	out, err := e.Svc.CreateCluster(ctx, e.req, &cloudhsm.CreateClusterInput{HsmType: "hsm2m.medium", SubnetIds: subnets, SourceBackupId: source,
		TagList: []cloudhsm.HsmTag{{Key: "hsmsim", Value: "scenario"}}})
	if err != nil {
		return "", fmt.Errorf("target: CreateCluster: %w", err)
	}
	id := out.Cluster.ClusterId
	if name != "" {
		e.mu.Lock()
		e.clusters[name] = id
		e.mu.Unlock()
	}
	for _, a := range e.opts.AZs {
		for i := 0; i < a.HSMs; i++ {
			if _, err := e.createHSM(ctx, name, id, a.AZ); err != nil {
				return id, err
			}
		}
	}
	return id, nil
}

// createHSM adds an HSM through the control plane and gives it the next label.
func (e *Env) createHSM(ctx context.Context, name, clusterID, az string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := e.Svc.CreateHsm(cctx, e.req, &cloudhsm.CreateHsmInput{ClusterId: clusterID, AvailabilityZone: az})
	if err != nil {
		return "", fmt.Errorf("target: CreateHsm in %s: %w", az, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	n := &node{label: "n" + strconv.Itoa(len(e.nodes)+1), id: out.Hsm.HsmId, az: az, cluster: name}
	e.nodes = append(e.nodes, n)
	return n.label, nil
}

// initialize claims the scenario's cluster: its CSR signed by a fresh customer CA,
// InitializeCluster, and the admin's first password change (which makes it ACTIVE).
func (e *Env) initialize(ctx context.Context) error {
	d, err := e.Svc.DescribeClusters(ctx, e.req, &cloudhsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {e.ClusterID}}})
	if err != nil || len(d.Clusters) != 1 || d.Clusters[0].Certificates == nil {
		return fmt.Errorf("target: describing the new cluster: %v", err)
	}
	signed, err := e.signCSR(d.Clusters[0].Certificates.ClusterCsr)
	if err != nil {
		return err
	}
	if _, err := e.Svc.InitializeCluster(ctx, e.req, &cloudhsm.InitializeClusterInput{ClusterId: e.ClusterID, SignedCert: signed, TrustAnchor: string(e.anchor)}); err != nil {
		return fmt.Errorf("target: InitializeCluster: %w", err)
	}
	cl, err := e.Client("setup-admin", nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, token.AdminName, token.InitialAdminPassword); err != nil {
		return fmt.Errorf("target: admin login: %w", err)
	}
	if err := cl.ChangePassword(ctx, "", AdminPassword); err != nil {
		return fmt.Errorf("target: activating the admin: %w", err)
	}
	return cl.Logout(ctx)
}

// signCSR makes the customer CA (the trust anchor) and signs the cluster's CSR with it, as the
// AWS guide does with openssl.
func (e *Env) signCSR(csrPEM string) (string, error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		return "", errors.New("target: the cluster has no CSR")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", err
	}
	ca, err := pki.NewCA("hsmsim scenario customer CA")
	if err != nil {
		return "", err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: csr.Subject,
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(365 * 24 * time.Hour)}, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return "", err
	}
	e.anchor = ca.CertPEM
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// RestoreBackup backs the scenario's cluster up now (cloudhsm.Service.TakeBackup), makes a new
// cluster from the backup through the control plane (CreateCluster with SourceBackupId, then
// CreateHsm as many HSMs per AZ as the scenario's cluster started with: the first restores the
// backup, the others join) and waits until it is ACTIVE. The new cluster is related to the
// scenario's (same cluster certificate and trust anchor); its HSMs get the next labels. It
// returns the new cluster's id and the backup's.
func (e *Env) RestoreBackup(ctx context.Context, name string) (clusterID, backupID string, err error) {
	if e.proc != nil {
		return "", "", errProcess("restore-backup")
	}
	backupID, err = e.Svc.TakeBackup(e.ClusterID)
	if err != nil {
		return "", "", fmt.Errorf("target: backup: %w", err)
	}
	clusterID, err = e.createCluster(ctx, name, backupID)
	if err != nil {
		return clusterID, backupID, err
	}
	total := 0
	for _, a := range e.opts.AZs {
		total += a.HSMs
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return clusterID, backupID, e.Svc.WaitActive(wctx, clusterID, total)
}

// RestoredCluster is the id of the cluster restored under name ("" if none).
func (e *Env) RestoredCluster(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clusters[name]
}

func (e *Env) clusterOf(n *node) string {
	if n.cluster == "" {
		return e.ClusterID
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clusters[n.cluster]
}

func (e *Env) node(label string) (*node, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.nodes {
		if n.label == label {
			return n, nil
		}
	}
	return nil, fmt.Errorf("target: no node %s", label)
}

func (e *Env) member(n *node) *cluster.Member {
	e.mu.Lock()
	removed := n.removed
	e.mu.Unlock()
	if removed || e.proc != nil {
		return nil
	}
	return e.Svc.Member(e.clusterOf(n), n.id)
}

// Nodes lists every HSM ever created (removed ones too), in the order they were created.
func (e *Env) Nodes() []NodeInfo {
	e.mu.Lock()
	nodes := append([]*node(nil), e.nodes...)
	e.mu.Unlock()
	out := make([]NodeInfo, 0, len(nodes))
	for _, n := range nodes {
		e.mu.Lock()
		removed := n.removed
		e.mu.Unlock()
		ni := NodeInfo{Label: n.label, ID: n.id, AZ: n.az, Cluster: n.cluster, Removed: removed, State: "DOWN"}
		if e.proc != nil {
			e.proc.nodeInfo(n, &ni)
		} else if m := e.member(n); m != nil {
			ni.Up, ni.Leader, ni.State, ni.LeaderID = true, m.IsLeader(), string(m.HSMState()), m.LeaderID()
		}
		if removed {
			ni.State = "DELETED"
		}
		out = append(out, ni)
	}
	return out
}

// WaitActive waits until every running HSM not removed is ACTIVE (a voter in touch with a
// leader), as CloudHSM reports HSMs before KMS counts them.
func (e *Env) WaitActive(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		var waiting []string
		for _, n := range e.Nodes() {
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
func (e *Env) Label(id string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.nodes {
		if n.id == id {
			return n.label
		}
	}
	return ""
}

// Leader is the label of the running HSM that leads the scenario's cluster ("" when none does).
func (e *Env) Leader() string {
	for _, n := range e.Nodes() {
		if n.Cluster == "" && n.Up && !n.Removed && n.Leader {
			return n.Label
		}
	}
	return ""
}

// State is a running HSM's token (nil when down).
func (e *Env) State(label string) *token.State {
	n, err := e.node(label)
	if err != nil {
		return nil
	}
	m := e.member(n)
	if m == nil {
		return nil
	}
	return m.Node().State()
}

// Kill stops an HSM abruptly (cloudhsm.Service.Kill); its directory and place stay.
func (e *Env) Kill(label string) error {
	n, err := e.node(label)
	if err != nil {
		return err
	}
	if e.proc != nil {
		return e.proc.kill(label)
	}
	if e.member(n) == nil {
		return fmt.Errorf("target: %s is not running", label)
	}
	return e.Svc.Kill(e.clusterOf(n), n.id)
}

// Restart starts a killed HSM from its directory on its addresses; it rejoins by itself.
func (e *Env) Restart(ctx context.Context, label string) error {
	n, err := e.node(label)
	if err != nil {
		return err
	}
	if e.proc != nil {
		return e.proc.restart(ctx, label)
	}
	return e.Svc.Restart(ctx, e.clusterOf(n), n.id)
}

// Rejoin deletes a killed HSM's data directory and has it join its cluster again under the same
// id and addresses (cloudhsm.Service.Wipe: taken out of the configuration, staged, caught up,
// promoted).
func (e *Env) Rejoin(ctx context.Context, label string) error {
	if e.proc != nil {
		return errProcess("wipe (rejoin with an empty data directory)")
	}
	n, err := e.node(label)
	if err != nil {
		return err
	}
	return e.Svc.Wipe(ctx, e.clusterOf(n), n.id)
}

// Add creates a new HSM in az in the scenario's cluster (CreateHsm) and returns its label.
func (e *Env) Add(ctx context.Context, az string) (string, error) {
	if e.proc != nil {
		return "", errProcess("add-hsm")
	}
	return e.createHSM(ctx, "", e.ClusterID, az)
}

// Remove deletes an HSM from its cluster (DeleteHsm).
func (e *Env) Remove(ctx context.Context, label string) error {
	if e.proc != nil {
		return errProcess("remove-hsm")
	}
	n, err := e.node(label)
	if err != nil {
		return err
	}
	if _, err := e.Svc.DeleteHsm(ctx, e.req, &cloudhsm.DeleteHsmInput{ClusterId: e.clusterOf(n), HsmId: n.id}); err != nil {
		return err
	}
	e.mu.Lock()
	n.removed = true
	e.mu.Unlock()
	return nil
}

// Endpoints are the netsim names of every HSM and client, for faults that cut an HSM off from
// everyone.
func (e *Env) Endpoints() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, n := range e.nodes {
		out = append(out, n.id)
	}
	for c := range e.clients {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// ID is the HSM id of a label.
func (e *Env) ID(label string) string {
	n, err := e.node(label)
	if err != nil {
		return ""
	}
	return n.id
}

// Client dials every HSM of the scenario's cluster through the netsim endpoint name (not
// logged in). observe, if set, hears of every attempt.
func (e *Env) Client(name string, observe func(client.Attempt)) (*client.Client, error) {
	return e.SessionClient(name, nil, observe)
}

// SessionClient is Client sharing sess (credential and read-your-writes index) with other
// clients; nil: a session of its own.
func (e *Env) SessionClient(name string, sess *client.Session, observe func(client.Attempt)) (*client.Client, error) {
	if e.proc != nil {
		e.mu.Lock()
		e.clients[name] = true
		e.mu.Unlock()
		return client.Dial(client.Config{Nodes: e.proc.clientNodes(e), CAPEM: e.proc.caPEM, Dialer: e.Net.Dialer(netsim.Endpoint{Name: name}),
			Session: sess, AttemptTimeout: e.opts.Timeouts.Apply + time.Second, Observe: observe})
	}
	ca, err := e.Svc.HSMCAPEM(e.ClusterID)
	if err != nil {
		return nil, err
	}
	c, err := e.Svc.Cluster(context.Background(), "", "", e.ClusterID)
	if err != nil {
		return nil, err
	}
	var nodes []client.Node
	for _, h := range c.HSMs {
		if h.Addr != "" {
			nodes = append(nodes, client.Node{ID: h.ID, AZ: h.AZ, Addr: h.Addr})
		}
	}
	e.mu.Lock()
	e.clients[name] = true
	e.mu.Unlock()
	return client.Dial(client.Config{Nodes: nodes, CAPEM: ca, Dialer: e.Net.Dialer(netsim.Endpoint{Name: name}),
		Session: sess, AttemptTimeout: e.opts.Timeouts.Apply + time.Second, Observe: observe})
}

// Admin returns a client logged in as the admin.
func (e *Env) Admin(ctx context.Context, name string) (*client.Client, error) {
	cl, err := e.Client(name, nil)
	if err != nil {
		return nil, err
	}
	if _, err := cl.Login(ctx, token.AdminName, AdminPassword); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// ---- the KMS ----

func (e *Env) startKMS(region string) error {
	dir := filepath.Join(e.dir, "kms")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	s, err := kms.Open(kms.Config{DataDir: dir, Region: region, Clusters: e, ControlPlane: e.Svc, NoSync: true, SweepEvery: time.Hour,
		AccountID: KMSAccount, Logger: e.log.With("face", "kms")})
	if err != nil {
		return err
	}
	e.kms = s
	e.kmsSrv = httptest.NewServer(s)
	e.mu.Lock()
	e.clients["kms"] = true
	e.mu.Unlock()
	return nil
}

// KMS is the KMS server (an http.Handler); nil when the scenario has none.
func (e *Env) KMS() *kms.Server { return e.kms }

// KMSURL is the KMS's loopback endpoint.
func (e *Env) KMSURL() string {
	if e.kmsSrv == nil {
		return ""
	}
	return e.kmsSrv.URL
}

// TrustAnchorPEM is the scenario cluster's customerCA.crt (a key store's TrustAnchorCertificate).
func (e *Env) TrustAnchorPEM() []byte { return e.anchor }

// Cluster implements kms.ClusterDirectory: the service's clusters.
func (e *Env) Cluster(ctx context.Context, account, region, id string) (*cloudhsm.Cluster, error) {
	return e.Svc.Cluster(ctx, account, region, id)
}

// Dial implements kms.ClusterDirectory: the service's client of the cluster's HSMs, through the
// netsim endpoint "kms".
func (e *Env) Dial(_ context.Context, c *cloudhsm.Cluster) (*client.Client, error) {
	return e.Svc.DialClusterAs(c.ID, "kms")
}

var _ kms.ClusterDirectory = (*Env)(nil)

// Close stops the KMS and every HSM, and removes a temporary directory.
func (e *Env) Close() {
	if e.kmsSrv != nil {
		e.kmsSrv.Close()
	}
	if e.kms != nil {
		_ = e.kms.Close()
	}
	if e.proc != nil {
		e.proc.close()
	}
	if e.Svc != nil {
		_ = e.Svc.Close()
	}
	if e.tempDir {
		_ = os.RemoveAll(e.dir)
	}
}

// ---- the PKCS#11 module ----

// PKCS11Config writes the client config file libhsmsim-pkcs11.so reads (the service's
// client.json of the scenario's cluster: its HSMs and trust anchor), with the module's log sent
// to a file beside it, and returns its path. The module runs its own Go runtime and dials the
// HSMs with plain TCP, so netsim sees its connections as the "external" endpoint (rules apply
// on the HSMs' side); Endpoints includes it from now on.
func (e *Env) PKCS11Config() (string, error) {
	if e.proc != nil {
		return e.proc.pkcs11Config(e)
	}
	cfg, err := e.Svc.ClientConfig(e.ClusterID)
	if err != nil {
		return "", err
	}
	cfg.LogFile = filepath.Join(e.dir, "pkcs11.log")
	cfg.LogLevel = "warn"
	cfg.Attempt = (e.opts.Timeouts.Apply + time.Second).String() // as the engine's own clients
	path := filepath.Join(e.dir, "pkcs11-client.json")
	if err := cfg.Write(path); err != nil {
		return "", err
	}
	e.mu.Lock()
	e.clients[netsim.External.Name] = true
	e.mu.Unlock()
	return path, nil
}
