package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildCLI builds the real binary once per test run.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hsmsim")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startHSMD runs "hsmsim hsmd" as its own process and waits until its client config exists.
func startHSMD(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"hsmd"}, args...)...)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("hsmd log:\n%s", logs.String())
		}
	})
	return cmd
}

func waitFile(t *testing.T, p string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(p); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", p)
}

func run(t *testing.T, bin, cfg string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HSMSIM_CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, bin, cfg string, args ...string) string {
	t.Helper()
	out, err := run(t, bin, cfg, args...)
	if err != nil {
		t.Fatalf("hsmsim %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestNodeProcessLifecycle drives the real binary: a node initialized by one process, users
// managed by others, the node killed with SIGKILL and started again on its data directory.
func TestNodeProcessLifecycle(t *testing.T) {
	bin := buildCLI(t)
	dir := filepath.Join(t.TempDir(), "hsm1")
	cfg := filepath.Join(dir, "client.json")
	addr := freePort(t)
	node := startHSMD(t, bin, "--data-dir", dir, "--listen", addr, "--init", "--admin-password", "adminpass1", "--write-config", cfg)
	waitFile(t, cfg)

	mustRun(t, bin, cfg, "user", "create", "--pin", "admin:adminpass1", "alice", "alicepass1")
	out := mustRun(t, bin, cfg, "user", "list", "--pin", "admin:adminpass1")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "crypto-user") {
		t.Fatalf("user list:\n%s", out)
	}
	if out, err := run(t, bin, cfg, "user", "create", "--pin", "alice:alicepass1", "eve", "evepass12"); err == nil || !strings.Contains(out, "CKR_USER_NOT_LOGGED_IN") {
		t.Fatalf("a crypto user created a user: %v\n%s", err, out)
	}
	if out, err := run(t, bin, cfg, "info", "--pin", ""); err != nil || !strings.Contains(out, "initialized:    true") {
		t.Fatalf("info: %v\n%s", err, out)
	}

	// Kill without a graceful shutdown, start again: the users are still there.
	if err := node.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = node.Wait()
	_ = os.Remove(cfg)
	startHSMD(t, bin, "--data-dir", dir, "--listen", addr, "--write-config", cfg)
	waitFile(t, cfg)
	out = mustRun(t, bin, cfg, "user", "list", "--pin", "admin:adminpass1")
	if !strings.Contains(out, "alice") {
		t.Fatalf("alice lost across a SIGKILL:\n%s", out)
	}
	if out, err := run(t, bin, cfg, "user", "list", "--pin", "alice:wrongpass1"); err == nil || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
}
