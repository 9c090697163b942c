package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
)

// netLab is as close to three machines as one host allows: a network namespace per AZ, each
// with its own address on a veth link into a hub namespace's bridge, and the hub, where the
// clients run. Every namespace is the test's own (private addresses in 10.231.7.0/24 that exist
// nowhere else) and is deleted at cleanup, with every link in it.
type netLab struct {
	t      *testing.T
	prefix string
	hub    string
	azs    []string // namespace per AZ
	addrs  []string // an AZ namespace's address
}

const labNet = "10.231.7."

// newNetLab builds the namespaces and links, or skips when this host cannot (not root, no ip).
func newNetLab(t *testing.T, n int) *netLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (Debian package iproute2)")
	}
	l := &netLab{t: t, prefix: fmt.Sprintf("hsmsim%d-", os.Getpid())}
	l.hub = l.prefix + "hub"
	t.Cleanup(l.close)
	l.ip("netns", "add", l.hub)
	l.ip("-n", l.hub, "link", "set", "lo", "up")
	l.ip("-n", l.hub, "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.hub, "addr", "add", labNet+"100/24", "dev", "br0")
	l.ip("-n", l.hub, "link", "set", "br0", "up")
	for i := 0; i < n; i++ {
		ns, addr := l.prefix+"az"+strconv.Itoa(i), labNet+strconv.Itoa(i+1)
		l.ip("netns", "add", ns)
		l.azs, l.addrs = append(l.azs, ns), append(l.addrs, addr)
		l.ip("-n", ns, "link", "set", "lo", "up")
		// The veth pair is made inside the hub with its other end put straight into the AZ's
		// namespace: the host's own namespace never sees either end.
		l.ip("-n", l.hub, "link", "add", l.link(i), "type", "veth", "peer", "name", "eth0", "netns", ns)
		l.ip("-n", l.hub, "link", "set", l.link(i), "master", "br0")
		l.ip("-n", l.hub, "link", "set", l.link(i), "up")
		l.ip("-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
		l.ip("-n", ns, "link", "set", "eth0", "up")
	}
	return l
}

// link is the hub's end of AZ i's cable: setting it down cuts the AZ off from everyone.
func (l *netLab) link(i int) string { return "az" + strconv.Itoa(i) }

func (l *netLab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cut takes AZ i's link down (up to heal it).
func (l *netLab) cut(i int, down bool) {
	state := "up"
	if down {
		state = "down"
	}
	l.ip("-n", l.hub, "link", "set", l.link(i), state)
}

func (l *netLab) close() {
	for _, ns := range append([]string{l.hub}, l.azs...) {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// start runs "hsmsim hsmd args" inside AZ i's namespace. The process dies with the test
// (Pdeathsig survives ip's exec of hsmsim) and is killed at cleanup.
func (l *netLab) start(i int, bin string, args ...string) *exec.Cmd {
	l.t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.azs[i], bin, "hsmd"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if l.t.Failed() {
			l.t.Logf("hsmd in %s:\n%s", l.azs[i], logs.String())
		}
	})
	return cmd
}

// client runs an hsmsim client command in the hub with the given client config.
func (l *netLab) client(bin, cfg string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.hub, bin}, args...)...)
	cmd.Env = append(os.Environ(), "HSMSIM_CONFIG="+cfg)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var (
	membersRE = regexp.MustCompile(`(?m)^member:\s+(\S+) \S+ (\S+) \S+ leader=(true|false)`)
	usersRE   = regexp.MustCompile(`(?m)^users:\s+(\d+)`)
	appliedRE = regexp.MustCompile(`(?m)^applied index:\s+(\d+)`)
)

