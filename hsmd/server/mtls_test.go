package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// mtlsClient dials the node presenting a client certificate (nil: none) and logs in.
func mtlsClient(t *testing.T, n *nodetest.Node, certPEM, keyPEM []byte, user, password string) (*client.Client, error) {
	t.Helper()
	tlsCfg, err := pki.ClientTLS(n.CA.CertPEM, "127.0.0.1", certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Config{Addr: n.Addr, TLS: tlsCfg, Retries: 1, AttemptTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Login(ctx, user, password)
	return c, err
}

// selfSigned makes a self-signed certificate (PEM) with the given key and CA flag.
func selfSigned(t *testing.T, key any, isCA bool) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "not an anchor"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	pub := key.(crypto.Signer).Public()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Mutual TLS as CloudHSM's "cluster mtls": an admin registers a trust anchor for client
// certificates and enforces mutual TLS; then a client without a certificate, or with one from
// another CA, cannot connect, and one with a certificate from the anchor can. The admin cannot
// enforce it from a connection that would itself be locked out, nor remove the last anchor while
// it is enforced. Anchors are checked (a CA, CloudHSM's key types, at most two), as
// docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm_cli-cluster-mtls-register-trust-anchor.html
// and cloudhsm_cli-cluster-mtls-list-trust-anchors.html (no login needed) say.
func TestMutualTLSEnforcement(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	admin := n.Admin(t)

	anchor, err := pki.NewCA("client-anchor")
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA("other-ca")
	if err != nil {
		t.Fatal(err)
	}
	appCert, appKey, err := anchor.Issue("payments-app", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	strangerCert, strangerKey, err := other.Issue("stranger", nil, true)
	if err != nil {
		t.Fatal(err)
	}

	// Bad anchors change nothing.
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	smallRSA, _ := rsa.GenerateKey(rand.Reader, 1024)
	wantRV(t, "a leaf certificate as anchor", admin.RegisterTrustAnchor(ctx, selfSigned(t, ecKey, false)), p11.CKR_ARGUMENTS_BAD)
	wantRV(t, "an RSA-1024 anchor", admin.RegisterTrustAnchor(ctx, selfSigned(t, smallRSA, true)), p11.CKR_ARGUMENTS_BAD)
	wantRV(t, "not PEM", admin.RegisterTrustAnchor(ctx, []byte("hello")), p11.CKR_ARGUMENTS_BAD)
	wantRV(t, "a crypto user registers an anchor", n.Alice(t).RegisterTrustAnchor(ctx, anchor.CertPEM), p11.CKR_USER_NOT_LOGGED_IN)
	wantRV(t, "enforce with no anchor", admin.SetMTLSEnforcement(ctx, true), p11.CKR_ACTION_PROHIBITED)

	if err := admin.RegisterTrustAnchor(ctx, anchor.CertPEM); err != nil {
		t.Fatalf("register an anchor: %v", err)
	}
	wantRV(t, "register it twice", admin.RegisterTrustAnchor(ctx, anchor.CertPEM), p11.CKR_ARGUMENTS_BAD)
	// Before enforcement, a client with a certificate from the anchor and one without both work.
	if _, err := mtlsClient(t, n, appCert, appKey, nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatalf("a client certificate from the anchor, not enforced: %v", err)
	}
	wantRV(t, "enforce from a connection without a client certificate", admin.SetMTLSEnforcement(ctx, true), p11.CKR_ACTION_PROHIBITED)

	mtlsAdmin, err := mtlsClient(t, n, appCert, appKey, token.AdminName, nodetest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := mtlsAdmin.SetMTLSEnforcement(ctx, true); err != nil {
		t.Fatalf("enforce over mutual TLS: %v", err)
	}
	if _, err := mtlsClient(t, n, nil, nil, nodetest.CryptoUser, nodetest.CryptoPass); err == nil {
		t.Fatal("a client without a certificate connects to a cluster that enforces mutual TLS")
	}
	if _, err := mtlsClient(t, n, strangerCert, strangerKey, nodetest.CryptoUser, nodetest.CryptoPass); err == nil {
		t.Fatal("a client certificate from an unregistered CA is accepted")
	}
	app, err := mtlsClient(t, n, appCert, appKey, nodetest.CryptoUser, nodetest.CryptoPass)
	if err != nil {
		t.Fatalf("a client certificate from the anchor, enforced: %v", err)
	}
	genAES(t, app, true, "made over mutual TLS")
	anchors, enforced, err := app.ListTrustAnchors(ctx)
	if err != nil || !enforced || len(anchors) != 1 {
		t.Fatalf("list: %d anchors, enforced %v, %v", len(anchors), enforced, err)
	}
	wantRV(t, "deregister the last anchor while enforced", mtlsAdmin.DeregisterTrustAnchor(ctx, anchor.CertPEM), p11.CKR_ACTION_PROHIBITED)

	// At most two anchors.
	third, _ := pki.NewCA("third")
	if err := mtlsAdmin.RegisterTrustAnchor(ctx, other.CertPEM); err != nil {
		t.Fatal(err)
	}
	wantRV(t, "a third anchor", mtlsAdmin.RegisterTrustAnchor(ctx, third.CertPEM), p11.CKR_ACTION_PROHIBITED)
	if _, err := mtlsClient(t, n, strangerCert, strangerKey, nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatalf("a certificate from the second anchor: %v", err)
	}
	if err := mtlsAdmin.DeregisterTrustAnchor(ctx, other.CertPEM); err != nil {
		t.Fatal(err)
	}

	// Enforcement survives a restart (it is token state), and turning it off lets plain TLS in.
	n.Restart(t)
	if _, err := mtlsClient(t, n, nil, nil, nodetest.CryptoUser, nodetest.CryptoPass); err == nil {
		t.Fatal("after a restart, a client without a certificate connects")
	}
	mtlsAdmin, err = mtlsClient(t, n, appCert, appKey, token.AdminName, nodetest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := mtlsAdmin.SetMTLSEnforcement(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := mtlsClient(t, n, nil, nil, nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatalf("enforcement off, a client without a certificate: %v", err)
	}
}

// socketLogin dials the node by its Unix socket only (its TCP address is dead) and logs in.
func socketLogin(t *testing.T, n *nodetest.Node, user, password string) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	c, err := client.Dial(client.Config{Nodes: []client.Node{{Addr: dead, Socket: n.Socket}}, CAPEM: n.CA.CertPEM,
		Retries: 1, AttemptTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = c.Login(ctx, user, password)
	return err
}

// The node's Unix socket cannot carry a client certificate, so while the cluster enforces
// mutual TLS every connection to it is refused, as a TLS client without a certificate is: a
// process of the node's own user does not get around enforcement. A login is needed on the
// socket as on TCP.
func TestSocketIsRefusedWhileMutualTLSIsEnforced(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{Socket: true})
	ctx := ctxT(t)
	wantRV(t, "a wrong password over the socket", socketLogin(t, n, nodetest.CryptoUser, "wrong-password"), p11.CKR_PIN_INCORRECT)
	if err := socketLogin(t, n, nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatalf("login over the socket, not enforced: %v", err)
	}
	anchor, err := pki.NewCA("client-anchor")
	if err != nil {
		t.Fatal(err)
	}
	appCert, appKey, err := anchor.Issue("payments-app", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Admin(t).RegisterTrustAnchor(ctx, anchor.CertPEM); err != nil {
		t.Fatal(err)
	}
	mtlsAdmin, err := mtlsClient(t, n, appCert, appKey, token.AdminName, nodetest.AdminPassword)
	if err != nil {
		t.Fatal(err)
	}
	if err := mtlsAdmin.SetMTLSEnforcement(ctx, true); err != nil {
		t.Fatal(err)
	}
	before := n.LocalConnections()
	if err := socketLogin(t, n, nodetest.CryptoUser, nodetest.CryptoPass); err == nil {
		t.Fatal("a login over the socket while mutual TLS is enforced")
	}
	if n.LocalConnections() != before {
		t.Fatal("the node accepted a connection on its socket while mutual TLS is enforced")
	}
	if err := mtlsAdmin.SetMTLSEnforcement(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := socketLogin(t, n, nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatalf("enforcement off, login over the socket: %v", err)
	}
}
