package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hsmsim/hsmsim/scenarios"
	"github.com/hsmsim/hsmsim/scenarios/report"
	"github.com/hsmsim/hsmsim/scenarios/validate"
)

// Options are a campaign: which seeds, what they draw from, how each runs, where the results go.
type Options struct {
	Seeds     int   // how many seeds
	FirstSeed int64 // the first (default 1); the seeds are FirstSeed, FirstSeed+1, ...
	Config
	// Run is how each seed's scenario runs (Short, Processes, Binary, Logger); its Seed is
	// ignored (the scenario carries its own).
	Run scenarios.Options
	// Out is the directory of the summary (summary.txt, summary.json) and of each failing
	// seed's report (seed-N.yaml, seed-N.json, seed-N.html); empty: nothing is written.
	Out string
	// Log receives one line per seed as it ends (nil: none).
	Log io.Writer
}

// Verdicts of a seed.
const (
	Pass  = "pass"
	Fail  = "FAIL"  // a violation, a lost key, or nodes that do not agree
	Error = "ERROR" // the run could not be carried out, or a check about the run itself failed
)

// Seed is one seed's line of the summary.
type Seed struct {
	Seed       int64         `json:"seed"`
	Faults     []string      `json:"faults"` // the planned injections, in order
	Faces      []string      `json:"faces"`
	HSMs       int           `json:"hsms"`
	Ops        int           `json:"ops"`
	Failed     int           `json:"failed_ops"` // operations that failed (faults are expected to fail some)
	Violations int           `json:"violations"` // keys whose history does not linearize
	KeysLost   int           `json:"keys_lost"`  // acknowledged keys or ciphertexts lost
	Converged  bool          `json:"converged"`
	Verdict    string        `json:"verdict"`
	Why        []string      `json:"why,omitempty"` // the failing checks, for a verdict other than pass
	Wall       time.Duration `json:"wall_ns"`
}

// Summary is a campaign's result.
type Summary struct {
	FirstSeed  int64     `json:"first_seed"`
	Seeds      int       `json:"seeds"`
	Kinds      []string  `json:"kinds"`
	Faces      []string  `json:"faces"`
	Short      bool      `json:"short"`
	Processes  bool      `json:"processes"`
	Started    time.Time `json:"started"`
	Wall       string    `json:"wall"`
	Ops        int       `json:"ops"`
	Violations int       `json:"violations"`
	KeysLost   int       `json:"keys_lost"`
	Passed     int       `json:"passed"`
	Failed     []int64   `json:"failed_seeds"`
	Errors     []int64   `json:"error_seeds"`
	Results    []Seed    `json:"results"`
}

// Usable limits kinds and faces to what the target of o can carry out: it returns the kinds
// and faces to draw from, and says what was left out and why. A kind the generator does not
// know is an error.
func Usable(c Config, o scenarios.Options) (Config, []string, error) {
	kinds, faces := c.Kinds, c.Faces
	if len(kinds) == 0 {
		kinds = Kinds
	}
	if len(faces) == 0 {
		faces = Faces
	}
	var out Config
	var dropped []string
	for _, k := range kinds {
		if !slices.Contains(Kinds, k) {
			return Config{}, nil, fmt.Errorf("fault kind %q: a campaign draws from %s", k, strings.Join(Kinds, ", "))
		}
		if err := scenarios.FaultAvailable(k, o); err != nil {
			dropped = append(dropped, fmt.Sprintf("fault %s: %v", k, err))
			continue
		}
		out.Kinds = append(out.Kinds, k)
	}
	for _, f := range faces {
		if !slices.Contains(Faces, f) {
			return Config{}, nil, fmt.Errorf("face %q: one of %s", f, strings.Join(Faces, ", "))
		}
		if f == "kms" && !scenarios.RunsKMS(o) {
			dropped = append(dropped, "face kms: the target does not run the KMS")
			continue
		}
		out.Faces = append(out.Faces, f)
	}
	if len(out.Faces) == 0 {
		return Config{}, dropped, fmt.Errorf("no face left to put load on")
	}
	return out, dropped, nil
}

