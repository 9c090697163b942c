package moduletest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/hsmsim/hsmsim/hsmd/nodetest"
)

// libPath is the module this test binary built; p is the one miekg/pkcs11 context loaded from
// it. It is never destroyed: a Go c-shared library cannot be unloaded.
var (
	libPath string
	p       *pkcs11.Ctx
)

// TestMain builds the module once, as applications get it: go build -buildmode=c-shared.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hsmsim-pkcs11-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	libPath = filepath.Join(dir, "libhsmsim-pkcs11.so")
	build := exec.Command("go", "build", "-buildmode=c-shared", "-o", libPath, "github.com/hsmsim/hsmsim/cmd/libhsmsim-pkcs11")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the module:", err)
		return 1
	}
	if err := Load(libPath); err != nil {
		fmt.Fprintln(os.Stderr, "loading the module:", err)
		return 1
	}
	if p = pkcs11.New(libPath); p == nil {
		fmt.Fprintln(os.Stderr, "miekg/pkcs11 could not load the module")
		return 1
	}
	return m.Run()
}

// moduleConfig is the client config file as `hsmsim up` writes it. It is spelled out here
// rather than imported from pkcs11shim: importing that package would link a second copy of the
// C_* exports into this test binary.
type moduleConfig struct {
	ClusterID      string       `json:"cluster_id"`
	Label          string       `json:"label,omitempty"`
	TrustAnchor    string       `json:"trust_anchor"`
	Nodes          []nodeConfig `json:"nodes"`
	Profile        string       `json:"profile,omitempty"`
	LogFile        string       `json:"log_file,omitempty"`
	LogLevel       string       `json:"log_level,omitempty"`
	AttemptTimeout string       `json:"attempt_timeout,omitempty"`
	MaxBuffer      int          `json:"max_buffer,omitempty"`
	User           string       `json:"user,omitempty"`
}

type nodeConfig struct {
	ID     string `json:"id,omitempty"`
	AZ     string `json:"az,omitempty"`
	Addr   string `json:"addr"`
	Socket string `json:"socket,omitempty"`
}

const (
	standard = "standard"
	cloudhsm = "cloudhsm"
	pin      = nodetest.CryptoUser + ":" + nodetest.CryptoPass
)

// cluster is one started node with a config file pointing at it.
type cluster struct {
	node    *nodetest.Node
	dir     string
	cfgPath string
	cfg     moduleConfig
}

// newCluster starts a node and writes a config for it (relative trust anchor, as `hsmsim up`
// writes next to the config), without initializing the module. The node serves its Unix socket
// too and the config names it, as `hsmsim up` writes it, so the suite runs where applications
// on the cluster's host run: over the local wire (hsmd/localwire). TCP with TLS, where the
// module goes for a node on another host, has the tests that give the module a certificate or
// no socket (mtls, socket_test.go), and the client library's and the cluster's own tests.
func newCluster(t *testing.T, profile string, edit ...func(*moduleConfig)) *cluster {
	t.Helper()
	return newClusterOf(t, nodetest.Options{Socket: true}, profile, edit...)
}

// newClusterOf is newCluster with the node started with o; the config names the node's socket
// when o asks for one.
func newClusterOf(t *testing.T, o nodetest.Options, profile string, edit ...func(*moduleConfig)) *cluster {
	t.Helper()
	n := nodetest.Start(t, o)
	c := &cluster{node: n, dir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(c.dir, "customerCA.crt"), n.CA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c.cfg = moduleConfig{ClusterID: nodetest.ClusterID, TrustAnchor: "customerCA.crt",
		Nodes:   []nodeConfig{{ID: "hsm-testnode00001", AZ: "us-east-1a", Addr: n.Addr, Socket: n.Socket}},
		Profile: profile, LogFile: filepath.Join(c.dir, "module.log"), LogLevel: "debug", AttemptTimeout: "2s"}
	for _, e := range edit {
		e(&c.cfg)
	}
	c.cfgPath = filepath.Join(c.dir, "client.json")
	c.writeConfig(t)
	t.Setenv("HSMSIM_PKCS11_CONFIG", c.cfgPath)
	return c
}

func (c *cluster) writeConfig(t *testing.T) {
	t.Helper()
	b, err := json.MarshalIndent(c.cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// start is newCluster plus C_Initialize; C_Finalize runs at cleanup.
func start(t *testing.T, profile string, edit ...func(*moduleConfig)) *cluster {
	t.Helper()
	c := newCluster(t, profile, edit...)
	must(t, p.Initialize())
	t.Cleanup(func() {
		_ = p.Finalize()
		if t.Failed() {
			if b, err := os.ReadFile(c.cfg.LogFile); err == nil {
				t.Logf("module log:\n%s", b)
			}
		}
	})
	return c
}

// session opens a R/W session logged in as the crypto user.
func session(t *testing.T) pkcs11.SessionHandle {
	t.Helper()
	s := open(t, true)
	if err := p.Login(s, pkcs11.CKU_USER, pin); err != nil && !isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN) {
		t.Fatal("login:", err)
	}
	return s
}

func open(t *testing.T, rw bool) pkcs11.SessionHandle {
	t.Helper()
	flags := uint(pkcs11.CKF_SERIAL_SESSION)
	if rw {
		flags |= pkcs11.CKF_RW_SESSION
	}
	s, err := p.OpenSession(1, flags)
	if err != nil {
		t.Fatal("open session:", err)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

// wantRV fails unless err carries rv (rv CKR_OK: err is nil).
func wantRV(t *testing.T, what string, err error, rv uint) {
	t.Helper()
	if rv == pkcs11.CKR_OK {
		if err != nil {
			t.Fatalf("%s: %v, want success", what, err)
		}
		return
	}
	if !isRV(err, rv) {
		t.Fatalf("%s: got %v, want %s", what, err, pkcs11.Error(rv))
	}
}

func wantCode(t *testing.T, what string, got, want uint) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %v, want %v", what, pkcs11.Error(got), pkcs11.Error(want))
	}
}

// byProfile is the answer a profile expects: std in profile standard, chsm in profile cloudhsm.
func byProfile(profile string, std, chsm uint) uint {
	if profile == cloudhsm {
		return chsm
	}
	return std
}

func mechs(m uint, param any) []*pkcs11.Mechanism {
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(m, param)}
}
