package moduletest

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOpenSSLEngine drives the module from OpenSSL through libp11's pkcs11 engine
// (libengine-pkcs11-openssl), configured as its documentation says (an openssl.cnf engine section
// with MODULE_PATH and PIN), against a live `hsmsim up`: for an EC P-256 and an RSA-2048 key pair
// made in the HSM, `openssl req` signs a CSR and a self-signed certificate with the private key
// in the HSM (RSA also with PSS), openssl verifies both, a tampered certificate does not verify,
// and Go's crypto/x509 checks the signatures again and that the certified key is the HSM's.
func TestOpenSSLEngine(t *testing.T) {
	openssl := needTool(t, "openssl", "openssl")
	if out, err := exec.Command(openssl, "engine", "pkcs11", "-t").CombinedOutput(); err != nil || !strings.Contains(string(out), "[ available ]") {
		t.Skipf("OpenSSL has no pkcs11 engine (Debian package libengine-pkcs11-openssl; make test installs it): %v\n%s", err, out)
	}
	needTool(t, "pkcs11-tool", "opensc")
	live := startHsmsimUp(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "openssl.cnf")
	must(t, os.WriteFile(conf, fmt.Appendf(nil, `openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
MODULE_PATH = %s
PIN = %s
init = 0

[req]
distinguished_name = dn

[dn]
`, libPath, live.env["HSMSIM_PIN"]), 0o600))
	// ossl runs openssl with that config and returns all it printed: OpenSSL 3.0 prints some
	// verdicts on stderr, and `req -verify` exits 0 even when the signature is bad.
	ossl := func(t *testing.T, args ...string) string {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Env = append(live.environ(), "OPENSSL_CONF="+conf)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// refuses runs an openssl verification that must fail: a non-zero exit, or for `req -verify`
	// the failure OpenSSL 3.0 prints while exiting 0.
	refuses := func(t *testing.T, args ...string) {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err == nil && (!strings.Contains(string(out), "failure") || strings.Contains(string(out), "OK")) {
			t.Fatalf("openssl %s accepts a tampered signature:\n%s", strings.Join(args, " "), out)
		}
	}

	for _, k := range []struct {
		name, keyType, id string
		sigopts           []string
		alg               x509.SignatureAlgorithm
	}{
		{"ec", "EC:prime256v1", "e1", nil, x509.ECDSAWithSHA256},
		{"rsa", "rsa:2048", "e2", nil, x509.SHA256WithRSA},
		{"rsa-pss", "rsa:2048", "e3", []string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"}, x509.SHA256WithRSAPSS},
	} {
		t.Run(k.name, func(t *testing.T) {
			label := "openssl-" + k.name
			live.keyPair(t, k.keyType, label, k.id)
			hsmKey := live.publicKey(t, k.id)
			// The private key as an RFC 7512 URI: the token is the cluster, the object its label.
			uri := fmt.Sprintf("pkcs11:token=%s;object=%s;type=private", live.env["HSMSIM_CLUSTER_ID"], label)
			req := append([]string{"req", "-new", "-engine", "pkcs11", "-keyform", "engine", "-key", uri,
				"-subj", "/CN=" + label, "-sha256"}, k.sigopts...)

			csrPath := filepath.Join(dir, label+".csr")
			ossl(t, slices.Concat(req, []string{"-out", csrPath})...)
			if out := ossl(t, "req", "-in", csrPath, "-verify", "-noout"); !strings.Contains(out, "verify OK") {
				t.Fatalf("openssl req -verify of the CSR:\n%s", out)
			}
			csrDER := pemBlock(t, csrPath, "CERTIFICATE REQUEST")
			csr, err := x509.ParseCertificateRequest(csrDER)
			must(t, err)
			if err := csr.CheckSignature(); err != nil {
				t.Fatalf("crypto/x509 does not verify the CSR: %v", err)
			}
			if csr.SignatureAlgorithm != k.alg {
				t.Fatalf("CSR signed with %v, want %v", csr.SignatureAlgorithm, k.alg)
			}
			samePublicKey(t, "CSR", csr.PublicKey, hsmKey)

			certPath := filepath.Join(dir, label+".crt")
			ossl(t, slices.Concat(req, []string{"-x509", "-days", "1", "-addext", "basicConstraints=critical,CA:TRUE",
				"-addext", "keyUsage=critical,keyCertSign,digitalSignature", "-out", certPath})...)
			// -check_ss_sig: without it openssl trusts a trust anchor without checking its signature.
			if out := ossl(t, "verify", "-check_ss_sig", "-CAfile", certPath, certPath); !strings.Contains(out, certPath+": OK") {
				t.Fatalf("openssl verify of the self-signed certificate:\n%s", out)
			}
			der := pemBlock(t, certPath, "CERTIFICATE")
			cert, err := x509.ParseCertificate(der)
			must(t, err)
			if err := cert.CheckSignatureFrom(cert); err != nil {
				t.Fatalf("crypto/x509 does not verify the self-signed certificate: %v", err)
			}
			if cert.SignatureAlgorithm != k.alg || cert.Subject.CommonName != label {
				t.Fatalf("certificate %q signed with %v, want %q with %v", cert.Subject.CommonName, cert.SignatureAlgorithm, label, k.alg)
			}
			samePublicKey(t, "certificate", cert.PublicKey, hsmKey)

			// A flipped bit in each signature: openssl must refuse both.
			csrDER[len(csrDER)-1] ^= 0x01
			badCSR := filepath.Join(dir, label+"-tampered.csr")
			must(t, os.WriteFile(badCSR, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER}), 0o600))
			refuses(t, "req", "-in", badCSR, "-verify", "-noout")
			der[len(der)-1] ^= 0x01
			badCert := filepath.Join(dir, label+"-tampered.crt")
			must(t, os.WriteFile(badCert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
			refuses(t, "verify", "-check_ss_sig", "-CAfile", badCert, badCert)
		})
	}
}

// pemBlock reads the one PEM block of type typ in a file.
func pemBlock(t *testing.T, path, typ string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != typ {
		t.Fatalf("%s holds no PEM %s:\n%s", filepath.Base(path), typ, b)
	}
	return blk.Bytes
}
