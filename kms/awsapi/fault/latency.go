package fault

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Latency is a delay: fixed, or drawn from a distribution. Its text form (JSON, the CLI,
// scenario files) is one of
//
//	200ms                     fixed
//	uniform:100ms,300ms       uniform between the two
//	normal:200ms,50ms         normal with that mean and standard deviation (below 0: 0)
//	exponential:200ms         exponential with that mean
type Latency struct {
	Dist string // fixed, uniform, normal, exponential
	A, B time.Duration
}

// ParseLatency reads Latency's text form.
func ParseLatency(s string) (*Latency, error) {
	dist, params, ok := strings.Cut(s, ":")
	if !ok {
		dist, params = "fixed", s
	}
	var ds []time.Duration
	for _, p := range strings.Split(params, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("latency %q: %q is not a duration (200ms, uniform:100ms,300ms, normal:200ms,50ms, exponential:200ms)", s, p)
		}
		ds = append(ds, d)
	}
	want := map[string]int{"fixed": 1, "uniform": 2, "normal": 2, "exponential": 1}
	n, known := want[dist]
	if !known || len(ds) != n {
		return nil, fmt.Errorf("latency %q: fixed (200ms), uniform:MIN,MAX, normal:MEAN,STDDEV or exponential:MEAN", s)
	}
	l := &Latency{Dist: dist, A: ds[0]}
	if n == 2 {
		l.B = ds[1]
	}
	if dist == "uniform" && l.B < l.A {
		return nil, fmt.Errorf("latency %q: the maximum is below the minimum", s)
	}
	return l, nil
}

func (l *Latency) String() string {
	switch l.Dist {
	case "uniform", "normal":
		return fmt.Sprintf("%s:%s,%s", l.Dist, l.A, l.B)
	case "exponential":
		return fmt.Sprintf("%s:%s", l.Dist, l.A)
	}
	return l.A.String()
}

// Draw is one delay, drawn with rng.
func (l *Latency) Draw(rng *rand.Rand) time.Duration {
	var d float64
	switch l.Dist {
	case "uniform":
		d = float64(l.A) + rng.Float64()*float64(l.B-l.A)
	case "normal":
		d = float64(l.A) + rng.NormFloat64()*float64(l.B)
	case "exponential":
		d = rng.ExpFloat64() * float64(l.A)
	default:
		d = float64(l.A)
	}
	return time.Duration(max(d, 0))
}

func (l *Latency) MarshalJSON() ([]byte, error) { return json.Marshal(l.String()) }

func (l *Latency) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("latency is a string (200ms, normal:200ms,50ms, ...)")
	}
	p, err := ParseLatency(s)
	if err != nil {
		return err
	}
	*l = *p
	return nil
}
