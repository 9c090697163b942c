// Package metrics is hsmsim's Prometheus instrumentation: what each face of a running stack
// counts, and the collectors that read the cluster's state when scraped. `hsmsim up` and
// `hsmsim kms` serve it on the KMS endpoint's port under Path; `hsmsim hsmd --metrics-listen`
// on an address of its own at /metrics.
//
// Requests are counted where they are answered, through the hooks the faces offer: the AWS
// endpoint's Observer (API: every KMS, CloudHSM, IAM and STS request, by operation and
// outcome, with a latency histogram) and the node API's RPCObserver (Nodes: every call an HSM
// answers, by method and CK_RV, with its latency, and the size of batches). State is read at
// scrape time (Cluster: Raft's leader, term, commit and applied index and last leader contact
// of each HSM, its CloudHSM state, store size, token objects and active logins; Stack: custom
// key store connection states, live fault rules, audit records written and dropped), so an idle
// stack costs nothing. Names follow Prometheus's conventions (units in the name, _total for
// counters); labels are low-cardinality: no key id, request id or caller is ever a label.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where a stack serves its metrics on the KMS endpoint's port: under /_hsmsim/, which
// no AWS request uses (the AWS JSON 1.1 and Query protocols post to "/").
const Path = "/_hsmsim/metrics"

const namespace = "hsmsim"

// NewRegistry is a registry with the Go runtime's and the process's collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text (or OpenMetrics) format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// latencyBuckets cover a loopback request (100 µs) to a held one (10 s).
var latencyBuckets = prometheus.ExponentialBucketsRange(0.0001, 10, 16)
