package cluster

import (
	"strings"
	"testing"
	"time"
)

// The text form round-trips every field, names not given keep the base's values, and bad input
// is refused with the base unchanged.
func TestParseTimeouts(t *testing.T) {
	custom := Timeouts{Heartbeat: 2 * time.Second, Election: 3 * time.Second, LeaderLease: time.Second, Commit: 20 * time.Millisecond,
		Apply: 7 * time.Second, Transport: 4 * time.Second, Health: 900 * time.Millisecond}
	got, err := ParseTimeouts(custom.String(), DefaultTimeouts())
	if err != nil || got != custom {
		t.Fatalf("round trip of %s: %+v, %v", custom, got, err)
	}
	got, err = ParseTimeouts("heartbeat=1s, election=750ms", FastTimeouts())
	want := FastTimeouts()
	want.Heartbeat, want.Election = time.Second, 750*time.Millisecond
	if err != nil || got != want {
		t.Fatalf("partial: %+v, %v", got, err)
	}
	for in, msg := range map[string]string{
		"heartbeat":                "name=duration",
		"beat=1s":                  "unknown timeout",
		"apply=soon":               "positive duration",
		"commit=-1s":               "positive duration",
		"heartbeat=100ms,lease=1s": "exceeds heartbeat",
	} {
		got, err := ParseTimeouts(in, DefaultTimeouts())
		if err == nil || !strings.Contains(err.Error(), msg) || got != DefaultTimeouts() {
			t.Errorf("%q: %+v, %v (want an error saying %q)", in, got, err, msg)
		}
	}
}
