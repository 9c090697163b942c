package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Error is every problem found in one scenario file, each naming file, line and field.
type Error struct{ Problems []string }

func (e *Error) Error() string { return strings.Join(e.Problems, "\n") }

// Load reads and decodes a scenario file.
func Load(path string) (*Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, b)
}

// Parse decodes a scenario file's bytes; file names it in errors. The result is validated: an
// error lists every problem found, not only the first.
func Parse(file string, b []byte) (*Scenario, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		return nil, &Error{Problems: []string{fmt.Sprintf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))}}
	}
	d := &decoder{file: file}
	s := &Scenario{File: file, Seed: 1, Expect: Expect{NoLostKeys: true, Converged: true, Linearizable: true, ConvergeWithin: 30 * time.Second}}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	d.scenario(doc, s)
	if len(d.problems) == 0 {
		validate(d, s)
	}
	if len(d.problems) > 0 {
		return nil, &Error{Problems: d.problems}
	}
	return s, nil
}

// decoder walks yaml.Nodes by hand so that every error has a position and a field path.
type decoder struct {
	file     string
	problems []string
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) {
	d.problems = append(d.problems, fmt.Sprintf("%s: %s: %s", d.pos(n), path, fmt.Sprintf(format, args...)))
}

// fields decodes a mapping: each key must have a handler.
func (d *decoder) fields(n *yaml.Node, path string, handlers map[string]func(v *yaml.Node, path string)) {
	if n.Kind != yaml.MappingNode {
		d.errf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		if seen[k.Value] {
			d.errf(k, p, "given twice")
			continue
		}
		seen[k.Value] = true
		h, ok := handlers[k.Value]
		if !ok {
			d.errf(k, p, "unknown field (expected one of %s)", strings.Join(slices.Sorted(maps.Keys(handlers)), ", "))
			continue
		}
		h(v, p)
	}
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errf(n, path, "expected a value, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(dst *string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if v, ok := d.scalar(n, path); ok {
			*dst = v
		}
	}
}

func (d *decoder) strs(dst *[]string) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		if n.Kind == yaml.ScalarNode {
			*dst = []string{n.Value}
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errf(n, path, "expected a list, got %s", kindName(n))
			return
		}
		for i, e := range n.Content {
			if v, ok := d.scalar(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				*dst = append(*dst, v)
			}
		}
	}
}

func (d *decoder) integer(dst *int) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		i, err := strconv.Atoi(v)
		if err != nil {
			d.errf(n, path, "expected a whole number, got %q", v)
			return
		}
		*dst = i
	}
}

func (d *decoder) int64v(dst *int64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		i, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			d.errf(n, path, "expected a whole number, got %q", v)
			return
		}
		*dst = i
	}
}

func (d *decoder) boolean(dst *bool) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		switch v {
		case "true", "yes", "on":
			*dst = true
		case "false", "no", "off":
			*dst = false
		default:
			d.errf(n, path, "expected true or false, got %q", v)
		}
	}
}

func (d *decoder) float(dst *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		f, err := parseFraction(v)
		if err != nil {
			d.errf(n, path, "%v", err)
			return
		}
		*dst = f
	}
}

// parseFraction reads "0.05" or "5%".
func parseFraction(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("expected a number or a percentage, got %q", v)
	}
	if pct {
		f /= 100
	}
	return f, nil
}

func (d *decoder) duration(dst *time.Duration) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		t, err := time.ParseDuration(v)
		if err != nil || t < 0 {
			d.errf(n, path, "expected a duration such as 500ms or 5s, got %q", v)
			return
		}
		*dst = t
	}
}

func (d *decoder) rangeV(dst *Range) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		lo, hi, isRange := strings.Cut(v, "..")
		a, err := time.ParseDuration(strings.TrimSpace(lo))
		b := a
		if err == nil && isRange {
			b, err = time.ParseDuration(strings.TrimSpace(hi))
		}
		if err != nil || a < 0 || b < a {
			d.errf(n, path, "expected a duration (5s) or a range (2s..5s), got %q", v)
			return
		}
		*dst = Range{a, b}
	}
}

