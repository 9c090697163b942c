package cluster

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/cluster/clusterpb"
	"github.com/hsmsim/hsmsim/hsmd/audit"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Cluster backups, CloudHSM style. A backup file (clusterpb.Backup) holds:
//
//   - the token snapshot (key material already sealed under the cluster key, so it is sealed
//     twice), sealed with AES-256-GCM under the backup key, HKDF-SHA256(cluster key, salt
//     backup id, info "hsmsim/backup/v1");
//   - the cluster key, sealed under the backup service key: a key of the control plane (the
//     hsmsim installation), never of a cluster. It plays the part of CloudHSM's persistent backup
//     key: a backup can be restored after its cluster is deleted, but only by the service that
//     made it, and only into an hsmsim cluster;
//   - in the clear, and bound to both ciphertexts as additional data: backup id, source cluster
//     id, creation time, the applied index, and the cluster certificate (trust anchor).
//
// A restored cluster keeps the cluster key and the trust anchor: it is "related" to its source
// (KMS accepts such a cluster for a custom key store whose trust anchor it already knows).

// backupVersion is the version of the backup format.
const backupVersion = 1

// ServiceKeySize is the size of the backup service key (AES-256).
const ServiceKeySize = 32

// NewServiceKey makes a random backup service key.
func NewServiceKey() []byte {
	k := make([]byte, ServiceKeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

// BackupInfo is what a backup says about itself without opening it.
type BackupInfo struct {
	ID              string
	SourceClusterID string
	Created         time.Time
	TrustAnchorPEM  []byte
	Fingerprint     string // the trust anchor's
	Index           uint64
}

// ReadBackupInfo parses a backup file's clear metadata.
func ReadBackupInfo(b []byte) (*BackupInfo, error) {
	var bk clusterpb.Backup
	if err := proto.Unmarshal(b, &bk); err != nil || bk.Version != backupVersion {
		return nil, fmt.Errorf("%w: not a version %d backup (%v)", ErrBackup, backupVersion, err)
	}
	return &BackupInfo{ID: bk.BackupId, SourceClusterID: bk.SourceClusterId, Created: time.Unix(bk.CreatedUnix, 0).UTC(),
		TrustAnchorPEM: bk.TrustAnchorPem, Fingerprint: bk.TrustAnchorFingerprint, Index: bk.Index}, nil
}

// backupAAD is the backup's clear metadata in a canonical encoding (the sealed fields empty).
func backupAAD(bk *clusterpb.Backup) ([]byte, error) {
	c := proto.Clone(bk).(*clusterpb.Backup)
	c.WrappedClusterKey, c.SealedSnapshot = nil, nil
	return proto.MarshalOptions{Deterministic: true}.Marshal(c)
}

func backupKey(ck []byte, backupID string) ([]byte, error) {
	return hkdf.Key(sha256.New, ck, []byte(backupID), "hsmsim/backup/v1", 32)
}

func seal(key, plain, aad []byte) ([]byte, error) {
	a, err := gcm(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, plain, aad), nil
}

func open(key, sealed, aad []byte) ([]byte, error) {
	a, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, ErrBackup
	}
	p, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], aad)
	if err != nil {
		return nil, ErrBackup
	}
	return p, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBackup, err)
	}
	return cipher.NewGCM(b)
}

