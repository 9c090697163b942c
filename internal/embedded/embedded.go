// Package embedded is the embedded default of hsmsim: one process running an initialized cluster
// (3 HSMs in 3 AZs unless told otherwise) with an activated admin and one crypto user, its state
// in one data directory that survives restarts, and the client config every face reads. It is
// what `hsmsim up` (and `make run`) start, and what scenarios build on.
package embedded

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Options shape a new embedded cluster; a data directory that already holds one keeps its shape.
type Options struct {
	DataDir  string
	HSMs     int      // default 3
	AZs      []string // default us-east-1a, us-east-1b, us-east-1c; HSM i goes to AZ i mod len
	Host     string   // default 127.0.0.1
	BasePort int      // node API ports BasePort, BasePort+1, ...; Raft ports BasePort+100+i. Default 2225.
	Logger   *slog.Logger
	NoSync   bool // tests only
	KDF      token.KDFParams
	Timeouts cluster.Timeouts
}

// State is what the data directory remembers (embedded.json, 0600: it holds the demo users'
// passwords so `hsmsim env` can print the crypto user's PIN; this is an emulator for local use).
type State struct {
	ClusterID     string `json:"cluster_id"`
	AdminPassword string `json:"admin_password"`
	CryptoUser    string `json:"crypto_user"`
	CryptoPass    string `json:"crypto_user_password"`
	Nodes         []Node `json:"nodes"`
	KMSAddr       string `json:"kms_addr,omitempty"`
}

// Node is one HSM of the embedded cluster.
type Node struct {
	ID       string `json:"id"`
	AZ       string `json:"az"`
	APIAddr  string `json:"api_addr"`
	RaftAddr string `json:"raft_addr"`
}

// Default demo credentials, printed by `hsmsim up` and `hsmsim env`.
const (
	DefaultAdminPassword = "adminpass1"
	DefaultCryptoUser    = "crypto_user"
	DefaultCryptoPass    = "cryptopass1"
)

// Files in the data directory.
const (
	StateFile  = "embedded.json"
	ConfigFile = "client.json"
	CACertFile = "pki/customerCA.crt"
	caKeyFile  = "pki/customerCA.key"
)

// Cluster is a running embedded cluster.
type Cluster struct {
	// Net carries every connection between the HSMs (and is where scenarios put faults).
	Net     *netsim.Network
	Dir     string
	State   State
	Members []*cluster.Member
	CA      *pki.CA
	log     *slog.Logger
}

// ConfigPath is the client config file of the cluster.
func (c *Cluster) ConfigPath() string { return filepath.Join(c.Dir, ConfigFile) }

// TrustAnchorPath is the cluster's customerCA.crt.
func (c *Cluster) TrustAnchorPath() string { return filepath.Join(c.Dir, CACertFile) }

// LoadState reads the state file of a data directory (for `hsmsim env`).
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", StateFile, err)
	}
	return &s, nil
}

// Up starts the embedded cluster in o.DataDir: a new one (trust anchor, certificates, Raft
// bootstrap, joins, admin activation, the crypto user) when the directory is empty, or the one
// it already holds.
func Up(ctx context.Context, o Options) (*Cluster, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, log: o.Logger, Net: netsim.New(time.Now().UnixNano())}
	st, err := LoadState(abs)
	fresh := errors.Is(err, os.ErrNotExist)
	switch {
	case fresh:
		if err := c.create(o); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		c.State = *st
		if err := c.loadCA(); err != nil {
			return nil, err
		}
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	for _, n := range c.State.Nodes {
		m, err := c.startMember(o, n)
		if err != nil {
			return nil, err
		}
		c.Members = append(c.Members, m)
	}
	if fresh {
		if err := c.initialize(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.writeClientConfig(); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

func (c *Cluster) create(o Options) error {
	if o.HSMs == 0 {
		o.HSMs = 3
	}
	if len(o.AZs) == 0 {
		o.AZs = []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.BasePort == 0 {
		o.BasePort = 2225
	}
	if o.HSMs < 1 || o.HSMs > 28 {
		return fmt.Errorf("embedded: %d HSMs: a cluster has 1 to 28", o.HSMs)
	}
	st := State{ClusterID: cluster.NewClusterID(), AdminPassword: DefaultAdminPassword, CryptoUser: DefaultCryptoUser, CryptoPass: DefaultCryptoPass}
	for i := 0; i < o.HSMs; i++ {
		n := Node{ID: cluster.NewHSMID(), AZ: o.AZs[i%len(o.AZs)],
			APIAddr:  net.JoinHostPort(o.Host, strconv.Itoa(o.BasePort+i)),
			RaftAddr: net.JoinHostPort(o.Host, strconv.Itoa(o.BasePort+100+i))}
		for _, a := range []string{n.APIAddr, n.RaftAddr} {
			l, err := net.Listen("tcp", a)
			if err != nil {
				return fmt.Errorf("embedded: port %s is taken (choose another --base-port): %w", a, err)
			}
			l.Close()
		}
		st.Nodes = append(st.Nodes, n)
	}
	// A directory without a state file never finished initializing: start it over.
	if err := os.RemoveAll(filepath.Join(c.Dir, "nodes")); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "pki"), 0o700); err != nil {
		return err
	}
	ca, err := pki.NewCA(st.ClusterID)
	if err != nil {
		return err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, CACertFile), ca.CertPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, caKeyFile), keyPEM, 0o600); err != nil {
		return err
	}
	c.CA, c.State = ca, st
	// The state file is written last: a directory without it is one Up will create afresh.
	return nil
}

