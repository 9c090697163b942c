package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Stack reads the KMS side of a running stack when scraped; each source may be nil (absent).
type Stack struct {
	// KeyStores counts the custom key stores by connection state (kms.Server.KeyStoreStates).
	KeyStores func() map[string]int
	// Faults counts the live fault rules in force by kind: "api" (at the AWS API), "hsm".
	Faults func() map[string]int
	// Audit is the KMS audit trail's records written and dropped (a full queue) so far.
	Audit func() (written, dropped uint64)
}

var (
	descKeyStores = prometheus.NewDesc(namespace+"_kms_custom_key_stores", "Custom key stores by connection state.", []string{"state"}, nil)
	descFaults    = prometheus.NewDesc(namespace+"_fault_rules_active", "Live fault rules in force, by kind (api, hsm).", []string{"kind"}, nil)
	descWritten   = prometheus.NewDesc(namespace+"_kms_audit_records_total", "CloudTrail-shaped KMS audit records written.", nil, nil)
	descDropped   = prometheus.NewDesc(namespace+"_kms_audit_records_dropped_total",
		"KMS audit records dropped because the writer fell behind (its queue was full).", nil, nil)
)

func (s *Stack) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKeyStores, descFaults, descWritten, descDropped} {
		ch <- d
	}
}

func (s *Stack) Collect(ch chan<- prometheus.Metric) {
	each := func(d *prometheus.Desc, m map[string]int) {
		for k, v := range m {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), k)
		}
	}
	if s.KeyStores != nil {
		each(descKeyStores, s.KeyStores())
	}
	if s.Faults != nil {
		each(descFaults, s.Faults())
	}
	if s.Audit != nil {
		w, d := s.Audit()
		ch <- prometheus.MustNewConstMetric(descWritten, prometheus.CounterValue, float64(w))
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(d))
	}
}

var _ prometheus.Collector = (*Stack)(nil)
