// Package pki is the cluster's trust anchor and the certificates it issues,
// the counterpart of CloudHSM's customerCA.crt: one self-signed CA per
// cluster; each node gets a leaf certificate from it; clients (the PKCS#11
// module, the KMS, other nodes) trust exactly that CA and nothing else.
//
// All keys are ECDSA P-256 and all connections TLS 1.3. Certificates travel
// as PEM. Node-to-node connections are mutual TLS; PKCS#11 clients
// authenticate with a PIN inside the session instead, so servers accept a
// connection without a client certificate but verify one that is presented
// (see ServerTLS).
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 2 * 365 * 24 * time.Hour
	// clockSkew backdates NotBefore so a certificate issued on one machine
	// is valid at once on another whose clock is a little behind.
	clockSkew = 5 * time.Minute

	pemCert  = "CERTIFICATE"
	pemPKCS8 = "PRIVATE KEY"
	pemSEC1  = "EC PRIVATE KEY"
)

// CA is a cluster trust anchor: its certificate and signing key.
type CA struct {
	Cert *x509.Certificate
	// Key signs issued certificates. NewCA and LoadCA set an
	// *ecdsa.PrivateKey; KeyPEM needs a key that x509.MarshalPKCS8PrivateKey
	// accepts.
	Key crypto.Signer
	// CertPEM is Cert in PEM form: the file clients are given as the trust
	// anchor (customerCA.crt).
	CertPEM []byte
}

// NewCA creates a cluster's trust anchor: a self-signed ECDSA P-256 CA with
// CN "hsmsim cluster <clusterID> trust anchor", valid 10 years, that may sign
// leaf certificates only (MaxPathLen 0).
func NewCA(clusterID string) (*CA, error) {
	return newCA(clusterID, time.Now())
}

func newCA(clusterID string, now time.Time) (*CA, error) {
	if clusterID == "" {
		return nil, errors.New("pki: empty cluster ID")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			CommonName:   "hsmsim cluster " + clusterID + " trust anchor",
			Organization: []string{"hsmsim"},
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der)}, nil
}

// LoadCA loads a CA saved as CertPEM and KeyPEM. It accepts a PKCS#8 key
// ("PRIVATE KEY", what KeyPEM writes) or a SEC 1 EC key ("EC PRIVATE KEY",
// what openssl ecparam writes), and refuses a certificate that is not a CA or
// a key that does not belong to it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	der, err := certDER(certPEM)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("pki: %q is not a CA certificate", cert.Subject.CommonName)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("pki: CA key does not match the CA certificate")
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der)}, nil
}

// KeyPEM returns the CA key as PKCS#8 PEM. It is the cluster's most
// sensitive secret after the key material itself: write it 0600.
func (ca *CA) KeyPEM() ([]byte, error) {
	return keyPEM(ca.Key)
}

// Issue creates a leaf certificate and key signed by ca, for a node
// (client=false) or a client identity (client=true).
//
// hosts become subject alternative names: IP addresses as IP SANs (IPv6 may
// be bracketed), anything else as DNS names. A node certificate needs at
// least one host, because TLS clients verify the server by SAN; a client
// certificate may have none. Every leaf has ExtKeyUsage ServerAuth and
// ClientAuth: clients for mutual TLS, nodes because they also dial each
// other with their own certificate. KeyUsage is DigitalSignature (all an
// ECDSA key does in TLS 1.3). Valid 2 years from now, but never past the
// CA's own expiry; the serial is 128 random bits. keyPEM is PKCS#8.
func (ca *CA) Issue(commonName string, hosts []string, client bool) (certPEM, keyPEM []byte, err error) {
	return ca.issue(commonName, hosts, client, time.Now())
}

// issue is Issue at a given time, so tests can make expired certificates.
func (ca *CA) issue(commonName string, hosts []string, client bool, now time.Time) (certPEM, keyPEMOut []byte, err error) {
	if commonName == "" {
		return nil, nil, errors.New("pki: empty common name")
	}
	if !client && len(hosts) == 0 {
		return nil, nil, fmt.Errorf("pki: node certificate %q needs at least one host", commonName)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"hsmsim"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		// A leaf: basic constraints present and CA false, so it can never
		// be used to sign.
		BasicConstraintsValid: true,
	}
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(h), "["), "]")
		if h == "" {
			return nil, nil, fmt.Errorf("pki: empty host in %q", hosts)
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue %q: %w", commonName, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), kp, nil
}

