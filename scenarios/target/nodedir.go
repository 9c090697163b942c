package target

// The layout of an hsmd data directory, as Processes reads it: node.json (the node's id and its
// cluster's, written once the node has its place) and pki/customerCA.crt and .key (the customer
// CA the init node made; joining nodes and the runner's control connection get certificates
// from it). This file is the one place this package spells that layout; cmd/hsmsim's hsmd
// writes it, and a node-directory type shared by both replaces it.

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
)

// nodeDir is an hsmd data directory.
type nodeDir string

// identity reads node.json: the node's id and its cluster's (an error until hsmd wrote them).
func (d nodeDir) identity() (nodeID, clusterID string, err error) {
	b, err := os.ReadFile(filepath.Join(string(d), "node.json"))
	if err != nil {
		return "", "", err
	}
	var v struct {
		NodeID    string `json:"node_id"`
		ClusterID string `json:"cluster_id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", "", err
	}
	if v.NodeID == "" {
		return "", "", errors.New("node.json has no node id yet")
	}
	return v.NodeID, v.ClusterID, nil
}

// caCert and caKey are the customer CA's files (the init node's; hsmd --join takes them).
func (d nodeDir) caCert() string { return filepath.Join(string(d), "pki", "customerCA.crt") }
func (d nodeDir) caKey() string  { return filepath.Join(string(d), "pki", "customerCA.key") }
