package target

// Bringing up a cluster as an operator does, through the CloudHSM service's control plane:
// CreateCluster, CreateHsm per HSM, the cluster's CSR signed by a customer CA,
// InitializeCluster, the admin's first password change. This file is the one place the
// scenario target does it (internal/embedded does the same for "hsmsim up"); a provisioning
// function of kms/cloudhsm shared by both replaces it, and createHSM stays for add-hsm.

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// provision makes the scenario's cluster and claims it; it returns the cluster's id.
func (t *InProcess) provision(ctx context.Context) (string, error) {
	id, err := t.createCluster(ctx, "", "")
	if err != nil {
		return id, err
	}
	t.clusterID = id // the admin's client dials it
	return id, t.initialize(ctx)
}

// createCluster makes a cluster (from a backup when source is set) with the scenario's HSMs
// per AZ, labelling them in order; name is "" for the scenario's cluster.
func (t *InProcess) createCluster(ctx context.Context, name, source string) (string, error) {
	var subnets []string
	for _, a := range t.opts.AZs {
		if id := cloudhsm.SubnetID(a.AZ); !slices.Contains(subnets, id) {
			subnets = append(subnets, id)
		}
	}
	out, err := t.Svc.CreateCluster(ctx, t.req, &kms.CreateClusterInput{HsmType: "hsm2m.medium", SubnetIds: subnets, SourceBackupId: source,
		TagList: []kms.HsmTag{{Key: "hsmsim", Value: "scenario"}}})
	if err != nil {
		return "", fmt.Errorf("target: CreateCluster: %w", err)
	}
	id := out.Cluster.ClusterId
	if name != "" {
		t.mu.Lock()
		t.clusters[name] = id
		t.mu.Unlock()
	}
	for _, a := range t.opts.AZs {
		for i := 0; i < a.HSMs; i++ {
			if _, err := t.createHSM(ctx, name, id, a.AZ); err != nil {
				return id, err
			}
		}
	}
	return id, nil
}

// createHSM adds an HSM through the control plane and gives it the next label.
func (t *InProcess) createHSM(ctx context.Context, name, clusterID, az string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := t.Svc.CreateHsm(cctx, t.req, &kms.CreateHsmInput{ClusterId: clusterID, AvailabilityZone: az})
	if err != nil {
		return "", fmt.Errorf("target: CreateHsm in %s: %w", az, err)
	}
	return t.addNode(out.Hsm.HsmId, az, name), nil
}

// initialize claims the scenario's cluster: its CSR signed by a fresh customer CA,
// InitializeCluster, and the admin's first password change (which makes it ACTIVE).
func (t *InProcess) initialize(ctx context.Context) error {
	d, err := t.Svc.DescribeClusters(ctx, t.req, &kms.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {t.clusterID}}})
	if err != nil || len(d.Clusters) != 1 || d.Clusters[0].Certificates == nil {
		return fmt.Errorf("target: describing the new cluster: %v", err)
	}
	signed, err := t.signCSR(d.Clusters[0].Certificates.ClusterCsr)
	if err != nil {
		return err
	}
	if _, err := t.Svc.InitializeCluster(ctx, t.req, &kms.InitializeClusterInput{ClusterId: t.clusterID, SignedCert: signed, TrustAnchor: string(t.anchor)}); err != nil {
		return fmt.Errorf("target: InitializeCluster: %w", err)
	}
	cl, err := t.Client("setup-admin", nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, token.AdminName, token.InitialAdminPassword); err != nil {
		return fmt.Errorf("target: admin login: %w", err)
	}
	if err := cl.ChangePassword(ctx, "", AdminPassword); err != nil {
		return fmt.Errorf("target: activating the admin: %w", err)
	}
	return cl.Logout(ctx)
}

// signCSR makes the customer CA (the trust anchor) and signs the cluster's CSR with it, as the
// AWS guide does with openssl.
func (t *InProcess) signCSR(csrPEM string) (string, error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		return "", errors.New("target: the cluster has no CSR")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return "", err
	}
	ca, err := pki.NewCA("hsmsim scenario customer CA")
	if err != nil {
		return "", err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: csr.Subject,
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(365 * 24 * time.Hour)}, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return "", err
	}
	t.anchor = ca.CertPEM
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}
