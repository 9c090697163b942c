package cloudhsm

import (
	"context"
	"errors"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Backups: taking them (on the cluster's life-cycle events and daily), retention, and the
// backup operations of the control plane (DescribeBackups, DeleteBackup, RestoreBackup,
// ModifyBackupAttributes, CopyBackupToRegion). Sharing them is in policy.go.

// takeBackup backs up a cluster from its leader (or any running member) and records it. The
// caller holds the cluster's op lock.
func (s *Service) takeBackup(clusterID string) (*backupRec, error) {
	var src *cluster.Member
	for _, m := range s.Members(clusterID) {
		if src == nil || m.IsLeader() {
			src = m
		}
	}
	if src == nil {
		return nil, errors.New("no running HSM to back up")
	}
	data, err := src.Backup(s.serviceKey)
	if err != nil {
		return nil, err
	}
	info, err := cluster.ReadBackupInfo(data)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.backupPath(info.ID), data, 0o600); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cat.Clusters[clusterID]
	if c == nil {
		return nil, errors.New("cluster deleted")
	}
	typ := c.HsmType // the type of the HSM the backup comes from, during a migration too
	for _, h := range c.HSMs {
		if h.ID == src.ID() && h.HsmType != "" {
			typ = h.HsmType
		}
	}
	b := &backupRec{ID: info.ID, Account: c.Account, Region: c.Region, ClusterID: c.ID, State: "READY", Created: s.now(),
		HsmType: typ, Mode: c.Mode, CA: c.CA, ClusterState: c.State, ClusterCert: c.ClusterCert, TrustAnchor: c.TrustAnchor}
	s.cat.Backups[b.ID] = b
	s.log.Info("backup taken", "cluster", c.ID, "backup", b.ID, "index", info.Index)
	return b, s.saveLocked()
}

// TakeBackup backs a cluster up now (CloudHSM takes backups by itself; this is for tests and
// scenarios) and returns the backup's id.
func (s *Service) TakeBackup(clusterID string) (string, error) {
	rt := s.lockedRuntime(clusterID)
	defer rt.op.Unlock()
	b, err := s.takeBackup(clusterID)
	if err != nil {
		return "", err
	}
	return b.ID, nil
}

// maintain is the service's clockwork, every MaintenanceInterval until Close: clusters whose
// admin activated turn ACTIVE (and get their activation backup) without waiting for a
// describe, active clusters get their daily backup, and retention and pending deletions apply.
func (s *Service) maintain() {
	t := time.NewTicker(s.cfg.MaintenanceInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		for _, id := range s.ClusterIDs() {
			s.refresh(id)
		}
		s.dailyBackups()
		s.mu.Lock()
		s.expireLocked()
		s.mu.Unlock()
	}
}

// dailyBackups backs up each ACTIVE cluster whose newest backup is a day old on the service's
// clock: CloudHSM "makes periodic backups of your cluster at least once every 24 hours"
// (https://docs.aws.amazon.com/cloudhsm/latest/userguide/manage-backups.html). A cluster busy
// with a life-cycle operation is left for the next round.
func (s *Service) dailyBackups() {
	now := s.now()
	var due []*runtime
	var ids []string
	s.mu.Lock()
	for _, c := range s.cat.Clusters {
		if c.State != cluster.ClusterActive || len(c.HSMs) == 0 {
			continue
		}
		last := c.Created // a cluster's first backups come with its activation and HSMs
		for _, b := range s.cat.Backups {
			if b.of(c.ID) && b.Created.After(last) {
				last = b.Created
			}
		}
		if now.Sub(last) >= 24*time.Hour {
			due, ids = append(due, s.runtime(c.ID)), append(ids, c.ID)
		}
	}
	s.mu.Unlock()
	for i, rt := range due {
		if !rt.op.TryLock() {
			continue
		}
		if _, err := s.takeBackup(ids[i]); err != nil {
			s.log.Debug("daily backup", "cluster", ids[i], "err", err)
		}
		rt.op.Unlock()
	}
}

// of reports whether b is a backup its cluster took (not a copy in another region).
func (b *backupRec) of(clusterID string) bool {
	return b.ClusterID == clusterID && b.SourceRegion == ""
}

// expireLocked applies pending deletions and retention (s.mu held). Retention is the policy of
// the cluster the backup was taken of; a copied backup, or one whose cluster is gone, belongs
// to no cluster and has none: "If you move a backup to a different region, that backup is no
// longer associated with a cluster and has no backup retention policy"
// (https://docs.aws.amazon.com/cloudhsm/latest/userguide/manage-backup-retention.html). The
// cluster's newest backup is never expired.
func (s *Service) expireLocked() {
	now := s.now()
	// The newest backup of each cluster, and of each migrated cluster its newest hsm1.medium
	// backup: "For clusters migrated from hsm1.medium, AWS CloudHSM retains the latest
	// hsm1.medium backup" (the same page).
	newest, newestHsm1 := map[string]*backupRec{}, map[string]*backupRec{}
	for _, b := range s.cat.Backups {
		if b.State != "READY" || !b.of(b.ClusterID) {
			continue
		}
		if newest[b.ClusterID] == nil || b.Created.After(newest[b.ClusterID].Created) {
			newest[b.ClusterID] = b
		}
		if b.HsmType == hsm1 && (newestHsm1[b.ClusterID] == nil || b.Created.After(newestHsm1[b.ClusterID].Created)) {
			newestHsm1[b.ClusterID] = b
		}
	}
	changed := false
	for _, b := range s.cat.Backups {
		switch {
		case b.State == "PENDING_DELETION" && b.DeleteAt != nil && now.After(*b.DeleteAt):
			b.State, changed = "DELETED", true
		case b.State == "READY" && !b.NeverExpires && b.of(b.ClusterID) && newest[b.ClusterID] != b:
			c := s.cat.Clusters[b.ClusterID]
			if c == nil || c.Retention == nil || (c.HsmType != hsm1 && newestHsm1[c.ID] == b) {
				continue
			}
			days, _ := strconv.Atoi(c.Retention.Value)
			if now.After(b.Created.Add(time.Duration(days) * 24 * time.Hour)) {
				b.State, changed = "DELETED", true
			}
		}
		if b.State == "DELETED" {
			_ = os.Remove(s.backupPath(b.ID))
		}
	}
	if changed {
		_ = s.saveLocked()
	}
}

func (s *Service) backupArn(b *backupRec) string {
	return "arn:aws:cloudhsm:" + b.Region + ":" + b.Account + ":backup/" + b.ID
}

func (s *Service) backupOut(b *backupRec) Backup {
	out := Backup{BackupId: b.ID, BackupArn: s.backupArn(b), BackupState: b.State, ClusterId: b.ClusterID,
		CreateTimestamp: awsapi.Time(b.Created), NeverExpires: b.NeverExpires, TagList: b.Tags, HsmType: b.HsmType, Mode: b.Mode}
	if b.DeleteAt != nil {
		out.DeleteTimestamp = awsapi.Time(*b.DeleteAt)
	}
	if b.SourceRegion != "" {
		out.SourceRegion, out.SourceBackup, out.SourceCluster = b.SourceRegion, b.SourceBackup, b.SourceCluster
		out.CopyTimestamp = awsapi.Time(*b.Copied)
	}
	return out
}

// DescribeBackups lists the caller's backups in its region (with Shared, the backups of other
// accounts there shared with it: policy.go), filtered by backupIds, sourceBackupIds,
// clusterIds, states and neverExpires: newest first, oldest first with SortAscending.
func (s *Service) DescribeBackups(ctx context.Context, r *awsapi.Caller, in *DescribeBackupsInput) (*DescribeBackupsOutput, error) {
	account, region := s.scope(r)
	for k := range in.Filters {
		switch k {
		case "backupIds", "sourceBackupIds", "clusterIds", "states", "neverExpires":
		default:
			return nil, invalid("Invalid filter %s.", k)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	var list []*backupRec
	for _, b := range s.cat.Backups {
		switch {
		case b.Region != region:
			continue
		case !in.Shared && b.Account != account:
			continue
		case in.Shared && (b.Account == account || b.State == "DELETED" || !sharedWith(b.Policy, account, "cloudhsm:DescribeBackups")):
			continue
		}
		if f, ok := in.Filters["backupIds"]; ok && !slices.Contains(f, b.ID) {
			continue
		}
		if f, ok := in.Filters["sourceBackupIds"]; ok && !slices.Contains(f, b.SourceBackup) {
			continue
		}
		if f, ok := in.Filters["clusterIds"]; ok && !slices.Contains(f, b.ClusterID) {
			continue
		}
		if f, ok := in.Filters["states"]; ok && !slices.Contains(f, b.State) {
			continue
		}
		if f, ok := in.Filters["neverExpires"]; ok && len(f) > 0 && strings.EqualFold(f[0], "true") != b.NeverExpires {
			continue
		}
		list = append(list, b)
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].Created.Equal(list[j].Created) {
			return list[i].Created.Before(list[j].Created) == in.SortAscending
		}
		return (list[i].ID < list[j].ID) == in.SortAscending
	})
	all := make([]Backup, len(list))
	for i, b := range list {
		all[i] = s.backupOut(b)
	}
	page, next, err := paginate(all, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	return &DescribeBackupsOutput{Backups: page, NextToken: next}, nil
}

func (s *Service) backupForLocked(r *awsapi.Caller, id string) (*backupRec, error) {
	account, region := s.scope(r)
	s.expireLocked()
	b := s.cat.Backups[id]
	if b == nil || b.Account != account || b.Region != region || b.State == "DELETED" {
		return nil, notFound("The backup %s does not exist.", id)
	}
	return b, nil
}

// updateBackup applies change to a backup of the caller's (change checks before it changes
// anything) and answers the backup as saved.
func (s *Service) updateBackup(r *awsapi.Caller, id string, change func(b *backupRec) error) (*BackupOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.backupForLocked(r, id)
	if err != nil {
		return nil, err
	}
	if err := change(b); err != nil {
		return nil, err
	}
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	out := s.backupOut(b)
	return &BackupOutput{Backup: &out}, nil
}

// DeleteBackup puts a READY backup in PENDING_DELETION for 7 days.
func (s *Service) DeleteBackup(ctx context.Context, r *awsapi.Caller, in *BackupIDInput) (*BackupOutput, error) {
	return s.updateBackup(r, in.BackupId, func(b *backupRec) error {
		if b.State != "READY" {
			return invalid("The backup %s is %s: only a READY backup can be deleted.", b.ID, b.State)
		}
		at := s.now().Add(pendingDeletion)
		b.State, b.DeleteAt = "PENDING_DELETION", &at
		return nil
	})
}

// ModifyBackupAttributes sets whether a backup is kept past the cluster's retention period.
func (s *Service) ModifyBackupAttributes(ctx context.Context, r *awsapi.Caller, in *ModifyBackupAttributesInput) (*BackupOutput, error) {
	return s.updateBackup(r, in.BackupId, func(b *backupRec) error {
		b.NeverExpires = in.NeverExpires
		return nil
	})
}

// RestoreBackup brings a PENDING_DELETION backup back to READY.
func (s *Service) RestoreBackup(ctx context.Context, r *awsapi.Caller, in *BackupIDInput) (*BackupOutput, error) {
	return s.updateBackup(r, in.BackupId, func(b *backupRec) error {
		if b.State != "PENDING_DELETION" {
			return invalid("The backup %s is %s: only a backup in PENDING_DELETION can be restored.", b.ID, b.State)
		}
		b.State, b.DeleteAt = "READY", nil
		return nil
	})
}

// CopyBackupToRegion copies a READY backup of the caller's into the same account's control plane
// in another region (one hsmsim serves them all). The copy is a new backup with the source's
// creation time, HSM CA and certificates, so a cluster made from it there is related to the
// source cluster; its tags are TagList, or the source's when none are given. The copy is made
// at once, READY when the answer leaves.
func (s *Service) CopyBackupToRegion(ctx context.Context, r *awsapi.Caller, in *CopyBackupToRegionInput) (*CopyBackupToRegionOutput, error) {
	for _, t := range in.TagList {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, awsapi.NewError(errTag, "Tag keys starting with aws: are reserved.")
		}
	}
	s.mu.Lock()
	src, err := s.backupForLocked(r, in.BackupId)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if src.State != "READY" {
		s.mu.Unlock()
		return nil, invalid("The backup %s is %s: only a READY backup can be copied.", src.ID, src.State)
	}
	if in.DestinationRegion == src.Region {
		s.mu.Unlock()
		return nil, invalid("The backup %s is already in %s: choose another destination region.", src.ID, src.Region)
	}
	cp := *src
	s.mu.Unlock()
	now := s.now()
	cp.ID, cp.Region, cp.Copied, cp.DeleteAt, cp.NeverExpires = cluster.NewBackupID(), in.DestinationRegion, &now, nil, false
	cp.SourceRegion, cp.SourceBackup, cp.SourceCluster = src.Region, src.ID, src.ClusterID
	if src.SourceRegion != "" { // a copy of a copy names the backup it was copied from
		cp.SourceCluster = src.SourceCluster
	}
	cp.Tags = slices.Clone(src.Tags)
	if len(in.TagList) > 0 {
		cp.Tags = slices.Clone(in.TagList)
	}
	data, err := os.ReadFile(s.backupPath(src.ID))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.backupPath(cp.ID), data, 0o600); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cat.Backups[cp.ID] = &cp
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	s.log.Info("backup copied", "backup", src.ID, "region", src.Region, "copy", cp.ID, "destination", cp.Region)
	return &CopyBackupToRegionOutput{DestinationBackup: &DestinationBackup{CreateTimestamp: awsapi.Time(src.Created),
		SourceRegion: src.Region, SourceBackup: src.ID, SourceCluster: cp.SourceCluster}}, nil
}
