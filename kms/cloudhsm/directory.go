package cloudhsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/client"
)

// The service as a directory of clusters for their clients: how the KMS finds the cluster behind
// a custom key store and reaches it (Service implements kms.ClusterDirectory with these types).

// ErrClusterNotFound is what Cluster answers for a cluster that does not exist.
var ErrClusterNotFound = errors.New("cloudhsm: cluster not found")

// Cluster is a CloudHSM cluster as a client of it (the KMS) needs to know it.
type Cluster struct {
	ID string
	// State is a CloudHSM ClusterState; key stores need ACTIVE.
	State string
	// TrustAnchorPEM is the cluster's customerCA.crt: the certificate that issued the cluster
	// certificate at InitializeCluster. CreateCustomKeyStore's TrustAnchorCertificate must match.
	TrustAnchorPEM []byte
	// ClusterCertificatePEM identifies the cluster's backup lineage: clusters made from the same
	// backups share it, and are "related" (KMSDG:create-keystore).
	ClusterCertificatePEM []byte
	HSMs                  []ClusterHSM
}

// ClusterHSM is one HSM of a Cluster.
type ClusterHSM struct {
	ID    string
	AZ    string // availability zone, e.g. us-east-1a
	State string // a CloudHSM HsmState; only ACTIVE HSMs count
	Addr  string // host:port of the node
}

// ActiveAZs counts the active HSMs and the availability zones they span.
func (c *Cluster) ActiveAZs() (hsms, azs int) {
	seen := map[string]bool{}
	for _, h := range c.HSMs {
		if h.State == string(cluster.HSMActive) {
			hsms++
			seen[h.AZ] = true
		}
	}
	return hsms, len(seen)
}

// Cluster describes a cluster for the KMS. Empty account and region match any (Go callers).
func (s *Service) Cluster(ctx context.Context, account, region, id string) (*Cluster, error) {
	s.refresh(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cat.Clusters[id]
	if c == nil || (account != "" && c.Account != account) || (region != "" && c.Region != region) {
		return nil, fmt.Errorf("%w: %s", ErrClusterNotFound, id)
	}
	out := &Cluster{ID: c.ID, State: c.State, TrustAnchorPEM: []byte(c.TrustAnchor), ClusterCertificatePEM: []byte(c.ClusterCert)}
	for _, h := range c.HSMs {
		out.HSMs = append(out.HSMs, ClusterHSM{ID: h.ID, AZ: h.AZ, State: s.hsmStateLocked(c, h), Addr: h.APIAddr})
	}
	return out, nil
}

// Dial returns a client of the cluster's active HSMs through the service's network.
func (s *Service) Dial(ctx context.Context, c *Cluster) (*client.Client, error) {
	return s.DialCluster(c.ID)
}
