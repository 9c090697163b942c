package scenarios

import (
	"fmt"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/failpoint"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

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
	if s.Capacity != "" {
		fmt.Fprintf(&b, "Capacity profile %s: every HSM at its type's published rates, the KMS at AWS's request quotas.\n", s.Capacity)
	}
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
		fmt.Fprintf(&b, "  - %s: %s during %s\n", scopeName(e.Workload), bounds(e.Max, e.MaxRate, " errors"), e.During)
	}
	for _, t := range x.Throttled {
		fmt.Fprintf(&b, "  - %s stays under AWS's quotas: %s of its requests throttled\n", scopeName(t.Workload), bounds(t.Max, t.MaxShare, ""))
	}
	for _, c := range x.ClientErrors {
		fmt.Fprintf(&b, "  - %s sees only %s", c.Workload, strings.Join(c.Allowed, ", "))
		if len(c.MustSee) > 0 {
			fmt.Fprintf(&b, ", and must see %s", strings.Join(c.MustSee, ", "))
		}
		fmt.Fprintln(&b)
	}
	for _, l := range x.Latency {
		var lim []string
		for _, q := range []struct {
			name string
			d    time.Duration
		}{{"p50", l.P50}, {"p99", l.P99}, {"max", l.Max}} {
			if q.d > 0 { // an unset bound is not checked
				lim = append(lim, fmt.Sprintf("%s ≤ %s", q.name, q.d))
			}
		}
		fmt.Fprintf(&b, "  - %s latency during %s: %s\n", l.Workload, l.During, strings.Join(lim, ", "))
	}
	for _, l := range x.Idle {
		fmt.Fprintf(&b, "  - %s completes an operation at least every %s during %s\n", l.Workload, l.Max, l.During)
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

// bounds says "at most N<what> and at most P%<what>", leaving out a bound that is not set (-1).
func bounds(most int, share float64, what string) string {
	var lim []string
	if most >= 0 {
		lim = append(lim, fmt.Sprintf("at most %d%s", most, what))
	}
	if share >= 0 {
		lim = append(lim, fmt.Sprintf("at most %.1f%%%s", share*100, what))
	}
	return strings.Join(lim, " and ")
}

// scopeName is a budget's workload, or all of them.
func scopeName(w string) string {
	if w == "" {
		return "all workloads"
	}
	return w
}
