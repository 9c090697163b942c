package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func newTestCA(t *testing.T, id string) *CA {
	t.Helper()
	ca, err := NewCA(id)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parseCertPEM(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	der, err := certDER(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type handshakeResult struct {
	peerCerts int
	err       error
}

// handshake runs one TLS connection over loopback between a server with
// srvCfg and a client with cliCfg. It returns the client's error and what the
// server saw. Everything is bounded by deadlines, so a broken handshake
// fails the test instead of hanging it.
func handshake(t *testing.T, srvCfg, cliCfg *tls.Config) (clientErr error, server handshakeResult) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan handshakeResult, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- handshakeResult{err: err}
			return
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		conn := tls.Server(raw, srvCfg)
		if err := conn.Handshake(); err != nil {
			done <- handshakeResult{err: err}
			return
		}
		n := len(conn.ConnectionState().PeerCertificates)
		_, err = conn.Write([]byte("ok"))
		done <- handshakeResult{peerCerts: n, err: err}
	}()

	dialer := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(dialer, "tcp", ln.Addr().String(), cliCfg)
	if err == nil {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 2)
		if _, err = io.ReadFull(conn, buf); err == nil && string(buf) != "ok" {
			err = errors.New("unexpected greeting " + string(buf))
		}
		if err == nil && conn.ConnectionState().Version != tls.VersionTLS13 {
			t.Errorf("negotiated version %x, want TLS 1.3", conn.ConnectionState().Version)
		}
		conn.Close()
	}
	select {
	case server = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("server side did not finish")
	}
	return err, server
}

