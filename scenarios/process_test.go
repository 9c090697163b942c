package scenarios

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/scenarios/history"
	"github.com/hsmsim/hsmsim/scenarios/spec"
	"github.com/hsmsim/hsmsim/scenarios/target"
)

func logResult(t *testing.T, res *Result) {
	t.Helper()
	for _, l := range res.Setup {
		t.Logf("setup: %s", l)
	}
	for _, c := range res.Checks {
		t.Logf("check %s pass=%v: %s %v", c.Name, c.Pass, c.Summary, c.Details)
	}
	for _, n := range res.Final.Notes {
		t.Logf("note: %s", n)
	}
}

// processLeaderMoves are the scenarios whose faults take the leader away, so a new leader shows
// the faults reached the hsmd processes. (slow-links changes no leader: with the default lease
// below its 400 ms round trip the leader would step down again and again and its writes fail,
// so its passing shows the timeouts reached the processes; the others wipe or cut off followers
// or the KMS.)
var processLeaderMoves = map[string]bool{"minority-partition": true, "rolling-restart": true, "leader-killed-pkcs11": true,
	"linearizable-leader-kills": true}

// TestProcessModeRunsALibraryScenario runs every library scenario against
// separate "hsmsim hsmd" processes (one binary built for all, unless $HSMSIM_BIN names one),
// short profiles, one after another (CI has 2 cores): partitions mirrored to the processes with
// SetFaults, kills as SIGKILL and restarts on the same data directory, pause as SIGSTOP, custom
// Raft timeouts as --raft-timeouts, wipes as a fresh hsmd --join under the old id, restore-backup
// as the leader's Backup restored by new "hsmd --restore" processes, and the KMS over the
// processes (its key stores dial them over TLS through the endpoint faults cut). Each
// must pass with the checks the in-process run has, and converged compares token digests.
func TestProcessModeRunsALibraryScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hsmsim and starts hsmd processes")
	}
	files, err := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("library: %v (%d files)", err, len(files))
	}
	bin := os.Getenv(target.EnvBinary)
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "hsmsim")
		if b, err := exec.Command("go", "build", "-o", bin, "../cmd/hsmsim").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			s, err := spec.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), s, Options{Short: true, Processes: true, Dir: t.TempDir(), Binary: bin})
			if err != nil {
				t.Fatal(err)
			}
			logResult(t, res)
			if !res.Pass {
				t.Fatalf("%s failed in process mode", name)
			}
			var sawNoLost bool
			for _, c := range res.Checks {
				sawNoLost = sawNoLost || c.Name == "no-lost-keys"
			}
			if !sawNoLost {
				t.Errorf("no no-lost-keys check among %d", len(res.Checks))
			}
			leaders := map[string]bool{}
			for _, ev := range res.Events {
				if ev.Kind == history.EvLeader && ev.Detail != "none" {
					leaders[ev.Detail] = true
				}
			}
			if processLeaderMoves[name] && len(leaders) < 2 {
				t.Errorf("the leader never changed (%v): the faults did not reach the hsmd processes", leaders)
			}
			// converged compared the tokens (digests over the Cluster service), not only indexes.
			for _, n := range res.Final.Nodes {
				if n.Up && len(n.Digest) != 64 {
					t.Errorf("%s: digest %q: converged did not compare tokens", n.Label, n.Digest)
				}
			}
			for _, n := range res.Final.Notes {
				if strings.Contains(n, "applied index only") {
					t.Errorf("note: %s", n)
				}
			}
			if len(res.Nodes) == 0 || res.Nodes[0].ID == "" {
				t.Errorf("nodes: %+v", res.Nodes)
			}
		})
	}
}

// TestProcessModeRefusesNoLibraryScenario: process mode has every power the library asks for
// (the KMS, wipe, add-hsm, remove-hsm, api-fault, restore-backup, custom Raft timeouts), so no
// library scenario is refused before it starts: each gets as far as starting hsmd, which fails
// here with a binary that does not exist, not with ErrProcessMode.
func TestProcessModeRefusesNoLibraryScenario(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "testdata", "scenarios", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("library: %v (%d files)", err, len(files))
	}
	for _, file := range files {
		s, err := spec.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Run(context.Background(), s, Options{Short: true, Processes: true, Binary: "/nonexistent/hsmsim"})
		if err == nil || errors.Is(err, target.ErrProcessMode) || !strings.Contains(err.Error(), "/nonexistent/hsmsim") {
			t.Errorf("%s: err %v: want the missing binary's error, not a refusal", filepath.Base(file), err)
		}
	}
}
