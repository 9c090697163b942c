package campaign

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/scenarios/failpoint"
)

// TestGenerateIsAFunctionOfTheSeed: one seed gives one scenario (the same YAML, the same
// planned schedule, twice), and different seeds give different ones.
func TestGenerateIsAFunctionOfTheSeed(t *testing.T) {
	a, sa, err := Generate(42, Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, sb, err := Generate(42, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("seed 42 generated two scenarios:\n%s\n---\n%s", a, b)
	}
	if pa, pb := failpoint.Plan(sa.Profile(true)), failpoint.Plan(sb.Profile(true)); !reflect.DeepEqual(pa, pb) {
		t.Fatalf("seed 42 planned two schedules: %v / %v", pa, pb)
	}
	c, _, err := Generate(43, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Fatal("seeds 42 and 43 generated the same scenario")
	}
}

// TestGenerateDrawsEveryKindAndDecodes: over 300 seeds every generated scenario decodes and
// validates, every default kind and face is drawn, and a configuration limits the draw.
func TestGenerateDrawsEveryKindAndDecodes(t *testing.T) {
	seen := map[string]bool{}
	for seed := int64(1); seed <= 300; seed++ {
		_, s, err := Generate(seed, Config{})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Faults {
			seen["fault "+f.Do] = true
		}
		for _, w := range s.Workloads {
			seen["face "+w.Face] = true
		}
		if n := len(s.Faults); n < 2 || n > 4 {
			t.Errorf("seed %d: %d faults", seed, n)
		}
	}
	for _, k := range Kinds {
		if !seen["fault "+k] {
			t.Errorf("fault kind %s never drawn", k)
		}
	}
	for _, f := range Faces {
		if !seen["face "+f] {
			t.Errorf("face %s never loaded", f)
		}
	}
	for seed := int64(1); seed <= 50; seed++ {
		y, s, err := Generate(seed, Config{Kinds: []string{"kill", "api-fault"}, Faces: []string{"hsm"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Faults {
			if f.Do != "kill" {
				t.Fatalf("seed %d drew %s (api-fault needs the kms face, kill was the only other):\n%s", seed, f.Do, y)
			}
		}
		if strings.Contains(string(y), "face: kms") || strings.Contains(string(y), "face: pkcs11") {
			t.Fatalf("seed %d loads a face not chosen:\n%s", seed, y)
		}
	}
}
