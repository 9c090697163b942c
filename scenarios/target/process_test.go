package target

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
)

// procState is the one-letter state the kernel gives a process (T: stopped by a signal).
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ...: comm may hold spaces, so the state follows the last ')'.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	return strings.Fields(rest)[0]
}

// Pause in process mode is a real SIGSTOP: the HSM's process is stopped while frozen, answers
// nothing, and runs and answers again after thaw.
func TestFreezeStopsTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hsmsim and starts an hsmd process")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	tg := NewProcesses(Options{AZs: []AZCount{{AZ: "us-east-1a", HSMs: 1}}, Timeouts: cluster.FastTimeouts(), Dir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := tg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var n *procNode
	for _, p := range tg.procs {
		n = p
	}
	pid := n.cmd.Process.Pid
	thaw, err := tg.Freeze(n.label)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for procState(t, pid) != "T" {
		if time.Now().After(deadline) {
			t.Fatalf("hsmd %d is %s after SIGSTOP", pid, procState(t, pid))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := tg.info(n); err == nil {
		t.Fatal("a frozen HSM answered GetInfo")
	}
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := tg.info(n); err == nil {
			break
		}
		if time.Now().After(deadline.Add(20 * time.Second)) {
			t.Fatalf("the HSM does not answer after SIGCONT (state %s)", procState(t, pid))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := procState(t, pid); s == "T" {
		t.Fatalf("still stopped after thaw")
	}
}

// members is the ids in an HSM's GetInfo member list.
func members(t *testing.T, tg *Processes, label string) map[string]bool {
	t.Helper()
	info, err := tg.info(tg.proc(label))
	if err != nil {
		t.Fatalf("%s: GetInfo: %v", label, err)
	}
	out := map[string]bool{}
	for _, m := range info.Members {
		out[m.Id] = true
	}
	return out
}

// startTwoProcesses starts two hsmd processes in two AZs with fast timeouts, stopped (and the
// context canceled) when the test ends.
func startTwoProcesses(t *testing.T) (*Processes, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds hsmsim and starts hsmd processes")
	}
	tg := NewProcesses(Options{AZs: []AZCount{{AZ: "us-east-1a", HSMs: 1}, {AZ: "us-east-1b", HSMs: 1}},
		Timeouts: cluster.FastTimeouts(), Dir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	if err := tg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return tg, ctx
}

// Add starts a new hsmd that joins and becomes ACTIVE under the next label; Rejoin brings a
// killed HSM back on an empty directory under its old id (three voters, so two keep a quorum);
// Remove takes an HSM out of the Raft membership (the others no longer list it) and stops its
// process.
func TestProcessModeAddRemoveRejoin(t *testing.T) {
	tg, ctx := startTwoProcesses(t)
	l, err := tg.Add(ctx, "us-east-1c")
	if err != nil {
		t.Fatal(err)
	}
	if l != "n3" || tg.state(l) != "ACTIVE" {
		t.Fatalf("added %q, state %s", l, tg.state(l))
	}
	if m := members(t, tg, "n1"); !m[tg.ID("n3")] || len(m) != 3 {
		t.Fatalf("n1's members after add: %v", m)
	}
	old := tg.ID("n1")
	if err := tg.Kill("n1"); err != nil {
		t.Fatal(err)
	}
	if err := tg.Rejoin(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if id, err := cluster.NodeDir(tg.proc("n1").dir).ReadIdentity(); err != nil || id.NodeID != old {
		t.Fatalf("n1 rejoined as %v (%v), want its old id %s", id, err, old)
	}
	if m := members(t, tg, "n3"); !m[old] || len(m) != 3 {
		t.Fatalf("n3's members after n1 rejoined: %v", m)
	}
	if err := tg.Remove(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if running(tg.proc("n2")) {
		t.Fatal("n2's process still runs after its removal")
	}
	if m := members(t, tg, "n1"); m[tg.ID("n2")] || len(m) != 2 {
		t.Fatalf("n1's members after removing n2: %v", m)
	}
	for _, n := range tg.Nodes() {
		if n.Label == "n2" && (!n.Removed || n.State != "DELETED") {
			t.Fatalf("n2 after removal: %+v", n)
		}
	}
}
