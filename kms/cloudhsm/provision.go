package cloudhsm

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

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// ProvisionOptions shape a cluster that Provision makes as an operator would.
type ProvisionOptions struct {
	// Account and Region the cluster belongs to (empty: the service's defaults).
	Account, Region string
	// AZs are the cluster's subnets, one per AZ (SubnetID), in order; HSMs can be created in
	// these AZs only. Empty: the AZs of HSMs.
	AZs []string
	// HSMs is the AZ of each HSM to create, in order (an AZ may come back). At least one.
	HSMs []string
	// HsmType is the cluster's HSM type (empty: hsm2m.medium).
	HsmType string
	// Tag is the value of the cluster's "hsmsim" tag: who made it ("embedded", "scenario").
	Tag string
	// SourceBackupID makes the cluster from a backup (CreateCluster's SourceBackupId): its first
	// HSM restores the backup, the others join, and the cluster comes initialized with its
	// source's certificates and users; AdminPassword and CryptoUsers must then be empty.
	SourceBackupID string
	// AdminPassword activates the admin of a new cluster (its first password change). Required
	// without SourceBackupID.
	AdminPassword string
	// CryptoUsers are created by the activated admin.
	CryptoUsers []User
	// Dial makes the client that activates the admin and creates the users, not logged in
	// (nil: DialCluster). Callers that name their clients in netsim pass their own.
	Dial func(clusterID string) (*client.Client, error)
	// Within bounds the wait until the cluster and every HSM are ACTIVE (default 60 s).
	Within time.Duration
}

// User is a user Provision creates.
type User struct{ Name, Password string }

// Provisioned is what Provision made; on an error, what it made before the error.
type Provisioned struct {
	ClusterID string
	// HSMs are the HSMs created, in the order of ProvisionOptions.HSMs.
	HSMs []ProvisionedHSM
	// CustomerCA is the customer CA that signed the cluster's CSR: its certificate is the
	// cluster's trust anchor (customerCA.crt), its key what an operator keeps. Nil for a
	// cluster made from a backup.
	CustomerCA *pki.CA
}

// ProvisionedHSM is one HSM Provision created.
type ProvisionedHSM struct{ ID, AZ string }

// createHsmWithin bounds one CreateHsm: it returns when the HSM has joined, and a join that
// takes longer is stuck.
const createHsmWithin = 60 * time.Second

