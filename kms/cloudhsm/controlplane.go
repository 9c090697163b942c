package cloudhsm

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// The control plane: Service's ControlPlane methods (api.go). Every error a caller can cause is
// an *awsapi.Error of an exception the model lists for the operation; anything else becomes
// CloudHsmInternalFailure.

func notFound(format string, args ...any) error {
	return awsapi.NewError(errResourceNotFound, format, args...)
}

func invalid(format string, args ...any) error {
	return awsapi.NewError(errInvalidRequest, format, args...)
}

// scope is the caller's account and region (the defaults for Go callers without a request).
func (s *Service) scope(r *awsapi.Caller) (account, region string) {
	account, region = s.cfg.AccountID, s.cfg.Region
	if r != nil && r.Account != "" {
		account = r.Account
	}
	if r != nil && r.Region != "" {
		region = r.Region
	}
	return
}

// clusterFor finds a cluster of the caller (s.mu held).
func (s *Service) clusterForLocked(r *awsapi.Caller, id string) (*clusterRec, error) {
	account, region := s.scope(r)
	c := s.cat.Clusters[id]
	if c == nil || c.Account != account || c.Region != region {
		return nil, notFound("The cluster %s does not exist.", id)
	}
	return c, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// CreateCluster makes a cluster: UNINITIALIZED with no HSM, its HSM CA and CSR ready; or, with
// SourceBackupId, a cluster related to the backup's whose first HSM will restore it.
func (s *Service) CreateCluster(ctx context.Context, r *awsapi.Caller, in *CreateClusterInput) (*ClusterOutput, error) {
	account, region := s.scope(r)
	if in.HsmType == "" {
		in.HsmType = "hsm2m.medium"
	}
	if in.HsmType != "hsm1.medium" && in.HsmType != "hsm2m.medium" {
		return nil, invalid("HsmType %s is not supported: use hsm2m.medium or hsm1.medium.", in.HsmType)
	}
	if len(in.SubnetIds) == 0 {
		return nil, invalid("At least one subnet is required.")
	}
	ret, err := retention(in.BackupRetentionPolicy)
	if err != nil {
		return nil, err
	}
	subnets, err := mapSubnets(region, in.SubnetIds)
	if err != nil {
		return nil, err
	}
	mode := in.Mode
	if mode == "" {
		mode = "FIPS"
	}
	netType := in.NetworkType
	if netType == "" {
		netType = "IPV4"
	}
	c := &clusterRec{ID: cluster.NewClusterID(), Account: account, Region: region, State: cluster.ClusterUninitialized,
		Created: s.now(), HsmType: in.HsmType, Mode: mode, NetworkType: netType, Subnets: subnets, Retention: ret,
		Tags: slices.Clone(in.TagList)}
	var ca *pki.CA
	if in.SourceBackupId != "" {
		s.mu.Lock()
		b, err := s.sourceBackupLocked(r, in.SourceBackupId)
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if b.State != "READY" {
			return nil, invalid("The backup %s is %s: only a READY backup can be restored into a cluster.", b.ID, b.State)
		}
		if ca, err = s.hsmCA(b.CA); err != nil {
			return nil, err
		}
		c.SourceBackupID, c.CA, c.ClusterCert, c.TrustAnchor = b.ID, b.CA, b.ClusterCert, b.TrustAnchor
		c.State = cluster.ClusterActive
		if b.ClusterState == cluster.ClusterInitialized {
			c.State = cluster.ClusterInitialized
		}
		c.HsmType, c.Mode = b.HsmType, b.Mode
	} else {
		if ca, err = pki.NewCA(c.ID); err != nil {
			return nil, err
		}
		if c.CSR, err = newClusterCSR(c.ID, ca); err != nil {
			return nil, err
		}
		fp, err := pki.Fingerprint(ca.CertPEM)
		if err != nil {
			return nil, err
		}
		key, err := ca.KeyPEM()
		if err != nil {
			return nil, err
		}
		c.CA = fp
		s.mu.Lock()
		s.cat.CAs[fp] = &caRec{CertPEM: string(ca.CertPEM), KeyPEM: string(key)}
		s.mu.Unlock()
	}
	if err := os.MkdirAll(s.clusterDir(c.ID), 0o700); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cat.Clusters[c.ID] = c
	s.runtime(c.ID)
	err = s.saveLocked()
	d := s.describeLocked(c)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.log.Info("cluster created", "cluster", c.ID, "source_backup", c.SourceBackupID)
	d.State = "CREATE_IN_PROGRESS" // and at once what it is now: the emulator is quick
	return &ClusterOutput{Cluster: d}, nil
}

// retention checks a BackupRetentionPolicy (DAYS, 7 to 379; default 90 days).
func retention(p *BackupRetentionPolicy) (*BackupRetentionPolicy, error) {
	if p == nil {
		return &BackupRetentionPolicy{Type: "DAYS", Value: "90"}, nil
	}
	if p.Type == "" {
		p.Type = "DAYS"
	}
	n, err := strconv.Atoi(p.Value)
	if p.Type != "DAYS" || err != nil || n < 7 || n > 379 {
		return nil, invalid("Backup retention must be between 7 and 379 days.")
	}
	return &BackupRetentionPolicy{Type: "DAYS", Value: strconv.Itoa(n)}, nil
}

// mapSubnets places each subnet in an AZ: the service's own subnets in theirs, others in the
// region's AZs a, b, c, ... in turn. One subnet per AZ.
func mapSubnets(region string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	var unknown []string
	for _, id := range ids {
		az := ""
		for l := 'a'; l <= 'f'; l++ {
			if SubnetID(region+string(l)) == id {
				az = region + string(l)
			}
		}
		if az == "" {
			unknown = append(unknown, id)
			continue
		}
		if _, dup := out[az]; dup {
			return nil, invalid("You can specify only one subnet per Availability Zone (%s).", az)
		}
		out[az] = id
	}
	for _, id := range unknown {
		placed := false
		for l := 'a'; l <= 'f' && !placed; l++ {
			az := region + string(l)
			if _, taken := out[az]; !taken {
				out[az], placed = id, true
			}
		}
		if !placed {
			return nil, invalid("Too many subnets: the region has 6 Availability Zones.")
		}
	}
	return out, nil
}

// refreshLocked updates a cluster's state from its token (s.mu held): INITIALIZED becomes
// ACTIVE once a member's token shows the admin activated. It reports whether it did, so the
// caller takes the activation backup.
func (s *Service) refreshLocked(c *clusterRec) bool {
	if c.State != cluster.ClusterInitialized {
		return false
	}
	for _, m := range s.rt[c.ID].members {
		if m.ClusterState() == cluster.ClusterActive {
			c.State = cluster.ClusterActive
			_ = s.saveLocked()
			s.log.Info("cluster active", "cluster", c.ID)
			return true
		}
	}
	return false
}

// refresh refreshes a cluster and takes the activation backup if it just turned ACTIVE.
func (s *Service) refresh(id string) {
	s.mu.Lock()
	c := s.cat.Clusters[id]
	activated := c != nil && s.refreshLocked(c)
	s.mu.Unlock()
	if activated {
		s.spawn(func() {
			rt := s.lockedRuntime(id)
			defer rt.op.Unlock()
			if _, err := s.takeBackup(id); err != nil {
				s.log.Warn("activation backup", "cluster", id, "err", err)
			}
		})
	}
}

// lockedRuntime returns the cluster's runtime with its op lock held.
func (s *Service) lockedRuntime(id string) *runtime {
	s.mu.Lock()
	rt := s.runtime(id)
	s.mu.Unlock()
	rt.op.Lock()
	return rt
}

// describeLocked is a cluster as DescribeClusters shows it (s.mu held).
func (s *Service) describeLocked(c *clusterRec) *ClusterDescription {
	d := &ClusterDescription{ClusterId: c.ID, BackupPolicy: "DEFAULT", BackupRetentionPolicy: c.Retention,
		CreateTimestamp: awsapi.Time(c.Created), HsmType: c.HsmType, SecurityGroup: securityGroup(c.ID), SourceBackupId: c.SourceBackupID,
		State: c.State, SubnetMapping: c.Subnets, VpcId: vpcID(c.Account, c.Region), NetworkType: c.NetworkType,
		Mode: c.Mode, TagList: c.Tags, Hsms: []Hsm{}, Certificates: &Certificates{}}
	for _, h := range c.HSMs {
		d.Hsms = append(d.Hsms, s.hsmLocked(c, h))
	}
	switch {
	case c.State == cluster.ClusterUninitialized && len(c.HSMs) > 0:
		d.Certificates.ClusterCsr = c.CSR
	case c.ClusterCert != "":
		d.Certificates.ClusterCertificate = c.ClusterCert
	}
	if len(c.HSMs) > 0 {
		if b, err := os.ReadFile(filepath.Join(s.hsmDir(c.ID, c.HSMs[0].ID), "tls.crt")); err == nil {
			d.Certificates.HsmCertificate = string(b)
		}
	}
	if c.RollbackUntil != nil {
		d.HsmTypeRollbackExpiration = awsapi.Time(*c.RollbackUntil)
	}
	switch c.State {
	case cluster.ClusterUninitialized:
		d.StateMessage = "Cluster is uninitialized: sign its CSR and call InitializeCluster."
	case clusterModifying:
		d.StateMessage = "The cluster's HSMs are moving to " + c.HsmType + ", one at a time."
	case clusterRollingBack:
		d.StateMessage = "The cluster's HSMs are going back to " + c.HsmType + ", one at a time."
	case cluster.ClusterActive:
		// AWS lists DEGRADED among the cluster states (the model's ClusterState) without saying
		// when it applies; hsmsim derives it from its HSMs: an active cluster with an HSM that is
		// DEGRADED (killed, cut off, without quorum) has lost capacity until it recovers.
		var lost []string
		for _, h := range d.Hsms {
			if h.State == string(cluster.HSMDegraded) {
				lost = append(lost, h.HsmId)
			}
		}
		if len(lost) > 0 {
			d.State = clusterDegraded
			d.StateMessage = "Degraded HSMs: " + strings.Join(lost, ", ") + "."
		}
	}
	return d
}

// hsmStateLocked is an HSM's state now (s.mu held).
func (s *Service) hsmStateLocked(c *clusterRec, h *hsmRec) string {
	if h.Deleting {
		return hsmDeleteInProgress
	}
	if !h.Joined {
		return string(cluster.HSMCreateInProgress)
	}
	m := s.rt[c.ID].members[h.ID]
	if m == nil {
		return string(cluster.HSMDegraded) // killed: its directory and its place remain
	}
	return string(m.HSMState())
}

func (s *Service) hsmLocked(c *clusterRec, h *hsmRec) Hsm {
	typ := h.HsmType
	if typ == "" {
		typ = c.HsmType
	}
	return Hsm{AvailabilityZone: h.AZ, ClusterId: c.ID, SubnetId: h.SubnetID, EniId: h.EniID, EniIp: h.EniIP,
		HsmId: h.ID, HsmType: typ, State: s.hsmStateLocked(c, h)}
}

// DescribeClusters lists the caller's clusters, filtered by clusterIds, states and vpcIds.
func (s *Service) DescribeClusters(ctx context.Context, r *awsapi.Caller, in *DescribeClustersInput) (*DescribeClustersOutput, error) {
	account, region := s.scope(r)
	for k := range in.Filters {
		if k != "clusterIds" && k != "states" && k != "vpcIds" {
			return nil, invalid("Invalid filter %s: use clusterIds, states or vpcIds.", k)
		}
	}
	s.mu.Lock()
	ids := make([]string, 0, len(s.cat.Clusters))
	for id := range s.cat.Clusters {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.refresh(id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []ClusterDescription
	for _, c := range s.sortedClustersLocked() {
		if c.Account != account || c.Region != region {
			continue
		}
		if f, ok := in.Filters["clusterIds"]; ok && !slices.Contains(f, c.ID) {
			continue
		}
		if f, ok := in.Filters["vpcIds"]; ok && !slices.Contains(f, vpcID(c.Account, c.Region)) {
			continue
		}
		d := s.describeLocked(c)
		if f, ok := in.Filters["states"]; ok && !slices.Contains(f, d.State) {
			continue
		}
		all = append(all, *d)
	}
	page, next, err := paginate(all, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	return &DescribeClustersOutput{Clusters: page, NextToken: next}, nil
}

// paginate returns one page of items; the token is the offset, opaque to callers.
func paginate[T any](items []T, token string, max *int) ([]T, string, error) {
	start := 0
	if token != "" {
		b, err := base64.RawURLEncoding.DecodeString(token)
		n, cerr := strconv.Atoi(strings.TrimPrefix(string(b), "hsmsim:"))
		if err != nil || cerr != nil || n < 0 || n > len(items) || !strings.HasPrefix(string(b), "hsmsim:") {
			return nil, "", invalid("Invalid NextToken.")
		}
		start = n
	}
	end := len(items)
	if max != nil && start+*max < end {
		end = start + *max
	}
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte("hsmsim:" + strconv.Itoa(end)))
	}
	page := items[start:end]
	if page == nil {
		page = []T{}
	}
	return page, next, nil
}

// InitializeCluster claims the cluster: SignedCert must certify the CSR's key and chain to
// TrustAnchor, which becomes the cluster's customerCA.crt.
func (s *Service) InitializeCluster(ctx context.Context, r *awsapi.Caller, in *InitializeClusterInput) (*InitializeClusterOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.clusterForLocked(r, in.ClusterId)
	if err != nil {
		return nil, err
	}
	if c.State != cluster.ClusterUninitialized {
		return nil, invalid("The cluster %s is %s: only an UNINITIALIZED cluster can be initialized.", c.ID, c.State)
	}
	if len(c.HSMs) == 0 || !c.HSMs[0].Joined {
		return nil, invalid("The cluster %s has no HSM: create one before initializing the cluster.", c.ID)
	}
	if err := checkSignedCert(c.CSR, in.SignedCert, in.TrustAnchor); err != nil {
		return nil, invalid("Invalid certificates for cluster %s: %v.", c.ID, err)
	}
	if err := os.WriteFile(filepath.Join(s.clusterDir(c.ID), cluster.CustomerCAFile), []byte(in.TrustAnchor), 0o644); err != nil {
		return nil, err
	}
	c.ClusterCert, c.TrustAnchor, c.State = in.SignedCert, in.TrustAnchor, cluster.ClusterInitialized
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	s.log.Info("cluster initialized", "cluster", c.ID)
	return &InitializeClusterOutput{State: "INITIALIZE_IN_PROGRESS", StateMessage: "Cluster is initializing."}, nil
}

// clusterState is c's life-cycle state now.
func (s *Service) clusterState(c *clusterRec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return c.State
}

// DeleteCluster deletes a cluster without HSMs. Its backups stay.
func (s *Service) DeleteCluster(ctx context.Context, r *awsapi.Caller, in *ClusterIDInput) (*ClusterOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.clusterForLocked(r, in.ClusterId)
	if err != nil {
		return nil, err
	}
	if len(c.HSMs) > 0 {
		return nil, invalid("The cluster %s still has %d HSMs: delete them first.", c.ID, len(c.HSMs))
	}
	d := s.describeLocked(c)
	delete(s.cat.Clusters, c.ID)
	delete(s.rt, c.ID)
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	_ = os.RemoveAll(s.clusterDir(c.ID))
	d.State = "DELETE_IN_PROGRESS"
	s.log.Info("cluster deleted", "cluster", c.ID)
	return &ClusterOutput{Cluster: d}, nil
}

// CreateHsm adds an HSM in an AZ of the cluster's subnets and returns once it is in the
// cluster: the first HSM bootstraps the token (or restores the cluster's source backup, or its
// newest backup when an initialized cluster lost every HSM); the others join.
func (s *Service) CreateHsm(ctx context.Context, r *awsapi.Caller, in *CreateHsmInput) (*CreateHsmOutput, error) {
	s.mu.Lock()
	c, err := s.clusterForLocked(r, in.ClusterId)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if st := s.clusterState(c); st == clusterModifying || st == clusterRollingBack {
		return nil, invalid("The cluster %s is %s: HSMs cannot be added until it is done.", c.ID, st)
	}
	rt := s.lockedRuntime(c.ID)
	defer rt.op.Unlock()
	s.mu.Lock()
	if s.cat.Clusters[c.ID] != c {
		s.mu.Unlock()
		return nil, notFound("The cluster %s does not exist.", in.ClusterId)
	}
	if c.State == clusterModifying || c.State == clusterRollingBack {
		s.mu.Unlock()
		return nil, invalid("The cluster %s is %s: HSMs cannot be added until it is done.", c.ID, c.State)
	}
	subnet, ok := c.Subnets[in.AvailabilityZone]
	if !ok {
		s.mu.Unlock()
		return nil, invalid("The cluster %s has no subnet in Availability Zone %s.", c.ID, in.AvailabilityZone)
	}
	ip, err := s.eniIPLocked(c, in.AvailabilityZone, subnet, in.IpAddress)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if len(c.HSMs) >= MaxHSMs {
		s.mu.Unlock()
		return nil, invalid("The cluster %s already has %d HSMs, the most a cluster can have.", c.ID, MaxHSMs)
	}
	first := len(c.HSMs) == 0
	h := &hsmRec{ID: cluster.NewHSMID(), AZ: in.AvailabilityZone, SubnetID: subnet, EniID: "eni-" + randHex(17), EniIP: ip}
	h.APIAddr, h.RaftAddr = s.allocAddrsLocked()
	c.HSMs = append(c.HSMs, h)
	restore := ""
	if first {
		restore = s.restoreSourceLocked(c)
	}
	err = s.saveLocked()
	s.mu.Unlock()
	if err == nil {
		err = s.addMember(ctx, c, h, rt, first, restore)
	}
	if err != nil {
		s.mu.Lock()
		c.HSMs = slices.DeleteFunc(c.HSMs, func(x *hsmRec) bool { return x == h })
		_ = s.saveLocked()
		s.mu.Unlock()
		_ = os.RemoveAll(s.hsmDir(c.ID, h.ID))
		s.log.Warn("CreateHsm failed", "cluster", c.ID, "err", err)
		return nil, awsapi.NewError(errInternalFailure, "The HSM could not be created: %v", err)
	}
	s.log.Info("hsm created", "cluster", c.ID, "hsm", h.ID, "az", h.AZ, "addr", h.APIAddr)
	if c.State != cluster.ClusterUninitialized {
		if _, err := s.takeBackup(c.ID); err != nil {
			s.log.Warn("backup after adding an HSM", "cluster", c.ID, "err", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.hsmLocked(c, h)
	return &CreateHsmOutput{Hsm: &out}, nil
}

// restoreSourceLocked names the backup the first HSM of c restores ("" to bootstrap): the
// source backup of a cluster that never had an HSM, else the newest backup of an initialized
// cluster.
func (s *Service) restoreSourceLocked(c *clusterRec) string {
	if c.State == cluster.ClusterUninitialized {
		return ""
	}
	var newest *backupRec
	for _, b := range s.cat.Backups {
		if b.of(c.ID) && b.State == "READY" && (newest == nil || b.Created.After(newest.Created)) {
			newest = b
		}
	}
	if newest != nil {
		return newest.ID
	}
	return c.SourceBackupID
}

func (s *Service) addMember(ctx context.Context, c *clusterRec, h *hsmRec, rt *runtime, first bool, restore string) error {
	peers := s.peers(c.ID, h.ID)
	if !first && len(peers) == 0 {
		return errors.New("no HSM of the cluster is running to join")
	}
	m, err := s.startMember(c, h)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	switch {
	case !first:
		err = m.Join(ctx, peers)
	case restore != "":
		var b []byte
		if b, err = os.ReadFile(s.backupPath(restore)); err == nil {
			err = m.RestoreBackup(ctx, b, s.serviceKey, c.ID)
		}
	default:
		err = m.Bootstrap(ctx, c.ID, c.ID)
	}
	if err != nil {
		m.Kill()
		return err
	}
	s.mu.Lock()
	h.APIAddr, h.RaftAddr, h.Joined = m.APIAddr(), m.RaftAddr(), true
	rt.members[h.ID] = m
	err = s.saveLocked()
	s.mu.Unlock()
	return err
}

// DeleteHsm marks an HSM DELETE_IN_PROGRESS and answers at once with its id; removeHSM takes
// it out of the cluster in the background (after a backup, as CloudHSM takes one), stops it and
// deletes its data. AWS answers the same way: DeleteHsm returns the HsmId, the HSM is listed as
// DELETE_IN_PROGRESS by DescribeClusters until it is gone
// (https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_DeleteHsm.html, HsmState in
// https://docs.aws.amazon.com/cloudhsm/latest/APIReference/API_Hsm.html). The membership change
// cannot commit while the cluster has no quorum, so a request must not wait for it. The HSM is
// named by id, ENI id or ENI IP (the IP only if unique). A second DeleteHsm of an HSM being
// deleted answers its id again: the model names no error for it, and clients retry deletes.
func (s *Service) DeleteHsm(ctx context.Context, r *awsapi.Caller, in *DeleteHsmInput) (*DeleteHsmOutput, error) {
	s.mu.Lock()
	c, err := s.clusterForLocked(r, in.ClusterId)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if in.HsmId == "" && in.EniId == "" && in.EniIp == "" {
		return nil, invalid("Specify HsmId, EniId or EniIp.")
	}
	if st := s.clusterState(c); st == clusterModifying || st == clusterRollingBack {
		return nil, invalid("The cluster %s is %s: HSMs cannot be removed until it is done.", c.ID, st)
	}
	rt := s.lockedRuntime(c.ID)
	defer rt.op.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.State == clusterModifying || c.State == clusterRollingBack {
		return nil, invalid("The cluster %s is %s: HSMs cannot be removed until it is done.", c.ID, c.State)
	}
	var h *hsmRec
	matches := 0
	for _, x := range c.HSMs {
		if (in.HsmId != "" && x.ID == in.HsmId) || (in.EniId != "" && x.EniID == in.EniId) || (in.HsmId == "" && in.EniId == "" && x.EniIP == in.EniIp) {
			h = x
			matches++
		}
	}
	if h == nil {
		return nil, notFound("The HSM does not exist in cluster %s.", c.ID)
	}
	if matches > 1 {
		return nil, invalid("Several HSMs of cluster %s have ENI IP %s: name the HSM by HsmId or EniId.", c.ID, in.EniIp)
	}
	if h.Deleting {
		return &DeleteHsmOutput{HsmId: h.ID}, nil
	}
	h.Deleting = true
	if err := s.saveLocked(); err != nil {
		h.Deleting = false
		return nil, err
	}
	s.spawn(func() { s.removeHSM(c, h) })
	return &DeleteHsmOutput{HsmId: h.ID}, nil
}

// removeHSM finishes a DeleteHsm (or one a restart interrupted): it retries the membership
// change until it commits or the service closes (a restart resumes it), then stops the HSM and
// forgets it.
func (s *Service) removeHSM(c *clusterRec, h *hsmRec) {
	if c.State != cluster.ClusterUninitialized && h.Joined {
		if _, err := s.takeBackup(c.ID); err != nil {
			s.log.Warn("backup before removing an HSM", "cluster", c.ID, "err", err)
		}
	}
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.leaveCluster(c.ID, h.ID)
		if err == nil {
			break
		}
		s.log.Warn("removing an HSM from its cluster; will retry", "cluster", c.ID, "hsm", h.ID, "attempt", attempt, "err", err)
		select {
		case <-s.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
	rt := s.lockedRuntime(c.ID)
	defer rt.op.Unlock()
	s.mu.Lock()
	m := rt.members[h.ID]
	delete(rt.members, h.ID)
	c.HSMs = slices.DeleteFunc(c.HSMs, func(x *hsmRec) bool { return x == h })
	err := s.saveLocked()
	s.mu.Unlock()
	if m != nil {
		_ = m.Close()
	}
	_ = os.RemoveAll(s.hsmDir(c.ID, h.ID))
	if err != nil {
		s.log.Warn("saving the catalog after removing an HSM", "cluster", c.ID, "hsm", h.ID, "err", err)
	}
	s.log.Info("hsm deleted", "cluster", c.ID, "hsm", h.ID)
}

// leaveCluster makes one attempt at removing an HSM from the cluster's membership, through the
// leader if this process runs it (else any other running HSM, which forwards). With no other HSM
// running there is no membership to leave.
func (s *Service) leaveCluster(clusterID, hsmID string) error {
	var via *cluster.Member
	for _, o := range s.Members(clusterID) {
		if o.ID() != hsmID && (via == nil || o.IsLeader()) {
			via = o
		}
	}
	if via == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The service closing ends an attempt early; the restart resumes the delete.
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return via.RemoveHSM(ctx, hsmID)
}

func randHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// ---- tags ----

// tagsLocked finds the tag list of a cluster or backup of the caller (s.mu held).
func (s *Service) tagsLocked(r *awsapi.Caller, id string) (*[]HsmTag, error) {
	if strings.HasPrefix(id, "backup-") {
		b, err := s.backupForLocked(r, id)
		if err != nil {
			return nil, err
		}
		return &b.Tags, nil
	}
	c, err := s.clusterForLocked(r, id)
	if err != nil {
		return nil, err
	}
	return &c.Tags, nil
}

// TagResource adds or overwrites tags of a cluster or backup (at most 50).
func (s *Service) TagResource(ctx context.Context, r *awsapi.Caller, in *TagResourceInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tags, err := s.tagsLocked(r, in.ResourceId)
	if err != nil {
		return err
	}
	next := slices.Clone(*tags)
	for _, t := range in.TagList {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return awsapi.NewError(errTag, "Tag keys starting with aws: are reserved.")
		}
		i := slices.IndexFunc(next, func(x HsmTag) bool { return x.Key == t.Key })
		if i >= 0 {
			next[i] = t
		} else {
			next = append(next, t)
		}
	}
	if len(next) > 50 {
		return awsapi.NewError(errResourceLimitExceeded, "A resource can have at most 50 tags.")
	}
	*tags = next
	return s.saveLocked()
}

// UntagResource removes tags by key.
func (s *Service) UntagResource(ctx context.Context, r *awsapi.Caller, in *UntagResourceInput) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tags, err := s.tagsLocked(r, in.ResourceId)
	if err != nil {
		return err
	}
	*tags = slices.DeleteFunc(*tags, func(x HsmTag) bool { return slices.Contains(in.TagKeyList, x.Key) })
	return s.saveLocked()
}

// ListTags lists a resource's tags, paged.
func (s *Service) ListTags(ctx context.Context, r *awsapi.Caller, in *ListTagsInput) (*ListTagsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tags, err := s.tagsLocked(r, in.ResourceId)
	if err != nil {
		return nil, err
	}
	page, next, err := paginate(slices.Clone(*tags), in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	return &ListTagsOutput{TagList: page, NextToken: next}, nil
}
