package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// StandaloneOptions start a standalone HSM: one Member as its own process (hsmsim hsmd), whose
// directory (NodeDir) remembers its place. Only Dir, Timeouts and Logger matter once the
// directory holds a node; the rest shape its first run. Errors name the options as hsmsim
// hsmd's flags (--init, --join, ...), the one place they come from.
type StandaloneOptions struct {
	Dir NodeDir // required
	// Listen is the node API address, RaftListen the Raft address (empty: RaftAddr(Listen)).
	Listen, RaftListen string
	AZ                 string
	// Init makes a new cluster with this HSM as its first: a new trust anchor, a token whose
	// admin is unactivated until AdminPassword (when set) activates it. ClusterID is its id
	// (empty: a new one).
	Init          bool
	ClusterID     string
	AdminPassword string
	// Join adds the HSM to the cluster these API addresses belong to; its certificate is issued
	// from the trust anchor CACert with its key CAKey (files), as AWS issues an HSM's.
	Join          []string
	CACert, CAKey string
	// NodeID, with Join, is the id the HSM joins under (empty: a new one): an HSM whose disk was
	// replaced comes back under its old id, and the leader takes the old member out first.
	NodeID string
	// Restore makes a new cluster (ClusterID, or a new id) from this backup, sealed under
	// ServiceKey, with this HSM as its first: the cluster key, keys and users of the backup's
	// cluster, and its trust anchor, which CACert must be (CAKey issues the HSM's certificate).
	// The backup is opened before anything starts.
	Restore, ServiceKey []byte
	// Socket is the Unix socket the HSM also serves its node API on, for clients on this host
	// (empty: none; Dir.SocketPath() is the usual place).
	Socket   string
	Timeouts Timeouts // zero: DefaultTimeouts
	Logger   *slog.Logger
}

// Standalone is a running standalone HSM.
type Standalone struct {
	Member   *Member
	Identity NodeIdentity
	Dir      NodeDir
	caPEM    []byte
	fatal    chan error
}

// StartStandalone starts the HSM of o.Dir: the node it holds, or on a first run a new one that
// takes its place (the first of a new cluster, or a joiner) before its identity is written.
func StartStandalone(ctx context.Context, o StandaloneOptions) (*Standalone, error) {
	if err := checkRestore(o); err != nil {
		return nil, err
	}
	id, fresh, err := loadOrNewIdentity(o)
	if err != nil {
		return nil, err
	}
	cert, key, caPEM, err := nodeCertificate(o, id)
	if err != nil {
		return nil, err
	}
	s := &Standalone{Identity: *id, Dir: o.Dir, caPEM: caPEM, fatal: make(chan error, 1)}
	s.Member, err = Start(Config{NodeID: id.NodeID, AZ: id.AZ, DataDir: o.Dir.Path(), APIAddr: id.APIAddr, RaftAddr: id.RaftAddr,
		CertPEM: cert, KeyPEM: key, CAPEM: caPEM, Logger: o.Logger, Timeouts: o.Timeouts, Socket: o.Socket, OnFatal: func(err error) { s.fatal <- err }})
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := s.takePlace(ctx, o); err != nil {
			s.Member.Close()
			return nil, err
		}
		if err := o.Dir.WriteIdentity(&s.Identity); err != nil {
			s.Member.Close()
			return nil, err
		}
	}
	return s, nil
}

// Fatal receives the error that halted the member (Config.OnFatal).
func (s *Standalone) Fatal() <-chan error { return s.fatal }

// Close stops the member.
func (s *Standalone) Close() error { return s.Member.Close() }

// ClientConfig is a client config of the cluster with this HSM as its one node and the trust
// anchor in the node's directory (hsmsim hsmd --write-config).
func (s *Standalone) ClientConfig() *client.FileConfig {
	dir := s.Dir
	if a, err := filepath.Abs(dir.Path()); err == nil {
		dir = NodeDir(a)
	}
	return &client.FileConfig{ClusterID: s.Identity.ClusterID, TrustAnchor: dir.CustomerCAPath(),
		Nodes: []client.Node{{ID: s.Identity.NodeID, AZ: s.Identity.AZ, Addr: s.Member.APIAddr(), Socket: absPath(s.Member.Socket())}}}
}

// takePlace makes a new HSM part of a cluster: the first of a new one, or a joiner.
func (s *Standalone) takePlace(ctx context.Context, o StandaloneOptions) error {
	m := s.Member
	if o.Restore != nil {
		return m.RestoreBackup(ctx, o.Restore, o.ServiceKey, s.Identity.ClusterID)
	}
	if len(o.Join) > 0 {
		if err := m.Join(ctx, o.Join); err != nil {
			return err
		}
		// The joiner learns the cluster id from the token it replicated.
		if st := m.Node().State(); st != nil {
			s.Identity.ClusterID, _ = st.Meta()
		}
		return nil
	}
	if err := m.Bootstrap(ctx, s.Identity.ClusterID, s.Identity.ClusterID); err != nil {
		return err
	}
	if o.AdminPassword != "" {
		if err := activateAdmin(ctx, m.APIAddr(), s.caPEM, o.AdminPassword); err != nil {
			return fmt.Errorf("activating the admin: %w", err)
		}
	}
	return nil
}

