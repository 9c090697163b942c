package cloudhsm

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/hsmsim/hsmsim/hsmd/pki"
)

// newClusterCSR is the cluster's CSR: a PKCS#10 request signed by the HSM CA's key.
func newClusterCSR(clusterID string, ca *pki.CA) (string, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "HSM:" + clusterID, Organization: []string{"hsmsim"}, OrganizationalUnit: []string{clusterID}},
	}, ca.Key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

func parseCerts(p string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := []byte(p)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in PEM")
	}
	return out, nil
}

// checkSignedCert verifies InitializeCluster's inputs: signed certifies the key of the cluster's
// CSR, and chains to trustAnchor directly or through certificates appended to signed.
func checkSignedCert(csrPEM, signed, trustAnchor string) error {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return err
	}
	chain, err := parseCerts(signed)
	if err != nil {
		return fmt.Errorf("SignedCert: %v", err)
	}
	anchors, err := parseCerts(trustAnchor)
	if err != nil {
		return fmt.Errorf("TrustAnchor: %v", err)
	}
	pub, ok := chain[0].PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(csr.PublicKey) {
		return errors.New("SignedCert does not certify the key of the cluster's CSR")
	}
	cur := chain[0]
	for _, next := range chain[1:] {
		if cur.CheckSignatureFrom(next) != nil {
			break
		}
		cur = next
	}
	if err := cur.CheckSignatureFrom(anchors[0]); err != nil {
		return fmt.Errorf("SignedCert does not chain to TrustAnchor: %v", err)
	}
	return nil
}
