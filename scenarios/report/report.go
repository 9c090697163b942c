// Package report renders a scenario run for people: a summary table for the terminal, the JSON
// result for machines, and a self-contained HTML page with an SVG timeline (throughput and
// errors per face, faults as shaded bands, leader, node and key store changes as markers) that
// opens in a browser with no network and no script.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hsmsim/hsmsim/scenarios"
)

// Summary writes the terminal summary of one run.
func Summary(w io.Writer, r *scenarios.Result) {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL"
	}
	profile := "full"
	if r.Short {
		profile = "short"
	}
	fmt.Fprintf(w, "\n%s  %s  (seed %d, %s profile, load %s, wall %s)\n", verdict, r.Scenario, r.Seed, profile, r.Load.Round(time.Millisecond), r.Wall.Round(time.Millisecond))
	fmt.Fprintf(w, "  models: %s\n", r.Models)
	if r.Error != "" {
		fmt.Fprintf(w, "  run failed: %s\n", r.Error)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  WORKLOAD\tFACE\tOP\tOK\tFAILED\tOPS/S\tP50\tP99\tMAX\tIDLE\tERRORS")
	for _, s := range r.Stats {
		var codes []string
		for _, c := range slices.Sorted(maps.Keys(s.Codes)) {
			codes = append(codes, fmt.Sprintf("%s×%d", c, s.Codes[c]))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Face, s.Op, s.OK, s.Failed, s.Rate,
			ms(s.P50), ms(s.P99), ms(s.Max), ms(s.Idle), strings.Join(codes, " "))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tRESULT\tSUMMARY")
	for _, c := range r.Checks {
		v := "ok"
		if !c.Pass {
			v = "FAIL"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.Name, v, c.Summary)
	}
	tw.Flush()
	for _, c := range r.Checks {
		if c.Pass || len(c.Details) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n  %s:\n", c.Name)
		for _, d := range c.Details {
			fmt.Fprintf(w, "    - %s\n", d)
		}
	}
	for _, n := range r.Final.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

// JSON writes the results as one JSON document: {"pass": ..., "results": [...]}. Operations are
// left out unless withOps.
func JSON(w io.Writer, rs []*scenarios.Result, withOps bool) error {
	out := struct {
		Pass    bool                `json:"pass"`
		Results []*scenarios.Result `json:"results"`
	}{Pass: true}
	for _, r := range rs {
		c := *r
		if !withOps {
			c.Ops = nil
		}
		out.Results = append(out.Results, &c)
		out.Pass = out.Pass && r.Pass
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return d.Round(time.Millisecond).String()
}

// WriteFile writes a report with f to path ("-": standard output), making its directory.
func WriteFile(path string, f func(io.Writer) error) error {
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
