package embedded

import (
	"context"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hsmsim/hsmsim/internal/console"
	"github.com/hsmsim/hsmsim/internal/faultctl"
	"github.com/hsmsim/hsmsim/kms/customstore"
	"github.com/hsmsim/hsmsim/kms/trail"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

// The live web console (internal/console) on the endpoint's port: the cluster as the fault
// API's target sees it, the key stores as DescribeCustomKeyStores would list them, and the KMS's
// last requests from its audit trail.

// ReportsDir is where the console looks for scenario reports in the data directory.
const ReportsDir = "reports"

// newConsole is the console of the stack; t is nil without a cluster of its own.
func (c *Cluster) newConsole(t *target.InProcess) *console.Handler {
	h := &console.Handler{Reports: filepath.Join(c.Dir, ReportsDir), Faults: faultctl.Path,
		KeyStores: keyStoreView{kms: c.KMS, st: c.State}}
	if c.Trail != nil {
		h.Requests = trailRequests{c.Trail}
	}
	if t != nil {
		h.Cluster = clusterView{c: c, t: t}
	}
	return h
}

// clusterView is the cluster as the console draws it: labels, states and leadership as the
// fault API's target (the scenario engine's view) has them, so the labels are the ones its
// controls name.
type clusterView struct {
	c *Cluster
	t *target.InProcess
}

func (v clusterView) ID() string { return v.c.State.ClusterID }

func (v clusterView) HSMs() []console.HSM {
	var out []console.HSM
	for _, n := range v.t.Nodes() {
		if n.Removed || n.Cluster != "" {
			continue // removed HSMs and clusters restored by a scenario are not this cluster's
		}
		h := console.HSM{ID: n.ID, Label: n.Label, AZ: n.AZ, State: n.State, Leader: n.Leader}
		if !n.Up {
			h.State = "DOWN"
		}
		h.AppliedIndex, _ = v.t.Applied(n.Label)
		if m := v.c.Service.Member(v.c.State.ClusterID, n.ID); m != nil && m.Raft() != nil {
			h.Term = m.Raft().CurrentTerm()
		}
		out = append(out, h)
	}
	return out
}

// keyStoreView is the KMS's custom key stores of the stack's account and region, read from the
// server directly: the console's polls are not requests, so neither the live faults nor the
// audit trail see them.
type keyStoreView struct {
	kms interface {
		CustomKeyStores(account, region string) ([]customstore.Entry, error)
	}
	st State
}

func (v keyStoreView) KeyStores(context.Context) ([]console.KeyStore, error) {
	stores, err := v.kms.CustomKeyStores(v.st.AccountID, v.st.Region)
	if err != nil {
		return nil, err
	}
	out := make([]console.KeyStore, 0, len(stores))
	for _, s := range stores {
		out = append(out, console.KeyStore{ID: s.CustomKeyStoreId, Name: s.CustomKeyStoreName, ClusterID: s.CloudHsmClusterId,
			ConnectionState: s.ConnectionState, ConnectionErrorCode: s.ConnectionErrorCode})
	}
	slices.SortFunc(out, func(a, b console.KeyStore) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// trailRequests are the KMS audit trail's last records as the console lists requests, newest
// first (Trail.Recent gives them oldest first).
type trailRequests struct{ t *trail.Trail }

func (r trailRequests) Recent(n int) []console.Request {
	recs := r.t.Recent(n)
	out := make([]console.Request, len(recs))
	for i := range recs {
		rec := &recs[i]
		caller := rec.UserIdentity.ARN
		if caller == "" {
			caller = rec.UserIdentity.AccessKeyID
		}
		out[len(recs)-1-i] = console.Request{Time: rec.EventTime, Operation: rec.EventName, Caller: caller, ErrorCode: rec.ErrorCode,
			Latency: rec.Latency()}
	}
	return out
}
