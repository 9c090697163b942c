// Package failpoint is the fault side of a scenario. Plan turns a scenario's fault list and its
// seed into a schedule (every random choice drawn up front, so a seed fixes the schedule); an
// Injector applies a planned fault to the target, reverses it, and keeps the books on what is
// broken (which nodes are down, which network rules each fault put in force).
//
// A fault is a value: a Family, one file per family (kill.go, partition.go, keystore.go, ...),
// registered at init. The family says everything about its faults in that one file: its name
// and what `for` reverses, the checks of its fields (the file format asks the registry, through
// spec.FaultKind), how a planned injection reads, which targets can carry it out (Available,
// asked before a run starts), and how to inject it (the undo is what Inject leaves in
// Injection.Undo, or the network rules it leaves in Injection.Rules, which the injector applies
// and removes). The families live beside the injector rather than in a package of their own
// because injecting one is resolving selectors, cutting and healing links and booking active
// faults, which is the injector's.
//
// Adding a fault kind is one new file here, plus its tests:
//
//	func init() {
//		Register(Family{
//			FaultKind: spec.FaultKind{Name: "cut-clients", Undo: "heal", Validate: (*spec.FaultCheck).Node},
//			Doc:       "cut a node off from every client; its peers still reach it",
//			Inject:    func(ctx context.Context, in *Injector, x *Injection) error { ... },
//		})
//	}
//
// cut_clients.go is that example in full (cut_clients_test.go checks its rules against
// netsim, cut_clients_run_test.go runs it on a cluster). A new kind that needs a field no fault
// has yet also adds it to spec.Fault and to the decoder's fault mapping; SCHEMA.md's table of
// actions gets a row.
package failpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	awskms "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// Family is one kind of fault: what the file format knows of it (name, undo, field checks) and
// what the injector does with it.
type Family struct {
	spec.FaultKind
	// Doc says what the fault does, in one line.
	Doc string
	// Describe says a fault of this family in words (nil: Doc).
	Describe func(f *spec.Fault) string
	// Available says why a target cannot carry the fault out (nil: every target can). It is
	// asked before a run starts, of a target not started yet: it looks at the target's powers
	// (Rejoiner, Resizer, Restorer, KMSHost), not at its state.
	Available func(t Target) error
	// Inject applies one injection: it resolves the fault's nodes (Injection.Node), does the
	// work, and leaves in x what undoes it. An error wrapping errSkip (a selector with no
	// candidate) records the injection as skipped.
	Inject func(ctx context.Context, in *Injector, x *Injection) error
	// Action: the fault is an operator action by default. Its result (ok or the exact error code)
	// is compared with the fault's `expect`, and it is never active. Inject may change
	// x.Action for one injection (remove-hsm without `for` is an action).
	Action bool
	// Freezes: while active, the fault cuts its nodes off from every endpoint, so selectors
	// that pick a running node (follower, random, az:) pass them over.
	Freezes bool
}

var families = map[string]*Family{}

// Register adds a family (from an init function); a name registered twice panics.
func Register(f Family) {
	if f.Inject == nil {
		panic("failpoint: family " + f.Name + " has no Inject")
	}
	spec.RegisterFault(f.FaultKind)
	families[f.Name] = &f
}

// familyOf returns the family of a fault action.
func familyOf(do string) (*Family, bool) {
	f, ok := families[do]
	return f, ok
}

// Available reports why a target cannot carry out a fault action (nil: it can).
func Available(do string, t Target) error {
	f, ok := familyOf(do)
	if !ok {
		return fmt.Errorf("action %s not implemented", do)
	}
	if f.Available == nil {
		return nil
	}
	return f.Available(t)
}

// Target is what faults act on. Both of package target's targets have these; the powers only
// one has are the interfaces below, which a family's Available asks for.
type Target interface {
	Nodes() []target.NodeInfo
	Leader() string
	ID(label string) string
	// Endpoints are the netsim names of every HSM and client.
	Endpoints() []string
	Net() *netsim.Network
	Kill(label string) error
	Restart(ctx context.Context, label string) error
	Client(name string, observe func(client.Attempt)) (*client.Client, error)
	Admin(ctx context.Context, name string) (*client.Client, error)
}

// Rejoiner wipes a killed HSM's data directory and has it rejoin under its id.
type Rejoiner interface {
	Rejoin(ctx context.Context, label string) error
}

// Resizer adds HSMs to the scenario's cluster and removes them (CreateHsm, DeleteHsm).
type Resizer interface {
	Add(ctx context.Context, az string) (string, error)
	Remove(ctx context.Context, label string) error
}

// Restorer backs the scenario's cluster up and restores the backup into a new cluster.
type Restorer interface {
	RestoreBackup(ctx context.Context, name string) (clusterID, backupID string, err error)
	RestoredCluster(name string) string
}

// KMSHost runs the KMS over the cluster.
type KMSHost interface {
	KMSClient(inproc bool, timeout time.Duration) *awskms.Client
}

// lacks is Available's answer for a target without a power.
func lacks(power string) error { return errors.New("needs " + power) }

// Injection is one planned fault being applied: what its family's Inject reads and fills.
type Injection struct {
	P Planned
	F *spec.Fault
	// Nodes are the nodes the injection acts on (for the event, and for the checks: a fault
	// whose nodes include the leader took it away).
	Nodes []string
	// Rules are network rules to put in force; the injector applies them after Inject, and
	// removes them at undo (keeping those other active faults put in force too).
	Rules []netsim.Rule
	// Undo reverses what the rules do not (restart a killed node); nil: nothing more.
	Undo func(ctx context.Context) error
	// Action: this injection is an operator action (see Family.Action).
	Action bool
	// Fields are recorded with the event (fault, do, seq, leader are already there).
	Fields map[string]string
}

// Node resolves the i-th selector of the injection (its pick plus i) and adds the node to
// x.Nodes.
func (x *Injection) Node(ctx context.Context, in *Injector, sel string, i int) (string, error) {
	l, err := in.resolve(ctx, sel, x.P.Pick+uint32(i))
	if err == nil {
		x.Nodes = append(x.Nodes, l)
	}
	return l, err
}
