package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/capacityflag"
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
SDKs use; IAM and STS answer there too, and the keys "hsmsim env" prints are the account's
administrator (its root user). The first run creates it all in --data-dir through the CloudHSM API; later runs
start the same cluster and KMS again with every key and user. In another shell,
eval "$(hsmsim env)" sets up everything a client needs.`,
		Flags: []cli.Flag{
			dataDirFlag,
			&cli.IntFlag{Name: "hsms", Value: 3, Usage: "number of HSMs (first run only)"},
			&cli.StringFlag{Name: "azs", Value: "us-east-1a,us-east-1b,us-east-1c", Usage: "availability zones, HSMs spread over them in turn (first run only)"},
			&cli.IntFlag{Name: "base-port", Value: 2225, Usage: "node API ports start here, Raft ports 100 above (first run only)"},
			&cli.StringFlag{Name: "kms-listen", Value: embedded.DefaultKMSListen, EnvVars: []string{"HSMSIM_KMS_LISTEN"}, Usage: "address of the KMS and CloudHSM endpoint (AWS JSON 1.1)"},
			&cli.StringFlag{Name: "host", Value: "127.0.0.1", EnvVars: []string{"HSMSIM_HOST"}, Usage: "the address clients reach the HSMs at, written in the client config (first run only)"},
			&cli.StringFlag{Name: "bind", EnvVars: []string{"HSMSIM_BIND"}, Usage: "listen there instead of --host (0.0.0.0 in a container), still advertising --host"},
			&cli.BoolFlag{Name: "strict", Usage: "verify every request's SigV4 signature against the local access key (hsmsim env prints it)"},
			capacityflag.Profile, capacityflag.HSMType,
			logLevelFlag("warn"),
		},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			profile, err := capacityflag.Get(c)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(c)
			defer stop()
			cl, err := embedded.Up(ctx, embedded.Options{DataDir: c.String("data-dir"), HSMs: c.Int("hsms"),
				AZs: strings.Split(c.String("azs"), ","), BasePort: c.Int("base-port"), Logger: log, Host: c.String("host"), Bind: c.String("bind"),
				KMSListen: c.String("kms-listen"), Strict: c.Bool("strict"), Capacity: profile, HsmType: c.String("hsm-type")})
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cl.WaitReady(ctx); err != nil {
				return err
			}
			cl.PrintUsage(os.Stdout)
			return untilDone(ctx)
		},
	}
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
			for _, v := range embedded.Env(dir, st) {
				fmt.Printf("export %s=%s\n", v[0], shellQuote(v[1]))
			}
			return nil
		},
	}
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
