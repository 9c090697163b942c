package ids

import "testing"

func TestNewMatchesTheAWSPattern(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		id := New("cluster")
		if !Valid("cluster", id) {
			t.Fatalf("%q does not match cluster-[2-7a-zA-Z]{11,16}", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"cluster-short", "cluster-0123456789ab", "hsm-abcdefghijk", "cluster-abcdefghijk!", "cluster-abcdefghijklmnopq"} {
		if Valid("cluster", bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}
