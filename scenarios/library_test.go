package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/traffic"
	"github.com/hsmsim/hsmsim/scenarios/validate"
)

const libraryDir = "../testdata/scenarios"

// TestLibrary runs the short profile of every library scenario; each must pass, within 30 s.
// HSMSIM_SCENARIO=name runs one.
func TestLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("the scenario library takes minutes; not in -short")
	}
	ss, err := LoadDir(libraryDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) < 10 {
		t.Fatalf("the library has %d scenarios", len(ss))
	}
	only := os.Getenv("HSMSIM_SCENARIO")
	// Build and load the PKCS#11 module once, outside any scenario's 30 s.
	for _, s := range ss {
		for _, w := range s.Workloads {
			if w.Face == spec.FacePKCS11 && (only == "" || only == s.Name) {
				if _, err := traffic.LoadModule(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, s := range ss {
		if only != "" && s.Name != only {
			continue
		}
		t.Run(s.Name, func(t *testing.T) {
			start := time.Now()
			res, err := Run(context.Background(), s, Options{Short: true})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			for _, c := range res.Checks {
				if !c.Pass {
					t.Errorf("%s: %s", c.Name, c.Summary)
					for _, d := range c.Details {
						t.Logf("  %s", d)
					}
				}
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("short profile took %s, over the 30 s CI budget", took)
			}
			if !res.Pass && validate.Passed(res.Checks) {
				t.Error("the result fails but no check does")
			}
		})
	}
}

// TestLibraryFilesNameTheFailure: every library file starts with a comment saying which real
// failure it models, and has a models field.
func TestLibraryFilesNameTheFailure(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(libraryDir, "*.yaml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 10 || string(b[:10]) != "# Models: " {
			t.Errorf("%s: must start with a \"# Models: \" comment naming the real failure", f)
		}
	}
}