// ServerTLS returns the server side of a node's TLS: TLS 1.3 only, serving
// certPEM/keyPEM, which must be issued by the CA in caPEM.
//
// Client certificates are optional but verified when given
// (tls.VerifyClientCertIfGiven): a node dialing another node presents its
// certificate and it must chain to caPEM, while a PKCS#11 or KMS client may
// connect without one and authenticates with a PIN instead. A handler that
// needs a node identity must therefore check that the connection's
// PeerCertificates is not empty; the TLS layer alone does not require it.
// Note that a Go client holding a certificate from another CA does not send
// it at all (it is not in the server's acceptable-CA list), so such a client
// is not refused: it connects without an identity, like a PIN client.
func ServerTLS(certPEM, keyPEM, caPEM []byte) (*tls.Config, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: server certificate: %w", err)
	}
	pool, cas, err := caPool(caPEM)
	if err != nil {
		return nil, err
	}
	// Refuse a misconfiguration now rather than at every client's handshake.
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("pki: server certificate: %w", err)
	}
	if !signedByAny(leaf, cas) {
		return nil, fmt.Errorf("pki: server certificate %q is not issued by the trust anchor", leaf.Subject.CommonName)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
	}, nil
}

// ClientTLS returns the client side: TLS 1.3 only, trusting caPEM alone (not
// the system roots), verifying the server's certificate for serverName (a
// DNS name or an IP address; if empty, tls.Dial and gRPC fill it in from the
// address dialed). certPEM and keyPEM are the client's own certificate for
// mutual TLS; pass both or neither (nil).
func ClientTLS(caPEM []byte, serverName string, certPEM, keyPEM []byte) (*tls.Config, error) {
	pool, _, err := caPool(caPEM)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS13,
		RootCAs:    pool,
		ServerName: strings.TrimSuffix(strings.TrimPrefix(serverName, "["), "]"),
	}
	switch {
	case certPEM == nil && keyPEM == nil:
	case certPEM == nil || keyPEM == nil:
		return nil, errors.New("pki: client certificate and key must be given together")
	default:
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("pki: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Fingerprint returns the lower-case hex SHA-256 of the first certificate in
// certPEM's DER: the identity of a trust anchor (as the KMS compares a
// cluster's trust anchor with the one a key store was created with).
func Fingerprint(certPEM []byte) (string, error) {
	der, err := certDER(certPEM)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}

// SameCert reports whether two PEM texts hold the same certificate (their
// first CERTIFICATE blocks have the same DER). It ignores differences of PEM
// layout: line width, CRLF, indentation, surrounding text. Unparseable input
// is never the same as anything.
func SameCert(aPEM, bPEM []byte) bool {
	a, errA := certDER(aPEM)
	b, errB := certDER(bPEM)
	return errA == nil && errB == nil && bytes.Equal(a, b)
}

// certDER returns the DER of the first CERTIFICATE block in data, after
// trimming every line, so that indented or CRLF PEM (pasted into YAML, sent
// by another tool) reads the same as canonical PEM.
func certDER(data []byte) ([]byte, error) {
	lines := bytes.Split(data, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimSpace(l)
	}
	rest := bytes.Join(lines, []byte("\n"))
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("pki: no CERTIFICATE block in PEM")
		}
		if block.Type == pemCert {
			return block.Bytes, nil
		}
	}
}

func caPool(caPEM []byte) (*x509.CertPool, []*x509.Certificate, error) {
	var cas []*x509.Certificate
	rest := caPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemCert {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("pki: trust anchor: %w", err)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, nil, errors.New("pki: trust anchor PEM holds no certificate")
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return pool, cas, nil
}

func signedByAny(leaf *x509.Certificate, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if leaf.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

func parseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("pki: no key in PEM")
	}
	var key any
	var err error
	switch block.Type {
	case pemPKCS8:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case pemSEC1:
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("pki: unsupported key PEM type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: parse key: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: key of type %T cannot sign", key)
	}
	return signer, nil
}

func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemPKCS8, Bytes: der}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemCert, Bytes: der})
}

// randomSerial returns a positive 128-bit serial (RFC 5280 wants positive,
// at most 20 octets; CA/B Forum wants at least 64 random bits).
func randomSerial() *big.Int {
	b := make([]byte, 16)
	for {
		rand.Read(b) // never fails (Go 1.24+)
		if n := new(big.Int).SetBytes(b); n.Sign() > 0 {
			return n
		}
	}
}
