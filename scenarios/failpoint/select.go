package failpoint

// Choosing nodes: selectors resolved at injection time, and the network rules that cut nodes
// off, for the families to share.

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/cluster/netsim"
)

func partition(a, b string) netsim.Rule {
	if a > b {
		a, b = b, a
	}
	return netsim.Rule{Kind: netsim.KindPartition, From: a, To: b}
}

// isolateRules cut node l from every endpoint (node or client) except those in keep.
func (in *Injector) isolateRules(l string, keep []string) []netsim.Rule {
	id := in.Target.ID(l)
	var keepIDs []string
	for _, k := range keep {
		keepIDs = append(keepIDs, in.Target.ID(k))
	}
	var out []netsim.Rule
	for _, ep := range in.Target.Endpoints() {
		if !slices.Contains(keepIDs, ep) {
			out = append(out, partition(id, ep))
		}
	}
	return out
}

// liveLabels lists the HSMs of the scenario's cluster not removed.
func (in *Injector) liveLabels() []string {
	var out []string
	for _, n := range in.Target.Nodes() {
		if !n.Removed && n.Cluster == "" {
			out = append(out, n.Label)
		}
	}
	return out
}

func (in *Injector) labelsInAZ(az string) []string {
	var out []string
	for _, n := range in.Target.Nodes() {
		if !n.Removed && n.AZ == az {
			out = append(out, n.Label)
		}
	}
	return out
}

func (in *Injector) isAZ(s string) bool {
	for _, n := range in.Target.Nodes() {
		if n.AZ == s {
			return true
		}
	}
	return false
}

// frozen lists the labels an active fault of a family that Freezes cuts off from everyone
// (pause, az-outage).
func (in *Injector) frozen() map[string]bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := map[string]bool{}
	for _, a := range in.active {
		if fam, ok := familyOf(a.p.Do); ok && fam.Freezes {
			for _, l := range a.nodes {
				out[l] = true
			}
		}
	}
	return out
}

// resolve turns a selector into a node label. Random selectors take the pick-th candidate in
// label order; leader waits (briefly) for one.
func (in *Injector) resolve(ctx context.Context, sel string, pick uint32) (string, error) {
	frozen := in.frozen()
	var cands []string
	nodes := in.Target.Nodes()
	switch {
	case sel == "leader":
		deadline := time.Now().Add(5 * time.Second)
		for {
			if l := in.Target.Leader(); l != "" {
				return l, nil
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return "", skipf("no leader")
			}
			time.Sleep(20 * time.Millisecond)
		}
	case sel == "last-added":
		in.mu.Lock()
		l := in.lastAdded
		in.mu.Unlock()
		if l == "" {
			return "", skipf("no HSM was added")
		}
		return l, nil
	case sel == "follower", sel == "random", strings.HasPrefix(sel, "az:"):
		leader := in.Target.Leader()
		// A follower follows a leader: during an election, wait (briefly) for one.
		for deadline := time.Now().Add(5 * time.Second); sel == "follower" && leader == "" && time.Now().Before(deadline) && ctx.Err() == nil; {
			time.Sleep(20 * time.Millisecond)
			leader = in.Target.Leader()
		}
		for _, n := range nodes {
			if n.Removed || !n.Up || frozen[n.Label] || n.Cluster != "" {
				continue
			}
			if sel == "follower" && (n.Label == leader || leader == "") {
				continue
			}
			if strings.HasPrefix(sel, "az:") && n.AZ != sel[3:] {
				continue
			}
			cands = append(cands, n.Label)
		}
	default:
		for _, n := range nodes {
			if n.Label == sel && !n.Removed {
				return sel, nil
			}
		}
		return "", skipf("no node %s", sel)
	}
	if len(cands) == 0 {
		return "", skipf("no candidate for %s", sel)
	}
	sort.Slice(cands, func(i, j int) bool { return labelLess(cands[i], cands[j]) })
	return cands[int(pick)%len(cands)], nil
}

func labelLess(a, b string) bool {
	ai, _ := strconv.Atoi(strings.TrimPrefix(a, "n"))
	bi, _ := strconv.Atoi(strings.TrimPrefix(b, "n"))
	return ai < bi
}
