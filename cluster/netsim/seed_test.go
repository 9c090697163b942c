package netsim

import (
	"slices"
	"testing"
	"time"
)

// delays returns the delivery delays the Network decides for count writes a→b.
func delays(seed int64, count int) []time.Duration {
	a, b := Endpoint{Name: "a"}, Endpoint{Name: "b"}
	n := New(seed)
	n.SetLink("a", "b", Link{Latency: time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.3})
	out := make([]time.Duration, count)
	for i := range out {
		out[i] = n.delay(a, b)
	}
	return out
}

func TestSameSeedSameDecisions(t *testing.T) {
	first, again, other := delays(42, 200), delays(42, 200), delays(43, 200)
	if !slices.Equal(first, again) {
		t.Fatal("the same seed gave different jitter and loss decisions")
	}
	if slices.Equal(first, other) {
		t.Fatal("different seeds gave the same decisions")
	}
	lost := 0
	for _, d := range first {
		if d < time.Millisecond || d > time.Millisecond+10*time.Millisecond+(1<<maxRetransmits)*DefaultRetransmit {
			t.Fatalf("delay %v out of range", d)
		}
		if d >= DefaultRetransmit {
			lost++
		}
	}
	if lost < 30 || lost > 90 { // 30% of 200 is 60
		t.Fatalf("%d of 200 writes lost at 30%% loss", lost)
	}
}

func TestNoLinkDrawsNothing(t *testing.T) {
	// Writes on links without randomness must not consume the seeded sequence.
	a, b, c := Endpoint{Name: "a"}, Endpoint{Name: "b"}, Endpoint{Name: "c"}
	n := New(42)
	n.SetLink("a", "b", Link{Latency: time.Millisecond, Jitter: 10 * time.Millisecond, Loss: 0.3})
	var got []time.Duration
	for range 200 {
		n.delay(a, c) // no rule
		got = append(got, n.delay(a, b))
	}
	if !slices.Equal(got, delays(42, 200)) {
		t.Fatal("writes on an unshaped link changed the decisions of a shaped one")
	}
}
