package embedded

import (
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/internal/metrics"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/trail"
)

// Observing a stack: Prometheus metrics (package internal/metrics), served on the KMS
// endpoint's port at metrics.Path beside the fault API, and the KMS's CloudTrail-shaped audit
// trail (package kms/trail) in DATA/kms/trail. The node metrics' observer is given to the
// service before any HSM starts (cloudhsm.Config.NodeObserver), so restarted HSMs are counted
// too; the endpoint's observer fans out to the request metrics and the trail.

// TrailDir is where the KMS audit trail of a data directory is kept (`hsmsim audit kms`).
func TrailDir(dataDir string) string { return filepath.Join(dataDir, kmsDir, "trail") }

// observability is what a stack observes itself with.
type observability struct {
	reg   *prometheus.Registry
	nodes *metrics.Nodes
}

func newObservability() observability {
	reg := metrics.NewRegistry()
	return observability{reg: reg, nodes: metrics.NewNodes(reg)}
}

// observeKMS opens the audit trail and registers the collectors that need the KMS; it returns
// the endpoint's observer.
func (c *Cluster) observeKMS() (awsapi.Observer, error) {
	var err error
	if c.Trail, err = trail.Open(trail.Config{Dir: TrailDir(c.Dir), Logger: c.log}); err != nil {
		return nil, err
	}
	api := metrics.NewAPI(c.Metrics, awsapi.KMS, awsapi.CloudHSMV2)
	c.Metrics.MustRegister(&metrics.Cluster{Members: c.allMembers})
	return awsapi.Observers(api, c.Trail), nil
}

// registerStack registers what is read from the running KMS and its live faults.
func (c *Cluster) registerStack() {
	c.Metrics.MustRegister(&metrics.Stack{KeyStores: c.KMS.KeyStoreStates, Audit: c.Trail.Counts,
		Faults: func() map[string]int {
			n := map[string]int{"api": len(c.Faults.List()), "hsm": 0}
			if c.HSMFaults != nil {
				n["hsm"] = len(c.HSMFaults.List())
			}
			return n
		}})
}

// allMembers are the running HSMs of every cluster of the service.
func (c *Cluster) allMembers() []*cluster.Member {
	var out []*cluster.Member
	for _, id := range c.Service.ClusterIDs() {
		out = append(out, c.Service.Members(id)...)
	}
	return out
}
