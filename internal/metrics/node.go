package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/server"
)

// Nodes counts the calls HSM nodes answer on their node API (the PKCS#11 functions as the node
// sees them), for every node of the process.
type Nodes struct {
	rpcs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	batch    *prometheus.HistogramVec
}

// NewNodes registers the node API metrics on reg.
func NewNodes(reg prometheus.Registerer) *Nodes {
	n := &Nodes{
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "node", Name: "rpcs_total",
			Help: "Calls of the node API an HSM answered, by HSM, method and CK_RV (CKR_OK on success)."},
			[]string{"node", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "node", Name: "rpc_duration_seconds",
			Help: "Time an HSM took to answer a node API call, by HSM and method.", Buckets: latencyBuckets},
			[]string{"node", "method"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "node", Name: "batch_items",
			Help: "Items per Batch call (crypto reads sent together), by HSM.", Buckets: prometheus.ExponentialBuckets(1, 2, 11)},
			[]string{"node"}),
	}
	reg.MustRegister(n.rpcs, n.duration, n.batch)
	return n
}

// For is the observer of node id's calls (server.Node.SetObserver).
func (n *Nodes) For(id string) server.RPCObserver {
	l := prometheus.Labels{"node": id}
	return &nodeObserver{rpcs: n.rpcs.MustCurryWith(l), duration: n.duration.MustCurryWith(l).(*prometheus.HistogramVec),
		batch: n.batch.With(l)}
}

type nodeObserver struct {
	rpcs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
	batch    prometheus.Observer
}

func (o *nodeObserver) ObserveRPC(method string, rv uint32, elapsed time.Duration) {
	o.rpcs.WithLabelValues(method, p11.RVName(rv)).Inc()
	o.duration.WithLabelValues(method).Observe(elapsed.Seconds())
}

func (o *nodeObserver) ObserveBatch(items int) { o.batch.Observe(float64(items)) }
