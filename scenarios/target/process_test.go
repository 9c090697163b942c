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
