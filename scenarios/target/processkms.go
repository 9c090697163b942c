package target

import (
	"context"
	"fmt"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// The KMS over the hsmd processes: Processes is the KMS's cluster directory. It describes the one
// cluster it runs from what its processes last said (GetInfo, polled), and dials them with the
// real client over TLS with the customer CA, through the netsim endpoint "kms", so the faults
// mirrored to the processes (partitions, cut-clients, az-outage) cut the KMS off as they cut it
// off in process, and kill and pause are those of the processes themselves.

var _ kms.ClusterDirectory = (*Processes)(nil)

// TrustAnchorPEM is the customer CA certificate the init HSM made (a key store's
// TrustAnchorCertificate).
func (t *Processes) TrustAnchorPEM() []byte { return t.caPEM }

// Cluster implements kms.ClusterDirectory: the scenario's cluster or one restored from its
// backup (empty account and region match any, as cloudhsm.Service.Cluster). An HSM whose
// process is not running is DEGRADED, as the service says of a killed member; a running one has
// the state its last GetInfo gave.
func (t *Processes) Cluster(_ context.Context, account, region, id string) (*cloudhsm.Cluster, error) {
	name, ok := t.clusterName(id)
	if !ok || (account != "" && account != KMSAccount) || (region != "" && region != t.region) {
		return nil, fmt.Errorf("%w: %s", cloudhsm.ErrClusterNotFound, id)
	}
	// Every cluster here is the scenario's or restored from its backups, all with the one
	// customer CA, so the CA stands for the cluster certificate: it is what relates clusters.
	out := &cloudhsm.Cluster{ID: id, State: "ACTIVE", TrustAnchorPEM: t.caPEM, ClusterCertificatePEM: t.caPEM}
	for _, n := range t.Nodes() {
		pn := t.proc(n.Label)
		if n.Removed || pn == nil || n.Cluster != name {
			continue
		}
		st := n.State
		if !n.Up {
			st = string(cluster.HSMDegraded)
		}
		out.HSMs = append(out.HSMs, cloudhsm.ClusterHSM{ID: n.ID, AZ: n.AZ, State: st, Addr: pn.api})
	}
	return out, nil
}

// Dial implements kms.ClusterDirectory: a client of the cluster's HSMs through the netsim
// endpoint "kms", with the attempt bound and refresh the service's own KMS client has
// (cloudhsm.Service.DialClusterAs).
func (t *Processes) Dial(_ context.Context, c *cloudhsm.Cluster) (*client.Client, error) {
	var nodes []client.Node
	for _, h := range c.HSMs {
		nodes = append(nodes, client.Node{ID: h.ID, AZ: h.AZ, Addr: h.Addr})
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("target: cluster %s has no HSM", c.ID)
	}
	return client.Dial(client.Config{Nodes: nodes, CAPEM: t.caPEM, Dialer: t.net.Dialer(netsim.Endpoint{Name: kmsEndpoint}),
		AttemptTimeout: 2 * time.Second, Refresh: 2 * time.Second})
}
