package kms

import (
	"context"
	"errors"

	"github.com/hsmsim/hsmsim/hsmd/client"
)

// ClusterDirectory is how the KMS finds the cluster behind a custom key store and reaches it. The
// cluster layer implements it (the same clusters its CloudHSM control plane describes).
type ClusterDirectory interface {
	// Cluster describes cluster id of the account and region as it is now, or returns an error
	// wrapping ErrClusterNotFound when there is no such cluster.
	Cluster(ctx context.Context, account, region, id string) (*Cluster, error)
	// Dial returns a client of the cluster's HSMs, not logged in. The KMS logs it in as kmsuser
	// and closes it when the key store disconnects.
	Dial(ctx context.Context, c *Cluster) (*client.Client, error)
}

// ErrClusterNotFound is what a ClusterDirectory answers for a cluster that does not exist.
var ErrClusterNotFound = errors.New("kms: CloudHSM cluster not found")

// Cluster is what the KMS needs to know of a CloudHSM cluster.
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
	HSMs                  []HSM
}

// HSM is one HSM of a cluster.
type HSM struct {
	ID    string
	AZ    string // availability zone, e.g. us-east-1a
	State string // a CloudHSM HsmState; only ACTIVE HSMs count
	Addr  string // host:port of the node
}

// activeAZs counts the active HSMs and the availability zones they span.
func (c *Cluster) activeAZs() (hsms, azs int) {
	seen := map[string]bool{}
	for _, h := range c.HSMs {
		if h.State == "ACTIVE" {
			hsms++
			seen[h.AZ] = true
		}
	}
	return hsms, len(seen)
}

// related reports whether two clusters share backup history.
func (c *Cluster) related(o *Cluster) bool {
	return len(c.ClusterCertificatePEM) > 0 && pemEqual(c.ClusterCertificatePEM, o.ClusterCertificatePEM)
}
