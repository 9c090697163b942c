package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/internal/embedded"
)

var dataDirFlag = &cli.StringFlag{Name: "data-dir", Value: ".data", EnvVars: []string{"HSMSIM_DATA"}, Usage: "where the embedded cluster keeps its state"}

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run the embedded default: an initialized cluster (3 HSMs in 3 AZs) and the KMS on loopback",
		Description: `Starts, in this one process, the CloudHSM service with an initialized cluster whose HSMs
replicate every change with Raft (an activated admin, a crypto user and kmsuser, the
customer CA it was initialized with, and a client config that the PKCS#11 module and the
CLI read), and the KMS and CloudHSM V2 endpoint (--kms-listen) that the aws CLI and the AWS
SDKs use. The first run creates it all in --data-dir through the CloudHSM API; later runs
start the same cluster and KMS again with every key and user. In another shell,
eval "$(hsmsim env)" sets up everything a client needs.`,
		Flags: []cli.Flag{
			dataDirFlag,
			&cli.IntFlag{Name: "hsms", Value: 3, Usage: "number of HSMs (first run only)"},
			&cli.StringFlag{Name: "azs", Value: "us-east-1a,us-east-1b,us-east-1c", Usage: "availability zones, HSMs spread over them in turn (first run only)"},
			&cli.IntFlag{Name: "base-port", Value: 2225, Usage: "node API ports start here, Raft ports 100 above (first run only)"},
			&cli.StringFlag{Name: "kms-listen", Value: embedded.DefaultKMSListen, Usage: "address of the KMS and CloudHSM endpoint (AWS JSON 1.1)"},
			&cli.BoolFlag{Name: "strict", Usage: "verify every request's SigV4 signature against the local access key (hsmsim env prints it)"},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug, info, warn or error"},
		},
		Action: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			cl, err := embedded.Up(ctx, embedded.Options{DataDir: c.String("data-dir"), HSMs: c.Int("hsms"),
				AZs: strings.Split(c.String("azs"), ","), BasePort: c.Int("base-port"), Logger: log,
				KMSListen: c.String("kms-listen"), Strict: c.Bool("strict")})
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.WaitReady(ctx); err != nil {
				return err
			}
			printUsage(os.Stdout, cl)
			<-ctx.Done()
			fmt.Fprintln(os.Stderr, "stopping")
			return nil
		},
	}
}

func printUsage(w io.Writer, c *embedded.Cluster) {
	st := c.State
	fmt.Fprintf(w, "hsmsim is up: cluster %s, data in %s\n\n", st.ClusterID, c.Dir)
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "  %s  %-11s node API %s (TLS)\n", n.ID, n.AZ, n.APIAddr)
	}
	mod := modulePath()
	fmt.Fprintf(w, `
Trust anchor:   %s   (the HSMs' TLS CA; the client config names it)
Customer CA:    %s   (InitializeCluster's trust anchor; a key store's TrustAnchorCertificate)
Client config:  %s
PKCS#11 module: %s
Crypto user:    PIN %s:%s   (admin: admin:%s, kmsuser password %s)
`, c.TrustAnchorPath(), c.CustomerCAPath(), c.ConfigPath(), mod, st.CryptoUser, st.CryptoPass, st.AdminPassword, st.KMSUserPass)
	if st.KMSURL != "" {
		fmt.Fprintf(w, "KMS, CloudHSM:  %s   (region %s, account %s)\n", st.KMSURL, st.Region, st.AccountID)
	}
	fmt.Fprintf(w, `
In another shell:
  eval "$(hsmsim env --data-dir %s)"
  hsmsim info
  hsmsim key list
  pkcs11-tool --module "$HSMSIM_PKCS11_MODULE" --login --pin "$HSMSIM_PIN" --list-objects
  hsmsim user list --pin admin:%s
  aws kms create-key --description demo
  aws cloudhsmv2 describe-clusters

Ctrl-C stops the cluster; "hsmsim up" again resumes it.
`, c.Dir, st.AdminPassword)
}

// modulePath finds libhsmsim-pkcs11.so: $HSMSIM_PKCS11_MODULE, or beside the hsmsim binary
// (bin/hsmsim → build/libhsmsim-pkcs11.so, as "make build" lays them out).
func modulePath() string {
	if p := os.Getenv("HSMSIM_PKCS11_MODULE"); p != "" {
		return p
	}
	exe, err := os.Executable()
	if err != nil {
		return "libhsmsim-pkcs11.so"
	}
	dir := filepath.Dir(exe)
	for _, p := range []string{filepath.Join(dir, "..", "build", "libhsmsim-pkcs11.so"), filepath.Join(dir, "libhsmsim-pkcs11.so")} {
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	return "(not built: run make build)"
}

func envCommand() *cli.Command {
	return &cli.Command{
		Name:  "env",
		Usage: `print the shell exports for a running "hsmsim up": eval "$(hsmsim env)"`,
		Flags: []cli.Flag{dataDirFlag},
		Action: func(c *cli.Context) error {
			dir, err := filepath.Abs(c.String("data-dir"))
			if err != nil {
				return err
			}
			st, err := embedded.LoadState(dir)
			if err != nil {
				return fmt.Errorf("no embedded cluster in %s (start one with hsmsim up): %w", dir, err)
			}
			for _, v := range envVars(dir, st) {
				fmt.Printf("export %s=%s\n", v[0], shellQuote(v[1]))
			}
			return nil
		},
	}
}

// envVars are the variables `hsmsim env` exports: the hsmsim client's and, when the KMS runs,
// the ones the AWS SDKs and the aws CLI read, so a program works against hsmsim unchanged.
func envVars(dir string, st *embedded.State) [][2]string {
	cfg := filepath.Join(dir, embedded.ConfigFile)
	vars := [][2]string{
		{client.EnvConfig, cfg},
		{client.EnvPKCS11Config, cfg},
		{"HSMSIM_PKCS11_MODULE", modulePath()},
		{"HSMSIM_CLUSTER_ID", st.ClusterID},
		{"HSMSIM_TRUST_ANCHOR", embedded.TrustAnchorPath(dir, st)},
		{"HSMSIM_CUSTOMER_CA", filepath.Join(dir, embedded.CustomerCAFile)},
		{"HSMSIM_PIN", st.CryptoUser + ":" + st.CryptoPass},
		{"HSMSIM_KMSUSER_PASSWORD", st.KMSUserPass},
		{"HSMSIM_DATA", dir},
	}
	if st.KMSURL != "" {
		vars = append(vars, [][2]string{
			{"AWS_ENDPOINT_URL_KMS", st.KMSURL},
			{"AWS_ENDPOINT_URL_CLOUDHSM_V2", st.KMSURL},
			{"AWS_REGION", st.Region},
			{"AWS_DEFAULT_REGION", st.Region},
			{"AWS_ACCESS_KEY_ID", st.AccessKeyID},
			{"AWS_SECRET_ACCESS_KEY", st.SecretKey},
		}...)
	}
	return vars
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
