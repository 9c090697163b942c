// Command hsmsim is the one CLI of hsmsim: it runs HSM nodes and the embedded cluster, and
// manages users and keys through the same client API the PKCS#11 module uses. It keeps flag
// parsing and output; what the commands run lives in packages (cluster's standalone node,
// internal/embedded, kms/cloudhsm, scenarios), and whole commands do too (internal/clientcmd:
// info, cluster, user, key; internal/faultcmd, internal/benchcmd).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/auditcmd"
	"github.com/hsmsim/hsmsim/internal/benchcmd"
	"github.com/hsmsim/hsmsim/internal/clientcmd"
)

func main() {
	if err := app().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "hsmsim:", err)
		os.Exit(1)
	}
}

func app() *cli.App {
	return &cli.App{
		Name:  "hsmsim",
		Usage: "an emulator of an AWS-CloudHSM-style HSM cluster and of a KMS that keeps keys in it",
		Description: `Start a node with "hsmsim hsmd --init", then manage it with "hsmsim user" and
"hsmsim key". Client commands find the cluster through the client config file
($HSMSIM_CONFIG, or --config) and log in with a PIN "user:password" ($HSMSIM_PIN, or --pin),
as CloudHSM's PKCS#11 library does.`,
		Commands: append(append([]*cli.Command{upCommand(), envCommand(), kmsCommand(), hsmdCommand()}, clientcmd.Commands()...),
			scenarioCommand(), faultCommand(), benchcmd.Command(), auditcmd.Command(auditcmd.KMSCommand())),
	}
}

// logLevelFlag is --log-level with the command's default.
func logLevelFlag(def string) cli.Flag {
	return &cli.StringFlag{Name: "log-level", Value: def, Usage: "debug, info, warn or error"}
}

// newLogger logs text to stderr at --log-level.
func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// interruptible is the command's context, cancelled by Ctrl-C or SIGTERM.
func interruptible(c *cli.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
}

// untilDone serves until ctx (interruptible) is done.
func untilDone(ctx context.Context) error {
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "stopping")
	return nil
}
