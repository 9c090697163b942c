package moduletest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"
)

// crypto11 loads the module itself (its own C_Initialize and C_Finalize), finds the token by
// label, and signs through a crypto.Signer.
func TestCrypto11(t *testing.T) {
	newCluster(t, standard, func(c *moduleConfig) { c.Label = "crypto11-token" })
	ctx, err := crypto11.Configure(&crypto11.Config{Path: libPath, TokenLabel: "crypto11-token", Pin: pin})
	must(t, err)
	defer ctx.Close()
	signer, err := ctx.GenerateECDSAKeyPair([]byte("c11-key"), elliptic.P256())
	must(t, err)
	h := digest("crypto11")
	sig, err := signer.Sign(rand.Reader, h, crypto.SHA256)
	must(t, err)
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok || !ecdsa.VerifyASN1(pub, h, sig) {
		t.Fatal("crypto11 signature does not verify with crypto/ecdsa")
	}
	found, err := ctx.FindKeyPair([]byte("c11-key"), nil)
	must(t, err)
	if found == nil {
		t.Fatal("crypto11 does not find the key pair it made")
	}
}

// pkcs11-tool (OpenSC), a C application, lists the token, makes an EC key pair and signs.
func TestPkcs11Tool(t *testing.T) {
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Skip("pkcs11-tool is not installed (Debian package opensc); skipping the OpenSC conformance test")
	}
	c := newCluster(t, standard, func(c *moduleConfig) { c.Label = "tool-token"; c.LogFile = "" })
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tool, append([]string{"--module", libPath}, args...)...)
		cmd.Env = append(os.Environ(), "HSMSIM_PKCS11_CONFIG="+c.cfgPath)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs11-tool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("-L")
	if !strings.Contains(out, "tool-token") || !strings.Contains(out, "Slot 0 (0x1)") {
		t.Fatalf("pkcs11-tool -L:\n%s", out)
	}
	out = run("-M")
	if !strings.Contains(out, "ECDSA") || !strings.Contains(out, "AES-GCM") {
		t.Fatalf("pkcs11-tool -M:\n%s", out)
	}
	out = run("--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "tool-ec", "--id", "0102")
	if !strings.Contains(out, "Key pair generated") || !strings.Contains(out, "tool-ec") {
		t.Fatalf("keypairgen:\n%s", out)
	}
	dir := t.TempDir()
	in, sigPath := filepath.Join(dir, "data"), filepath.Join(dir, "sig")
	must(t, os.WriteFile(in, []byte("signed by pkcs11-tool"), 0o600))
	run("--login", "--pin", pin, "--sign", "--mechanism", "ECDSA-SHA256", "--id", "0102",
		"--signature-format", "openssl", "--input-file", in, "--output-file", sigPath)
	sig, err := os.ReadFile(sigPath)
	must(t, err)
	pubPath := filepath.Join(dir, "pub.der")
	run("--login", "--pin", pin, "--read-object", "--type", "pubkey", "--id", "0102", "--output-file", pubPath)
	pubDER, err := os.ReadFile(pubPath)
	must(t, err)
	key, err := x509.ParsePKIXPublicKey(pubDER)
	must(t, err)
	if !ecdsa.VerifyASN1(key.(*ecdsa.PublicKey), digest("signed by pkcs11-tool"), sig) {
		t.Fatal("pkcs11-tool's signature does not verify with crypto/ecdsa")
	}
	out = run("--login", "--pin", pin, "-O")
	if !strings.Contains(out, "tool-ec") {
		t.Fatalf("pkcs11-tool -O:\n%s", out)
	}
	run("--login", "--pin", pin, "--delete-object", "--type", "privkey", "--id", "0102")
	out = run("--login", "--pin", pin, "-O", "--type", "privkey")
	if strings.Contains(out, "tool-ec") {
		t.Fatalf("deleted key still listed:\n%s", out)
	}
	rnd := filepath.Join(dir, "random")
	run("--generate-random", "16", "--output-file", rnd)
	if b, err := os.ReadFile(rnd); err != nil || len(b) != 16 {
		t.Fatalf("--generate-random 16 gave %d bytes (%v)", len(b), err)
	}
}

// p11tool (GnuTLS) lists the token.
func TestP11Tool(t *testing.T) {
	tool, err := exec.LookPath("p11tool")
	if err != nil {
		t.Skip("p11tool is not installed (Debian package gnutls-bin); skipping the GnuTLS conformance test")
	}
	c := newCluster(t, standard, func(c *moduleConfig) { c.Label = "gnutls-token"; c.LogFile = "" })
	cmd := exec.Command(tool, "--provider", libPath, "--list-tokens")
	cmd.Env = append(os.Environ(), "HSMSIM_PKCS11_CONFIG="+c.cfgPath)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "gnutls-token") {
		t.Fatalf("p11tool --list-tokens: %v\n%s", err, out)
	}
}

// A cluster that cannot be reached gives a spec code within the configured bound, never a hang.
func TestUnreachableCluster(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	dead := lis.Addr().String()
	lis.Close()
	newCluster(t, standard, func(c *moduleConfig) {
		c.Nodes = []nodeConfig{{Addr: dead}}
		c.AttemptTimeout = "300ms"
	})
	must(t, p.Initialize())
	defer p.Finalize()
	began := time.Now()
	_, err = p.GetTokenInfo(1)
	wantRV(t, "token info from a dead cluster", err, pkcs11.CKR_DEVICE_ERROR)
	s := open(t, true)
	wantRV(t, "login to a dead cluster", p.Login(s, pkcs11.CKU_USER, pin), pkcs11.CKR_DEVICE_ERROR)
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
}
