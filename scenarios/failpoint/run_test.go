package failpoint_test

import (
	"context"
	"testing"

	"github.com/hsmsim/hsmsim/scenarios"
	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// runScenario runs a scenario file's text on an in-process cluster and reports every check that
// did not pass; the result is the caller's to look into.
func runScenario(t *testing.T, file, text string) *scenarios.Result {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	s, err := spec.Parse(file, []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	res, err := scenarios.Run(context.Background(), s, scenarios.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Checks {
		if !c.Pass {
			t.Errorf("%s: %s %v", c.Name, c.Summary, c.Details)
		}
	}
	return res
}
