package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/internal/benchrun"
	"github.com/hsmsim/hsmsim/internal/ports"
)

// The two PKCS#11 modules BenchmarkModuleVsSoftHSM compares, each loaded once per process with
// miekg/pkcs11 (a Go c-shared library cannot be unloaded, so neither is).
//
// hsmsim's module talks to `hsmsim up` run as its own process, as an application and the cluster
// would run: the benchmark process holds the application and the module, the other process
// the three HSMs and their Raft. SoftHSM v2 keeps a fresh token in a temporary directory.
//
// Prebuilt artifacts are used when HSMSIM_BENCH_BIN (the hsmsim binary) and
// HSMSIM_BENCH_MODULE (libhsmsim-pkcs11.so) name them ("make bench" does); otherwise both are
// built into a temporary directory.

var (
	peersOnce sync.Once
	peersErr  error
	hsmsimP   *benchrun.Module
	softhsmP  *benchrun.Module
	upProc    *exec.Cmd
	benchTmp  string
)

// peers starts (once per process) the hsmsim cluster and the SoftHSM token and loads both
// modules. Nothing is torn down before the process exits: the cluster process is stopped by
// stopPeers from TestMain.
func peers(b *testing.B) (*benchrun.Module, *benchrun.Module) {
	b.Helper()
	peersOnce.Do(func() { peersErr = startPeers() })
	if peersErr != nil {
		b.Fatal(peersErr)
	}
	return hsmsimP, softhsmP
}

func startPeers() error {
	dir, err := os.MkdirTemp("", "hsmsim-bench-")
	if err != nil {
		return err
	}
	benchTmp = dir
	bin, err := hsmsimBinary(dir)
	if err != nil {
		return err
	}
	lib := os.Getenv("HSMSIM_BENCH_MODULE")
	if lib == "" {
		lib = filepath.Join(dir, "libhsmsim-pkcs11.so")
		if out, err := exec.Command("go", "build", "-buildmode=c-shared", "-o", lib, "github.com/hsmsim/hsmsim/cmd/libhsmsim-pkcs11").CombinedOutput(); err != nil {
			return fmt.Errorf("building the module: %v\n%s", err, out)
		}
	}
	env, err := startHsmsimUp(bin, filepath.Join(dir, "cluster"))
	if err != nil {
		return err
	}
	os.Setenv("HSMSIM_PKCS11_CONFIG", env["HSMSIM_PKCS11_CONFIG"])
	if hsmsimP, err = benchrun.OpenModule("hsmsim", lib, "", env["HSMSIM_PIN"]); err != nil {
		return err
	}
	soft, err := benchrun.NewSoftHSMToken(filepath.Join(dir, "softhsm"), "bench")
	if err != nil {
		return err
	}
	softhsmP, err = benchrun.OpenModule("softhsm", soft, "bench", benchrun.SoftHSMPIN)
	return err
}

// hsmsimBinary is the hsmsim binary HSMSIM_BENCH_BIN names, or one built into dir.
func hsmsimBinary(dir string) (string, error) {
	if bin := os.Getenv("HSMSIM_BENCH_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "hsmsim")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/hsmsim/hsmsim/cmd/hsmsim").CombinedOutput(); err != nil {
		return "", fmt.Errorf("building hsmsim: %v\n%s", err, out)
	}
	return bin, nil
}

// startHsmsimUp runs `hsmsim up` in dataDir on free ports, waits until it is up, and returns the
// environment `hsmsim env` prints for it.
func startHsmsimUp(bin, dataDir string) (map[string]string, error) {
	base, err := ports.FreeBase(3)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "up", "--data-dir", dataDir, "--base-port", strconv.Itoa(base), "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	upProc = cmd
	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			if !said && strings.HasPrefix(sc.Text(), "hsmsim is up") {
				said = true
				up <- true
			}
		}
		if !said {
			up <- false
		}
	}()
	select {
	case ok := <-up:
		if !ok {
			return nil, fmt.Errorf("hsmsim up exited before it was up")
		}
	case <-time.After(2 * time.Minute):
		return nil, fmt.Errorf("hsmsim up did not come up within 2 minutes")
	}
	out, err := exec.Command(bin, "env", "--data-dir", dataDir).Output()
	if err != nil {
		return nil, fmt.Errorf("hsmsim env: %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		kv, _ := strings.CutPrefix(line, "export ")
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	if env["HSMSIM_PKCS11_CONFIG"] == "" || env["HSMSIM_PIN"] == "" {
		return nil, fmt.Errorf("hsmsim env printed no config or PIN:\n%s", out)
	}
	return env, nil
}

// stopPeers ends the cluster process and removes the temporary directory.
func stopPeers() {
	for _, m := range []*benchrun.Module{hsmsimP, softhsmP} {
		if m != nil {
			_ = m.Close()
		}
	}
	for _, p := range append([]*exec.Cmd{upProc}, kmsProcs...) {
		if p != nil && p.Process != nil {
			_ = p.Process.Signal(syscall.SIGINT)
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = p.Process.Kill()
			}
		}
	}
	for _, d := range []string{benchTmp, kmsTmp} {
		if d != "" {
			_ = os.RemoveAll(d)
		}
	}
}

// TestMain stops the processes the benchmarks started (the cluster, the KMS peers), whatever
// they did.
func TestMain(m *testing.M) {
	code := m.Run()
	stopPeers()
	os.Exit(code)
}
