// Package benchcmd is `hsmsim bench`: what a user's stack can do, measured the way the user
// would ask — a PKCS#11 module (hsmsim's or any other, SoftHSM for comparison) or a KMS endpoint
// (hsmsim, local-kms or AWS) — with internal/benchrun.
package benchcmd

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/benchrun"
)

// Command is `hsmsim bench`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure a PKCS#11 module or a KMS endpoint: ops/s, p50, p99 and errors per operation and concurrency",
		Description: `Each operation runs at each concurrency for --duration; with --compare a second target
runs the same cells, the two taking turns, and the table gives its ops/s over the first's.
A progress line goes to stderr while it runs; --json prints the results for machines.`,
		Subcommands: []*cli.Command{pkcs11Command(), kmsCommand()},
	}
}

// common are the flags of both subcommands.
func common(opsUsage, def string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "ops", Value: def, Usage: opsUsage},
		&cli.DurationFlag{Name: "duration", Value: 5e9, Usage: "how long each operation runs at each concurrency"},
		&cli.BoolFlag{Name: "json", Usage: "print the results as JSON"},
		&cli.BoolFlag{Name: "quiet", Usage: "no progress line"},
	}
}

func pkcs11Command() *cli.Command {
	return &cli.Command{
		Name:  "pkcs11",
		Usage: "measure a PKCS#11 module (hsmsim's module reads $HSMSIM_PKCS11_CONFIG, as `hsmsim env` sets it)",
		Flags: append(common("operations: "+strings.Join(benchrun.PKCS11Operations, ","), "ecdsa,rsa,gcm,keygen"),
			&cli.StringFlag{Name: "module", Required: true, Usage: "the module's path"},
			&cli.StringFlag{Name: "token", Usage: "the token's label (default: the first token)"},
			&cli.StringFlag{Name: "pin", EnvVars: []string{"HSMSIM_PIN"}, Usage: "the user's PIN (hsmsim: user:password)"},
			&cli.StringFlag{Name: "sessions", Value: "1,16", Usage: "concurrencies: sessions, one goroutine each"},
			&cli.StringFlag{Name: "compare", Usage: "a second module to run in the same run"},
			&cli.StringFlag{Name: "compare-token", Usage: "the second module's token label (default: --token)"},
			&cli.StringFlag{Name: "compare-pin", Usage: "the second module's PIN (default: --pin)"},
			&cli.StringFlag{Name: "config", Usage: "hsmsim's module: the client config it reads (default: $" + configEnv + ")"},
			&cli.StringFlag{Name: "compare-config", Usage: "the second module's client config, when it is hsmsim's (two builds, each against its own cluster; give them different paths, as the loader shares a module loaded twice from one path)"},
		),
		Action: func(c *cli.Context) error {
			var first *benchrun.Module
			err := withConfig(c.String("config"), func() (err error) {
				first, err = benchrun.OpenModule(c.String("module"), c.String("module"), c.String("token"), c.String("pin"))
				return err
			})
			if err != nil {
				return err
			}
			defer first.Close()
			targets := []benchrun.Target{first}
			if path := c.String("compare"); path != "" {
				var second *benchrun.Module
				err := withConfig(c.String("compare-config"), func() (err error) {
					second, err = benchrun.OpenModule(path, path, or(c.String("compare-token"), c.String("token")), or(c.String("compare-pin"), c.String("pin")))
					return err
				})
				if err != nil {
					return err
				}
				defer second.Close()
				targets = append(targets, second)
			}
			return run(c, targets, c.String("sessions"))
		},
	}
}

// configEnv is where hsmsim's module finds its client config; it reads it once, at C_Initialize.
const configEnv = "HSMSIM_PKCS11_CONFIG"

// withConfig runs open with configEnv set to path (unchanged when path is empty) and puts the
// caller's value back after: each module opened in one run reads its own config.
func withConfig(path string, open func() error) error {
	if path == "" {
		return open()
	}
	old, had := os.LookupEnv(configEnv)
	if err := os.Setenv(configEnv, path); err != nil {
		return err
	}
	defer func() {
		if had {
			_ = os.Setenv(configEnv, old)
		} else {
			_ = os.Unsetenv(configEnv)
		}
	}()
	return open()
}

func kmsCommand() *cli.Command {
	return &cli.Command{
		Name:  "kms",
		Usage: "measure a KMS endpoint through aws-sdk-go-v2 (retries off: a throttled request is an error)",
		Flags: append(common("operations: "+strings.Join(benchrun.KMSOperations, ","), "encrypt,gdk"),
			&cli.StringFlag{Name: "endpoint", EnvVars: []string{"AWS_ENDPOINT_URL_KMS"}, Usage: "the KMS endpoint (default: AWS's)"},
			&cli.StringFlag{Name: "region", EnvVars: []string{"AWS_REGION", "AWS_DEFAULT_REGION"}, Value: "us-east-1"},
			&cli.StringFlag{Name: "key-id", Usage: "a symmetric key for encrypt, decrypt and gdk (default: one made for the run)"},
			&cli.StringFlag{Name: "concurrency", Value: "1,16,64", Usage: "concurrencies: callers sharing one SDK client"},
			&cli.StringFlag{Name: "compare", Usage: "a second endpoint to run in the same run"},
		),
		Action: func(c *cli.Context) error {
			ctx := c.Context
			first, err := benchrun.OpenKMS(ctx, or(c.String("endpoint"), "aws"), c.String("endpoint"), c.String("region"), c.String("key-id"))
			if err != nil {
				return err
			}
			defer first.Close()
			targets := []benchrun.Target{first}
			if url := c.String("compare"); url != "" {
				second, err := benchrun.OpenKMS(ctx, url, url, c.String("region"), "")
				if err != nil {
					return err
				}
				defer second.Close()
				targets = append(targets, second)
			}
			return run(c, targets, c.String("concurrency"))
		},
	}
}

// run measures every cell and prints the table (or JSON).
func run(c *cli.Context, targets []benchrun.Target, concurrency string) error {
	ns, err := counts(concurrency)
	if err != nil {
		return err
	}
	ops := strings.Split(c.String("ops"), ",")
	o := benchrun.Options{Duration: c.Duration("duration")}
	if !c.Bool("quiet") {
		o.Progress = c.App.ErrWriter
		if o.Progress == nil {
			o.Progress = os.Stderr
		}
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rs := benchrun.Matrix(ctx, targets, ops, ns, o)
	var w io.Writer = c.App.Writer
	if w == nil {
		w = os.Stdout
	}
	if c.Bool("json") {
		return benchrun.WriteJSON(w, rs)
	}
	return benchrun.WriteTable(w, rs)
}

// counts parses "1,16,64".
func counts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("concurrency %q: want positive whole numbers separated by commas", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
