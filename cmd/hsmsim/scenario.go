package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/internal/campaigncmd"
	"github.com/hsmsim/hsmsim/scenarios"
	"github.com/hsmsim/hsmsim/scenarios/report"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/traffic"
)

func scenarioCommand() *cli.Command {
	return &cli.Command{
		Name:  "scenario",
		Usage: "run failure scenarios: load and faults against an in-process cluster and its KMS, checked and reported",
		Description: `A scenario file (YAML, see scenarios/SCHEMA.md) gives the cluster shape, setup, workloads, a
seeded fault schedule and what must hold. "run" executes scenarios and exits non-zero when one
fails; "list" shows a directory of scenarios; "explain" says in words what a scenario will do.
The library lives in testdata/scenarios.`,
		Subcommands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "run scenario files (or directories of them)",
				ArgsUsage: "FILE|DIR...",
				Flags: []cli.Flag{
					&cli.Int64Flag{Name: "seed", Usage: "override every scenario's seed (0: the file's)"},
					&cli.BoolFlag{Name: "short", Usage: "the short profile (what CI runs)"},
					&cli.BoolFlag{Name: "processes", Usage: "run the HSMs as separate 'hsmsim hsmd' processes (this binary) instead of in this process (kill, pause, partitions, wipe, add-hsm and remove-hsm are real process operations, restore-backup starts a new cluster of processes from a backup; the KMS runs here over them)"},
					&cli.StringFlag{Name: "report", Usage: "write an HTML report (timeline chart, checks, events) to this file"},
					&cli.StringFlag{Name: "json", Usage: "write the JSON result to this file (- for stdout)"},
					&cli.BoolFlag{Name: "ops", Usage: "include every operation in the JSON result"},
					&cli.StringFlag{Name: "log-level", Value: "error", Usage: "log level of the cluster's own logs (to stderr)"},
					&cli.StringFlag{Name: "pkcs11-module", EnvVars: []string{traffic.EnvModule},
						Usage: "libhsmsim-pkcs11.so for pkcs11 workloads (default: built from this source tree with go build)"},
				},
				Action: scenarioRun,
			},
			{
				Name:      "list",
				Usage:     "list the scenarios of files or directories (default testdata/scenarios)",
				ArgsUsage: "[FILE|DIR...]",
				Action:    scenarioList,
			},
			{
				Name:      "explain",
				Usage:     "say what a scenario will do, in words",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					&cli.Int64Flag{Name: "seed", Usage: "explain the schedule of this seed"},
					&cli.BoolFlag{Name: "short", Usage: "the short profile"},
				},
				Action: scenarioExplain,
			},
			campaigncmd.Command(),
		},
	}
}

func scenarioRun(c *cli.Context) error {
	files, err := trailingFlags(c)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("scenario run: name scenario files or directories")
	}
	ss, err := scenarios.Load(files...)
	if err != nil {
		return err
	}
	log, err := newLogger(c)
	if err != nil {
		return err
	}
	if m := c.String("pkcs11-module"); m != "" {
		if err := os.Setenv(traffic.EnvModule, m); err != nil {
			return err
		}
	}
	ctx, stop := interruptible(c)
	defer stop()
	out := c.App.Writer
	tty := false
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	var self string // process mode runs this very binary's hsmd
	if c.Bool("processes") {
		if self, err = os.Executable(); err != nil {
			return fmt.Errorf("--processes: finding this binary: %w", err)
		}
	}
	var results []*scenarios.Result
	for _, s := range ss {
		fmt.Fprintf(out, "running %s (%s)\n", s.Name, s.File)
		res, err := scenarios.Run(ctx, s, scenarios.Options{Short: c.Bool("short"), Seed: c.Int64("seed"), Logger: log,
			Processes: c.Bool("processes"), Binary: self,
			Progress: func(p scenarios.Progress) { progressLine(out, tty, p) }})
		if tty {
			fmt.Fprint(out, "\r\033[K")
		}
		if err != nil && res == nil {
			return err
		}
		report.Summary(out, res)
		results = append(results, res)
		if ctx.Err() != nil {
			break
		}
	}
	if p := c.String("report"); p != "" {
		if err := report.WriteFile(p, func(w io.Writer) error { return report.HTML(w, results) }); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nreport: %s\n", p)
	}
	if p := c.String("json"); p != "" {
		if err := report.WriteFile(p, func(w io.Writer) error { return report.JSON(w, results, c.Bool("ops")) }); err != nil {
			return err
		}
	}
	failed := 0
	for _, r := range results {
		if !r.Pass {
			failed++
		}
	}
	fmt.Fprintf(out, "\n%d scenarios, %d passed, %d failed\n", len(results), len(results)-failed, failed)
	if failed > 0 {
		return cli.Exit("", 1)
	}
	return nil
}

// trailingFlags lets flags follow the files ("scenario run FILE --report out.html"): urfave/cli
// stops at the first argument, so the flags after it are set here, and the files returned.
func trailingFlags(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			files = append(files, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			files = append(files, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var flag cli.Flag
		for _, f := range c.Command.Flags {
			if slices.Contains(f.Names(), name) {
				flag = f
			}
		}
		if flag == nil {
			return nil, fmt.Errorf("scenario run: unknown flag %s", a)
		}
		if _, isBool := flag.(*cli.BoolFlag); isBool && !hasValue {
			value, hasValue = "true", true
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("scenario run: flag %s needs a value", a)
			}
			i++
			value = args[i]
		}
		if err := c.Set(name, value); err != nil {
			return nil, fmt.Errorf("scenario run: %s: %w", a, err)
		}
	}
	return files, nil
}

func progressLine(w io.Writer, tty bool, p scenarios.Progress) {
	if tty {
		fmt.Fprintf(w, "\r\033[K%s", p.Line())
		return
	}
	if int(p.T.Seconds())%5 == 0 { // a log, not a live line: every 5 s
		fmt.Fprintln(w, "  "+p.Line())
	}
}

func scenarioList(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		args = []string{"testdata/scenarios"}
	}
	ss, err := scenarios.Load(args...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHSMS\tDURATION\tSHORT\tFAULTS\tMODELS")
	for _, s := range ss {
		short := s.Profile(true).Duration
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", s.Name, s.Cluster.Nodes(), s.Duration, short, len(s.Faults), s.Models)
	}
	return tw.Flush()
}

func scenarioExplain(c *cli.Context) error {
	if c.NArg() != 1 {
		return fmt.Errorf("scenario explain: name one scenario file")
	}
	s, err := spec.Load(c.Args().First())
	if err != nil {
		return err
	}
	s = s.Profile(c.Bool("short"))
	if c.Int64("seed") != 0 {
		s.Seed = c.Int64("seed")
	}
	fmt.Fprint(c.App.Writer, scenarios.Explain(s))
	return nil
}
