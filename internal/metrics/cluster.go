package metrics

import (
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hsmsim/hsmsim/cluster"
)

// Cluster reads the state of the HSMs of this process when scraped: Raft's view (leader, term,
// commit and applied index, time since the leader was last heard from) and the HSM's (CloudHSM
// state, store size, token objects, active logins). Members is asked each time, so HSMs added,
// restarted or removed are seen as they are.
type Cluster struct {
	Members func() []*cluster.Member
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, append([]string{"node"}, labels...), nil)
}

var (
	descLeader      = desc("raft_leader", "1 when the HSM is the Raft leader, else 0.", "az")
	descTerm        = desc("raft_term", "The HSM's current Raft term.")
	descCommit      = desc("raft_commit_index", "The index of the last log entry the HSM knows is committed.")
	descApplied     = desc("raft_applied_index", "The index of the last log entry the HSM applied to its token.")
	descLastContact = desc("raft_last_contact_seconds", "Seconds since the HSM last heard from its leader (0 on the leader; -1 never).")
	descState       = desc("hsm_state", "1 for the HSM's CloudHSM state (ACTIVE, DEGRADED, CREATE_IN_PROGRESS, DELETED).", "state")
	descStoreSize   = desc("store_size_bytes", "Size of the HSM's sealed store (its bbolt file).")
	descObjects     = desc("token_objects", "Token objects (keys, certificates, data) on the HSM.")
	descLogins      = desc("active_logins", "Logins in force on the HSM's token (replicated: the same on every HSM).")
)

var hsmStates = []cluster.HSMState{cluster.HSMActive, cluster.HSMDegraded, cluster.HSMCreateInProgress, cluster.HSMDeleted}

func (c *Cluster) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLeader, descTerm, descCommit, descApplied, descLastContact, descState, descStoreSize, descObjects, descLogins} {
		ch <- d
	}
}

func (c *Cluster) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, m := range c.Members() {
		id := m.ID()
		st := m.HSMState()
		for _, s := range hsmStates {
			gauge(descState, b2f(s == st), id, string(s))
		}
		if r := m.Raft(); r != nil {
			leader := r.State() == raft.Leader
			gauge(descLeader, b2f(leader), id, m.AZ())
			gauge(descTerm, float64(r.CurrentTerm()), id)
			gauge(descCommit, float64(r.CommitIndex()), id)
			gauge(descApplied, float64(r.AppliedIndex()), id)
			contact := -1.0
			if leader {
				contact = 0
			} else if t := r.LastContact(); !t.IsZero() {
				contact = time.Since(t).Seconds()
			}
			gauge(descLastContact, contact, id)
		}
		n := m.Node()
		gauge(descStoreSize, float64(n.Store().Size()), id)
		if s := n.State(); s != nil {
			objs, _, logins := s.Counts()
			gauge(descObjects, float64(objs), id)
			gauge(descLogins, float64(logins), id)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var _ prometheus.Collector = (*Cluster)(nil)
