package cloudhsm_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// TestProvisionMakesAnActiveClusterAndRestoresOneFromABackup: Provision makes a cluster as an
// operator would (subnets in three AZs, HSMs in two, the CSR signed by the customer CA it
// returns, the admin activated, a crypto user made), and makes a related cluster from a backup
// of it that keeps its trust anchor and users.
func TestProvisionMakesAnActiveClusterAndRestoresOneFromABackup(t *testing.T) {
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: t.TempDir(), NoSync: true,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts()})
	check(t, err)
	defer svc.Close()
	azs := []string{"us-east-1a", "us-east-1b", "us-east-1c"}
	p, err := svc.Provision(ctx(), cloudhsm.ProvisionOptions{AZs: azs, HSMs: []string{"us-east-1b", "us-east-1a"}, Tag: "test",
		AdminPassword: adminPass, CryptoUsers: []cloudhsm.User{{Name: "alice", Password: "alicepass1"}}})
	check(t, err)
	if len(p.HSMs) != 2 || p.HSMs[0].AZ != "us-east-1b" || p.HSMs[1].AZ != "us-east-1a" || p.CustomerCA == nil {
		t.Fatalf("provisioned %+v, want HSMs in us-east-1b then us-east-1a and the customer CA", p)
	}
	d, err := svc.DescribeClusters(ctx(), nil, &cloudhsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {p.ClusterID}}})
	check(t, err)
	desc := d.Clusters[0]
	if desc.State != "ACTIVE" || len(desc.SubnetMapping) != 3 || !slices.Contains(desc.TagList, cloudhsm.HsmTag{Key: "hsmsim", Value: "test"}) {
		t.Fatalf("cluster %s with subnets %v and tags %v, want ACTIVE in 3 AZs tagged hsmsim=test", desc.State, desc.SubnetMapping, desc.TagList)
	}
	for _, h := range desc.Hsms {
		if h.State != "ACTIVE" {
			t.Fatalf("HSM %s is %s, want ACTIVE", h.HsmId, h.State)
		}
	}
	b, _ := pem.Decode([]byte(desc.Certificates.ClusterCertificate))
	if b == nil {
		t.Fatal("no cluster certificate")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	check(t, err)
	if err := cert.CheckSignatureFrom(p.CustomerCA.Cert); err != nil {
		t.Fatalf("the cluster certificate is not the customer CA's: %v", err)
	}
	c, err := svc.Cluster(ctx(), "", "", p.ClusterID)
	check(t, err)
	if !bytes.Equal(c.TrustAnchorPEM, p.CustomerCA.CertPEM) {
		t.Fatal("the cluster's trust anchor is not the customer CA")
	}
	login := func(clusterID, user, pw string) {
		t.Helper()
		cl, err := svc.DialCluster(clusterID)
		check(t, err)
		defer cl.Close()
		if _, err := cl.Login(ctx(), user, pw); err != nil {
			t.Fatalf("%s logs in to %s: %v", user, clusterID, err)
		}
		check(t, cl.Logout(ctx()))
	}
	login(p.ClusterID, token.AdminName, adminPass)
	login(p.ClusterID, "alice", "alicepass1")

	backup, err := svc.TakeBackup(p.ClusterID)
	check(t, err)
	r, err := svc.Provision(ctx(), cloudhsm.ProvisionOptions{AZs: azs, HSMs: []string{"us-east-1c", "us-east-1a"}, Tag: "test", SourceBackupID: backup})
	check(t, err)
	if r.CustomerCA != nil || len(r.HSMs) != 2 || r.ClusterID == p.ClusterID {
		t.Fatalf("restored %+v, want a new cluster of 2 HSMs and no new customer CA", r)
	}
	rc, err := svc.Cluster(ctx(), "", "", r.ClusterID)
	check(t, err)
	if rc.State != "ACTIVE" || !bytes.Equal(rc.TrustAnchorPEM, c.TrustAnchorPEM) || !bytes.Equal(rc.ClusterCertificatePEM, c.ClusterCertificatePEM) {
		t.Fatalf("restored cluster %s, want ACTIVE and related to its source", rc.State)
	}
	login(r.ClusterID, "alice", "alicepass1")
}

// TestProvisionRefusesWhatCannotWork: no HSM, a new cluster nobody can activate, users for a
// cluster that brings its own.
func TestProvisionRefusesWhatCannotWork(t *testing.T) {
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: t.TempDir(), NoSync: true})
	check(t, err)
	defer svc.Close()
	for name, o := range map[string]cloudhsm.ProvisionOptions{
		"no HSM":        {AdminPassword: adminPass},
		"no admin":      {HSMs: []string{"us-east-1a"}},
		"backup, users": {HSMs: []string{"us-east-1a"}, SourceBackupID: "backup-aaaaaaaaaaa", CryptoUsers: []cloudhsm.User{{Name: "alice", Password: "alicepass1"}}},
		"backup, admin": {HSMs: []string{"us-east-1a"}, SourceBackupID: "backup-aaaaaaaaaaa", AdminPassword: adminPass},
	} {
		if _, err := svc.Provision(ctx(), o); err == nil {
			t.Errorf("%s: provisioned", name)
		}
	}
	if ids := svc.ClusterIDs(); len(ids) != 0 {
		t.Fatalf("clusters %v were made", ids)
	}
}

// TestProvisionRetriesTransientStepFailures: the admin's login failing twice with a deadline
// (as under heavy load) is retried and provisioning succeeds; a step failing for good names
// itself.
func TestProvisionRetriesTransientStepFailures(t *testing.T) {
	fails := 0
	cloudhsm.SetProvisionFault(func(step string) error {
		if step == "admin login" && fails < 2 {
			fails++
			return fmt.Errorf("injected: %w", context.DeadlineExceeded)
		}
		return nil
	})
	defer cloudhsm.SetProvisionFault(nil)
	e := newAPIEnv(t)
	e.provision("us-east-1", "", "us-east-1a")
	if fails != 2 {
		t.Fatalf("the fault fired %d times, want 2", fails)
	}

	cloudhsm.SetProvisionFault(func(step string) error {
		if step == "creating the crypto user alice" {
			return errors.New("injected: for good")
		}
		return nil
	})
	_, err := e.svc.Provision(ctx(), cloudhsm.ProvisionOptions{Account: ownerAccount, Region: "us-east-1", HSMs: []string{"us-east-1a"},
		Tag: "test", AdminPassword: adminPass, CryptoUsers: []cloudhsm.User{{Name: "alice", Password: "alicepass1"}}})
	if err == nil || !strings.Contains(err.Error(), "creating the crypto user alice") || !strings.Contains(err.Error(), "for good") {
		t.Fatalf("want the failed step named, got %v", err)
	}
}
