package target

// Bringing up a cluster as an operator does is the CloudHSM service's own Provision (CreateCluster,
// CreateHsm per HSM, the CSR signed by a customer CA, InitializeCluster, the admin's activation),
// shared with hsmsim up; this file gives it the scenario's shape and labels the HSMs it made.
// createHSM stays for add-hsm.

import (
	"context"
	"fmt"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// provision makes the scenario's cluster (from a backup when source is set) with the
// scenario's HSMs per AZ, labelling them in order; name is "" for the scenario's cluster, whose
// customer CA becomes the target's trust anchor.
func (t *InProcess) provision(ctx context.Context, name, source string) (string, error) {
	var azs, hsms []string
	for _, a := range t.opts.AZs {
		azs = append(azs, a.AZ)
		for i := 0; i < a.HSMs; i++ {
			hsms = append(hsms, a.AZ)
		}
	}
	o := cloudhsm.ProvisionOptions{Account: t.req.Account, Region: t.req.Region, AZs: azs, HSMs: hsms, Tag: "scenario",
		SourceBackupID: source, Within: 60 * time.Second, HsmType: t.opts.HsmType}
	if source == "" {
		o.AdminPassword = AdminPassword
		// The admin's client is one of the scenario's named netsim clients.
		o.Dial = func(id string) (*client.Client, error) { t.clusterID = id; return t.Client("setup-admin", nil) }
	}
	p, err := t.Svc.Provision(ctx, o)
	if name != "" && p.ClusterID != "" {
		t.mu.Lock()
		t.clusters[name] = p.ClusterID
		t.mu.Unlock()
	}
	for _, h := range p.HSMs {
		t.addNode(h.ID, h.AZ, name)
	}
	if err != nil {
		return p.ClusterID, fmt.Errorf("target: provisioning: %w", err)
	}
	if p.CustomerCA != nil {
		t.anchor = p.CustomerCA.CertPEM
	}
	return p.ClusterID, nil
}

// createHSM adds an HSM through the control plane and gives it the next label.
func (t *InProcess) createHSM(ctx context.Context, name, clusterID, az string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := t.Svc.CreateHsm(cctx, t.req, &cloudhsm.CreateHsmInput{ClusterId: clusterID, AvailabilityZone: az})
	if err != nil {
		return "", fmt.Errorf("target: CreateHsm in %s: %w", az, err)
	}
	return t.addNode(out.Hsm.HsmId, az, name), nil
}
