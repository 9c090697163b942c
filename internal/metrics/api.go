package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// API counts the requests of an AWS endpoint: it is the endpoint's awsapi.Observer.
type API struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// known are the operations a label may name (service → operation): the models' operations,
	// and the Query actions that once succeeded. Anything else a client sends is "unknown", so
	// a client cannot grow the label set.
	known sync.Map
}

// Outcomes other than an AWS error type.
const (
	OutcomeOK    = "ok"
	OutcomeFault = "fault" // a live fault answered the request itself (a reset, a held request)
	opUnknown    = "unknown"
)

// NewAPI registers the request metrics of an endpoint serving apis (and Query services) on reg.
func NewAPI(reg prometheus.Registerer, apis ...*awsapi.API) *API {
	a := &API{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "aws", Name: "requests_total",
			Help: "Requests to the AWS endpoint, by service (signing name), operation and outcome (ok, an AWS error type, or fault)."},
			[]string{"service", "operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "aws", Name: "request_duration_seconds",
			Help: "Time from a request's arrival to its answer, by service and operation.", Buckets: latencyBuckets},
			[]string{"service", "operation"}),
	}
	for _, api := range apis {
		for _, op := range api.Operations() {
			a.known.Store(api.SigningName+"."+op, true)
		}
	}
	reg.MustRegister(a.requests, a.duration)
	return a
}

// Observe implements awsapi.Observer.
func (a *API) Observe(q *awsapi.Request, _ any, e *awsapi.Error, status int, elapsed time.Duration) {
	op := q.Operation
	key := q.Service + "." + op
	if _, ok := a.known.Load(key); !ok {
		if e == nil && status == 200 && q.Params != nil {
			a.known.Store(key, true) // a Query action its service answered
		} else {
			op = opUnknown
		}
	}
	outcome := OutcomeOK
	switch {
	case e != nil:
		outcome = e.Type
	case status == 0:
		outcome = OutcomeFault
	}
	a.requests.WithLabelValues(q.Service, op, outcome).Inc()
	a.duration.WithLabelValues(q.Service, op).Observe(elapsed.Seconds())
}

var _ awsapi.Observer = (*API)(nil)
