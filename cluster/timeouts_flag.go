package cluster

import (
	"fmt"
	"strings"
	"time"
)

// timeoutFields name Timeouts' fields in the text form String writes and ParseTimeouts reads
// ("hsmsim hsmd --raft-timeouts", which is how a scenario's custom timeouts reach a process).
func (t *Timeouts) fields() []struct {
	name string
	v    *time.Duration
} {
	return []struct {
		name string
		v    *time.Duration
	}{
		{"heartbeat", &t.Heartbeat}, {"election", &t.Election}, {"lease", &t.LeaderLease}, {"commit", &t.Commit},
		{"apply", &t.Apply}, {"transport", &t.Transport}, {"health", &t.Health},
	}
}

// String is every timeout as name=duration, comma-separated: the form ParseTimeouts reads.
func (t Timeouts) String() string {
	var parts []string
	for _, f := range t.fields() {
		parts = append(parts, f.name+"="+f.v.String())
	}
	return strings.Join(parts, ",")
}

// ParseTimeouts reads "heartbeat=1s,election=1s,..." over base: names not given keep base's
// value (zero values in base: the defaults). An unknown name, a malformed duration or one not
// above zero is an error.
func ParseTimeouts(s string, base Timeouts) (Timeouts, error) {
	t := base.withDefaults()
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			return base, fmt.Errorf("raft timeouts: %q is not name=duration", kv)
		}
		var field *time.Duration
		for _, f := range t.fields() {
			if f.name == name {
				field = f.v
			}
		}
		if field == nil {
			return base, fmt.Errorf("raft timeouts: unknown timeout %q (heartbeat, election, lease, commit, apply, transport, health)", name)
		}
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			return base, fmt.Errorf("raft timeouts: %s=%s: want a positive duration", name, val)
		}
		*field = d
	}
	if t.LeaderLease > t.Heartbeat {
		return base, fmt.Errorf("raft timeouts: lease %v exceeds heartbeat %v", t.LeaderLease, t.Heartbeat)
	}
	return t, nil
}
