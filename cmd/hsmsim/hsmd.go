package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// nodeIdentity is what a node's data directory remembers about the node itself.
type nodeIdentity struct {
	NodeID    string `json:"node_id"`
	AZ        string `json:"az"`
	ClusterID string `json:"cluster_id,omitempty"`
	APIAddr   string `json:"api_addr"`
	RaftAddr  string `json:"raft_addr"`
}

// Files of a node's data directory besides the store's and Raft's.
const (
	identityFile = "node.json"
	pkiDir       = "pki"
	caCertFile   = "customerCA.crt"
	caKeyFile    = "customerCA.key"
	nodeCertFile = "node.crt"
	nodeKeyFile  = "node-tls.key"
)

func hsmdCommand() *cli.Command {
	return &cli.Command{
		Name:  "hsmd",
		Usage: "run one HSM node as its own process (a cluster can span processes and machines)",
		Description: `Runs one HSM in the foreground until interrupted; its token is replicated with Raft.

  First HSM:   hsmsim hsmd --data-dir D1 --init --admin-password adminpass1 --write-config client.json
  More HSMs:   hsmsim hsmd --data-dir D2 --listen 127.0.0.1:2226 --az us-east-1b \
                   --join 127.0.0.1:2225 --ca-cert D1/pki/customerCA.crt --ca-key D1/pki/customerCA.key

--init makes a new cluster: its trust anchor (pki/customerCA.crt, which clients verify
nodes against), a certificate for this HSM, and a token whose admin is unactivated
("admin" / "password") until --admin-password or "hsmsim user change-password" activates
it. --join adds this HSM to the cluster that the given nodes belong to; it issues its own
certificate from the trust anchor's key, as AWS issues an HSM's certificate. Later runs on
the same --data-dir need no flags but --data-dir: the HSM takes its place again.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Required: true, Usage: "where the HSM keeps its sealed store, Raft log and certificates"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:2225", Usage: "node API address (TLS) (first run)"},
			&cli.StringFlag{Name: "raft-listen", Usage: "Raft address (first run; default: the API port + 100)"},
			&cli.StringFlag{Name: "az", Value: "us-east-1a", Usage: "the HSM's availability zone (first run)"},
			&cli.BoolFlag{Name: "init", Usage: "create a new cluster with this HSM as its first"},
			&cli.StringFlag{Name: "cluster-id", Usage: "id of the new cluster (with --init; default: a new cluster-… id)"},
			&cli.StringFlag{Name: "admin-password", Usage: "activate the admin with this password (with --init)"},
			&cli.StringFlag{Name: "join", Usage: "API addresses of members of the cluster to join, comma-separated"},
			&cli.StringFlag{Name: "ca-cert", Usage: "the cluster's trust anchor (with --join)"},
			&cli.StringFlag{Name: "ca-key", Usage: "the trust anchor's key, to issue this HSM's certificate (with --join)"},
			&cli.StringFlag{Name: "write-config", Usage: "write a client config file for the cluster here"},
			&cli.BoolFlag{Name: "fast-timeouts", Usage: "Raft timeouts for tests (elections in ~250 ms)", Hidden: true},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: runHSMD,
	}
}

func runHSMD(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	dir := c.String("data-dir")
	id, fresh, err := loadOrNewIdentity(c, dir)
	if err != nil {
		return err
	}
	cert, key, caPEM, err := nodeCertificate(c, dir, id)
	if err != nil {
		return err
	}
	fatal := make(chan error, 1)
	cfg := cluster.Config{NodeID: id.NodeID, AZ: id.AZ, DataDir: dir, APIAddr: id.APIAddr, RaftAddr: id.RaftAddr,
		CertPEM: cert, KeyPEM: key, CAPEM: caPEM, Logger: log, OnFatal: func(err error) { fatal <- err }}
	if c.Bool("fast-timeouts") {
		cfg.Timeouts = cluster.FastTimeouts()
	}
	m, err := cluster.Start(cfg)
	if err != nil {
		return err
	}
	defer m.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if fresh {
		if err := takePlace(ctx, c, m, id, caPEM); err != nil {
			return err
		}
		if err := saveIdentity(dir, id); err != nil {
			return err
		}
	}
	if p := c.String("write-config"); p != "" {
		cfg := client.FileConfig{ClusterID: id.ClusterID, TrustAnchor: filepath.Join(absDir(dir), pkiDir, caCertFile),
			Nodes: []client.Node{{ID: id.NodeID, AZ: id.AZ, Addr: m.APIAddr()}}}
		if err := cfg.Write(p); err != nil {
			return err
		}
	}
	log.Info("serving", "node", id.NodeID, "az", id.AZ, "api", m.APIAddr(), "raft", m.RaftAddr())
	select {
	case <-ctx.Done():
		log.Info("stopping")
		return nil
	case err := <-fatal:
		return fmt.Errorf("the HSM stopped: %w", err)
	}
}

// takePlace makes a new HSM part of a cluster: the first of a new one, or a joiner.
func takePlace(ctx context.Context, c *cli.Context, m *cluster.Member, id *nodeIdentity, caPEM []byte) error {
	if peers := c.String("join"); peers != "" {
		if err := m.Join(ctx, strings.Split(peers, ",")); err != nil {
			return err
		}
		// The joiner learns the cluster id from the token it replicated.
		if s := m.Node().State(); s != nil {
			id.ClusterID, _ = s.Meta()
		}
		return nil
	}
	if err := m.Bootstrap(ctx, id.ClusterID, id.ClusterID); err != nil {
		return err
	}
	if pw := c.String("admin-password"); pw != "" {
		if err := activateAdmin(ctx, m.APIAddr(), caPEM, pw); err != nil {
			return fmt.Errorf("activating the admin: %w", err)
		}
	}
	return nil
}

func absDir(d string) string {
	if a, err := filepath.Abs(d); err == nil {
		return a
	}
	return d
}

// loadOrNewIdentity reads the HSM's identity, or makes one for a first run with --init or --join.
func loadOrNewIdentity(c *cli.Context, dir string) (*nodeIdentity, bool, error) {
	p := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(p)
	if err == nil {
		var id nodeIdentity
		if err := json.Unmarshal(b, &id); err != nil {
			return nil, false, fmt.Errorf("%s: %w", p, err)
		}
		return &id, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if c.Bool("init") == (c.String("join") != "") {
		return nil, false, fmt.Errorf("%s holds no HSM yet: start it with either --init (a new cluster) or --join (an existing one)", dir)
	}
	id := &nodeIdentity{NodeID: cluster.NewHSMID(), AZ: c.String("az"), APIAddr: c.String("listen"), RaftAddr: c.String("raft-listen")}
	if id.RaftAddr == "" {
		host, port, err := net.SplitHostPort(id.APIAddr)
		if err != nil {
			return nil, false, fmt.Errorf("--listen: %w", err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return nil, false, fmt.Errorf("--listen: %w", err)
		}
		id.RaftAddr = net.JoinHostPort(host, strconv.Itoa(n+100))
	}
	if c.Bool("init") {
		id.ClusterID = c.String("cluster-id")
		if id.ClusterID == "" {
			id.ClusterID = cluster.NewClusterID()
		}
		if !cluster.ValidClusterID(id.ClusterID) {
			return nil, false, fmt.Errorf("--cluster-id %q: want cluster- and 11-16 of [2-7a-zA-Z]", id.ClusterID)
		}
	}
	return id, true, os.MkdirAll(filepath.Join(dir, pkiDir), 0o700)
}

// saveIdentity is written once the HSM has its place: a run that failed before starts afresh.
func saveIdentity(dir string, id *nodeIdentity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, identityFile), append(b, '\n'), 0o600)
}

// nodeCertificate loads the HSM's certificate, or issues it on a first run: from a new trust
// anchor with --init, from the given one with --join.
func nodeCertificate(c *cli.Context, dir string, id *nodeIdentity) (cert, key, caPEM []byte, err error) {
	pd := filepath.Join(dir, pkiDir)
	caPEM, err = os.ReadFile(filepath.Join(pd, caCertFile))
	if err == nil {
		if cert, err = os.ReadFile(filepath.Join(pd, nodeCertFile)); err == nil {
			key, err = os.ReadFile(filepath.Join(pd, nodeKeyFile))
		}
		return cert, key, caPEM, err
	}
	var ca *pki.CA
	switch {
	case c.Bool("init"):
		if ca, err = pki.NewCA(id.ClusterID); err != nil {
			return nil, nil, nil, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(pd, caKeyFile), keyPEM, 0o600); err != nil {
			return nil, nil, nil, err
		}
	case c.String("ca-cert") != "" && c.String("ca-key") != "":
		certPEM, err := os.ReadFile(c.String("ca-cert"))
		if err != nil {
			return nil, nil, nil, err
		}
		keyPEM, err := os.ReadFile(c.String("ca-key"))
		if err != nil {
			return nil, nil, nil, err
		}
		if ca, err = pki.LoadCA(certPEM, keyPEM); err != nil {
			return nil, nil, nil, err
		}
	default:
		return nil, nil, nil, errors.New("--join needs the trust anchor and its key (--ca-cert, --ca-key) to issue this HSM's certificate")
	}
	host, _, err := net.SplitHostPort(id.APIAddr)
	if err != nil {
		return nil, nil, nil, err
	}
	if cert, key, err = ca.Issue(id.NodeID, []string{host, "localhost", "127.0.0.1"}, false); err != nil {
		return nil, nil, nil, err
	}
	for name, b := range map[string][]byte{caCertFile: ca.CertPEM, nodeCertFile: cert, nodeKeyFile: key} {
		if err := os.WriteFile(filepath.Join(pd, name), b, 0o600); err != nil {
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