// rate reads "50/s", "50", "3000/m".
func (d *decoder) rate(dst *float64) func(*yaml.Node, string) {
	return func(n *yaml.Node, path string) {
		v, ok := d.scalar(n, path)
		if !ok {
			return
		}
		num, unit, _ := strings.Cut(v, "/")
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		per := 1.0
		switch strings.TrimSpace(unit) {
		case "", "s":
		case "m", "min":
			per = 60
		default:
			err = errors.New("unit")
		}
		if err != nil || f < 0 {
			d.errf(n, path, "expected a rate such as 50/s, got %q", v)
			return
		}
		*dst = f / per
	}
}

func (d *decoder) list(n *yaml.Node, path string, each func(e *yaml.Node, path string)) {
	if n.Kind != yaml.SequenceNode {
		d.errf(n, path, "expected a list, got %s", kindName(n))
		return
	}
	for i, e := range n.Content {
		each(e, fmt.Sprintf("%s[%d]", path, i))
	}
}

func (d *decoder) scenario(n *yaml.Node, s *Scenario) {
	d.fields(n, "", map[string]func(*yaml.Node, string){
		"name":        d.str(&s.Name),
		"models":      d.str(&s.Models),
		"description": d.str(&s.Description),
		"seed":        d.int64v(&s.Seed),
		"duration":    d.duration(&s.Duration),
		"short": func(n *yaml.Node, p string) {
			d.fields(n, p, map[string]func(*yaml.Node, string){
				"duration":   d.duration(&s.Short.Duration),
				"rate-scale": d.float(&s.Short.RateScale),
				"time-scale": d.float(&s.Short.TimeScale),
			})
		},
		"capacity": d.str(&s.Capacity),
		"cluster":  func(n *yaml.Node, p string) { d.cluster(n, p, &s.Cluster) },
		"setup": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) {
				if st, ok := d.step(e, p); ok {
					s.Setup = append(s.Setup, st)
				}
			})
		},
		"workloads": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) { s.Workloads = append(s.Workloads, d.workload(e, p)) })
		},
		"faults": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) { s.Faults = append(s.Faults, d.fault(e, p)) })
		},
		"expect": func(n *yaml.Node, p string) { d.expect(n, p, &s.Expect) },
	})
	if s.Name == "" {
		d.errf(n, "name", "required")
	}
	if s.Models == "" {
		d.errf(n, "models", "required: say which real failure the scenario models")
	}
	if s.Duration == 0 {
		d.errf(n, "duration", "required")
	}
}

func (d *decoder) cluster(n *yaml.Node, path string, c *Cluster) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"hsms": func(n *yaml.Node, p string) {
			if n.Kind != yaml.MappingNode {
				d.errf(n, p, "expected a mapping of AZ to HSM count, such as {us-east-1a: 1, us-east-1b: 1}")
				return
			}
			for i := 0; i+1 < len(n.Content); i += 2 {
				az := AZ{Name: n.Content[i].Value}
				d.integer(&az.HSMs)(n.Content[i+1], join(p, az.Name))
				c.AZs = append(c.AZs, az)
			}
		},
		"hsm-type": d.str(&c.HsmType),
		"timeouts": func(n *yaml.Node, p string) {
			if n.Kind == yaml.ScalarNode {
				c.Timeouts = n.Value
				return
			}
			d.fields(n, p, map[string]func(*yaml.Node, string){
				"preset":       d.str(&c.Timeouts),
				"heartbeat":    d.duration(&c.Heartbeat),
				"election":     d.duration(&c.Election),
				"leader-lease": d.duration(&c.LeaderLease),
				"apply":        d.duration(&c.Apply),
			})
		},
	})
}

