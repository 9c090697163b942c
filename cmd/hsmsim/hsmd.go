package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/server"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/internal/ids"
)

// nodeIdentity is what a node's data directory remembers about the node itself.
type nodeIdentity struct {
	NodeID    string `json:"node_id"`
	AZ        string `json:"az"`
	ClusterID string `json:"cluster_id"`
}

// Files of a node's data directory besides the store's.
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
		Usage: "run one HSM node",
		Description: `Runs one HSM node in the foreground until interrupted. The first run with --init makes a
new cluster: its trust anchor (pki/customerCA.crt, the certificate clients verify nodes
against), a certificate for this node, and a token whose admin is unactivated ("admin" /
"password") until --admin-password or "hsmsim user change-password" activates it.
Later runs on the same --data-dir resume with every object and user.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Required: true, Usage: "where the node keeps its sealed store and certificates"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:2225", Usage: "node API address (TLS)"},
			&cli.StringFlag{Name: "az", Value: "us-east-1a", Usage: "the node's availability zone"},
			&cli.BoolFlag{Name: "init", Usage: "create a new cluster in an empty data dir"},
			&cli.StringFlag{Name: "cluster-id", Usage: "id of the new cluster (with --init; default: a new cluster-… id)"},
			&cli.StringFlag{Name: "admin-password", Usage: "activate the admin with this password (with --init)"},
			&cli.StringFlag{Name: "write-config", Usage: "write a client config file for this node here"},
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
	id, err := loadOrInitIdentity(c, dir)
	if err != nil {
		return err
	}
	tlsCfg, caPEM, err := nodeTLS(dir, id, c.String("listen"), c.Bool("init"))
	if err != nil {
		return err
	}
	n, err := server.Open(server.Config{NodeID: id.NodeID, AZ: id.AZ, DataDir: dir, Logger: log})
	if err != nil {
		return err
	}
	defer n.Close()
	lis, err := net.Listen("tcp", c.String("listen"))
	if err != nil {
		return err
	}
	srv := n.Serve(lis, tlsCfg)
	defer srv.Stop()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if s := n.State(); s == nil || !s.Initialized() {
		if !c.Bool("init") {
			return errors.New("this data dir holds no cluster: start with --init")
		}
		if err := n.Bootstrap(ctx, id.ClusterID, id.ClusterID); err != nil {
			return err
		}
		log.Info("cluster initialized", "cluster", id.ClusterID, "trust_anchor", filepath.Join(dir, pkiDir, caCertFile))
		if pw := c.String("admin-password"); pw != "" {
			if err := activateAdmin(ctx, lis.Addr().String(), caPEM, pw); err != nil {
				return fmt.Errorf("activating the admin: %w", err)
			}
			log.Info("admin activated")
		}
	}
	if p := c.String("write-config"); p != "" {
		cfg := client.FileConfig{ClusterID: id.ClusterID, TrustAnchor: filepath.Join(absDir(dir), pkiDir, caCertFile),
			Nodes: []client.Node{{ID: id.NodeID, AZ: id.AZ, Addr: lis.Addr().String()}}}
		if err := cfg.Write(p); err != nil {
			return err
		}
	}
	log.Info("serving", "node", id.NodeID, "az", id.AZ, "addr", lis.Addr().String())
	<-ctx.Done()
	log.Info("stopping")
	return nil
}

func absDir(d string) string {
	if a, err := filepath.Abs(d); err == nil {
		return a
	}
	return d
}

func loadOrInitIdentity(c *cli.Context, dir string) (*nodeIdentity, error) {
	p := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(p)
	if err == nil {
		var id nodeIdentity
		if err := json.Unmarshal(b, &id); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return &id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if !c.Bool("init") {
		return nil, fmt.Errorf("%s is not a node's data dir: start with --init to create a cluster", dir)
	}
	id := &nodeIdentity{NodeID: ids.New("hsm"), AZ: c.String("az"), ClusterID: c.String("cluster-id")}
	if id.ClusterID == "" {
		id.ClusterID = ids.New("cluster")
	}
	if !ids.Valid("cluster", id.ClusterID) {
		return nil, fmt.Errorf("--cluster-id %q: want cluster- and 11-16 of [2-7a-zA-Z]", id.ClusterID)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b, _ = json.MarshalIndent(id, "", "  ")
	return id, os.WriteFile(p, b, 0o600)
}

// nodeTLS loads the node's certificate, or on --init makes the cluster's trust anchor and a
// certificate for the node from it.
func nodeTLS(dir string, id *nodeIdentity, listen string, init bool) (cfg *tls.Config, caPEM []byte, err error) {
	pd := filepath.Join(dir, pkiDir)
	caPEM, err = os.ReadFile(filepath.Join(pd, caCertFile))
	if errors.Is(err, os.ErrNotExist) && init {
		if err := os.MkdirAll(pd, 0o700); err != nil {
			return nil, nil, err
		}
		ca, err := pki.NewCA(id.ClusterID)
		if err != nil {
			return nil, nil, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, nil, err
		}
		host, _, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, nil, err
		}
		cert, key, err := ca.Issue(id.NodeID, []string{host, "localhost", "127.0.0.1"}, false)
		if err != nil {
			return nil, nil, err
		}
		for name, b := range map[string][]byte{caCertFile: ca.CertPEM, caKeyFile: keyPEM, nodeCertFile: cert, nodeKeyFile: key} {
			if err := os.WriteFile(filepath.Join(pd, name), b, 0o600); err != nil {
				return nil, nil, err
			}
		}
		caPEM = ca.CertPEM
	} else if err != nil {
		return nil, nil, fmt.Errorf("trust anchor: %w", err)
	}
	cert, err := os.ReadFile(filepath.Join(pd, nodeCertFile))
	if err != nil {
		return nil, nil, err
	}
	key, err := os.ReadFile(filepath.Join(pd, nodeKeyFile))
	if err != nil {
		return nil, nil, err
	}
	t, err := pki.ServerTLS(cert, key, caPEM)
	return t, caPEM, err
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
