// Package campaigncmd is `hsmsim scenario campaign`: generate fault schedules from seeds
// (package scenarios/campaign), run each with the linearizability and no-lost-key checkers, and
// write a summary and each failing seed's report.
package campaigncmd

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/scenarios"
	"github.com/hsmsim/hsmsim/scenarios/campaign"
)

// Command is `hsmsim scenario campaign`.
func Command() *cli.Command {
	return &cli.Command{
		Name:  "campaign",
		Usage: "generate N fault schedules from seeds, run each with the linearizability and no-lost-key checkers, summarize",
		Description: `Seed S generates one scenario: the cluster (3 or 5 HSMs in 3 AZs), workloads on the faces
chosen, and two to four faults of the kinds chosen, each in its own slot of the load, their
timing and targets drawn from the seed. Each runs, then heals and settles; a seed passes when no
key history violates linearizability, no acknowledged key or ciphertext is lost and every HSM
agrees. --out DIR gets summary.txt and summary.json (rewritten after every seed) and, for each
seed that did not pass, seed-S.yaml (run it with "hsmsim scenario run"), seed-S.json (every
operation) and seed-S.html. Reproduce one seed with --seeds 1 --first-seed S and the same
--faults and --faces. Exit status 1 when a seed did not pass.`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "seeds", Value: 10, Usage: "how many seeds"},
			&cli.Int64Flag{Name: "first-seed", Value: 1, Usage: "the first seed"},
			&cli.StringFlag{Name: "faults", Usage: "fault kinds to draw, comma-separated (default: " + strings.Join(campaign.Kinds, ",") + ")"},
			&cli.StringFlag{Name: "faces", Usage: "faces to load, comma-separated (default: " + strings.Join(campaign.Faces, ",") + ")"},
			&cli.StringFlag{Name: "profile", Value: "short", Usage: "short (10 s of load a seed) or full (24 s)"},
			&cli.StringFlag{Name: "out", Usage: "directory for the summary and the failing seeds' reports"},
			&cli.BoolFlag{Name: "processes", Usage: "run the HSMs as 'hsmsim hsmd' processes (this binary); kinds and faces they cannot carry out are left out"},
			&cli.StringFlag{Name: "log-level", Value: "error", Usage: "log level of the cluster's own logs (to stderr)"},
		},
		Action: run,
	}
}

func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func run(c *cli.Context) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return err
	}
	if p := c.String("profile"); p != "short" && p != "full" {
		return fmt.Errorf("--profile %q: short or full", p)
	}
	o := campaign.Options{Seeds: c.Int("seeds"), FirstSeed: c.Int64("first-seed"), Out: c.String("out"), Log: c.App.Writer,
		Config: campaign.Config{Kinds: list(c.String("faults")), Faces: list(c.String("faces"))},
		Run: scenarios.Options{Short: c.String("profile") == "short", Processes: c.Bool("processes"),
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))}}
	if o.Run.Processes {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("--processes: finding this binary: %w", err)
		}
		o.Run.Binary = self
	}
	_, dropped, err := campaign.Usable(o.Config, o.Run)
	if err != nil {
		return err
	}
	for _, d := range dropped {
		fmt.Fprintln(c.App.Writer, "left out:", d)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := campaign.Run(ctx, o)
	if sum != nil {
		fmt.Fprintln(c.App.Writer)
		if terr := sum.Table(c.App.Writer); terr != nil {
			return terr
		}
	}
	if err != nil {
		return err
	}
	if !sum.Pass() {
		return cli.Exit("", 1)
	}
	return nil
}