func (d *decoder) step(n *yaml.Node, path string) (Step, bool) {
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errf(n, path, "expected one step such as {user: {name: app, password: ...}}")
		return Step{}, false
	}
	k, v := n.Content[0], n.Content[1]
	st := Step{Pos: d.pos(k), Kind: k.Value, Connect: true}
	p := join(path, k.Value)
	common := map[string]func(*yaml.Node, string){"name": d.str(&st.Name)}
	switch k.Value {
	case StepUser:
		common["password"] = d.str(&st.Password)
	case StepKey:
		common["owner"] = d.str(&st.Owner)
		common["type"] = d.str(&st.Type)
	case StepKMSUser:
		common["password"] = d.str(&st.Password)
		delete(common, "name")
	case StepKeyStore:
		common["connect"] = d.boolean(&st.Connect)
	case StepKMSKey:
		common["store"] = d.str(&st.Store)
	default:
		d.errf(k, p, "unknown step (expected one of user, key, kmsuser, keystore, kms-key)")
		return st, false
	}
	d.fields(v, p, common)
	return st, true
}

func (d *decoder) workload(n *yaml.Node, path string) Workload {
	w := Workload{Pos: d.pos(n), Concurrency: 1, Timeout: 5 * time.Second}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"name":        d.str(&w.Name),
		"face":        d.str(&w.Face),
		"op":          d.str(&w.Op),
		"keys":        d.strs(&w.Keys),
		"store":       d.str(&w.Store),
		"user":        d.str(&w.User),
		"rate":        d.rate(&w.Rate),
		"concurrency": d.integer(&w.Concurrency),
		"transport":   d.str(&w.Transport),
		"timeout":     d.duration(&w.Timeout),
	})
	return w
}

func (d *decoder) fault(n *yaml.Node, path string) Fault {
	f := Fault{Pos: d.pos(n)}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"name":  d.str(&f.Name),
		"do":    d.str(&f.Do),
		"at":    d.rangeV(&f.At),
		"when":  func(n *yaml.Node, p string) { f.When = d.event(n, p) },
		"delay": d.rangeV(&f.Delay),
		"for":   d.rangeV(&f.For),
		"repeat": func(n *yaml.Node, p string) {
			d.fields(n, p, map[string]func(*yaml.Node, string){
				"times": d.integer(&f.Repeat.Times),
				"every": d.rangeV(&f.Repeat.Every),
			})
		},
		"node":     d.str(&f.Node),
		"nodes":    d.strs(&f.Nodes),
		"az":       d.str(&f.AZ),
		"from":     d.str(&f.From),
		"to":       d.str(&f.To),
		"between":  d.strs(&f.Between),
		"latency":  d.duration(&f.Latency),
		"jitter":   d.duration(&f.Jitter),
		"loss":     d.float(&f.Loss),
		"password": d.str(&f.Password),
		"store":    d.str(&f.Store),
		"cluster":  d.str(&f.Cluster),
		"expect":   d.str(&f.Expect),
		"api":      d.jsonMapping(&f.API),
	})
	return f
}

// jsonMapping keeps a mapping as JSON, for a fault family that reads its own format.
func (d *decoder) jsonMapping(dst *[]byte) func(*yaml.Node, string) {
	return func(n *yaml.Node, p string) {
		var v map[string]any
		if n.Kind != yaml.MappingNode || n.Decode(&v) != nil {
			d.errf(n, p, "a mapping")
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			d.errf(n, p, "%v", err)
			return
		}
		*dst = b
	}
}

// event reads "leader-change" or {writes: 500} or {ops: 100, workload: w} or
// {keystore: s, state: FAILED}, each with an optional "after: <fault>".
func (d *decoder) event(n *yaml.Node, path string) *Event {
	e := &Event{}
	if n.Kind == yaml.ScalarNode {
		e.Kind = n.Value
		if e.Kind != OnLeaderChange {
			d.errf(n, path, "unknown event %q (expected leader-change, or a mapping with writes, ops or keystore)", n.Value)
		}
		return e
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"leader-change": func(n *yaml.Node, p string) {
			var on bool
			d.boolean(&on)(n, p)
			if on {
				e.Kind = OnLeaderChange
			}
		},
		"writes":   func(n *yaml.Node, p string) { e.Kind = OnWrites; d.integer(&e.Count)(n, p) },
		"ops":      func(n *yaml.Node, p string) { e.Kind = OnOps; d.integer(&e.Count)(n, p) },
		"workload": d.str(&e.Workload),
		"keystore": func(n *yaml.Node, p string) { e.Kind = OnKeyStoreState; d.str(&e.Store)(n, p) },
		"state":    d.str(&e.State),
		"after":    d.str(&e.After),
	})
	if e.Kind == "" && e.After != "" {
		e.Kind = OnFired // {after: f} alone: as soon as f was injected
	}
	if e.Kind == "" {
		d.errf(n, path, "the event needs one of leader-change, writes, ops, keystore, after")
	}
	return e
}

