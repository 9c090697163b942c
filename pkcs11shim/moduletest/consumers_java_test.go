package moduletest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestJavaSunPKCS11 drives the module from Java's SunPKCS11 provider (Debian
// openjdk-17-jdk-headless) against a live `hsmsim up`: keytool lists the token's keys through a
// SunPKCS11 config file, and testdata/Sign.java, launched as a single-file program, has the HSM
// make an EC key pair on the token, signs with it through the provider and verifies with the
// JDK's software SunEC. This test checks the signature again with crypto/ecdsa and that the key
// Java made is the token's. A key with a certificate on the token would also be a private key
// entry of the key store that Sign.java signs with by alias (subtest certificate-entry).
//
// Cost, measured on a 2-core machine: about 9 s besides `hsmsim up` (three JVM starts, one of
// which compiles Sign.java in memory), and for `make deps` 116 MB of JDK and JRE packages (about
// 11 s to download and unpack), well within CI's budget, so it runs in every `make test`.
func TestJavaSunPKCS11(t *testing.T) {
	java := needTool(t, "java", "openjdk-17-jdk-headless")
	keytool := needTool(t, "keytool", "openjdk-17-jdk-headless")
	live := startHsmsimUp(t)
	dir := t.TempDir()
	const label, id = "java-ec", "42"
	// SunPKCS11's attributes() lines make the keys its KeyPairGenerator asks for token objects
	// with a label and an ID (by default they are session objects), so they outlive the JVM.
	keyAttrs := fmt.Sprintf("{\n  CKA_TOKEN = true\n  CKA_LABEL = 0h%x\n  CKA_ID = 0h%s\n}", label, id)
	cfg := filepath.Join(dir, "sunpkcs11.cfg")
	must(t, os.WriteFile(cfg, fmt.Appendf(nil, `name = hsmsim
library = %s
slotListIndex = 0
attributes(generate, CKO_PRIVATE_KEY, CKK_EC) = %s
attributes(generate, CKO_PUBLIC_KEY, CKK_EC) = %s
`, libPath, keyAttrs, keyAttrs), 0o600))
	pin := live.env["HSMSIM_PIN"]
	list := func(t *testing.T) string {
		t.Helper()
		return live.command(t, nil, keytool, "-list", "-storetype", "PKCS11", "-providerClass", "sun.security.pkcs11.SunPKCS11",
			"-providerArg", cfg, "-storepass", pin)
	}
	// sign runs Sign.java and returns what it printed, name → value.
	sign := func(t *testing.T, args ...string) map[string]string {
		t.Helper()
		out := live.command(t, nil, java, append([]string{filepath.Join("testdata", "Sign.java"), cfg}, args...)...)
		vals := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(line, " ")
			vals[k] = v
		}
		return vals
	}
	// verifies checks Sign.java's base64 signature over its message with crypto/ecdsa.
	verifies := func(t *testing.T, got map[string]string, pub *ecdsa.PublicKey) bool {
		t.Helper()
		return ecdsa.VerifyASN1(pub, digest(string(unbase64(t, got["message"]))), unbase64(t, got["signature"]))
	}

	// keytool lists a secret key by its label. (A private key shows only with a certificate: the
	// key store's entries are keys with certificates, and secret keys.)
	live.pkcs11Tool(t, "--keygen", "--key-type", "AES:32", "--label", "java-aes", "--id", "41")
	if out := list(t); !regexp.MustCompile(`(?m)^java-aes, SecretKeyEntry`).MatchString(out) {
		t.Fatalf("keytool -list does not show the token's AES key:\n%s", out)
	}

	got := sign(t)
	if !strings.HasPrefix(got["private-class"], "sun.security.pkcs11.P11Key") || got["private-encoded"] != "false" {
		t.Fatalf("the private key Java made is %s (encoded: %s), want a SunPKCS11 key without an encoding",
			got["private-class"], got["private-encoded"])
	}
	pub, err := x509.ParsePKIXPublicKey(unbase64(t, got["public"]))
	must(t, err)
	ecPub, ok := pub.(*ecdsa.PublicKey)
	if !ok || ecPub.Curve != elliptic.P256() {
		t.Fatalf("Java's key pair has public key %T, want P-256", pub)
	}
	if !verifies(t, got, ecPub) {
		t.Fatal("the SHA256withECDSA signature made through SunPKCS11 does not verify with crypto/ecdsa")
	}
	// The key pair is on the token, where pkcs11-tool finds it by the config's label and ID.
	samePublicKey(t, "the token's "+label, live.publicKey(t, id), ecPub)
	if out := live.pkcs11Tool(t, "--list-objects", "--type", "privkey", "--id", id); !strings.Contains(out, "label:      "+label) {
		t.Fatalf("no private key %s on the token after Java made it:\n%s", label, out)
	}

	t.Run("certificate-entry", func(t *testing.T) {
		// A certificate for the token's key, issued by a throwaway CA: with it on the token, the
		// key is a PrivateKeyEntry of the key store.
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: label},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		ca := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "throwaway CA"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, ecPub, caKey)
		must(t, err)
		certPath := filepath.Join(dir, label+".der")
		must(t, os.WriteFile(certPath, der, 0o600))
		cmd := exec.Command("pkcs11-tool", "--module", libPath, "--login", "--pin", pin,
			"--write-object", certPath, "--type", "cert", "--id", id, "--label", label)
		cmd.Env = live.environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pkcs11-tool --write-object: %v\n%s", err, out)
		}
		if out := list(t); !regexp.MustCompile(`(?m)^` + label + `, PrivateKeyEntry`).MatchString(out) {
			t.Fatalf("keytool -list does not show %s as a private key entry:\n%s", label, out)
		}
		if !verifies(t, sign(t, label), ecPub) {
			t.Fatalf("the signature of key store entry %s does not verify with crypto/ecdsa", label)
		}
	})
}

func unbase64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	must(t, err)
	return b
}
