package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/scenarios/failpoint"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
	"github.com/hsmsim/hsmsim/scenarios/traffic"
)

// Target is what the engine runs a scenario against: what faults and workloads need of it,
// and how to start it, read it after the run and stop it. package target has two: the cluster
// in this process and separate hsmd processes.
type Target interface {
	failpoint.Target
	traffic.Target
	// Supports says why the target cannot run with these Raft timeouts (nil: it can).
	Supports(cluster.Timeouts) error
	// Unsupported is the error a scenario the target cannot run wraps.
	Unsupported() error
	Start(ctx context.Context) error
	Close()
	ClusterID() string
	// Applied is a running HSM's applied index (ok false when it does not answer).
	Applied(label string) (uint64, bool)
	// Holds says which of handles an HSM holds, as users (crypto user → password) see its
	// token; nil with no error when the HSM is down.
	Holds(ctx context.Context, label string, handles []uint32, users map[string]string) (map[uint32]bool, error)
}

// kmsTarget is a Target that runs the KMS over the cluster (when the scenario needs it).
type kmsTarget interface {
	KMS() *kms.Server
	KMSClient(inproc bool, timeout time.Duration) *awskms.Client
	TrustAnchorPEM() []byte
}

// digester is a Target that reads every HSM's token digest, so convergence compares tokens, not
// only applied indexes.
type digester interface {
	Digest(label string) (string, bool)
}

var (
	_ Target             = (*target.InProcess)(nil)
	_ kmsTarget          = (*target.InProcess)(nil)
	_ digester           = (*target.InProcess)(nil)
	_ failpoint.Rejoiner = (*target.InProcess)(nil)
	_ failpoint.Resizer  = (*target.InProcess)(nil)
	_ failpoint.Restorer = (*target.InProcess)(nil)
	_ failpoint.KMSHost  = (*target.InProcess)(nil)
	_ Target             = (*target.Processes)(nil)
	_ digester           = (*target.Processes)(nil)
	_ kmsTarget          = (*target.Processes)(nil)
	_ failpoint.KMSHost  = (*target.Processes)(nil)
)

// newTarget makes the target the options ask for (not started) for scenario s.
func newTarget(s *spec.Scenario, o Options, timeouts cluster.Timeouts) Target {
	var azs []target.AZCount
	for _, az := range s.Cluster.AZs {
		azs = append(azs, target.AZCount{AZ: az.Name, HSMs: az.HSMs})
	}
	to := target.Options{AZs: azs, Timeouts: timeouts, Seed: s.Seed, Dir: o.Dir, Logger: o.Logger, KMS: s.NeedsKMS(), Binary: o.Binary,
		Capacity: s.Capacity, HsmType: s.Cluster.HsmType}
	if o.Processes {
		return target.NewProcesses(to)
	}
	return target.NewInProcess(to)
}

// raftTimeouts are the Raft timeouts of the scenario's cluster: its preset, with the values it
// sets itself.
func raftTimeouts(c spec.Cluster) cluster.Timeouts {
	timeouts := cluster.FastTimeouts()
	if c.Timeouts == "default" {
		timeouts = cluster.DefaultTimeouts()
	}
	set := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	set(&timeouts.Heartbeat, c.Heartbeat)
	set(&timeouts.Election, c.Election)
	set(&timeouts.LeaderLease, c.LeaderLease)
	set(&timeouts.Apply, c.Apply)
	return timeouts
}

// refusal says which parts of a scenario the target cannot carry out, naming each by file,
// line and field; nil when none. It asks before anything starts: the Raft timeouts, the KMS
// (setup steps and workloads), and each fault's family (failpoint.Available).
func refusal(s *spec.Scenario, t Target, timeouts cluster.Timeouts) error {
	var why []string
	add := func(pos spec.Pos, format string, args ...any) {
		why = append(why, fmt.Sprintf("%s: %s", pos, fmt.Sprintf(format, args...)))
	}
	if err := t.Supports(timeouts); err != nil {
		why = append(why, fmt.Sprintf("%s: cluster.timeouts: %v", s.File, err))
	}
	if _, ok := t.(kmsTarget); !ok {
		for _, st := range s.Setup {
			if st.Kind == spec.StepKeyStore || st.Kind == spec.StepKMSKey {
				add(st.Pos, "setup %s %s: needs the KMS", st.Kind, st.Name)
			}
		}
		for _, w := range s.Workloads {
			if w.Face == spec.FaceKMS {
				add(w.Pos, "workload %s: face kms needs the KMS", w.Name)
			}
		}
	}
	for _, f := range s.Faults {
		if err := failpoint.Available(f.Do, t); err != nil {
			add(f.Pos, "fault %s: do %s %v", f.Name, f.Do, err)
		}
	}
	if len(why) == 0 {
		return nil
	}
	return fmt.Errorf("%s cannot run: %w:\n  %s", s.Name, t.Unsupported(), strings.Join(why, "\n  "))
}

// FaultAvailable says why the target the options choose cannot carry out a fault action (nil:
// it can); RunsKMS says whether it can run the KMS. A generator of scenarios (package
// scenarios/campaign) asks them before it draws, so it never draws what the run would refuse.
func FaultAvailable(do string, o Options) error {
	return failpoint.Available(do, newTarget(&spec.Scenario{}, o, cluster.FastTimeouts()))
}

// RunsKMS: see FaultAvailable.
func RunsKMS(o Options) bool {
	_, ok := newTarget(&spec.Scenario{}, o, cluster.FastTimeouts()).(kmsTarget)
	return ok
}
