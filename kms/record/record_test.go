package record

import (
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/kms/keymaterial"
)

// The key state table: pending deletion wins over everything, a primary waiting for its replicas
// has no deletion date, the transient multi-Region states follow the clock, and a key whose store
// cannot reach its material is Unavailable.
// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
func TestState(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	material := keymaterial.Set{Versions: []keymaterial.Version{{N: 1}}}
	for _, tc := range []struct {
		name      string
		k         Key
		available bool
		want      string
	}{
		{"enabled", Key{Enabled: true, Set: material}, true, StateEnabled},
		{"disabled", Key{Set: material}, true, StateDisabled},
		{"pending deletion", Key{Enabled: true, Pending: true, DeleteAt: now.Add(time.Hour)}, false, StatePending},
		{"waiting for replicas", Key{Enabled: true, Pending: true}, true, StatePendingReplica},
		{"creating", Key{Enabled: true, CreatingUntil: now.Add(time.Second)}, true, StateCreating},
		{"created", Key{Enabled: true, CreatingUntil: now, Set: material}, true, StateEnabled},
		{"updating", Key{Enabled: true, UpdatingUntil: now.Add(time.Second)}, false, StateUpdating},
		{"store unreachable", Key{Enabled: true, Set: material}, false, StateUnavailable},
		{"awaiting import", Key{Enabled: true, Origin: "EXTERNAL"}, true, StateImport},
	} {
		if got := tc.k.State(now, tc.available); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// A clone can change without changing its original: a change is persisted before it is visible.
func TestClone(t *testing.T) {
	k := &Key{Tags: []Tag{{"a", "1"}}, UsedTokens: map[string]time.Time{"t": {}}}
	c := k.Clone()
	c.Tags[0].TagValue = "2"
	c.UsedTokens["u"] = time.Time{}
	if k.Tags[0].TagValue != "1" || len(k.UsedTokens) != 1 {
		t.Fatalf("the original changed: %+v", k)
	}
}