// Backup writes a backup of the token as this member has applied it (take it on the leader, or
// after the writes it must hold have been acknowledged), sealed as described above.
func (m *Member) Backup(serviceKey []byte) ([]byte, error) {
	s := m.node.State()
	if s == nil {
		return nil, fmt.Errorf("cluster: backup: this node holds no token")
	}
	snap, err := s.Snapshot()
	if err != nil {
		return nil, err
	}
	plain, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, err
	}
	clusterID, _ := s.Meta()
	bk := &clusterpb.Backup{Version: backupVersion, BackupId: NewBackupID(), SourceClusterId: clusterID,
		CreatedUnix: time.Now().Unix(), TrustAnchorPem: m.cfg.CAPEM, TrustAnchorFingerprint: m.taFP, Index: snap.Index}
	aad, err := backupAAD(bk)
	if err != nil {
		return nil, err
	}
	ck := s.ClusterKey().Bytes()
	bkey, err := backupKey(ck, bk.BackupId)
	if err != nil {
		return nil, err
	}
	if bk.SealedSnapshot, err = seal(bkey, plain, aad); err != nil {
		return nil, err
	}
	if bk.WrappedClusterKey, err = seal(serviceKey, ck, aad); err != nil {
		return nil, err
	}
	// A backup is read from this HSM alone, so it is this HSM's event (CloudHSM records
	// CN_BACKUP_* on the HSM backed up).
	ev := audit.Event{Opcode: audit.OpBackupToken, Response: "CKR_OK", Detail: fmt.Sprintf("backup %s at index %d", bk.BackupId, bk.Index)}
	if err := m.node.Audit().RecordLocal(ev); err != nil {
		return nil, err
	}
	return proto.Marshal(bk)
}

// RestoreBackup makes this new member the first HSM of a new cluster clusterID holding the
// backup's token: the same cluster key, keys, users and handles (not the source's logins). The
// member must run with the backup's trust anchor (ErrUnrelated otherwise). The token enters the
// new cluster's log as one entry, so members that join later get it like any other state.
func (m *Member) RestoreBackup(ctx context.Context, backup, serviceKey []byte, clusterID string) error {
	if !ValidClusterID(clusterID) {
		return fmt.Errorf("cluster: cluster id %q is not of the form cluster-[2-7a-zA-Z]{11,16}", clusterID)
	}
	bk, ck, plain, err := openBackup(backup, serviceKey, m.cfg.CAPEM)
	if err != nil {
		return err
	}
	if m.r.Load() != nil || m.node.State() != nil {
		return ErrAlreadyMember
	}
	if err := m.node.InstallClusterKey(ck); err != nil {
		return err
	}
	if err := m.bootstrapRaft(ctx); err != nil {
		return err
	}
	entry, err := proto.Marshal(&clusterpb.RestoreEntry{ClusterId: clusterID, TokenSnapshot: plain})
	if err != nil {
		return err
	}
	if _, err := m.applyLocal(ctx, entryRestore, entry); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	m.log.Info("cluster restored from backup", "backup", bk.BackupId, "source", bk.SourceClusterId, "cluster", clusterID)
	return nil
}

// openBackup parses a backup of the trust anchor caPEM (ErrUnrelated otherwise) and opens it
// with the service key: the cluster key and the token snapshot (an hsmpb.Snapshot, encoded).
func openBackup(backup, serviceKey, caPEM []byte) (*clusterpb.Backup, *token.ClusterKey, []byte, error) {
	var bk clusterpb.Backup
	if err := proto.Unmarshal(backup, &bk); err != nil || bk.Version != backupVersion {
		return nil, nil, nil, fmt.Errorf("%w: not a version %d backup (%v)", ErrBackup, backupVersion, err)
	}
	if !pki.SameCert(bk.TrustAnchorPem, caPEM) {
		return nil, nil, nil, ErrUnrelated
	}
	aad, err := backupAAD(&bk)
	if err != nil {
		return nil, nil, nil, err
	}
	ckBytes, err := open(serviceKey, bk.WrappedClusterKey, aad)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: cluster key: wrong service key or damaged backup", ErrBackup)
	}
	bkey, err := backupKey(ckBytes, bk.BackupId)
	if err != nil {
		return nil, nil, nil, err
	}
	plain, err := open(bkey, bk.SealedSnapshot, aad)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: snapshot", ErrBackup)
	}
	ck, err := token.LoadClusterKey(ckBytes)
	if err != nil {
		return nil, nil, nil, err
	}
	return &bk, ck, plain, nil
}

// CheckBackup reports whether a backup opens with serviceKey and belongs to the trust anchor
// caPEM (ErrUnrelated otherwise), without a member: hsmsim hsmd --restore checks it before it
// starts anything.
func CheckBackup(backup, serviceKey, caPEM []byte) (*BackupInfo, error) {
	if _, _, _, err := openBackup(backup, serviceKey, caPEM); err != nil {
		return nil, err
	}
	return ReadBackupInfo(backup)
}
