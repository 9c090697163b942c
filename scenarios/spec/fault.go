package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// FaultKind is what the file format knows of one fault action (a fault's `do`): its name,
// what `for` reverses, and the checks of the fields it uses. Each is registered by the fault
// family that injects it (package failpoint, one file per family), so the file format and the
// injector cannot disagree on which actions exist; a program that parses scenario files
// imports failpoint, directly or through package scenarios.
type FaultKind struct {
	Name string
	// Undo says what reverses the fault when it has a `for` ("restart"); "" when it cannot be
	// undone (an operator action: `for` is refused).
	Undo string
	// Validate checks the fault's own fields (nil: it has none); it reports with c.Errorf. It
	// may normalize them (partition takes `node` as one of `nodes`).
	Validate func(c *FaultCheck, f *Fault)
}

// kinds is filled at init, by the families' files, and only read afterwards.
var kinds = map[string]FaultKind{}

// RegisterFault adds a fault kind (from an init function). A name registered twice is a
// programming error: it panics.
func RegisterFault(k FaultKind) {
	if k.Name == "" {
		panic("spec: a fault kind without a name")
	}
	if _, dup := kinds[k.Name]; dup {
		panic("spec: fault kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

// kindOf returns the registered kind of a fault action.
func kindOf(do string) (FaultKind, bool) {
	k, ok := kinds[do]
	return k, ok
}

// FaultKinds lists the registered fault actions, sorted.
func FaultKinds() []string {
	return slices.Sorted(maps.Keys(kinds))
}

// UndoOf says what reverses an action ("" when it cannot be reversed).
func UndoOf(do string) string {
	k, _ := kindOf(do)
	return k.Undo
}

// FaultCheck is what a fault kind's Validate sees: the scenario, what its cluster and setup
// define, and where to report (every problem is reported, each with file, line and field).
type FaultCheck struct {
	Scenario *Scenario
	AZs      map[string]bool // AZs of cluster.hsms
	Stores   map[string]bool // key stores of the setup
	KMSUser  bool            // the setup creates kmsuser

	d    *decoder
	pos  Pos
	path string // faults[i]
}

// Errorf reports a problem with the fault's field ("" for the fault itself).
func (c *FaultCheck) Errorf(field, format string, args ...any) {
	p := c.path
	if field != "" {
		p += "." + field
	}
	c.d.errAt(c.pos, p, format, args...)
}

// Selector checks that sel, the value of field, names nodes of the cluster.
func (c *FaultCheck) Selector(field, sel string) {
	if !ValidSelector(sel) {
		c.Errorf(field, "%q is not a node selector (leader, follower, random, last-added, n1..n%d, az:<name>)", sel, c.Scenario.Cluster.Nodes())
		return
	}
	if strings.HasPrefix(sel, "az:") && !c.AZs[sel[3:]] {
		c.Errorf(field, "AZ %q is not in cluster.hsms", sel[3:])
	}
}

// Node checks a fault acting on one node: `node` is required and a selector.
func (c *FaultCheck) Node(f *Fault) {
	if f.Node == "" {
		c.Errorf("node", "required for %s", f.Do)
		return
	}
	c.Selector("node", f.Node)
}

// AZ checks a fault acting on an AZ: `az` is one of cluster.hsms.
func (c *FaultCheck) AZ(f *Fault) {
	if !c.AZs[f.AZ] {
		c.Errorf("az", "%q is not an AZ of cluster.hsms", f.AZ)
	}
}

// Store checks a fault acting on a key store: `store` is one of the setup.
func (c *FaultCheck) Store(f *Fault) {
	if !c.Stores[f.Store] {
		c.Errorf("store", "%q is not a key store of the setup", f.Store)
	}
}

// Password checks a kmsuser password a fault sets (CloudHSM's bounds).
func (c *FaultCheck) Password(f *Fault) {
	if len(f.Password) < 7 || len(f.Password) > 32 {
		c.Errorf("password", "7 to 32 characters")
	}
}

// KMSUserStep checks that the setup creates kmsuser, which the fault acts as or on.
func (c *FaultCheck) KMSUserStep(f *Fault) {
	if !c.KMSUser {
		c.Errorf("do", "%s needs the kmsuser setup step", f.Do)
	}
}

func (d *decoder) errAt(p Pos, path, format string, args ...any) {
	d.problems = append(d.problems, fmt.Sprintf("%s: %s: %s", p, path, fmt.Sprintf(format, args...)))
}