// checkRestore opens the backup of a first run with Restore (its service key, its trust anchor
// CACert) before anything is written or started, so a wrong key leaves the directory empty.
func checkRestore(o StandaloneOptions) error {
	if o.Restore == nil {
		return nil
	}
	if _, err := o.Dir.ReadIdentity(); err == nil {
		return nil // the HSM has its place already; the backup was restored on its first run
	}
	if o.CACert == "" || o.CAKey == "" {
		return errors.New("--restore needs the backup's trust anchor and its key (--ca-cert, --ca-key) to issue this HSM's certificate")
	}
	caPEM, err := os.ReadFile(o.CACert)
	if err != nil {
		return fmt.Errorf("--ca-cert: %w", err)
	}
	if _, err := CheckBackup(o.Restore, o.ServiceKey, caPEM); err != nil {
		return fmt.Errorf("--restore: %w", err)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// loadOrNewIdentity reads the HSM's identity, or makes one for a first run with Init or Join.
func loadOrNewIdentity(o StandaloneOptions) (*NodeIdentity, bool, error) {
	id, err := o.Dir.ReadIdentity()
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if modes := btoi(o.Init) + btoi(len(o.Join) > 0) + btoi(o.Restore != nil); modes != 1 {
		return nil, false, fmt.Errorf("%s holds no HSM yet: start it with one of --init (a new cluster), --join (an existing one) or --restore (a new cluster from a backup)", o.Dir)
	}
	id = &NodeIdentity{NodeID: NewHSMID(), AZ: o.AZ, APIAddr: o.Listen, RaftAddr: o.RaftListen}
	if o.NodeID != "" {
		if len(o.Join) == 0 || !ValidHSMID(o.NodeID) {
			return nil, false, fmt.Errorf("--hsm-id %q: want an hsm- id, and --join", o.NodeID)
		}
		id.NodeID = o.NodeID
	}
	if id.RaftAddr == "" {
		if id.RaftAddr, err = RaftAddr(id.APIAddr); err != nil {
			return nil, false, fmt.Errorf("--listen: %w", err)
		}
	}
	if o.Init || o.Restore != nil {
		id.ClusterID = o.ClusterID
		if id.ClusterID == "" {
			id.ClusterID = NewClusterID()
		}
		if !ValidClusterID(id.ClusterID) {
			return nil, false, fmt.Errorf("--cluster-id %q: want cluster- and 11-16 of [2-7a-zA-Z]", id.ClusterID)
		}
	}
	return id, true, os.MkdirAll(o.Dir.PKIDir(), 0o700)
}

// nodeCertificate loads the HSM's certificate, or issues it on a first run: from a new trust
// anchor with Init, from the given one with Join.
func nodeCertificate(o StandaloneOptions, id *NodeIdentity) (cert, key, caPEM []byte, err error) {
	d := o.Dir
	caPEM, err = os.ReadFile(d.CustomerCAPath())
	if err == nil {
		if cert, err = os.ReadFile(d.certPath()); err == nil {
			key, err = os.ReadFile(d.keyPath())
		}
		return cert, key, caPEM, err
	}
	var ca *pki.CA
	switch {
	case o.Init:
		if ca, err = pki.NewCA(id.ClusterID); err != nil {
			return nil, nil, nil, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, nil, nil, err
		}
		if err := os.WriteFile(d.CustomerCAKeyPath(), keyPEM, 0o600); err != nil {
			return nil, nil, nil, err
		}
	case o.CACert != "" && o.CAKey != "":
		if ca, err = loadCA(o.CACert, o.CAKey); err != nil {
			return nil, nil, nil, err
		}
	default:
		return nil, nil, nil, errors.New("--join and --restore need the trust anchor and its key (--ca-cert, --ca-key) to issue this HSM's certificate")
	}
	host, _, err := net.SplitHostPort(id.APIAddr)
	if err != nil {
		return nil, nil, nil, err
	}
	if cert, key, err = ca.Issue(id.NodeID, []string{host, "localhost", "127.0.0.1"}, false); err != nil {
		return nil, nil, nil, err
	}
	for path, b := range map[string][]byte{d.CustomerCAPath(): ca.CertPEM, d.certPath(): cert, d.keyPath(): key} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, nil, nil, err
		}
	}
	return cert, key, ca.CertPEM, nil
}

func activateAdmin(ctx context.Context, addr string, caPEM []byte, pw string) error {
	cl, err := client.Dial(client.Config{Addr: addr, CAPEM: caPEM})
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, token.AdminName, token.InitialAdminPassword); err != nil {
		return err
	}
	if err := cl.ChangePassword(ctx, "", pw); err != nil {
		return err
	}
	return cl.Logout(ctx)
}
