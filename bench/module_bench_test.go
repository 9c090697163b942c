package bench

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"

	"github.com/hsmsim/hsmsim/internal/benchrun"
)

// sessionCounts are the concurrencies issue 4 asks for: one session, four, sixteen.
var sessionCounts = []int{1, 4, 16}

// moduleKinds are the four operations of issue 4 by their benchmark names, each the operation of
// internal/benchrun that `hsmsim bench pkcs11` runs, so a user reproduces these rows with it.
var moduleKinds = []struct{ name, op string }{
	{"ECDSA-P256-sign", "ecdsa"},
	{"RSA2048-SHA256-sign", "rsa"},
	{"AES256-GCM-1KiB-encrypt", "gcm"},
	{"AES256-token-keygen", "keygen"},
}

// results collects ops/s per benchmark for the ratio metric and the summary table.
var results sync.Map // "kind/sessions=n/peer" → float64

// BenchmarkModuleVsSoftHSM runs the same miekg/pkcs11 client code against libhsmsim-pkcs11.so
// (talking to a 3-HSM `hsmsim up` in another process) and against SoftHSM v2, one after the
// other for each operation and session count, so the hsmsim run reports its ratio to the
// SoftHSM run just before it (x-softhsm: above 1 is faster than SoftHSM).
func BenchmarkModuleVsSoftHSM(b *testing.B) {
	hs, soft := peers(b)
	for _, k := range moduleKinds {
		for _, n := range sessionCounts {
			for _, p := range []*benchrun.Module{soft, hs} {
				name := fmt.Sprintf("%s/sessions=%d/%s", k.name, n, p.Name())
				b.Run(name, func(b *testing.B) {
					workers, cleanup, err := p.Workers(context.Background(), k.op, n)
					if err != nil {
						b.Fatal(err)
					}
					ops := make([]op, n)
					for i, w := range workers {
						ops[i] = func() error { return w(context.Background()) }
					}
					runClients(b, ops)
					rate := float64(b.N) / b.Elapsed().Seconds()
					results.Store(name, rate)
					if p == hs {
						if v, ok := results.Load(fmt.Sprintf("%s/sessions=%d/%s", k.name, n, soft.Name())); ok {
							b.ReportMetric(rate/v.(float64), "x-softhsm")
						}
					}
					// Sessions close and the keys a keygen run made are destroyed outside the
					// timer (runClients stopped it), so every run starts from the same token.
					cleanup()
				})
			}
		}
	}
	printSummary()
}

var summaryOnce atomic.Bool

// printSummary prints the side-by-side table once: ops/s of each peer and their ratio.
func printSummary() {
	if !summaryOnce.CompareAndSwap(false, true) {
		return
	}
	type row struct {
		kind     string
		sessions int
		hs, soft float64
	}
	rows := map[string]*row{}
	results.Range(func(key, value any) bool {
		parts := strings.Split(key.(string), "/")
		var n int
		fmt.Sscanf(parts[1], "sessions=%d", &n)
		id := parts[0] + "/" + parts[1]
		r := rows[id]
		if r == nil {
			r = &row{kind: parts[0], sessions: n}
			rows[id] = r
		}
		if parts[2] == "hsmsim" {
			r.hs = value.(float64)
		} else {
			r.soft = value.(float64)
		}
		return true
	})
	order := map[string]int{}
	for i, k := range moduleKinds {
		order[k.name] = i
	}
	list := make([]*row, 0, len(rows))
	for _, r := range rows {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].kind != list[j].kind {
			return order[list[i].kind] < order[list[j].kind]
		}
		return list[i].sessions < list[j].sessions
	})
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "operation\tsessions\thsmsim ops/s\tSoftHSM ops/s\thsmsim/SoftHSM\t")
	for _, r := range list {
		ratio := 0.0
		if r.soft > 0 {
			ratio = r.hs / r.soft
		}
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%.0f\t%.2f\t\n", r.kind, r.sessions, r.hs, r.soft, ratio)
	}
	w.Flush()
}
