package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/internal/capacityflag"
	"github.com/hsmsim/hsmsim/internal/metrics"
)

func hsmdCommand() *cli.Command {
	d1 := cluster.NodeDir("D1")
	return &cli.Command{
		Name:  "hsmd",
		Usage: "run one HSM node as its own process (a cluster can span processes and machines)",
		Description: fmt.Sprintf(`Runs one HSM in the foreground until interrupted; its token is replicated with Raft.

  First HSM:   hsmsim hsmd --data-dir D1 --init --admin-password adminpass1 --write-config client.json
  More HSMs:   hsmsim hsmd --data-dir D2 --listen 127.0.0.1:2226 --az us-east-1b \
                   --join 127.0.0.1:2225 --ca-cert %[1]s --ca-key %[2]s
  From backup: hsmsim hsmd --data-dir R1 --listen 127.0.0.1:2325 --restore B.backup \
                   --backup-key-file service.key --ca-cert %[1]s --ca-key %[2]s

--init makes a new cluster: its trust anchor (%[1]s, which clients verify
nodes against), a certificate for this HSM, and a token whose admin is unactivated
("admin" / "password") until --admin-password or "hsmsim user change-password" activates
it. --join adds this HSM to the cluster that the given nodes belong to; it issues its own
certificate from the trust anchor's key, as AWS issues an HSM's certificate. Later runs on
the same --data-dir need no flags but --data-dir: the HSM takes its place again.

--restore makes a new cluster (--cluster-id, or a new id) from a backup taken with the Cluster
service's Backup call, related to the backup's cluster: the same cluster key, keys and users,
and the same trust anchor (--ca-cert). The backup service key it was sealed under is read from
--backup-key-file (hex, mode 0600), never from the command line; a key that does not open the
backup is refused before anything starts. More HSMs join the restored one with --join.`,
			d1.CustomerCAPath(), d1.CustomerCAKeyPath()),
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Required: true, Usage: "where the HSM keeps its sealed store, Raft log and certificates"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:2225", Usage: "node API address (TLS) (first run)"},
			&cli.StringFlag{Name: "raft-listen", Usage: "Raft address (first run; default: the API port + 100)"},
			&cli.StringFlag{Name: "az", Value: "us-east-1a", Usage: "the HSM's availability zone (first run)"},
			&cli.BoolFlag{Name: "init", Usage: "create a new cluster with this HSM as its first"},
			&cli.StringFlag{Name: "cluster-id", Usage: "id of the new cluster (with --init or --restore; default: a new cluster-… id)"},
			&cli.StringFlag{Name: "admin-password", Usage: "activate the admin with this password (with --init)"},
			&cli.StringFlag{Name: "join", Usage: "API addresses of members of the cluster to join, comma-separated"},
			&cli.StringFlag{Name: "ca-cert", Usage: "the cluster's trust anchor (with --join or --restore)"},
			&cli.StringFlag{Name: "ca-key", Usage: "the trust anchor's key, to issue this HSM's certificate (with --join or --restore)"},
			&cli.StringFlag{Name: "restore", Usage: "make a new cluster from this backup file, with this HSM as its first"},
			&cli.StringFlag{Name: "backup-key-file", Usage: "the backup service key the --restore backup was sealed under (hex, mode 0600)"},
			&cli.StringFlag{Name: "hsm-id", Hidden: true, Usage: "with --join on an empty --data-dir: rejoin under this HSM id (a replaced disk)"},
			&cli.StringFlag{Name: "write-config", Usage: "write a client config file for the cluster here"},
			&cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus metrics at http://ADDR/metrics"},
			&cli.StringFlag{Name: "socket", Usage: `serve the node API on this Unix socket too, for clients of the same OS user on this host (default: DATA/run/hsm.sock; "none": no socket)`},
			&cli.BoolFlag{Name: "fast-timeouts", Usage: "Raft timeouts for tests (elections in ~250 ms)", Hidden: true},
			&cli.StringFlag{Name: "raft-timeouts", Usage: "Raft timeouts over the defaults (or --fast-timeouts), e.g. heartbeat=1s,election=1s,lease=500ms"},
			capacityflag.Profile, capacityflag.HSMType, logLevelFlag("info"),
		},
		Action: runHSMD,
	}
}

func runHSMD(c *cli.Context) error {
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	o := cluster.StandaloneOptions{Dir: cluster.NodeDir(c.String("data-dir")), Listen: c.String("listen"), RaftListen: c.String("raft-listen"),
		AZ: c.String("az"), Init: c.Bool("init"), ClusterID: c.String("cluster-id"), AdminPassword: c.String("admin-password"),
		CACert: c.String("ca-cert"), CAKey: c.String("ca-key"), NodeID: c.String("hsm-id"), Logger: log}
	switch o.Socket = c.String("socket"); o.Socket {
	case "":
		o.Socket = o.Dir.SocketPath()
	case "none":
		o.Socket = ""
	}
	if peers := c.String("join"); peers != "" {
		o.Join = strings.Split(peers, ",")
	}
	if b := c.String("restore"); b != "" {
		if o.Restore, o.ServiceKey, err = cluster.ReadRestore(b, c.String("backup-key-file")); err != nil {
			return err
		}
	}
	if c.Bool("fast-timeouts") {
		o.Timeouts = cluster.FastTimeouts()
	}
	if s := c.String("raft-timeouts"); s != "" {
		if o.Timeouts, err = cluster.ParseTimeouts(s, o.Timeouts); err != nil {
			return err
		}
	}
	lim, err := capacityflag.Limiter(c)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(c)
	defer stop()
	s, err := cluster.StartStandalone(ctx, o)
	if err != nil {
		return err
	}
	defer s.Close()
	if lim != nil {
		s.Member.Node().SetLimiter(lim)
	}
	if a := c.String("metrics-listen"); a != "" {
		_, stop, err := metrics.ServeMember(a, s.Member)
		if err != nil {
			return err
		}
		defer stop()
	}
	if p := c.String("write-config"); p != "" {
		if err := s.ClientConfig().Write(p); err != nil {
			return err
		}
	}
	id := s.Identity
	log.Info("serving", "node", id.NodeID, "az", id.AZ, "api", s.Member.APIAddr(), "raft", s.Member.RaftAddr(), "socket", s.Member.Socket())
	select {
	case <-ctx.Done():
		log.Info("stopping")
		return nil
	case err := <-s.Fatal():
		return fmt.Errorf("the HSM stopped: %w", err)
	}
}
