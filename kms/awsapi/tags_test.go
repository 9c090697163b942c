package awsapi

import (
	"slices"
	"testing"
)

type testTag struct{ K, V string }

// A present key gets the new value in place, a new key goes last, and have stays as it was.
func TestMergeTags(t *testing.T) {
	have := []testTag{{"a", "1"}, {"b", "2"}}
	got := MergeTags(have, []testTag{{"b", "3"}, {"c", "4"}, {"c", "5"}}, func(t testTag) string { return t.K })
	if want := []testTag{{"a", "1"}, {"b", "3"}, {"c", "5"}}; !slices.Equal(got, want) {
		t.Fatalf("merged %v, want %v", got, want)
	}
	if have[1].V != "2" {
		t.Fatalf("have changed: %v", have)
	}
}
