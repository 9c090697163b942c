package server

import (
	"context"
	"testing"
)

// BenchmarkAdmitWithoutProfile is what the capacity profile costs a node that does not run it:
// the check every Sign and Decrypt makes (zero allocations, about a nanosecond).
func BenchmarkAdmitWithoutProfile(b *testing.B) {
	n := &Node{}
	ctx := context.Background()
	for b.Loop() {
		if err := n.admit(ctx, "Sign", nil); err != nil {
			b.Fatal(err)
		}
	}
}
