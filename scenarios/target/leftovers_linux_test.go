package target

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// envHelperRunner makes the test binary a stand-in runner: it starts a child as start does
// and waits to be killed.
const envHelperRunner = "HSMSIM_TEST_HELPER_RUNNER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envHelperRunner); dir != "" {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = childAttr()
		if err := cmd.Start(); err != nil {
			os.Exit(2)
		}
		if err := writePID(filepath.Join(dir, "child.pid"), cmd.Process.Pid); err != nil {
			os.Exit(2)
		}
		_ = cmd.Wait()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// waitGone waits (5 s at most) for pid to stop running.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startLeftover(t *testing.T, args ...string) int {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }() // reaped when killed, so it is gone, not a zombie
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd.Process.Pid
}

// TestChildDiesWithTheRunner: a child started with childAttr is killed by the kernel when its
// runner is SIGKILLed (nothing of the runner's own runs then).
func TestChildDiesWithTheRunner(t *testing.T) {
	dir := t.TempDir()
	runner := exec.Command(os.Args[0], "-test.run=^$")
	runner.Env = append(os.Environ(), envHelperRunner+"="+dir)
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	var child int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if pid, ok := readPID(filepath.Join(dir, "child.pid")); ok {
			child = pid
			break
		}
		if time.Now().After(deadline) {
			_ = runner.Process.Kill()
			t.Fatal("the helper runner did not start its child")
		}
	}
	if !alive(child) {
		t.Fatal("the child is not running")
	}
	if err := runner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = runner.Wait()
	waitGone(t, child)
}

// TestReapLeftovers: a run directory whose runner is dead has its children killed (those whose
// command line names the directory) and, when temporary, is removed; a pid now another
// program's, and a directory whose runner lives, are left alone.
func TestReapLeftovers(t *testing.T) {
	tmp := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadRunner := dead.Process.Pid

	left := filepath.Join(tmp, "hsmsim-scenario-1")
	if err := os.MkdirAll(filepath.Join(left, "n1"), 0o700); err != nil {
		t.Fatal(err)
	}
	hsmd := startLeftover(t, "sh", "-c", "sleep 60; :", filepath.Join(left, "n1"))
	other := startLeftover(t, "sleep", "60") // its pid in a stale file: not the runner's child
	for f, pid := range map[string]int{runnerPIDFile: deadRunner, "n1.pid": hsmd, "n2.pid": other} {
		if err := writePID(filepath.Join(left, f), pid); err != nil {
			t.Fatal(err)
		}
	}
	live := filepath.Join(tmp, "hsmsim-scenario-2")
	if err := os.MkdirAll(live, 0o700); err != nil {
		t.Fatal(err)
	}
	liveChild := startLeftover(t, "sh", "-c", "sleep 60; :", live)
	_ = writePID(filepath.Join(live, runnerPIDFile), os.Getppid())
	_ = writePID(filepath.Join(live, "n1.pid"), liveChild)

	r := ReapLeftovers("", tmp)
	if len(r.Killed) != 1 || r.Killed[0] != hsmd || len(r.Removed) != 1 || r.Removed[0] != left {
		t.Fatalf("reaped %+v, want %d killed and %s removed", r, hsmd, left)
	}
	waitGone(t, hsmd)
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("%s: %v", left, err)
	}
	if !alive(other) || !alive(liveChild) {
		t.Error("a process not a dead runner's child was killed")
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live runner's directory: %v", err)
	}

	// A fixed directory: its children are reaped, the directory stays.
	fixed := filepath.Join(tmp, "fixed")
	_ = os.MkdirAll(fixed, 0o700)
	again := startLeftover(t, "sh", "-c", "sleep 60; :", fixed)
	_ = writePID(filepath.Join(fixed, runnerPIDFile), deadRunner)
	_ = writePID(filepath.Join(fixed, "n3.pid"), again)
	if r := ReapLeftovers(fixed, t.TempDir()); len(r.Killed) != 1 || len(r.Removed) != 0 {
		t.Fatalf("fixed directory: %+v", r)
	}
	waitGone(t, again)
	if _, err := os.Stat(fixed); err != nil {
		t.Errorf("the fixed directory was removed: %v", err)
	}
}
