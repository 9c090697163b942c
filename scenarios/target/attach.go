package target

import (
	"context"
	"fmt"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// Attach is an InProcess over a cluster of a service someone else runs (hsmsim up's embedded
// cluster), so the live fault controls act on it with the scenario's fault families (package
// internal/faultctl). Its HSMs are labelled n1, n2, ... in the order the service lists them;
// the clients faults cut are the endpoints named here (the KMS's, and netsim.External for the
// PKCS#11 module and the CLI, which dial over plain TCP) plus those the target dials itself.
// Close leaves the service running.
func Attach(ctx context.Context, svc *cloudhsm.Service, account, region, clusterID string, clients ...string) (*InProcess, error) {
	t := NewInProcess(Options{})
	t.Svc, t.net, t.clusterID, t.attached = svc, svc.Network(), clusterID, true
	t.req = &awsapi.Caller{Account: account, Region: region}
	c, err := svc.Cluster(ctx, account, region, clusterID)
	if err != nil {
		return nil, fmt.Errorf("target: attach: %w", err)
	}
	for _, h := range c.HSMs {
		t.addNode(h.ID, h.AZ, "")
	}
	for _, name := range clients {
		t.addClient(name)
	}
	return t, nil
}
