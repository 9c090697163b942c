package cluster

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hsmsim/hsmsim/hsmd/pki"
)

// raftPortOffset is how far above its node API port a member's Raft listener sits when ports
// are laid out by number (hsmsim up --base-port, the CloudHSM service's BasePort, hsmsim hsmd's
// default --raft-listen).
const raftPortOffset = 100

// RaftPort is the Raft port that goes with node API port apiPort in hsmsim's port layout.
func RaftPort(apiPort int) int { return apiPort + raftPortOffset }

// RaftAddr is the Raft address that goes with node API address apiAddr: the same host,
// RaftPort of its port.
func RaftAddr(apiAddr string) (string, error) {
	host, port, err := net.SplitHostPort(apiAddr)
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(RaftPort(n))), nil
}

// File names of the customer CA, as the CloudHSM guide names them: a standalone node's pki/
// directory, the CloudHSM service's cluster directories and hsmsim up's data directory use them.
const (
	CustomerCAFile    = "customerCA.crt"
	CustomerCAKeyFile = "customerCA.key"
)

// NodeDir is the data directory of a standalone HSM (hsmsim hsmd, StartStandalone). It is a
// Member's data directory (Config.DataDir: hsm.db, node.key, raft.db, snapshots/), so its
// layout lives here beside the rest of it; a standalone node adds what lets it take its place
// again without flags:
//
//	node.json             its identity (NodeIdentity), written once it has its place
//	pki/customerCA.crt    the cluster's trust anchor: clients verify nodes against it
//	pki/customerCA.key    the anchor's key (on the node that made the cluster): --join needs it
//	pki/node.crt          the node's TLS certificate, issued from the anchor
//	pki/node-tls.key      its key
type NodeDir string

const (
	identityFile = "node.json"
	pkiDir       = "pki"
	nodeCertFile = "node.crt"
	nodeKeyFile  = "node-tls.key"
)

// NodeIdentity is what a standalone node's directory remembers about the node itself.
type NodeIdentity struct {
	NodeID    string `json:"node_id"`
	AZ        string `json:"az"`
	ClusterID string `json:"cluster_id,omitempty"`
	APIAddr   string `json:"api_addr"`
	RaftAddr  string `json:"raft_addr"`
}

// Path is the directory itself.
func (d NodeDir) Path() string { return string(d) }

// IdentityPath is node.json.
func (d NodeDir) IdentityPath() string { return filepath.Join(string(d), identityFile) }

// PKIDir holds the trust anchor and the node's TLS pair.
func (d NodeDir) PKIDir() string { return filepath.Join(string(d), pkiDir) }

// CustomerCAPath is the cluster's trust anchor (what a client config's trust_anchor and
// hsmsim hsmd --ca-cert name).
func (d NodeDir) CustomerCAPath() string { return filepath.Join(d.PKIDir(), CustomerCAFile) }

// CustomerCAKeyPath is the trust anchor's key (hsmsim hsmd --ca-key); only the node that made
// the cluster has it.
func (d NodeDir) CustomerCAKeyPath() string { return filepath.Join(d.PKIDir(), CustomerCAKeyFile) }

func (d NodeDir) certPath() string { return filepath.Join(d.PKIDir(), nodeCertFile) }
func (d NodeDir) keyPath() string  { return filepath.Join(d.PKIDir(), nodeKeyFile) }

// ReadIdentity reads node.json; an error wrapping os.ErrNotExist means the directory holds no
// node that took its place yet.
func (d NodeDir) ReadIdentity() (*NodeIdentity, error) {
	b, err := os.ReadFile(d.IdentityPath())
	if err != nil {
		return nil, err
	}
	var id NodeIdentity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("%s: %w", d.IdentityPath(), err)
	}
	return &id, nil
}

// WriteIdentity writes node.json. StartStandalone writes it once the node has its place, so a
// first run that failed before starts afresh.
func (d NodeDir) WriteIdentity(id *NodeIdentity) error {
	b, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(d.IdentityPath(), append(b, '\n'), 0o600)
}

// CustomerCA loads the trust anchor and its key (the node that made the cluster), to issue
// more certificates from it: a joining node's, or a control client's.
func (d NodeDir) CustomerCA() (*pki.CA, error) {
	return loadCA(d.CustomerCAPath(), d.CustomerCAKeyPath())
}

func loadCA(certPath, keyPath string) (*pki.CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	return pki.LoadCA(certPEM, keyPEM)
}
