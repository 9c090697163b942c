package multiregion

import (
	"slices"
	"testing"
)

// The index keeps each set's regions apart by account and key id, once each.
func TestIndex(t *testing.T) {
	x := NewIndex()
	x.Add("111122223333", "mrk-1", "us-east-1")
	x.Add("111122223333", "mrk-1", "us-west-2")
	x.Add("111122223333", "mrk-1", "us-west-2")
	x.Add("444455556666", "mrk-1", "eu-west-1")
	got := slices.Sorted(slices.Values(x.Regions("111122223333", "mrk-1")))
	if !slices.Equal(got, []string{"us-east-1", "us-west-2"}) {
		t.Fatalf("regions %v", got)
	}
	x.Remove("111122223333", "mrk-1", "us-east-1")
	x.Remove("111122223333", "mrk-1", "us-west-2")
	if r := x.Regions("111122223333", "mrk-1"); len(r) != 0 || len(x.sets) != 1 {
		t.Fatalf("after removing both: %v, %d sets", r, len(x.sets))
	}
}
