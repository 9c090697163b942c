package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/cluster/clusterpb"
)

// Backups and restores with hsmd processes, as the CloudHSM control plane does them in process
// (kms/cloudhsm backups.go and CreateCluster with SourceBackupId): the runner plays the control
// plane. It keeps the backup service key (a file of its own, mode 0600, beside the HSMs'
// directories), asks the scenario cluster's leader for a backup over the Cluster service
// (Backup, on the control connection), and starts the new cluster's first HSM with
// "hsmd --restore" and the key's file (never its value on a command line), the others with
// --join. The new cluster is related to the scenario's: the same cluster key and customer CA.

// serviceKeyFile is the runner's backup service key; backupsDir holds the backups it took.
const serviceKeyFile, backupsDir = "backup-service.key", "backups"

// RestoreBackup backs the scenario's cluster up now, on its leader, and starts a new cluster
// from the backup with as many HSMs per AZ as the scenario's cluster started with, labelled
// next; it returns once every new HSM is ACTIVE, with the new cluster's id and the backup's.
func (t *Processes) RestoreBackup(ctx context.Context, name string) (clusterID, backupID string, err error) {
	if t.RestoredCluster(name) != "" {
		return "", "", fmt.Errorf("target: a cluster named %s was restored already", name)
	}
	path, backupID, err := t.takeBackup(ctx)
	if err != nil {
		return "", "", fmt.Errorf("target: backup: %w", err)
	}
	clusterID = cluster.NewClusterID()
	t.mu.Lock()
	t.clusters[name] = clusterID
	t.mu.Unlock()
	ca := []string{"--ca-cert", filepath.Join(t.dir, caCertFile), "--ca-key", filepath.Join(t.dir, caKeyFile)}
	restore := append([]string{"--restore", path, "--backup-key-file", filepath.Join(t.dir, serviceKeyFile), "--cluster-id", clusterID}, ca...)
	var first *procNode
	for _, a := range t.opts.AZs {
		for i := 0; i < a.HSMs; i++ {
			how := restore
			if first != nil {
				how = t.joinArgs(first.api)
			}
			n, err := t.launch(ctx, a.AZ, name, how)
			if err != nil {
				return clusterID, backupID, fmt.Errorf("target: restoring %s: %w", name, err)
			}
			if first == nil {
				first = n
			}
			if err := t.serving(ctx, n, "restore", true); err != nil {
				return clusterID, backupID, err
			}
		}
	}
	return clusterID, backupID, nil
}

// RestoredCluster is the id of the cluster restored under name ("" if none).
func (t *Processes) RestoredCluster(name string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.clusters[name]
}

// clusterName is the name of the cluster with id id ("" the scenario's); ok false if none.
func (t *Processes) clusterName(id string) (string, bool) {
	if id == "" {
		return "", false
	}
	if id == t.clusterID {
		return "", true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, cid := range t.clusters {
		if cid == id {
			return name, true
		}
	}
	return "", false
}

// takeBackup asks the scenario cluster's leader for a backup under the runner's service key
// (made at the first backup) and writes it under backupsDir; it returns the file and the id.
// With no leader known (an election going on) it asks another running HSM, as the control
// plane in process does (kms/cloudhsm takeBackup: the leader, else any running member), and
// asks again on an error until ctx or 30 s end.
func (t *Processes) takeBackup(ctx context.Context) (path, id string, err error) {
	key, err := t.backupKey()
	if err != nil {
		return "", "", err
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var data []byte
	for data == nil {
		from := t.Leader()
		if from == "" {
			if up := t.peers("", ""); len(up) > 0 {
				from = t.labelOf(up[0])
			}
		}
		last := errors.New("no running HSM to back up")
		if n := t.proc(from); n != nil {
			t.pmu.Lock()
			conn := n.conn
			t.pmu.Unlock()
			actx, acancel := context.WithTimeout(cctx, 5*time.Second)
			// A backup holds the whole token: past gRPC's default 4 MiB for a reply.
			r, err := clusterpb.NewClusterClient(conn).Backup(actx, &clusterpb.BackupRequest{ServiceKey: key}, grpc.MaxCallRecvMsgSize(1<<30))
			acancel()
			if err == nil {
				data = r.Backup
				break
			}
			last = fmt.Errorf("%s: %w", from, err)
		}
		select {
		case <-cctx.Done():
			return "", "", fmt.Errorf("%w (last: %v)", cctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	info, err := cluster.ReadBackupInfo(data)
	if err != nil {
		return "", "", err
	}
	dir := filepath.Join(t.dir, backupsDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, info.ID+".backup")
	return path, info.ID, os.WriteFile(path, data, 0o600)
}

// labelOf is the label of the process serving the API address api ("" if none).
func (t *Processes) labelOf(api string) string {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	for l, n := range t.procs {
		if n.api == api {
			return l
		}
	}
	return ""
}

// backupKey is the runner's backup service key, made and written to its file at first use.
func (t *Processes) backupKey() ([]byte, error) {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if t.serviceKey == nil {
		k := cluster.NewServiceKey()
		if err := cluster.WriteServiceKeyFile(filepath.Join(t.dir, serviceKeyFile), k); err != nil {
			return nil, err
		}
		t.serviceKey = k
	}
	return t.serviceKey, nil
}