// Run runs the campaign's seeds one after another. The summary is written again after every
// seed, so an interrupted campaign leaves what it ran. The error is only for what stops the
// campaign itself (a directory that cannot be written, a generator bug); a seed that fails is
// in the summary.
func Run(ctx context.Context, o Options) (*Summary, error) {
	if o.FirstSeed == 0 {
		o.FirstSeed = 1
	}
	cfg, _, err := Usable(o.Config, o.Run)
	if err != nil {
		return nil, err
	}
	sum := &Summary{FirstSeed: o.FirstSeed, Seeds: o.Seeds, Kinds: cfg.Kinds, Faces: cfg.Faces, Short: o.Run.Short,
		Processes: o.Run.Processes, Started: time.Now()}
	if o.Out != "" {
		if err := os.MkdirAll(o.Out, 0o755); err != nil {
			return nil, err
		}
	}
	for i := 0; i < o.Seeds && ctx.Err() == nil; i++ {
		seed := o.FirstSeed + int64(i)
		yaml, s, err := Generate(seed, cfg)
		if err != nil {
			return sum, err
		}
		ro := o.Run
		ro.Seed = 0
		res, _ := scenarios.Run(ctx, s, ro) // a run that could not be carried out has its result say why
		line := summarize(seed, res)
		sum.add(line)
		if o.Log != nil {
			fmt.Fprintf(o.Log, "seed %d: %s  %d ops, %d violations, %d keys lost, %s  [%s]\n", seed, line.Verdict, line.Ops,
				line.Violations, line.KeysLost, line.Wall.Round(time.Second), strings.Join(line.Faults, "; "))
		}
		if o.Out == "" {
			continue
		}
		if line.Verdict != Pass {
			if err := writeFailure(o.Out, seed, yaml, res); err != nil {
				return sum, err
			}
		}
		sum.Wall = time.Since(sum.Started).Round(time.Second).String()
		if err := sum.write(o.Out); err != nil {
			return sum, err
		}
	}
	sum.Wall = time.Since(sum.Started).Round(time.Second).String()
	if o.Out != "" {
		return sum, sum.write(o.Out)
	}
	return sum, nil
}

// summarize reads a seed's result: its ops, and what the two checkers found.
func summarize(seed int64, res *scenarios.Result) Seed {
	line := Seed{Seed: seed, Verdict: Pass, Converged: true, Wall: res.Wall}
	for _, p := range res.Schedule {
		line.Faults = append(line.Faults, p.Describe())
	}
	if res.Spec != nil {
		line.HSMs = res.Spec.Cluster.Nodes()
		for _, w := range res.Spec.Workloads {
			if !slices.Contains(line.Faces, w.Face) {
				line.Faces = append(line.Faces, w.Face)
			}
		}
	}
	line.Ops = len(res.Ops)
	for _, st := range res.Stats {
		line.Failed += st.Failed
	}
	if res.Error != "" {
		line.Verdict = Error
		line.Why = append(line.Why, "run: "+res.Error)
	}
	for _, c := range res.Checks {
		if c.Pass {
			continue
		}
		line.Why = append(line.Why, c.Name+": "+c.Summary)
		switch c.Name {
		case "linearizable":
			line.Violations += max(counted(c), 1)
		case "no-lost-keys":
			line.KeysLost += max(counted(c), 1)
		case "converged":
			line.Converged = false
		}
		if line.Verdict == Pass {
			line.Verdict = Error
		}
	}
	if line.Violations > 0 || line.KeysLost > 0 || !line.Converged {
		line.Verdict = Fail
	}
	return line
}

// counted is how many findings a failed check lists (its details, less the "…" of a list cut
// short: a lower bound then).
func counted(c validate.Result) int {
	n := 0
	for _, d := range c.Details {
		if d != "…" {
			n++
		}
	}
	return n
}

func (s *Summary) add(l Seed) {
	s.Results = append(s.Results, l)
	s.Ops += l.Ops
	s.Violations += l.Violations
	s.KeysLost += l.KeysLost
	switch l.Verdict {
	case Pass:
		s.Passed++
	case Fail:
		s.Failed = append(s.Failed, l.Seed)
	default:
		s.Errors = append(s.Errors, l.Seed)
	}
}

// Table writes the summary as a table: one line a seed, then the totals.
func (s *Summary) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEED\tHSMS\tFACES\tOPS\tFAILED\tVIOLATIONS\tKEYS LOST\tVERDICT\tFAULTS")
	for _, l := range s.Results {
		fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", l.Seed, l.HSMs, strings.Join(l.Faces, ","), l.Ops, l.Failed,
			l.Violations, l.KeysLost, l.Verdict, strings.Join(l.Faults, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%d seeds (%d..%d) run of %d, %d passed; %d ops; %d violations; %d keys lost; failed seeds %v; error seeds %v; wall %s\n",
		len(s.Results), s.FirstSeed, s.FirstSeed+int64(len(s.Results))-1, s.Seeds, s.Passed, s.Ops, s.Violations, s.KeysLost, s.Failed, s.Errors, s.Wall)
	return err
}

// Pass reports whether every seed run passed.
func (s *Summary) Pass() bool { return s.Passed == len(s.Results) }

func (s *Summary) write(dir string) error {
	if err := report.WriteFile(filepath.Join(dir, "summary.txt"), s.Table); err != nil {
		return err
	}
	return report.WriteFile(filepath.Join(dir, "summary.json"), func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(s)
	})
}

// writeFailure leaves what reproduces a failing seed: the scenario as it ran (for `hsmsim
// scenario run`), its full JSON result with every operation, and the HTML report.
func writeFailure(dir string, seed int64, yaml []byte, res *scenarios.Result) error {
	base := filepath.Join(dir, fmt.Sprintf("seed-%d", seed))
	if err := os.WriteFile(base+".yaml", yaml, 0o644); err != nil {
		return err
	}
	rs := []*scenarios.Result{res}
	if err := report.WriteFile(base+".json", func(w io.Writer) error { return report.JSON(w, rs, true) }); err != nil {
		return err
	}
	return report.WriteFile(base+".html", func(w io.Writer) error { return report.HTML(w, rs) })
}
