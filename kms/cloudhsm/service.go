package cloudhsm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/capacity"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/server"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Config configures a Service.
type Config struct {
	// DataDir holds the catalog, the backups and every HSM's data directory. Required.
	DataDir string
	// Region and AccountID are the defaults for Go callers that pass no awsapi.Caller (the same
	// defaults as the endpoint's: awsapi.DefaultRegion, awsapi.DefaultAccountID).
	Region, AccountID string
	// Host is the address HSMs listen on and their ENI IP (default 127.0.0.1): the host of
	// the addresses clients and peers dial, and a name in the HSMs' certificates.
	Host string
	// Bind, when set, is where HSMs listen instead (0.0.0.0 in a container: cluster.Config.Bind);
	// they still advertise Host.
	Bind string
	// BasePort, when set, gives HSMs fixed ports: node APIs BasePort, BasePort+1, ... and Raft
	// cluster.RaftPort of each (the first free pair). Zero: any free port, recorded for restarts.
	BasePort int
	// SocketDir, when set, is where each HSM also serves its node API on a Unix socket,
	// SocketDir/<hsm id>.sock, for clients on this host (cluster.Config.Socket); the client
	// config names them.
	SocketDir string
	// Network carries every connection of every HSM and of the clients Dial makes. Nil: a new
	// one seeded from the clock.
	Network *netsim.Network
	Logger  *slog.Logger
	// NoSync, KDF and Timeouts are passed to every member (tests: NoSync, a cheap KDF,
	// cluster.FastTimeouts).
	NoSync   bool
	KDF      token.KDFParams
	Timeouts cluster.Timeouts
	// SnapshotThreshold, TrailingLogs and SnapshotInterval are passed to every member (zero:
	// cluster's defaults); scenarios snapshot often so that rejoining HSMs catch up from one.
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotInterval  time.Duration
	// Now is the clock of timestamps, retention and pending deletion, periodic backups and HSM
	// type rollback windows. Nil: time.Now.
	Now func() time.Time
	// MaintenanceInterval is how often, in real time, the service looks at Now to take each
	// active cluster's daily backup and apply retention (default one minute). Tests that move
	// Now by days set it short.
	MaintenanceInterval time.Duration
	// HsmReplaceTime is how long replacing one HSM takes in an HSM type migration (AWS: about
	// 30 minutes each; default: at once). Tests set it to watch the cluster in
	// MODIFY_IN_PROGRESS.
	HsmReplaceTime time.Duration
	// Capacity is the capacity profile of every HSM (package hsmd/capacity): "cloudhsm" holds
	// each to the published rates of its HSM type; empty: no limits.
	Capacity string
	// NodeObserver, when set, gives each HSM the observer of its node API calls (metrics) as it
	// starts, restarts included.
	NodeObserver func(hsmID string) server.RPCObserver
}

// Service is the CloudHSM service of one process. It implements ControlPlane (served with
// NewAPI) and ClusterDirectory (Cluster, Dial), and offers a Go API for tests and scenarios (Members, Kill, Restart,
// Wipe, ClientConfig, DialCluster).
type Service struct {
	cfg        Config
	log        *slog.Logger
	net        *netsim.Network
	serviceKey []byte

	mu  sync.Mutex // guards cat and rt; held briefly, never across a member operation
	cat catalog
	rt  map[string]*runtime // cluster id → running members

	dials int // counter for the netsim names of the clients Dial makes

	bgMu    sync.Mutex     // guards closing, so that nothing joins bg once Close waits
	closing bool           // set by Close
	stop    chan struct{}  // closed by Close: background work ends
	bg      sync.WaitGroup // background work (spawn): Close waits for it
}

var _ ControlPlane = (*Service)(nil)

// runtime is what runs of a cluster: its members, and the lock that serializes its life cycle
// operations (CreateHsm, DeleteHsm, restores, kills) so they never interleave.
type runtime struct {
	op      sync.Mutex
	members map[string]*cluster.Member // hsm id → running member
}

// catalog is catalog.json.
type catalog struct {
	Clusters map[string]*clusterRec `json:"clusters"`
	Backups  map[string]*backupRec  `json:"backups"`
	CAs      map[string]*caRec      `json:"hsm_cas"` // fingerprint → HSM CA
}

type caRec struct {
	CertPEM string `json:"cert"`
	KeyPEM  string `json:"key"`
}