func (d *decoder) expect(n *yaml.Node, path string, x *Expect) {
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"no-lost-keys":    d.boolean(&x.NoLostKeys),
		"converged":       d.boolean(&x.Converged),
		"linearizable":    d.boolean(&x.Linearizable),
		"converge-within": d.duration(&x.ConvergeWithin),
		"failover":        d.duration(&x.Failover),
		"write-recovery":  d.duration(&x.WriteRecovery),
		"errors": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) {
				b := ErrorBudget{Pos: d.pos(e), During: DuringAlways, Max: -1, MaxRate: -1}
				d.fields(e, p, map[string]func(*yaml.Node, string){
					"workload": d.str(&b.Workload),
					"during":   d.str(&b.During),
					"max":      d.integer(&b.Max),
					"max-rate": d.float(&b.MaxRate),
					"grace":    d.duration(&b.Grace),
				})
				if b.Max < 0 && b.MaxRate < 0 {
					d.errf(e, p, "an error budget needs max or max-rate")
				}
				x.Errors = append(x.Errors, b)
			})
		},
		"throttled": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) {
				b := ThrottleBudget{Pos: d.pos(e), Max: -1, MaxShare: -1}
				d.fields(e, p, map[string]func(*yaml.Node, string){
					"workload":  d.str(&b.Workload),
					"max":       d.integer(&b.Max),
					"max-share": d.float(&b.MaxShare),
				})
				if b.Max < 0 && b.MaxShare < 0 {
					d.errf(e, p, "a throttling budget needs max or max-share")
				}
				x.Throttled = append(x.Throttled, b)
			})
		},
		"client-errors": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) {
				c := ErrorCodes{Pos: d.pos(e)}
				d.fields(e, p, map[string]func(*yaml.Node, string){
					"workload": d.str(&c.Workload),
					"allowed":  d.strs(&c.Allowed),
					"must-see": d.strs(&c.MustSee),
				})
				x.ClientErrors = append(x.ClientErrors, c)
			})
		},
		"latency": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) {
				l := LatencyBudget{Pos: d.pos(e), During: DuringAlways}
				d.fields(e, p, map[string]func(*yaml.Node, string){
					"workload": d.str(&l.Workload),
					"during":   d.str(&l.During),
					"p50":      d.duration(&l.P50),
					"p99":      d.duration(&l.P99),
					"max":      d.duration(&l.Max),
					"grace":    d.duration(&l.Grace),
				})
				x.Latency = append(x.Latency, l)
			})
		},
		"idle": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) {
				l := IdleBudget{Pos: d.pos(e), During: DuringAlways}
				d.fields(e, p, map[string]func(*yaml.Node, string){
					"workload": d.str(&l.Workload),
					"during":   d.str(&l.During),
					"max":      d.duration(&l.Max),
					"grace":    d.duration(&l.Grace),
				})
				x.Idle = append(x.Idle, l)
			})
		},
		"keystore": func(n *yaml.Node, p string) {
			d.list(n, p, func(e *yaml.Node, p string) {
				k := KeyStoreExpect{Pos: d.pos(e), Within: 15 * time.Second}
				d.fields(e, p, map[string]func(*yaml.Node, string){
					"store":  d.str(&k.Store),
					"state":  d.str(&k.State),
					"code":   d.str(&k.Code),
					"after":  d.str(&k.After),
					"within": d.duration(&k.Within),
				})
				x.KeyStores = append(x.KeyStores, k)
			})
		},
	})
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
