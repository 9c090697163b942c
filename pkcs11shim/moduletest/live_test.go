package moduletest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/internal/ports"
)

// liveCluster is a running `hsmsim up`: a separate process with a 3-HSM Raft cluster, as a user
// starts it, and the environment `hsmsim env` prints for it.
type liveCluster struct {
	env map[string]string
}

// environ is the test process's environment plus the cluster's.
func (l *liveCluster) environ() []string {
	env := os.Environ()
	for k, v := range l.env {
		env = append(env, k+"="+v)
	}
	return env
}

// startHsmsimUp builds the CLI, runs `hsmsim up` in a temporary data directory on free ports,
// waits until it says it is up, and reads `hsmsim env`.
func startHsmsimUp(t *testing.T) *liveCluster {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hsmsim")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/hsmsim/hsmsim/cmd/hsmsim").CombinedOutput(); err != nil {
		t.Fatalf("building hsmsim: %v\n%s", err, out)
	}
	data := filepath.Join(t.TempDir(), "data")
	base, err := ports.FreeBase(3)
	must(t, err)
	cmd := exec.Command(bin, "up", "--data-dir", data, "--base-port", strconv.Itoa(base), "--kms-listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "HSMSIM_PKCS11_MODULE="+libPath)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "hsmsim is up") {
				up <- true
			}
		}
		up <- false
	}()
	select {
	case ok := <-up:
		if !ok {
			t.Fatal("hsmsim up exited before it was up")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("hsmsim up did not come up within 2 minutes")
	}
	out, err := exec.Command(bin, "env", "--data-dir", data).Output()
	if err != nil {
		t.Fatalf("hsmsim env: %v", err)
	}
	l := &liveCluster{env: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		kv, ok := strings.CutPrefix(line, "export ")
		k, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 {
			t.Fatalf("hsmsim env printed %q", line)
		}
		l.env[k] = strings.Trim(v, "'")
	}
	for _, k := range []string{"HSMSIM_PKCS11_CONFIG", "HSMSIM_PIN", "HSMSIM_CLUSTER_ID"} {
		if l.env[k] == "" {
			t.Fatalf("hsmsim env did not set %s:\n%s", k, out)
		}
	}
	return l
}