type clusterRec struct {
	ID             string                 `json:"id"`
	Account        string                 `json:"account"`
	Region         string                 `json:"region"`
	State          string                 `json:"state"`
	Created        time.Time              `json:"created"`
	HsmType        string                 `json:"hsm_type"`
	Mode           string                 `json:"mode"`
	NetworkType    string                 `json:"network_type"`
	Subnets        map[string]string      `json:"subnets"` // AZ → subnet id
	Retention      *BackupRetentionPolicy `json:"retention"`
	SourceBackupID string                 `json:"source_backup_id,omitempty"`
	CA             string                 `json:"hsm_ca"` // fingerprint of its HSM CA
	CSR            string                 `json:"csr,omitempty"`
	ClusterCert    string                 `json:"cluster_cert,omitempty"`
	TrustAnchor    string                 `json:"trust_anchor,omitempty"`
	HSMs           []*hsmRec              `json:"hsms"`
	Tags           []HsmTag               `json:"tags,omitempty"`
	// PrevHsmType and RollbackUntil are the type a migrated cluster can roll back to, and until
	// when (modify.go).
	PrevHsmType   string     `json:"prev_hsm_type,omitempty"`
	RollbackUntil *time.Time `json:"hsm_type_rollback_until,omitempty"`
}

type hsmRec struct {
	ID       string `json:"id"`
	AZ       string `json:"az"`
	SubnetID string `json:"subnet_id"`
	EniID    string `json:"eni_id"`
	EniIP    string `json:"eni_ip"`
	APIAddr  string `json:"api_addr"`
	RaftAddr string `json:"raft_addr"`
	// Joined is set once the HSM bootstrapped, restored or joined: until then it is
	// CREATE_IN_PROGRESS, and a restart drops it (its CreateHsm never answered).
	Joined bool `json:"joined"`
	// Deleting is set by DeleteHsm: the HSM is DELETE_IN_PROGRESS until removeHSM takes it out
	// of the cluster (resumed after a restart).
	Deleting bool `json:"deleting,omitempty"`
	// HsmType is the HSM's own type while its cluster migrates (empty: the cluster's).
	HsmType string `json:"hsm_type,omitempty"`
}

type backupRec struct {
	ID           string     `json:"id"`
	Account      string     `json:"account"`
	Region       string     `json:"region"`
	ClusterID    string     `json:"cluster_id"`
	State        string     `json:"state"`
	Created      time.Time  `json:"created"`
	DeleteAt     *time.Time `json:"delete_at,omitempty"`
	NeverExpires bool       `json:"never_expires,omitempty"`
	HsmType      string     `json:"hsm_type"`
	Mode         string     `json:"mode"`
	CA           string     `json:"hsm_ca"`
	ClusterState string     `json:"cluster_state"`
	ClusterCert  string     `json:"cluster_cert,omitempty"`
	TrustAnchor  string     `json:"trust_anchor,omitempty"`
	Tags         []HsmTag   `json:"tags,omitempty"`
	// A copy from another region (CopyBackupToRegion) names its source; it belongs to no
	// cluster of its region, so no retention policy applies to it.
	SourceRegion  string     `json:"source_region,omitempty"`
	SourceBackup  string     `json:"source_backup,omitempty"`
	SourceCluster string     `json:"source_cluster,omitempty"`
	Copied        *time.Time `json:"copied,omitempty"`
	// Policy is the backup's resource policy (PutResourcePolicy), the accounts it is shared with.
	Policy string `json:"policy,omitempty"`
}

const (
	catalogFile    = "catalog.json"
	serviceKeyFile = "backup-service.key"
	// hsmDeleteInProgress is the HsmState of an HSM DeleteHsm is removing.
	hsmDeleteInProgress = "DELETE_IN_PROGRESS"
	// MaxHSMs is CloudHSM's per-cluster limit.
	MaxHSMs = 28
	// pendingDeletion is how long a deleted backup can be restored.
	pendingDeletion = 7 * 24 * time.Hour
)

