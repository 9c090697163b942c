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

// TestToolsAgainstHsmsimUp drives the module with the real consumers users run, pkcs11-tool
// (OpenSC) and p11tool (GnuTLS), against a live `hsmsim up` cluster in its own process, with the
// environment `hsmsim env` prints: slots and mechanisms, EC and RSA key pairs, signatures checked
// by pkcs11-tool itself and by Go's crypto, listing and deleting objects, random.
func TestToolsAgainstHsmsimUp(t *testing.T) {
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Skip("pkcs11-tool is not installed (Debian package opensc; make test installs it)")
	}
	live := startHsmsimUp(t)
	pin := live.env["HSMSIM_PIN"]
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tool, append([]string{"--module", libPath}, args...)...)
		cmd.Env = live.environ()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs11-tool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := run("-L")
	if !strings.Contains(out, live.env["HSMSIM_CLUSTER_ID"]) || !strings.Contains(out, "Slot 0 (0x1)") {
		t.Fatalf("pkcs11-tool -L:\n%s", out)
	}
	out = run("-M")
	for _, m := range []string{"ECDSA", "AES-GCM", "RSA-PKCS-PSS", "SHA256-RSA-PKCS", "ECDH1-DERIVE"} {
		if !strings.Contains(out, m) {
			t.Fatalf("pkcs11-tool -M lacks %s:\n%s", m, out)
		}
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "data")
	must(t, os.WriteFile(in, []byte("signed by pkcs11-tool"), 0o600))
	for _, k := range []struct{ keyType, label, id, mech string }{
		{"EC:prime256v1", "tool-ec", "0102", "ECDSA-SHA256"},
		{"EC:secp256k1", "tool-k1", "0304", "ECDSA-SHA256"}, // a curve Go's crypto lacks, as CloudHSM offers it
		{"rsa:2048", "tool-rsa", "0203", "SHA256-RSA-PKCS"},
	} {
		out = run("--login", "--pin", pin, "--keypairgen", "--key-type", k.keyType, "--label", k.label, "--id", k.id)
		if !strings.Contains(out, "Key pair generated") || !strings.Contains(out, k.label) {
			t.Fatalf("keypairgen %s:\n%s", k.keyType, out)
		}
		sigPath := filepath.Join(dir, k.label+".sig")
		run("--login", "--pin", pin, "--sign", "--mechanism", k.mech, "--id", k.id, "--input-file", in, "--output-file", sigPath)
		out = run("--login", "--pin", pin, "--verify", "--mechanism", k.mech, "--id", k.id, "--input-file", in, "--signature-file", sigPath)
		if !strings.Contains(out, "Signature is valid") {
			t.Fatalf("pkcs11-tool --verify %s:\n%s", k.label, out)
		}
		sig, err := os.ReadFile(sigPath)
		must(t, err)
		sig[len(sig)/2] ^= 0x40
		must(t, os.WriteFile(sigPath, sig, 0o600))
		cmd := exec.Command(tool, "--module", libPath, "--login", "--pin", pin, "--verify", "--mechanism", k.mech, "--id", k.id, "--input-file", in, "--signature-file", sigPath)
		cmd.Env = live.environ()
		// pkcs11-tool exits 0 either way; its verdict is in what it prints.
		if out, _ := cmd.CombinedOutput(); strings.Contains(string(out), "Signature is valid") || !strings.Contains(string(out), "Invalid signature") {
			t.Fatalf("a tampered %s signature verified:\n%s", k.label, out)
		}
	}
	// Go's crypto checks an EC signature made through the module too.
	sigPath, pubPath := filepath.Join(dir, "go.sig"), filepath.Join(dir, "pub.der")
	run("--login", "--pin", pin, "--sign", "--mechanism", "ECDSA-SHA256", "--id", "0102",
		"--signature-format", "openssl", "--input-file", in, "--output-file", sigPath)
	run("--login", "--pin", pin, "--read-object", "--type", "pubkey", "--id", "0102", "--output-file", pubPath)
	sig, err := os.ReadFile(sigPath)
	must(t, err)
	pubDER, err := os.ReadFile(pubPath)
	must(t, err)
	key, err := x509.ParsePKIXPublicKey(pubDER)
	must(t, err)
	if !ecdsa.VerifyASN1(key.(*ecdsa.PublicKey), digest("signed by pkcs11-tool"), sig) {
		t.Fatal("pkcs11-tool's signature does not verify with crypto/ecdsa")
	}
	out = run("--login", "--pin", pin, "-O")
	if !strings.Contains(out, "tool-ec") || !strings.Contains(out, "tool-rsa") {
		t.Fatalf("pkcs11-tool -O:\n%s", out)
	}
	run("--login", "--pin", pin, "--delete-object", "--type", "privkey", "--id", "0102")
	out = run("--login", "--pin", pin, "-O", "--type", "privkey")
	if strings.Contains(out, "tool-ec") || !strings.Contains(out, "tool-rsa") {
		t.Fatalf("after deleting the EC private key:\n%s", out)
	}
	rnd := filepath.Join(dir, "random")
	run("--generate-random", "16", "--output-file", rnd)
	if b, err := os.ReadFile(rnd); err != nil || len(b) != 16 {
		t.Fatalf("--generate-random 16 gave %d bytes (%v)", len(b), err)
	}

	// p11tool (GnuTLS) sees the same token and, logged in, the RSA key pkcs11-tool made.
	p11tool, err := exec.LookPath("p11tool")
	if err != nil {
		t.Skip("p11tool is not installed (Debian package gnutls-bin; make test installs it)")
	}
	p11 := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(p11tool, append([]string{"--provider", libPath}, args...)...)
		cmd.Env = append(live.environ(), "GNUTLS_PIN="+pin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("p11tool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	url := "pkcs11:token=" + live.env["HSMSIM_CLUSTER_ID"]
	if out := p11("--list-tokens"); !strings.Contains(out, live.env["HSMSIM_CLUSTER_ID"]) {
		t.Fatalf("p11tool --list-tokens:\n%s", out)
	}
	if out := p11("--list-mechanisms", url); !strings.Contains(out, "CKM_ECDSA") {
		t.Fatalf("p11tool --list-mechanisms:\n%s", out)
	}
	if out := p11("--login", "--list-privkeys", url); !strings.Contains(out, "tool-rsa") {
		t.Fatalf("p11tool --login --list-privkeys:\n%s", out)
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
