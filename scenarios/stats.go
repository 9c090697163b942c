package scenarios

import (
	"slices"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/validate"
)

// WorkloadStats sums up one workload.
type WorkloadStats struct {
	Name   string        `json:"name"`
	Face   string        `json:"face"`
	Op     string        `json:"op"`
	OK     int           `json:"ok"`
	Failed int           `json:"failed"`
	Rate   float64       `json:"rate"` // successful operations per second
	P50    time.Duration `json:"p50"`
	P99    time.Duration `json:"p99"`
	Max    time.Duration `json:"max"`
	// Idle is the longest window of the load without a successfully completed operation, and
	// IdleAt where it starts: a stall that no error count shows.
	Idle   time.Duration  `json:"idle"`
	IdleAt time.Duration  `json:"idle_at"`
	Codes  map[string]int `json:"codes,omitempty"`
	Nodes  map[string]int `json:"nodes,omitempty"` // successful operations per serving node
}

// Stats sums up every workload of a run.
func Stats(s *spec.Scenario, ops []history.Op, load time.Duration) []WorkloadStats {
	var out []WorkloadStats
	for _, w := range s.Workloads {
		st := WorkloadStats{Name: w.Name, Face: w.Face, Op: w.Op, Codes: map[string]int{}, Nodes: map[string]int{}}
		var lat []time.Duration
		for _, o := range ops {
			if o.Workload != w.Name {
				continue
			}
			if o.OK() {
				st.OK++
				lat = append(lat, o.Latency())
				if o.Node != "" {
					st.Nodes[o.Node]++
				}
			} else if o.Failed() {
				st.Failed++
				st.Codes[o.Code]++
			}
		}
		if len(lat) > 0 {
			slices.Sort(lat)
			st.P50, st.P99, st.Max = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)], lat[len(lat)-1]
		}
		st.Idle, st.IdleAt = validate.LongestIdle([]history.Interval{{From: 0, To: load}}, validate.SuccessEnds(ops, w.Name))
		if s.Duration > 0 {
			st.Rate = float64(st.OK) / s.Duration.Seconds()
		}
		out = append(out, st)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