// Provision makes a cluster through the service's own APIs, as an operator does with the aws
// CLI and the CloudHSM client: CreateCluster with a subnet per AZ, CreateHsm per HSM, the
// cluster's CSR signed by a new customer CA (pki.NewCA), InitializeCluster with that CA as the
// trust anchor, then through the HSM client the admin's activation and the crypto users. It
// returns once the cluster is ACTIVE with every HSM ACTIVE. This is how hsmsim up
// (internal/embedded) and the scenario engine bring their clusters up.
func (s *Service) Provision(ctx context.Context, o ProvisionOptions) (*Provisioned, error) {
	p := &Provisioned{}
	if len(o.HSMs) == 0 {
		return p, errors.New("cloudhsm: provisioning a cluster needs at least one HSM")
	}
	if o.SourceBackupID == "" && o.AdminPassword == "" {
		return p, errors.New("cloudhsm: provisioning a new cluster needs the admin's password")
	}
	if o.SourceBackupID != "" && (o.AdminPassword != "" || len(o.CryptoUsers) > 0) {
		return p, errors.New("cloudhsm: a cluster made from a backup has its source's users")
	}
	if len(o.AZs) == 0 {
		o.AZs = o.HSMs
	}
	if o.Within == 0 {
		o.Within = 60 * time.Second
	}
	r := &awsapi.Caller{Account: o.Account, Region: o.Region}
	var subnets []string
	for _, az := range o.AZs {
		if id := SubnetID(az); !slices.Contains(subnets, id) {
			subnets = append(subnets, id)
		}
	}
	if o.HsmType == "" {
		o.HsmType = "hsm2m.medium"
	}
	cc, err := s.CreateCluster(ctx, r, &CreateClusterInput{HsmType: o.HsmType, SubnetIds: subnets, SourceBackupId: o.SourceBackupID,
		TagList: []HsmTag{{Key: "hsmsim", Value: o.Tag}}})
	if err != nil {
		return p, fmt.Errorf("CreateCluster: %w", err)
	}
	p.ClusterID = cc.Cluster.ClusterId
	for _, az := range o.HSMs {
		hctx, cancel := context.WithTimeout(ctx, createHsmWithin)
		out, err := s.CreateHsm(hctx, r, &CreateHsmInput{ClusterId: p.ClusterID, AvailabilityZone: az})
		cancel()
		if err != nil {
			return p, fmt.Errorf("CreateHsm in %s: %w", az, err)
		}
		p.HSMs = append(p.HSMs, ProvisionedHSM{ID: out.Hsm.HsmId, AZ: az})
	}
	if o.SourceBackupID == "" {
		if err := s.initialize(ctx, r, p, o); err != nil {
			return p, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, o.Within)
	defer cancel()
	return p, s.WaitActive(wctx, p.ClusterID, len(p.HSMs))
}

// initialize claims a new cluster: its CSR signed by a new customer CA, InitializeCluster, the
// admin's first password change (which makes the cluster ACTIVE) and the crypto users.
func (s *Service) initialize(ctx context.Context, r *awsapi.Caller, p *Provisioned, o ProvisionOptions) error {
	d, err := s.DescribeClusters(ctx, r, &DescribeClustersInput{Filters: map[string][]string{"clusterIds": {p.ClusterID}}})
	if err != nil || len(d.Clusters) != 1 || d.Clusters[0].Certificates == nil {
		return fmt.Errorf("describing the new cluster: %v", err)
	}
	ca, err := pki.NewCA(p.ClusterID)
	if err != nil {
		return err
	}
	signed, err := signCSR(d.Clusters[0].Certificates.ClusterCsr, ca)
	if err != nil {
		return err
	}
	if _, err := s.InitializeCluster(ctx, r, &InitializeClusterInput{ClusterId: p.ClusterID, SignedCert: signed, TrustAnchor: string(ca.CertPEM)}); err != nil {
		return fmt.Errorf("InitializeCluster: %w", err)
	}
	p.CustomerCA = ca
	dial := o.Dial
	if dial == nil {
		dial = s.DialCluster
	}
	cl, err := dial(p.ClusterID)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Each step retries a transient failure (a node that timed out or was unreachable, as on a
	// loaded machine) within o.Within; the error names the step that gave up.
	if err := provisionStep(ctx, o.Within, "admin login", func(ctx context.Context) error {
		_, err := cl.Login(ctx, token.AdminName, token.InitialAdminPassword)
		return err
	}); err != nil {
		return err
	}
	if err := provisionStep(ctx, o.Within, "activating the admin", func(ctx context.Context) error {
		return cl.ChangePassword(ctx, "", o.AdminPassword)
	}); err != nil {
		return err
	}
	for _, u := range o.CryptoUsers {
		if err := provisionStep(ctx, o.Within, "creating the crypto user "+u.Name, func(ctx context.Context) error {
			return cl.CreateUser(ctx, u.Name, hsmpb.Role_ROLE_CRYPTO_USER, u.Password)
		}); err != nil {
			return err
		}
	}
	return provisionStep(ctx, o.Within, "admin logout", cl.Logout)
}

// provisionFault, set by tests, fails an attempt of a step before it runs.
var provisionFault func(step string) error

// provisionStep runs f until it succeeds, fails for good (not client.Retryable, not a deadline)
// or within has passed, backing off between attempts. Its error names the step.
func provisionStep(ctx context.Context, within time.Duration, step string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		var err error
		if provisionFault != nil {
			err = provisionFault(step)
		}
		if err == nil {
			err = f(ctx)
		}
		if err == nil {
			return nil
		}
		transient := client.Retryable(err) || errors.Is(err, context.DeadlineExceeded)
		if !transient || ctx.Err() != nil {
			return fmt.Errorf("%s (attempt %d): %w", step, attempt, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s (attempt %d, out of time): %w", step, attempt, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// signCSR signs a cluster's CSR with the customer CA, as the AWS guide does with openssl x509
// -req; the certificate is valid as long as the CA.
func signCSR(csrPEM string, ca *pki.CA) (string, error) {
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", err
	}
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial.Add(serial, big.NewInt(1)), Subject: csr.Subject,
		NotBefore: time.Now().Add(-5 * time.Minute), NotAfter: ca.Cert.NotAfter}, ca.Cert, csr.PublicKey, ca.Key)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

func parseCSR(csrPEM string) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		return nil, errors.New("the cluster has no CSR")
	}
	return x509.ParseCertificateRequest(b.Bytes)
}