func nodeTLS(t *testing.T, ca *CA, name string) (srv *tls.Config, certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := ca.Issue(name, []string{"127.0.0.1", "::1", name + ".hsmsim.local"}, false)
	if err != nil {
		t.Fatal(err)
	}
	srv, err = ServerTLS(certPEM, keyPEM, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return srv, certPEM, keyPEM
}

func TestHandshake(t *testing.T) {
	ca := newTestCA(t, "cluster-1")
	srv, _, _ := nodeTLS(t, ca, "hsm-a")

	t.Run("client without certificate (PIN clients)", func(t *testing.T) {
		cli, err := ClientTLS(ca.CertPEM, "127.0.0.1", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cerr, s := handshake(t, srv, cli)
		if cerr != nil || s.err != nil {
			t.Fatalf("client %v, server %v", cerr, s.err)
		}
		if s.peerCerts != 0 {
			t.Errorf("server saw %d client certs, want 0", s.peerCerts)
		}
	})

	t.Run("mutual TLS between nodes", func(t *testing.T) {
		_, bCert, bKey := nodeTLS(t, ca, "hsm-b")
		cli, err := ClientTLS(ca.CertPEM, "hsm-a.hsmsim.local", bCert, bKey)
		if err != nil {
			t.Fatal(err)
		}
		cerr, s := handshake(t, srv, cli)
		if cerr != nil || s.err != nil {
			t.Fatalf("client %v, server %v", cerr, s.err)
		}
		if s.peerCerts != 1 {
			t.Errorf("server saw %d client certs, want 1", s.peerCerts)
		}
	})

	t.Run("client certificate from another CA is refused by the server", func(t *testing.T) {
		other := newTestCA(t, "cluster-2")
		oCert, oKey, err := other.Issue("intruder", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := ClientTLS(ca.CertPEM, "127.0.0.1", oCert, oKey)
		if err != nil {
			t.Fatal(err)
		}
		// Go's client only presents a certificate the server's CA list
		// accepts, so the foreign one is withheld: the connection is
		// accepted but carries no node identity.
		cerr, s := handshake(t, srv, cli)
		if cerr != nil || s.err != nil || s.peerCerts != 0 {
			t.Errorf("unforced: client %v, server %v, server saw %d certs; want a connection without identity", cerr, s.err, s.peerCerts)
		}
		// A client that presents it anyway is refused by the server.
		pair := cli.Certificates[0]
		cli.Certificates = nil
		cli.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
		_, s = handshake(t, srv, cli)
		var unknown x509.UnknownAuthorityError
		if !errors.As(s.err, &unknown) {
			t.Errorf("server accepted a foreign client certificate: server err %v", s.err)
		}
	})

	t.Run("wrong server name is refused", func(t *testing.T) {
		cli, _ := ClientTLS(ca.CertPEM, "hsm-z.hsmsim.local", nil, nil)
		cerr, _ := handshake(t, srv, cli)
		var host x509.HostnameError
		if !errors.As(cerr, &host) {
			t.Errorf("client err %v, want a HostnameError", cerr)
		}
	})

	t.Run("TLS 1.2 is refused", func(t *testing.T) {
		cli, _ := ClientTLS(ca.CertPEM, "127.0.0.1", nil, nil)
		cli.MinVersion, cli.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		if cerr, _ := handshake(t, srv, cli); cerr == nil {
			t.Error("TLS 1.2 handshake succeeded")
		}
	})
}

func TestServerFromAnotherCARefused(t *testing.T) {
	ours := newTestCA(t, "ours")
	theirs := newTestCA(t, "theirs") // same CN shape, different key
	srv, _, _ := nodeTLS(t, theirs, "hsm-a")
	cli, err := ClientTLS(ours.CertPEM, "127.0.0.1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cerr, _ := handshake(t, srv, cli)
	var unknown x509.UnknownAuthorityError
	if !errors.As(cerr, &unknown) {
		t.Errorf("client err %v, want UnknownAuthorityError", cerr)
	}
}

func TestExpiredServerCertRefused(t *testing.T) {
	ca := newTestCA(t, "c")
	certPEM, keyPEM, err := ca.issue("hsm-old", []string{"127.0.0.1"}, false, time.Now().Add(-3*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if c := parseCertPEM(t, certPEM); !c.NotAfter.Before(time.Now()) {
		t.Fatalf("helper did not backdate: NotAfter %v", c.NotAfter)
	}
	srv, err := ServerTLS(certPEM, keyPEM, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	cli, _ := ClientTLS(ca.CertPEM, "127.0.0.1", nil, nil)
	cerr, _ := handshake(t, srv, cli)
	var invalid x509.CertificateInvalidError
	if !errors.As(cerr, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("client err %v, want an Expired CertificateInvalidError", cerr)
	}
}

func TestServerTLSRefusesForeignCert(t *testing.T) {
	ca, other := newTestCA(t, "a"), newTestCA(t, "b")
	certPEM, keyPEM, _ := other.Issue("hsm-a", []string{"127.0.0.1"}, false)
	if _, err := ServerTLS(certPEM, keyPEM, ca.CertPEM); err == nil {
		t.Error("ServerTLS accepted a certificate the trust anchor did not issue")
	}
	if _, err := ServerTLS(certPEM, keyPEM, []byte("not pem")); err == nil {
		t.Error("ServerTLS accepted an empty trust anchor")
	}
	if _, err := ClientTLS(ca.CertPEM, "x", certPEM, nil); err == nil {
		t.Error("ClientTLS accepted a certificate without its key")
	}
}

func TestNewCAProperties(t *testing.T) {
	ca := newTestCA(t, "cluster-jq4ojoxrs3n")
	c := ca.Cert
	if want := "hsmsim cluster cluster-jq4ojoxrs3n trust anchor"; c.Subject.CommonName != want {
		t.Errorf("CN %q, want %q", c.Subject.CommonName, want)
	}
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("IsCA %v, BasicConstraintsValid %v, MaxPathLen %d, MaxPathLenZero %v",
			c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage %v", c.KeyUsage)
	}
	if c.PublicKeyAlgorithm != x509.ECDSA || c.SignatureAlgorithm != x509.ECDSAWithSHA256 {
		t.Errorf("algorithms %v / %v", c.PublicKeyAlgorithm, c.SignatureAlgorithm)
	}
	if years := c.NotAfter.Sub(c.NotBefore).Hours() / 24 / 365; years < 9.99 || years > 10.01 {
		t.Errorf("validity %.2f years, want 10", years)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if !SameCert(ca.CertPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})) {
		t.Error("CertPEM does not hold Cert")
	}
	if _, err := NewCA(""); err == nil {
		t.Error("NewCA accepted an empty cluster ID")
	}
}

func TestIssueSANsAndUsages(t *testing.T) {
	ca := newTestCA(t, "c")
	certPEM, keyPEM, err := ca.Issue("hsm-a", []string{"127.0.0.1", "[::1]", "hsm-a.hsmsim.local", "localhost", "127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCertPEM(t, certPEM)
	if c.Subject.CommonName != "hsm-a" {
		t.Errorf("CN %q", c.Subject.CommonName)
	}
	var ips []string
	for _, ip := range c.IPAddresses {
		ips = append(ips, ip.String())
	}
	if got := strings.Join(ips, ","); got != "127.0.0.1,::1" {
		t.Errorf("IP SANs %s, want 127.0.0.1,::1 (deduplicated)", got)
	}
	if got := strings.Join(c.DNSNames, ","); got != "hsm-a.hsmsim.local,localhost" {
		t.Errorf("DNS SANs %s", got)
	}
	for _, h := range []string{"127.0.0.1", "::1", "hsm-a.hsmsim.local", "localhost"} {
		if err := c.VerifyHostname(h); err != nil {
			t.Errorf("VerifyHostname(%s): %v", h, err)
		}
	}
	if len(c.ExtKeyUsage) != 2 || c.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || c.ExtKeyUsage[1] != x509.ExtKeyUsageClientAuth {
		t.Errorf("ExtKeyUsage %v, want ServerAuth, ClientAuth", c.ExtKeyUsage)
	}
	if c.KeyUsage != x509.KeyUsageDigitalSignature || c.IsCA {
		t.Errorf("KeyUsage %v, IsCA %v", c.KeyUsage, c.IsCA)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 100 {
		t.Errorf("serial %v (%d bits), want positive random 128-bit", c.SerialNumber, c.SerialNumber.BitLen())
	}
	if years := c.NotAfter.Sub(c.NotBefore).Hours() / 24 / 365; years < 1.99 || years > 2.01 {
		t.Errorf("validity %.2f years, want 2", years)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: poolOf(ca.Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("node cert does not verify as a client cert: %v", err)
	}
	if !bytes.Contains(keyPEM, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Error("leaf key is not PKCS#8 PEM")
	}

	other, _, _ := ca.Issue("hsm-b", []string{"127.0.0.1"}, false)
	if parseCertPEM(t, other).SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two leaves share a serial")
	}
	if _, _, err := ca.Issue("hsm-x", nil, false); err == nil {
		t.Error("a node certificate without hosts was issued")
	}
	if _, _, err := ca.Issue("app", nil, true); err != nil {
		t.Errorf("client certificate without hosts: %v", err)
	}
	if _, _, err := ca.Issue("hsm-x", []string{""}, false); err == nil {
		t.Error("an empty host was accepted")
	}
}

func TestLeafNeverOutlivesCA(t *testing.T) {
	ca, err := newCA("c", time.Now().Add(-9*365*24*time.Hour)) // one year left
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.Issue("hsm-a", []string{"127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if c := parseCertPEM(t, certPEM); c.NotAfter.After(ca.Cert.NotAfter) {
		t.Errorf("leaf NotAfter %v is after CA NotAfter %v", c.NotAfter, ca.Cert.NotAfter)
	}
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func TestLoadCARoundTrip(t *testing.T) {
	ca := newTestCA(t, "c")
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadCA(ca.CertPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !SameCert(loaded.CertPEM, ca.CertPEM) || !loaded.Cert.Equal(ca.Cert) {
		t.Error("loaded certificate differs")
	}
	// The loaded CA issues certificates that the original anchor verifies.
	certPEM, _, err := loaded.Issue("hsm-c", []string{"127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseCertPEM(t, certPEM).Verify(x509.VerifyOptions{Roots: poolOf(ca.Cert)}); err != nil {
		t.Errorf("certificate from the loaded CA does not verify: %v", err)
	}

	other := newTestCA(t, "other")
	otherKey, _ := other.KeyPEM()
	if _, err := LoadCA(ca.CertPEM, otherKey); err == nil {
		t.Error("LoadCA accepted a key that does not match")
	}
	leafCert, leafKey, _ := ca.Issue("hsm-a", []string{"127.0.0.1"}, false)
	if _, err := LoadCA(leafCert, leafKey); err == nil {
		t.Error("LoadCA accepted a leaf certificate")
	}
	if _, err := LoadCA([]byte("junk"), keyPEM); err == nil {
		t.Error("LoadCA accepted junk")
	}
}

func TestFingerprintAndSameCert(t *testing.T) {
	ca, other := newTestCA(t, "a"), newTestCA(t, "b")

	// The same certificate, laid out as another tool might: CRLF, 76-column
	// base64, indentation, trailing blanks, text around it.
	der, _ := certDER(ca.CertPEM)
	body := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	b64 := strings.Join(lines[1:len(lines)-1], "")
	var rewrapped strings.Builder
	rewrapped.WriteString("subject: trust anchor\r\n\r\n    -----BEGIN CERTIFICATE-----  \r\n")
	for len(b64) > 76 {
		rewrapped.WriteString("    " + b64[:76] + " \r\n")
		b64 = b64[76:]
	}
	rewrapped.WriteString("    " + b64 + "\r\n    -----END CERTIFICATE-----\r\n\r\n")
	messy := []byte(rewrapped.String())

	if !SameCert(ca.CertPEM, messy) {
		t.Error("SameCert is not tolerant of PEM layout")
	}
	if SameCert(ca.CertPEM, other.CertPEM) {
		t.Error("SameCert says two different CAs are the same")
	}
	if SameCert(ca.CertPEM, []byte("garbage")) || SameCert(nil, nil) {
		t.Error("SameCert true for unparseable input")
	}

	fa, err := Fingerprint(ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	fm, _ := Fingerprint(messy)
	fo, _ := Fingerprint(other.CertPEM)
	if len(fa) != 64 || fa != strings.ToLower(fa) || fa != fm || fa == fo {
		t.Errorf("fingerprints: %s, messy %s, other %s", fa, fm, fo)
	}
	if _, err := Fingerprint([]byte("no pem here")); err == nil {
		t.Error("Fingerprint of junk succeeded")
	}
}
