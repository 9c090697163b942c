// Package auditcmd is `hsmsim audit`: it reads and filters the HSMs' audit logs (package
// hsmd/audit) in a data directory, and follows them as they grow. Other audit sources (the
// KMS's) come in as subcommands.
package auditcmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/hsmd/audit"
)

// pollInterval is how often --follow looks at the files.
const pollInterval = 200 * time.Millisecond

// Command is `hsmsim audit`, with sub as its subcommands.
func Command(sub ...*cli.Command) *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "read the HSMs' audit logs: one JSON event a line, oldest first",
		Description: `Reads every HSM audit log under --data-dir (hsmsim up's, default .data) or in one
node directory (--node, an hsmsim hsmd --data-dir). Each HSM has audit.jsonl, the events of
replicated commands (the same sequence numbers on every HSM), and audit-local.jsonl, its own
(scope "hsm"). --event takes an opcode, with or without its CN_ prefix (login, CN_CREATE_USER);
--user matches the acting user or the user acted on; --since takes a time (RFC 3339) or a
duration back from now (10m). --follow keeps reading as events arrive, until Ctrl-C.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: ".data", EnvVars: []string{"HSMSIM_DATA"}, Usage: "a data directory holding HSMs (hsmsim up's)"},
			&cli.StringFlag{Name: "node", Usage: "one HSM's data directory instead of --data-dir"},
			&cli.StringFlag{Name: "hsm", Usage: "only this HSM's events (its id, hsm-...)"},
			&cli.StringFlag{Name: "user", Usage: "only events by or about this user"},
			&cli.StringFlag{Name: "event", Usage: "only this opcode (login, CN_CREATE_USER, ...)"},
			&cli.StringFlag{Name: "since", Usage: "only events at or after this time (RFC 3339) or this long ago (10m)"},
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing events as they are written"},
		},
		Subcommands: sub,
		Action:      run,
	}
}

func run(c *cli.Context) error {
	f, err := filterOf(c, time.Now())
	if err != nil {
		return err
	}
	root := c.String("data-dir")
	if c.IsSet("node") {
		root = c.String("node")
	}
	if _, err := os.Stat(root); err != nil {
		return err
	}
	paths, err := audit.FindFiles(root)
	if err != nil {
		return err
	}
	if len(paths) == 0 && !c.Bool("follow") {
		return fmt.Errorf("no audit log under %s", root)
	}
	out := json.NewEncoder(c.App.Writer)
	if !c.Bool("follow") {
		evs, err := audit.Read(paths, f)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := out.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return follow(ctx, paths, f, c.App.Writer)
}

// follow prints what audit.Follow reports; a closed output (a pipe whose reader left) ends it.
func follow(ctx context.Context, paths []string, f audit.Filter, w io.Writer) error {
	out := json.NewEncoder(w)
	err := audit.Follow(ctx, paths, f, pollInterval, func(e audit.Event) error { return out.Encode(e) })
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// filterOf reads the filter flags; now anchors a --since duration.
func filterOf(c *cli.Context, now time.Time) (audit.Filter, error) {
	f := audit.Filter{HSM: c.String("hsm"), User: c.String("user"), Opcode: c.String("event")}
	if s := c.String("since"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			f.Since = now.Add(-d)
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			f.Since = t
		} else {
			return f, fmt.Errorf("--since %q is neither a time (RFC 3339) nor a duration", s)
		}
	}
	return f, nil
}
