package moduletest

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// This file holds what the tests of real consumers share (consumers_*_test.go: OpenSSL's pkcs11
// engine, PyKCS11, Java's SunPKCS11): each runs the consumer as its own process against a live
// `hsmsim up`, with the environment `hsmsim env` prints, the way a user does.

// needTool finds a consumer's program on PATH, or skips the test naming the Debian package that
// brings it (make test installs them all).
func needTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (Debian package %s; make test installs it)", name, debianPackage)
	}
	return path
}

// command runs a program with the cluster's environment and returns its standard output; it
// fails the test with everything the program printed if it exits non-zero.
func (l *liveCluster) command(t *testing.T, env []string, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(l.environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// pkcs11Tool runs OpenSC's pkcs11-tool, logged in, on the module; it is how these tests put keys
// into the HSM for the consumer under test and read public keys back.
func (l *liveCluster) pkcs11Tool(t *testing.T, args ...string) string {
	t.Helper()
	tool := needTool(t, "pkcs11-tool", "opensc")
	return l.command(t, nil, tool, append([]string{"--module", libPath, "--login", "--pin", l.env["HSMSIM_PIN"]}, args...)...)
}

// keyPair makes a key pair in the HSM with pkcs11-tool ("EC:prime256v1", "rsa:2048").
func (l *liveCluster) keyPair(t *testing.T, keyType, label, id string) {
	t.Helper()
	if out := l.pkcs11Tool(t, "--keypairgen", "--key-type", keyType, "--label", label, "--id", id); !strings.Contains(out, "Key pair generated") {
		t.Fatalf("pkcs11-tool --keypairgen %s:\n%s", keyType, out)
	}
}

// publicKey reads the public key object with CKA_ID id out of the HSM.
func (l *liveCluster) publicKey(t *testing.T, id string) crypto.PublicKey {
	t.Helper()
	der := filepath.Join(t.TempDir(), "pub.der")
	l.pkcs11Tool(t, "--read-object", "--type", "pubkey", "--id", id, "--output-file", der)
	b, err := os.ReadFile(der)
	must(t, err)
	k, err := x509.ParsePKIXPublicKey(b)
	if err != nil {
		t.Fatalf("the public key %s the HSM gave: %v", id, err)
	}
	return k
}

// samePublicKey fails the test unless got (from what a consumer made) is the HSM's key want.
func samePublicKey(t *testing.T, what string, got, want crypto.PublicKey) {
	t.Helper()
	k, ok := got.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !k.Equal(want) {
		t.Fatalf("%s: the public key %v is not the HSM's %v", what, got, want)
	}
}
