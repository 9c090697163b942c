package benchrun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Target is what a run measures: a PKCS#11 module or a KMS endpoint. Workers builds one Op per
// worker for an operation (opening sessions, making keys) and a cleanup that undoes what the
// setup made; an operation the target does not offer is an error from Workers, not from the Ops.
type Target interface {
	Name() string
	Workers(ctx context.Context, operation string, n int) ([]Op, func(), error)
}

// Matrix runs every operation at every concurrency on every target. Targets take turns cell by
// cell (the same operation and concurrency on each, back to back), so on a shared, noisy
// machine the ratio of two targets compares runs seconds apart. A cell a target cannot set up
// is a Result with no ops and its reason in FirstError.
func Matrix(ctx context.Context, targets []Target, operations []string, concurrencies []int, o Options) []Result {
	var out []Result
	for _, op := range operations {
		for _, n := range concurrencies {
			for _, t := range targets {
				if ctx.Err() != nil {
					return out
				}
				ops, cleanup, err := t.Workers(ctx, op, n)
				if err != nil {
					out = append(out, Result{Target: t.Name(), Operation: op, Concurrency: n, FirstError: "setup: " + err.Error()})
					continue
				}
				out = append(out, Run(ctx, t.Name(), op, ops, o))
				cleanup()
			}
		}
	}
	return out
}

// ratio is a result's ops/s over the first target's in the same cell (operation and
// concurrency); 0 when there is nothing to compare.
func ratio(rs []Result, r Result) float64 {
	for _, base := range rs {
		if base.Operation == r.Operation && base.Concurrency == r.Concurrency {
			if base.Target == r.Target || base.OpsPerSec == 0 {
				return 0
			}
			return r.OpsPerSec / base.OpsPerSec
		}
	}
	return 0
}

// WriteTable prints one row per result: ops/s, p50, p99 and errors, and when more than one
// target ran, each later target's ops/s over the first's in the same cell.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	compare := len(rs) > 0 && rs[0].Target != rs[len(rs)-1].Target
	head := "target\toperation\tconcurrency\tops/s\tp50\tp99\terrors\t"
	if compare {
		head += "÷ " + rs[0].Target + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, r := range rs {
		if r.Ops == 0 && r.FirstError != "" {
			fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t-\t%s\t\n", r.Target, r.Operation, r.Concurrency, r.FirstError)
			continue
		}
		line := fmt.Sprintf("%s\t%s\t%d\t%.0f\t%s\t%s\t%d\t", r.Target, r.Operation, r.Concurrency, r.OpsPerSec, ms(r.P50), ms(r.P99), r.Errors)
		if compare {
			if x := ratio(rs, r); x > 0 {
				line += fmt.Sprintf("%.2f\t", x)
			} else {
				line += "\t"
			}
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Errors > 0 {
			fmt.Fprintf(w, "%s %s ×%d: %d errors, the first: %s\n", r.Target, r.Operation, r.Concurrency, r.Errors, r.FirstError)
		}
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

// WriteJSON prints the results as one JSON document for machines.
func WriteJSON(w io.Writer, rs []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Results []Result `json:"results"`
	}{rs})
}