func (c *Cluster) saveState() error {
	b, err := json.MarshalIndent(c.State, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, StateFile), append(b, '\n'), 0o600)
}

func (c *Cluster) loadCA() error {
	cert, err := os.ReadFile(filepath.Join(c.Dir, CACertFile))
	if err != nil {
		return err
	}
	key, err := os.ReadFile(filepath.Join(c.Dir, caKeyFile))
	if err != nil {
		return err
	}
	c.CA, err = pki.LoadCA(cert, key)
	return err
}

func (c *Cluster) nodeDir(n Node) string { return filepath.Join(c.Dir, "nodes", n.ID) }

// startMember starts one HSM, issuing its certificate on first start.
func (c *Cluster) startMember(o Options, n Node) (*cluster.Member, error) {
	dir := c.nodeDir(n)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cert, err := os.ReadFile(certPath)
	key, kerr := os.ReadFile(keyPath)
	if err != nil || kerr != nil {
		host, _, _ := net.SplitHostPort(n.APIAddr)
		if cert, key, err = c.CA.Issue(n.ID, []string{host, "localhost"}, false); err != nil {
			return nil, err
		}
		if err := os.WriteFile(certPath, cert, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			return nil, err
		}
	}
	return cluster.Start(cluster.Config{NodeID: n.ID, AZ: n.AZ, DataDir: dir, APIAddr: n.APIAddr, RaftAddr: n.RaftAddr,
		CertPEM: cert, KeyPEM: key, CAPEM: c.CA.CertPEM, Network: c.Net, NoSync: o.NoSync, KDF: o.KDF, Timeouts: o.Timeouts, Logger: o.Logger})
}

// initialize makes the cluster: the first HSM bootstraps, the others join, then the admin is
// activated and the crypto user created through the node API, as an operator would.
func (c *Cluster) initialize(ctx context.Context) error {
	first := c.Members[0]
	if err := first.Bootstrap(ctx, c.State.ClusterID, c.State.ClusterID); err != nil {
		return err
	}
	for _, m := range c.Members[1:] {
		if err := m.Join(ctx, []string{first.APIAddr()}); err != nil {
			return err
		}
	}
	cl, err := client.Dial(client.Config{Nodes: c.clientNodes(), CAPEM: c.CA.CertPEM})
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, token.AdminName, token.InitialAdminPassword); err != nil {
		return fmt.Errorf("embedded: admin login: %w", err)
	}
	if err := cl.ChangePassword(ctx, "", c.State.AdminPassword); err != nil {
		return fmt.Errorf("embedded: activating the admin: %w", err)
	}
	if err := cl.CreateUser(ctx, c.State.CryptoUser, hsmpb.Role_ROLE_CRYPTO_USER, c.State.CryptoPass); err != nil {
		return fmt.Errorf("embedded: creating the crypto user: %w", err)
	}
	if err := cl.Logout(ctx); err != nil {
		return err
	}
	return c.saveState()
}

func (c *Cluster) clientNodes() []client.Node {
	out := make([]client.Node, len(c.State.Nodes))
	for i, n := range c.State.Nodes {
		out[i] = client.Node{ID: n.ID, AZ: n.AZ, Addr: n.APIAddr}
	}
	return out
}

func (c *Cluster) writeClientConfig() error {
	cfg := client.FileConfig{ClusterID: c.State.ClusterID, Label: c.State.ClusterID, TrustAnchor: c.TrustAnchorPath(), Nodes: c.clientNodes()}
	return cfg.Write(c.ConfigPath())
}

// Client dials the cluster with the client config it wrote.
func (c *Cluster) Client() (*client.Client, error) {
	return client.Dial(client.Config{Nodes: c.clientNodes(), CAPEM: c.CA.CertPEM})
}

// WaitReady waits until the cluster has a leader.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for {
		leader := ""
		for _, m := range c.Members {
			if m.IsLeader() {
				leader = m.ID()
			}
		}
		if leader != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded: no leader: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Close stops every member.
func (c *Cluster) Close() {
	for _, m := range c.Members {
		_ = m.Close()
	}
}
