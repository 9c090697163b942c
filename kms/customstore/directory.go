package customstore

import (
	"bytes"
	"context"
	"encoding/pem"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// Directory is how the KMS finds the cluster behind a custom key store and reaches it (package
// kms names it ClusterDirectory in its Config). The CloudHSM service implements it
// (cloudhsm.Service: the same clusters its control plane describes); scenarios put their own in
// front of it to choose the network the KMS dials through.
type Directory interface {
	// Cluster describes cluster id of the account and region as it is now, or returns an error
	// wrapping cloudhsm.ErrClusterNotFound when there is no such cluster.
	Cluster(ctx context.Context, account, region, id string) (*cloudhsm.Cluster, error)
	// Dial returns a client of the cluster's HSMs, not logged in. The KMS logs it in as kmsuser
	// and closes it when the key store disconnects.
	Dial(ctx context.Context, c *cloudhsm.Cluster) (*client.Client, error)
}

// noClusters is the directory of a KMS configured without one: no cluster exists.
type noClusters struct{}

func (noClusters) Cluster(context.Context, string, string, string) (*cloudhsm.Cluster, error) {
	return nil, cloudhsm.ErrClusterNotFound
}
func (noClusters) Dial(context.Context, *cloudhsm.Cluster) (*client.Client, error) {
	return nil, cloudhsm.ErrClusterNotFound
}

// related reports whether two clusters share backup history.
func related(c, o *cloudhsm.Cluster) bool {
	return len(c.ClusterCertificatePEM) > 0 && pemEqual(c.ClusterCertificatePEM, o.ClusterCertificatePEM)
}

func pemEqual(a, b []byte) bool {
	da, db := pemDER(a), pemDER(b)
	return da != nil && db != nil && bytes.Equal(da, db)
}

// pemDER is the DER of the first PEM block (nil when there is none), so whitespace and line
// endings do not decide whether two certificates are the same.
func pemDER(b []byte) []byte {
	blk, _ := pem.Decode(bytes.TrimSpace(b))
	if blk == nil {
		return nil
	}
	return blk.Bytes
}
