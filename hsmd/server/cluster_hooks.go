package server

import "github.com/hsmsim/hsmsim/hsmd/store"

// ClusterKeyRecord returns the store write that holds this node's cluster key, for the cluster
// layer. A token restore (token.State.Restore, which calls store.Replace) drops every data bucket
// of the store, the node's own record included; the cluster layer writes the record back in its
// first transaction after a restore, so that the node still opens its token after a restart.
func (n *Node) ClusterKeyRecord() (store.Write, error) {
	s := n.State()
	if s == nil {
		return store.Write{}, errNoClusterKey
	}
	return store.Write{Bucket: nodeBucket, Key: clusterKeyRef, Value: s.ClusterKey().Bytes()}, nil
}
