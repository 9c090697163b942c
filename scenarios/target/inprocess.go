package target

import (
	"context"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/netsim"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// kdf keeps argon2id real but cheap: scenarios log in often.
var kdf = token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// InProcess runs the scenario's cluster in hsmsim's CloudHSM service in this process, and the
// KMS over it when asked for. It can do everything a scenario asks: on top of what both
// targets do, it wipes HSMs (Rejoin), adds and removes them, restores backups into new
// clusters, runs the KMS and reads every HSM's token.
type InProcess struct {
	base
	// Svc is the CloudHSM service holding the scenario's cluster (nil until Start).
	Svc *cloudhsm.Service

	req    *awsapi.Caller
	anchor []byte // the customer CA: InitializeCluster's trust anchor, key stores' too

	clusters map[string]string // restored cluster name → id (guarded by base.mu)

	kmsFace

	attached bool // the service is someone else's (Attach): Close leaves it running
}

// NewInProcess makes the target; Start brings it up.
func NewInProcess(o Options) *InProcess {
	t := &InProcess{clusters: map[string]string{}}
	t.init(o, t)
	return t
}

// Unsupported is ErrUnsupported: InProcess has every power a scenario asks for.
func (t *InProcess) Unsupported() error { return ErrUnsupported }

// Supports reports whether the cluster can run with these Raft timeouts: any.
func (t *InProcess) Supports(cluster.Timeouts) error { return nil }

// Start creates the service, the scenario's cluster made and activated through it (admin
// password AdminPassword), every HSM ACTIVE; then the KMS when asked for. On an error,
// everything started is stopped.
func (t *InProcess) Start(ctx context.Context) (err error) {
	region, _, err := t.prepare()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	o := t.opts
	t.req = &awsapi.Caller{Account: KMSAccount, Region: region}
	t.net = netsim.New(o.Seed)
	t.Svc, err = cloudhsm.Open(cloudhsm.Config{DataDir: filepath.Join(t.dir, "cloudhsm"), Region: region, AccountID: KMSAccount,
		Network: t.net, Logger: o.Logger, NoSync: true, KDF: kdf, Timeouts: o.Timeouts,
		SnapshotThreshold: 256, TrailingLogs: 128, SnapshotInterval: time.Second, Capacity: o.Capacity})
	if err != nil {
		return err
	}
	if t.clusterID, err = t.provision(ctx, "", ""); err != nil {
		return err
	}
	if err := t.waitActive(ctx, 30*time.Second); err != nil {
		return err
	}
	if o.KMS {
		if err := t.startKMS(&t.base, region, t, t.Svc); err != nil {
			return err
		}
	}
	return nil
}

// RestoreBackup backs the scenario's cluster up now (cloudhsm.Service.TakeBackup), makes a new
// cluster from the backup through the control plane (CreateCluster with SourceBackupId, then
// CreateHsm as many HSMs per AZ as the scenario's cluster started with: the first restores the
// backup, the others join) and waits until it is ACTIVE. The new cluster is related to the
// scenario's (same cluster certificate and trust anchor); its HSMs get the next labels. It
// returns the new cluster's id and the backup's.
func (t *InProcess) RestoreBackup(ctx context.Context, name string) (clusterID, backupID string, err error) {
	backupID, err = t.Svc.TakeBackup(t.clusterID)
	if err != nil {
		return "", "", fmt.Errorf("target: backup: %w", err)
	}
	clusterID, err = t.provision(ctx, name, backupID)
	return clusterID, backupID, err
}

// RestoredCluster is the id of the cluster restored under name ("" if none).
func (t *InProcess) RestoredCluster(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clusters[name]
}

func (t *InProcess) clusterOf(n *node) string {
	if n.cluster == "" {
		return t.clusterID
	}
	return t.RestoredCluster(n.cluster)
}

func (t *InProcess) member(n *node) *cluster.Member {
	if t.isRemoved(n) {
		return nil
	}
	return t.Svc.Member(t.clusterOf(n), n.id)
}

func (t *InProcess) fill(n *node, ni *NodeInfo) {
	if m := t.member(n); m != nil {
		ni.Up, ni.Leader, ni.State, ni.LeaderID = true, m.IsLeader(), string(m.HSMState()), m.LeaderID()
	}
}

func (t *InProcess) clientNodes() ([]client.Node, []byte, error) {
	ca, err := t.Svc.HSMCAPEM(t.clusterID)
	if err != nil {
		return nil, nil, err
	}
	c, err := t.Svc.Cluster(context.Background(), "", "", t.clusterID)
	if err != nil {
		return nil, nil, err
	}
	var nodes []client.Node
	for _, h := range c.HSMs {
		if h.Addr != "" {
			nodes = append(nodes, client.Node{ID: h.ID, AZ: h.AZ, Addr: h.Addr})
		}
	}
	return nodes, ca, nil
}

// State is a running HSM's token (nil when down).
func (t *InProcess) State(label string) *token.State {
	n, err := t.node(label)
	if err != nil {
		return nil
	}
	m := t.member(n)
	if m == nil {
		return nil
	}
	return m.Node().State()
}

// Applied is a running HSM's applied index (ok false when it is down).
func (t *InProcess) Applied(label string) (uint64, bool) {
	if st := t.State(label); st != nil {
		return st.Applied(), true
	}
	return 0, false
}

// Digest is a running HSM's token digest, hex (ok false when it is down or unreadable).
func (t *InProcess) Digest(label string) (string, bool) {
	st := t.State(label)
	if st == nil {
		return "", false
	}
	d, err := st.Digest()
	if err != nil {
		return "", false
	}
	return hex.EncodeToString(d), true
}

// Holds says which of handles the HSM's token holds, read from the token itself (nil when
// the HSM is down).
func (t *InProcess) Holds(_ context.Context, label string, handles []uint32, _ map[string]string) (map[uint32]bool, error) {
	st := t.State(label)
	if st == nil {
		return nil, nil
	}
	out := map[uint32]bool{}
	for _, h := range handles {
		if _, ok := st.Object(h); ok {
			out[h] = true
		}
	}
	return out, nil
}

// Kill stops an HSM abruptly (cloudhsm.Service.Kill); its directory and place stay.
func (t *InProcess) Kill(label string) error {
	n, err := t.node(label)
	if err != nil {
		return err
	}
	if t.member(n) == nil {
		return fmt.Errorf("target: %s is not running", label)
	}
	return t.Svc.Kill(t.clusterOf(n), n.id)
}

// Restart starts a killed HSM from its directory on its addresses; it rejoins by itself.
func (t *InProcess) Restart(ctx context.Context, label string) error {
	n, err := t.node(label)
	if err != nil {
		return err
	}
	return t.Svc.Restart(ctx, t.clusterOf(n), n.id)
}

// Rejoin deletes a killed HSM's data directory and has it join its cluster again under the same
// id and addresses (cloudhsm.Service.Wipe: taken out of the configuration, staged, caught up,
// promoted).
func (t *InProcess) Rejoin(ctx context.Context, label string) error {
	n, err := t.node(label)
	if err != nil {
		return err
	}
	return t.Svc.Wipe(ctx, t.clusterOf(n), n.id)
}

// Add creates a new HSM in az in the scenario's cluster (CreateHsm) and returns its label.
func (t *InProcess) Add(ctx context.Context, az string) (string, error) {
	return t.createHSM(ctx, "", t.clusterID, az)
}

// Remove deletes an HSM from its cluster (DeleteHsm).
func (t *InProcess) Remove(ctx context.Context, label string) error {
	n, err := t.node(label)
	if err != nil {
		return err
	}
	if _, err := t.Svc.DeleteHsm(ctx, t.req, &cloudhsm.DeleteHsmInput{ClusterId: t.clusterOf(n), HsmId: n.id}); err != nil {
		return err
	}
	t.mu.Lock()
	n.removed = true
	t.mu.Unlock()
	return nil
}

// PKCS11Config writes the client config file libhsmsim-pkcs11.so reads (the service's
// client.json of the scenario's cluster: its HSMs and trust anchor) and returns its path.
func (t *InProcess) PKCS11Config() (string, error) {
	cfg, err := t.Svc.ClientConfig(t.clusterID)
	if err != nil {
		return "", err
	}
	return t.writePKCS11Config(cfg)
}

// Close stops the KMS and every HSM, and removes a temporary directory.
func (t *InProcess) Close() {
	t.closeKMS()
	if t.Svc != nil && !t.attached {
		_ = t.Svc.Close()
	}
	t.removeDir()
}