// TestThreeHostsInNetworkNamespaces runs three "hsmsim hsmd" processes as one cluster, each in
// its own network namespace with its own address (binds, addresses and TLS names those of
// separate hosts), and drives it from a fourth: it takes the leader's link down (a partition
// as a cut cable makes it: no RST, nothing), sees a new leader elected and writes go on, heals
// the link and sees the cut HSM catch up, then kills the leader's process and restarts it on its
// data directory. Every acknowledged write is on every HSM at the end.
func TestThreeHostsInNetworkNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes in network namespaces")
	}
	lab := newNetLab(t, 3)
	bin := buildCLI(t)
	root := t.TempDir()
	dirs := make([]string, 3)
	procs := make([]*exec.Cmd, 3)
	api := func(i int) string { return lab.addrs[i] + ":2225" }
	for i := range dirs {
		dirs[i] = filepath.Join(root, "hsm"+strconv.Itoa(i))
	}
	cfg := filepath.Join(root, "client.json")
	procs[0] = lab.start(0, bin, "--data-dir", dirs[0], "--listen", api(0), "--az", "us-east-1a", "--init",
		"--admin-password", "adminpass1", "--write-config", cfg, "--fast-timeouts", "--log-level", "warn")
	waitFile(t, cfg)
	nd := cluster.NodeDir(dirs[0])
	for i := 1; i < 3; i++ {
		procs[i] = lab.start(i, bin, "--data-dir", dirs[i], "--listen", api(i), "--az", "us-east-1"+string(rune('a'+i)),
			"--join", api(0), "--ca-cert", nd.CustomerCAPath(), "--ca-key", nd.CustomerCAKeyPath(), "--fast-timeouts", "--log-level", "warn")
	}
	// The client knows every HSM, as the config `hsmsim env` writes does; per-HSM configs ask
	// one HSM what it has applied.
	all := filepath.Join(root, "all.json")
	writeNodes(t, cfg, all, api(0), api(1), api(2))
	one := make([]string, 3)
	for i := range one {
		one[i] = filepath.Join(root, "hsm"+strconv.Itoa(i)+".json")
		writeNodes(t, cfg, one[i], api(i))
	}

	deadline := time.Now().Add(3 * time.Minute)
	wait := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	leader := func() int {
		out, err := lab.client(bin, all, "info")
		if err != nil {
			return -1
		}
		ms := membersRE.FindAllStringSubmatch(out, -1)
		if len(ms) != 3 {
			return -1
		}
		for _, m := range ms {
			for i := range dirs {
				if m[3] == "true" && m[2] == api(i) {
					return i
				}
			}
		}
		return -1
	}
	wait("three members and a leader", func() bool { return leader() >= 0 })

	// Writes: users created by the admin, each acknowledged once the command succeeds. A
	// command the cluster could not take (an election under way) is tried again; "exists" on
	// a retry means the first try was applied.
	users := 0
	create := func(n int) {
		t.Helper()
		for k := 0; k < n; k++ {
			name := fmt.Sprintf("user%02d", users)
			wait("creating "+name, func() bool {
				out, err := lab.client(bin, all, "user", "create", "--pin", "admin:adminpass1", name, "userpass1")
				return err == nil || strings.Contains(out, "exists")
			})
			users++
		}
	}
	converged := func() bool {
		var applied []string
		for i := range one {
			out, err := lab.client(bin, one[i], "info")
			if err != nil {
				return false
			}
			u := usersRE.FindStringSubmatch(out)
			a := appliedRE.FindStringSubmatch(out)
			if u == nil || a == nil {
				return false
			}
			if n, _ := strconv.Atoi(u[1]); n != users+1 { // the admin and the users made here
				return false
			}
			applied = append(applied, a[1])
		}
		return applied[0] == applied[1] && applied[1] == applied[2]
	}
	create(5)
	wait("the first writes on every HSM", converged)

	// Partition: the leader's cable is cut.
	old := leader()
	lab.cut(old, true)
	wait("a new leader on the majority side", func() bool { l := leader(); return l >= 0 && l != old })
	create(5)
	lab.cut(old, false)
	wait("the cut HSM to catch up after the link is back", converged)

	// A killed process: the leader's, with SIGKILL, then started again on its data directory.
	victim := leader()
	if err := procs[victim].Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[victim].Wait()
	create(5)
	procs[victim] = lab.start(victim, bin, "--data-dir", dirs[victim], "--fast-timeouts", "--log-level", "warn")
	wait("the restarted HSM to catch up", converged)
	t.Logf("%d users on all three HSMs after a partition of HSM %d and a kill of HSM %d", users, old, victim)
}

// writeNodes writes a copy of the client config at src to dst listing only addrs.
func writeNodes(t *testing.T, src, dst string, addrs ...string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var nodes []any
	for _, a := range addrs {
		nodes = append(nodes, map[string]any{"addr": a})
	}
	cfg["nodes"] = nodes
	if ta, ok := cfg["trust_anchor"].(string); ok && !filepath.IsAbs(ta) {
		cfg["trust_anchor"] = filepath.Join(filepath.Dir(src), ta)
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out, 0o600); err != nil {
		t.Fatal(err)
	}
}
