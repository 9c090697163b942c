package scenarios

import (
	"context"
	"errors"
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

// TestProcessModeRunsALibraryScenario runs library scenarios against separate "hsmsim hsmd"
// processes (built from this module unless $HSMSIM_BIN names one): minority-partition
// (partitions mirrored to the processes with SetFaults), rolling-restart (SIGKILL and a restart
// on the same data directory), slow-links (its custom Raft timeouts reach each hsmd as
// --raft-timeouts) and node-wiped-rejoin (a follower SIGKILLed, its directory deleted, and a
// fresh hsmd --join under its old id), short profiles. Each must pass, every check run, and converged compares
// the HSMs' token digests.
func TestProcessModeRunsALibraryScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hsmsim and starts hsmd processes")
	}
	for _, name := range []string{"minority-partition", "rolling-restart", "slow-links", "node-wiped-rejoin"} {
		t.Run(name, func(t *testing.T) {
			s, err := spec.Load(filepath.Join("..", "testdata", "scenarios", name+".yaml"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Run(context.Background(), s, Options{Short: true, Processes: true, Dir: t.TempDir()})
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
			// The faults reached the processes: the leader they took away was replaced.
			leaders := map[string]bool{}
			for _, ev := range res.Events {
				if ev.Kind == history.EvLeader && ev.Detail != "none" {
					leaders[ev.Detail] = true
				}
			}
			// (slow-links changes no leader: with the default lease below its 400 ms round trip
			// the leader would step down again and again and its writes fail, so its passing
			// shows the timeouts reached the processes.)
			// (node-wiped-rejoin wipes a follower: the leader need not change.)
			if name != "slow-links" && name != "node-wiped-rejoin" && len(leaders) < 2 {
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
			if len(res.Nodes) != 3 || res.Nodes[0].ID == "" {
				t.Errorf("nodes: %+v", res.Nodes)
			}
		})
	}
}

// TestProcessModeRefusesWhatItCannotDo: a scenario with the KMS or a backup restore is refused
// before anything starts, naming the step; its wipes, add-hsm and remove-hsm are not among what
// is refused (process mode does them).
func TestProcessModeRefusesWhatItCannotDo(t *testing.T) {
	notRefused := []string{"do wipe", "do add-hsm", "do remove-hsm"}
	for file, want := range map[string][]string{
		"az-outage-kms.yaml":                {"needs the KMS"},
		"shrink-to-one-hsm.yaml":            {"needs the KMS"},
		"backup-restore-keystore-move.yaml": {"do restore-backup", "needs the KMS"},
	} {
		s, err := spec.Load(filepath.Join("..", "testdata", "scenarios", file))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), s, Options{Short: true, Processes: true, Binary: "/nonexistent/hsmsim"})
		if err == nil || !errors.Is(err, target.ErrProcessMode) || res.Pass {
			t.Fatalf("%s: err %v, pass %v", file, err, res.Pass)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) || !strings.Contains(err.Error(), file) {
				t.Errorf("%s: %v does not name %q and the file", file, err, w)
			}
		}
		for _, w := range notRefused {
			if strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v refuses %q, which process mode does", file, err, w)
			}
		}
	}
}