// Open opens (or creates) the service in cfg.DataDir and starts every HSM it holds.
func Open(cfg Config) (*Service, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("cloudhsm: DataDir is required")
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = abs
	if err := capacity.CheckProfile(cfg.Capacity); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = awsapi.DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = awsapi.DefaultAccountID
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Network == nil {
		cfg.Network = netsim.New(time.Now().UnixNano())
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaintenanceInterval <= 0 {
		cfg.MaintenanceInterval = time.Minute
	}
	s := &Service{cfg: cfg, log: cfg.Logger, net: cfg.Network, rt: map[string]*runtime{}, stop: make(chan struct{}),
		cat: catalog{Clusters: map[string]*clusterRec{}, Backups: map[string]*backupRec{}, CAs: map[string]*caRec{}}}
	if err := os.MkdirAll(filepath.Join(abs, "backups"), 0o700); err != nil {
		return nil, err
	}
	if s.serviceKey, err = loadOrCreateKey(filepath.Join(abs, serviceKeyFile)); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(abs, catalogFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(b, &s.cat); err != nil {
			return nil, fmt.Errorf("cloudhsm: %s: %w", catalogFile, err)
		}
	}
	if err := s.resume(); err != nil {
		s.Close()
		return nil, err
	}
	// Deletes a Close interrupted go on, once every HSM runs; they change c.HSMs, so they start
	// after the walk.
	var resumed []func()
	for _, c := range s.cat.Clusters {
		for _, h := range c.HSMs {
			if h.Deleting {
				resumed = append(resumed, func() { s.removeHSM(c, h) })
			}
		}
	}
	for _, f := range resumed {
		s.spawn(f)
	}
	s.spawn(s.maintain)
	return s, nil
}

// loadOrCreateKey reads the backup service key file, or makes the key when there is none; the
// file's format and its checks are cluster's, which hsmd --restore reads the same file with.
func loadOrCreateKey(path string) ([]byte, error) {
	k, err := cluster.ReadServiceKeyFile(path)
	if !errors.Is(err, os.ErrNotExist) {
		return k, err
	}
	k = cluster.NewServiceKey()
	return k, cluster.WriteServiceKeyFile(path, k)
}

// resume starts every HSM that had joined its cluster; an HSM whose CreateHsm never finished is
// dropped with its directory.
func (s *Service) resume() error {
	for _, c := range s.cat.Clusters {
		finishModification(c) // an HSM type change a restart cut short completes
		rt := s.runtime(c.ID)
		kept := c.HSMs[:0]
		for _, h := range c.HSMs {
			if !h.Joined {
				s.log.Warn("dropping an HSM whose creation did not finish", "cluster", c.ID, "hsm", h.ID)
				_ = os.RemoveAll(s.hsmDir(c.ID, h.ID))
				continue
			}
			kept = append(kept, h)
			m, err := s.startMember(c, h)
			if err != nil {
				return fmt.Errorf("cloudhsm: restarting %s of %s: %w", h.ID, c.ID, err)
			}
			rt.members[h.ID] = m
		}
		c.HSMs = kept
	}
	return s.saveLocked()
}

// Close stops the service's background work and every HSM (their state stays; Open resumes
// them).
func (s *Service) Close() error {
	s.bgMu.Lock()
	if !s.closing {
		s.closing = true
		close(s.stop)
	}
	s.bgMu.Unlock()
	s.bg.Wait()
	s.mu.Lock()
	var ms []*cluster.Member
	for _, rt := range s.rt {
		for id, m := range rt.members {
			ms = append(ms, m)
			delete(rt.members, id)
		}
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() { defer wg.Done(); _ = m.Close() }()
	}
	wg.Wait()
	return nil
}

// spawn runs f in the background unless the service is closing; Close waits for it to return.
func (s *Service) spawn(f func()) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closing {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// Network is the netsim network every HSM and every client Dial makes goes through.
func (s *Service) Network() *netsim.Network { return s.net }

// DataDir is the service's data directory.
func (s *Service) DataDir() string { return s.cfg.DataDir }

func (s *Service) runtime(id string) *runtime {
	rt := s.rt[id]
	if rt == nil {
		rt = &runtime{members: map[string]*cluster.Member{}}
		s.rt[id] = rt
	}
	return rt
}

func (s *Service) clusterDir(id string) string { return filepath.Join(s.cfg.DataDir, "clusters", id) }
func (s *Service) hsmDir(cid, hid string) string {
	return filepath.Join(s.clusterDir(cid), "hsms", hid)
}

// socketPath is the Unix socket of HSM hid ("" without Config.SocketDir).
func (s *Service) socketPath(hid string) string {
	if s.cfg.SocketDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.SocketDir, hid+".sock")
}

func (s *Service) backupPath(id string) string {
	return filepath.Join(s.cfg.DataDir, "backups", id+".bak")
}

// saveLocked writes the catalog atomically (s.mu held, or no concurrency yet).
func (s *Service) saveLocked() error {
	b, err := json.MarshalIndent(&s.cat, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(s.cfg.DataDir, catalogFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// hsmCA returns the HSM CA of fingerprint fp.
func (s *Service) hsmCA(fp string) (*pki.CA, error) {
	s.mu.Lock()
	r := s.cat.CAs[fp]
	s.mu.Unlock()
	if r == nil {
		return nil, fmt.Errorf("cloudhsm: HSM CA %s missing from the catalog", fp)
	}
	return pki.LoadCA([]byte(r.CertPEM), []byte(r.KeyPEM))
}

// startMember starts an HSM from its directory, issuing its TLS pair on first start.
func (s *Service) startMember(c *clusterRec, h *hsmRec) (*cluster.Member, error) {
	ca, err := s.hsmCA(c.CA)
	if err != nil {
		return nil, err
	}
	dir := s.hsmDir(c.ID, h.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert, err := os.ReadFile(certPath)
	key, kerr := os.ReadFile(keyPath)
	if err != nil || kerr != nil {
		if cert, key, err = ca.Issue(h.ID, []string{s.cfg.Host, "127.0.0.1", "localhost"}, false); err != nil {
			return nil, err
		}
		if err := os.WriteFile(certPath, cert, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			return nil, err
		}
	}
	api, raftAddr := h.APIAddr, h.RaftAddr
	if api == "" {
		api = net.JoinHostPort(s.cfg.Host, "0")
	}
	if raftAddr == "" {
		raftAddr = net.JoinHostPort(s.cfg.Host, "0")
	}
	m, err := cluster.Start(cluster.Config{NodeID: h.ID, AZ: h.AZ, DataDir: dir, APIAddr: api, RaftAddr: raftAddr,
		CertPEM: cert, KeyPEM: key, CAPEM: ca.CertPEM, Network: s.net, NoSync: s.cfg.NoSync, KDF: s.cfg.KDF,
		Bind: s.cfg.Bind, Timeouts: s.cfg.Timeouts, SnapshotThreshold: s.cfg.SnapshotThreshold, TrailingLogs: s.cfg.TrailingLogs,
		SnapshotInterval: s.cfg.SnapshotInterval, Logger: s.log, Socket: s.socketPath(h.ID)})
	if err == nil && s.cfg.NodeObserver != nil {
		m.Node().SetObserver(s.cfg.NodeObserver(h.ID))
	}
	if err != nil || s.cfg.Capacity == capacity.ProfileNone {
		return m, err
	}
	typ := h.HsmType
	if typ == "" {
		typ = c.HsmType
	}
	lim, err := capacity.NewLimiter(typ)
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	m.Node().SetLimiter(lim)
	return m, nil
}

// allocAddrs picks the addresses of a new HSM (s.mu held): fixed ports from BasePort, or none
// (any port, recorded after start).
func (s *Service) allocAddrsLocked() (api, raftAddr string) {
	if s.cfg.BasePort == 0 {
		return "", ""
	}
	used := map[string]bool{}
	for _, c := range s.cat.Clusters {
		for _, h := range c.HSMs {
			used[h.APIAddr], used[h.RaftAddr] = true, true
		}
	}
	for k := 0; k < 100; k++ {
		a := net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.BasePort+k))
		r := net.JoinHostPort(s.cfg.Host, strconv.Itoa(cluster.RaftPort(s.cfg.BasePort+k)))
		if used[a] || used[r] || !s.free(a) || !s.free(r) {
			continue
		}
		return a, r
	}
	return "", ""
}

// free reports whether addr's port can be listened on where HSMs listen (Bind, else addr).
func (s *Service) free(addr string) bool {
	if s.cfg.Bind != "" {
		_, port, _ := net.SplitHostPort(addr)
		addr = net.JoinHostPort(s.cfg.Bind, port)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// SubnetID is the subnet the service places in az.
func SubnetID(az string) string { return "subnet-" + hash17("subnet/"+az) }

// SubnetCIDR is the address range of the cluster subnet in az (whichever subnet id a cluster
// maps there): 10.0.16*i.0/20 for the region's i-th AZ (a is 0), in the VPC 10.0.0.0/16. There
// is no EC2 to ask, so this is where CreateHsm's IpAddress must lie.
func SubnetCIDR(az string) string {
	if az == "" {
		return ""
	}
	i := int(az[len(az)-1] - 'a')
	return "10.0." + strconv.Itoa(16*i) + ".0/20"
}

func hash17(s string) string {
	sum := sha256.Sum256([]byte("hsmsim/" + s))
	return hex.EncodeToString(sum[:])[:17]
}

// vpcID is the one VPC of an account and region.
func vpcID(account, region string) string { return "vpc-" + hash17("vpc/"+account+"/"+region) }

func securityGroup(clusterID string) string { return "sg-" + hash17("sg/"+clusterID) }

// sortedClusters lists the catalog's clusters by creation, then id (s.mu held).
func (s *Service) sortedClustersLocked() []*clusterRec {
	out := make([]*clusterRec, 0, len(s.cat.Clusters))
	for _, c := range s.cat.Clusters {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// ---- Go API for tests and scenarios ----

// ClusterIDs lists the clusters of every account, oldest first.
func (s *Service) ClusterIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.sortedClustersLocked() {
		out = append(out, c.ID)
	}
	return out
}

// Members returns the running members of a cluster, in the order their HSMs were created.
func (s *Service) Members(clusterID string) []*cluster.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cat.Clusters[clusterID]
	rt := s.rt[clusterID]
	if c == nil || rt == nil {
		return nil
	}
	var out []*cluster.Member
	for _, h := range c.HSMs {
		if m := rt.members[h.ID]; m != nil {
			out = append(out, m)
		}
	}
	return out
}

// Member returns a running HSM of a cluster, or nil.
func (s *Service) Member(clusterID, hsmID string) *cluster.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.rt[clusterID]; rt != nil {
		return rt.members[hsmID]
	}
	return nil
}

func (s *Service) find(clusterID, hsmID string) (*clusterRec, *hsmRec, *runtime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cat.Clusters[clusterID]
	if c == nil {
		return nil, nil, nil, fmt.Errorf("cloudhsm: no cluster %s", clusterID)
	}
	for _, h := range c.HSMs {
		if h.ID == hsmID {
			return c, h, s.runtime(clusterID), nil
		}
	}
	return nil, nil, nil, fmt.Errorf("cloudhsm: no HSM %s in %s", hsmID, clusterID)
}

// Kill stops an HSM abruptly (cluster.Member.Kill); its directory and place in the cluster stay,
// and it shows DEGRADED until Restart.
func (s *Service) Kill(clusterID, hsmID string) error {
	_, _, rt, err := s.find(clusterID, hsmID)
	if err != nil {
		return err
	}
	rt.op.Lock()
	defer rt.op.Unlock()
	s.mu.Lock()
	m := rt.members[hsmID]
	delete(rt.members, hsmID)
	s.mu.Unlock()
	if m != nil {
		m.Kill()
	}
	return nil
}

// Restart starts a killed HSM again from its directory on its addresses; it rejoins by itself.
func (s *Service) Restart(ctx context.Context, clusterID, hsmID string) error {
	c, h, rt, err := s.find(clusterID, hsmID)
	if err != nil {
		return err
	}
	rt.op.Lock()
	defer rt.op.Unlock()
	s.mu.Lock()
	running := rt.members[hsmID] != nil
	s.mu.Unlock()
	if running {
		return fmt.Errorf("cloudhsm: %s is running", hsmID)
	}
	m, err := s.startMember(c, h)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rt.members[hsmID] = m
	s.mu.Unlock()
	return nil
}

// Wipe kills an HSM, deletes its data directory (a replaced disk) and has it join the cluster
// again under the same id and addresses, catching up from the others.
func (s *Service) Wipe(ctx context.Context, clusterID, hsmID string) error {
	if err := s.Kill(clusterID, hsmID); err != nil {
		return err
	}
	c, h, rt, err := s.find(clusterID, hsmID)
	if err != nil {
		return err
	}
	rt.op.Lock()
	defer rt.op.Unlock()
	if err := os.RemoveAll(s.hsmDir(clusterID, hsmID)); err != nil {
		return err
	}
	peers := s.peers(clusterID, hsmID)
	m, err := s.startMember(c, h)
	if err != nil {
		return err
	}
	if err := m.Join(ctx, peers); err != nil {
		m.Kill()
		return err
	}
	s.mu.Lock()
	rt.members[hsmID] = m
	s.mu.Unlock()
	return nil
}

// peers lists the API addresses of a cluster's running members but one.
func (s *Service) peers(clusterID, except string) []string {
	var out []string
	for _, m := range s.Members(clusterID) {
		if m.ID() != except {
			out = append(out, m.APIAddr())
		}
	}
	return out
}

// HSMCAPEM is the certificate of the CA that issued the cluster's HSM TLS certificates: the
// trust anchor clients verify HSMs with.
func (s *Service) HSMCAPEM(clusterID string) ([]byte, error) {
	s.mu.Lock()
	c := s.cat.Clusters[clusterID]
	s.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("cloudhsm: no cluster %s", clusterID)
	}
	ca, err := s.hsmCA(c.CA)
	if err != nil {
		return nil, err
	}
	return ca.CertPEM, nil
}

// ClientConfig writes the cluster's client config (and its HSM CA beside it) under the
// cluster's directory and returns it; its Path is where it was written. The PKCS#11 module,
// the CLI and client.DialConfig read it.
func (s *Service) ClientConfig(clusterID string) (*client.FileConfig, error) {
	ca, err := s.HSMCAPEM(clusterID)
	if err != nil {
		return nil, err
	}
	dir := s.clusterDir(clusterID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caPath := filepath.Join(dir, "hsm-ca.crt")
	if err := os.WriteFile(caPath, ca, 0o644); err != nil {
		return nil, err
	}
	cfg := &client.FileConfig{ClusterID: clusterID, Label: clusterID, TrustAnchor: caPath, Nodes: s.clientNodes(clusterID, false)}
	cfg.Path = filepath.Join(dir, "client.json")
	return cfg, cfg.Write(cfg.Path)
}

// clientNodes lists the cluster's HSMs as client nodes (activeOnly: the ACTIVE ones, or all
// with an address if none is).
func (s *Service) clientNodes(clusterID string, activeOnly bool) []client.Node {
	var all, active []client.Node
	s.mu.Lock()
	c := s.cat.Clusters[clusterID]
	rt := s.rt[clusterID]
	var hs []*hsmRec
	if c != nil {
		hs = append(hs, c.HSMs...)
	}
	members := map[string]*cluster.Member{}
	if rt != nil {
		for k, v := range rt.members {
			members[k] = v
		}
	}
	s.mu.Unlock()
	for _, h := range hs {
		if h.APIAddr == "" {
			continue
		}
		n := client.Node{ID: h.ID, AZ: h.AZ, Addr: h.APIAddr, Socket: s.socketPath(h.ID)}
		all = append(all, n)
		if m := members[h.ID]; m != nil && m.HSMState() == cluster.HSMActive {
			active = append(active, n)
		}
	}
	if activeOnly && len(active) > 0 {
		return active
	}
	return all
}

// DialCluster returns a client of the cluster's HSMs (not logged in) through the service's
// network, as KMS gets from Dial.
func (s *Service) DialCluster(clusterID string) (*client.Client, error) {
	s.mu.Lock()
	s.dials++
	name := fmt.Sprintf("client-%s-%d", clusterID, s.dials)
	s.mu.Unlock()
	return s.DialClusterAs(clusterID, name)
}

// DialClusterAs is DialCluster with the client's netsim endpoint name chosen by the caller, so
// that network rules can name it (a scenario cuts a paused HSM off from the KMS's clients).
func (s *Service) DialClusterAs(clusterID, endpoint string) (*client.Client, error) {
	ca, err := s.HSMCAPEM(clusterID)
	if err != nil {
		return nil, err
	}
	nodes := s.clientNodes(clusterID, true)
	if len(nodes) == 0 {
		return nil, fmt.Errorf("cloudhsm: cluster %s has no HSM", clusterID)
	}
	for i := range nodes {
		// TCP through the network only: a dial to a socket would bypass the endpoint name
		// that network rules between this client and the HSMs are written against.
		nodes[i].Socket = ""
	}
	name := endpoint
	// Refresh: KMS keeps this client while its key store is connected; HSMs added later must
	// get its traffic, as the CloudHSM client learns of new HSMs from the cluster.
	return client.Dial(client.Config{Nodes: nodes, CAPEM: ca, Dialer: s.net.Dialer(netsim.Endpoint{Name: name}),
		AttemptTimeout: 2 * time.Second, Refresh: 2 * time.Second})
}

// WaitActive waits until the cluster is ACTIVE with n HSMs ACTIVE (a leader among them).
func (s *Service) WaitActive(ctx context.Context, clusterID string, n int) error {
	for {
		d, err := s.Cluster(ctx, "", "", clusterID)
		if err != nil {
			return err
		}
		active, _ := d.ActiveAZs()
		if d.State == "ACTIVE" && active >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cloudhsm: cluster %s: %s with %d active HSMs, want ACTIVE with %d: %w", clusterID, d.State, active, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
