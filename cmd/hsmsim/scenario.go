package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/hsmsim/hsmsim/scenarios"
	"github.com/hsmsim/hsmsim/scenarios/failpoint"
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
					&cli.BoolFlag{Name: "processes", Usage: "run the HSMs as separate 'hsmsim hsmd' processes (this binary) instead of in this process; scenarios needing the KMS, wipe, add/remove HSM or backups are refused"},
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
		},
	}
}

// loadScenarios loads files and directories of scenario files.
func loadScenarios(args []string) ([]*spec.Scenario, error) {
	var out []*spec.Scenario
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			ss, err := scenarios.LoadDir(a)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
			continue
		}
		s, err := spec.Load(a)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func scenarioRun(c *cli.Context) error {
	files, err := trailingFlags(c)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("scenario run: name scenario files or directories")
	}
	ss, err := loadScenarios(files)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return err
	}
	if m := c.String("pkcs11-module"); m != "" {
		if err := os.Setenv(traffic.EnvModule, m); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
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
		if err := writeFile(p, func(w io.Writer) error { return report.HTML(w, results) }); err != nil {
			return err
		}
		fmt.Fprintf(out, "\nreport: %s\n", p)
	}
	if p := c.String("json"); p != "" {
		if err := writeFile(p, func(w io.Writer) error { return report.JSON(w, results, c.Bool("ops")) }); err != nil {
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

func writeFile(path string, f func(io.Writer) error) error {
	if path == "-" {
		return f(os.Stdout)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f(fh); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func scenarioList(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) == 0 {
		args = []string{"testdata/scenarios"}
	}
	ss, err := loadScenarios(args)
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
	fmt.Fprint(c.App.Writer, Explain(s))
	return nil
}

// Explain is a scenario in words: what it models, the cluster, the setup, the load, the fault
// schedule of its seed, and what must hold.
func Explain(s *spec.Scenario) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)\n\n", s.Name, s.File)
	fmt.Fprintf(&b, "Models: %s\n", s.Models)
	if s.Description != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(s.Description))
	}
	var azs []string
	for _, az := range s.Cluster.AZs {
		azs = append(azs, fmt.Sprintf("%d in %s", az.HSMs, az.Name))
	}
	labels := 0
	var nl []string
	for _, az := range s.Cluster.AZs {
		for i := 0; i < az.HSMs; i++ {
			labels++
			nl = append(nl, fmt.Sprintf("n%d=%s", labels, az.Name))
		}
	}
	fmt.Fprintf(&b, "\nCluster: %d HSMs (%s); nodes %s.\n", s.Cluster.Nodes(), strings.Join(azs, ", "), strings.Join(nl, " "))
	if len(s.Setup) > 0 {
		fmt.Fprintf(&b, "\nSetup:\n")
		for _, st := range s.Setup {
			switch st.Kind {
			case spec.StepUser:
				fmt.Fprintf(&b, "  - create crypto user %s\n", st.Name)
			case spec.StepKey:
				fmt.Fprintf(&b, "  - %s generates a %s token key %q\n", st.Owner, st.Type, st.Name)
			case spec.StepKMSUser:
				fmt.Fprintf(&b, "  - create the kmsuser crypto user\n")
			case spec.StepKeyStore:
				fmt.Fprintf(&b, "  - create custom key store %s over the cluster", st.Name)
				if st.Connect {
					fmt.Fprintf(&b, " and connect it")
				}
				fmt.Fprintln(&b)
			case spec.StepKMSKey:
				where := "the default key store"
				if st.Store != "" {
					where = "key store " + st.Store
				}
				fmt.Fprintf(&b, "  - create KMS key %s in %s\n", st.Name, where)
			}
		}
	}
	fmt.Fprintf(&b, "\nLoad for %s:\n", s.Duration)
	for _, w := range s.Workloads {
		rate := "as fast as they can"
		if w.Rate > 0 {
			rate = fmt.Sprintf("%.0f/s", w.Rate)
		}
		what := w.Op
		if len(w.Keys) > 0 {
			what += " with " + strings.Join(w.Keys, ", ")
		}
		fmt.Fprintf(&b, "  - %s: %s %s, %d workers, %s\n", w.Name, w.Face, what, w.Concurrency, rate)
	}
	fmt.Fprintf(&b, "\nFaults (seed %d):\n", s.Seed)
	for _, p := range failpoint.Plan(s) {
		fmt.Fprintf(&b, "  %2d. %s\n", p.Seq, p.Describe())
	}
	fmt.Fprintf(&b, "\nAfterwards every fault still active is reversed and the cluster settles. Then it checks:\n")
	x := s.Expect
	if x.NoLostKeys {
		fmt.Fprintf(&b, "  - no acknowledged key lost (on every node), every acknowledged ciphertext decrypts\n")
	}
	if x.Converged {
		fmt.Fprintf(&b, "  - every node holds the same token (digest) within %s\n", x.ConvergeWithin)
	}
	if x.Linearizable {
		fmt.Fprintf(&b, "  - key histories (create, use, destroy) are linearizable\n")
	}
	if x.Failover > 0 {
		fmt.Fprintf(&b, "  - a new leader within %s of losing one\n", x.Failover)
	}
	if x.WriteRecovery > 0 {
		fmt.Fprintf(&b, "  - a write succeeds within %s of every fault (while a majority is up)\n", x.WriteRecovery)
	}
	for _, e := range x.Errors {
		lim := []string{}
		if e.Max >= 0 {
			lim = append(lim, fmt.Sprintf("at most %d errors", e.Max))
		}
		if e.MaxRate >= 0 {
			lim = append(lim, fmt.Sprintf("at most %.1f%% errors", e.MaxRate*100))
		}
		w := e.Workload
		if w == "" {
			w = "all workloads"
		}
		fmt.Fprintf(&b, "  - %s: %s during %s\n", w, strings.Join(lim, " and "), e.During)
	}
	for _, c := range x.ClientErrors {
		fmt.Fprintf(&b, "  - %s sees only %s", c.Workload, strings.Join(c.Allowed, ", "))
		if len(c.MustSee) > 0 {
			fmt.Fprintf(&b, ", and must see %s", strings.Join(c.MustSee, ", "))
		}
		fmt.Fprintln(&b)
	}
	for _, l := range x.Latency {
		fmt.Fprintf(&b, "  - %s latency during %s: p50 ≤ %s, p99 ≤ %s, max ≤ %s\n", l.Workload, l.During, l.P50, l.P99, l.Max)
	}
	for _, k := range x.KeyStores {
		want := k.State
		if k.Code != "" {
			want += " with ConnectionErrorCode " + k.Code
		}
		if k.After != "" {
			fmt.Fprintf(&b, "  - key store %s is %s within %s after %s\n", k.Store, want, k.Within, k.After)
		} else {
			fmt.Fprintf(&b, "  - key store %s is %s at the end\n", k.Store, want)
		}
	}
	return b.String()
}
