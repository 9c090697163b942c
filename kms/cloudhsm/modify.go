package cloudhsm

import (
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// ModifyCluster and what it sets going: the backup retention period, and the HSM type
// migration from hsm1.medium to hsm2m.medium with its rollback, as the CloudHSM guide describes
// it (https://docs.aws.amazon.com/cloudhsm/latest/userguide/hsm1-to-hsm2-migration.html): the
// cluster enters a limited-write mode (MODIFY_IN_PROGRESS: no HSM is added or removed), a full
// backup is taken before each HSM is replaced by one of the new type, one at a time, at the
// same address; the cluster can be rolled back to its former type (ROLLBACK_IN_PROGRESS, the
// same way back) for 24 hours from the start (HsmTypeRollbackExpiration). A migration whose
// backup fails goes back to the former type, as AWS stops a migration that fails a check. An
// HSM here changes type in place: there is one kind of HSM underneath.

// Cluster states of an HSM type change, and the state an active cluster with a lost HSM shows.
const (
	clusterModifying   = "MODIFY_IN_PROGRESS"
	clusterRollingBack = "ROLLBACK_IN_PROGRESS"
	clusterDegraded    = "DEGRADED"
)

const (
	hsm1 = "hsm1.medium"
	hsm2 = "hsm2m.medium"
	// rollbackWindow is how long after a migration starts the cluster can roll back.
	rollbackWindow = 24 * time.Hour
)

// ModifyCluster changes the backup retention period, the HSM type, or both.
func (s *Service) ModifyCluster(ctx context.Context, r *awsapi.Caller, in *ModifyClusterInput) (*ClusterOutput, error) {
	s.mu.Lock()
	c, err := s.clusterForLocked(r, in.ClusterId)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if in.BackupRetentionPolicy == nil && in.HsmType == "" {
		s.mu.Unlock()
		return nil, invalid("Specify BackupRetentionPolicy or HsmType.")
	}
	var ret *BackupRetentionPolicy
	if in.BackupRetentionPolicy != nil {
		if ret, err = retention(in.BackupRetentionPolicy); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	rollback := false
	if in.HsmType != "" {
		if rollback, err = s.checkHsmTypeChangeLocked(c, in.HsmType); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	if ret != nil {
		c.Retention = ret
	}
	if in.HsmType != "" {
		for _, h := range c.HSMs {
			if h.HsmType == "" {
				h.HsmType = c.HsmType
			}
		}
		if rollback {
			c.State = clusterRollingBack
		} else {
			until := s.now().Add(rollbackWindow)
			c.State, c.PrevHsmType, c.RollbackUntil = clusterModifying, c.HsmType, &until
		}
		c.HsmType = in.HsmType
	}
	err = s.saveLocked()
	out := s.describeLocked(c)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if in.HsmType != "" {
		s.log.Info("hsm type change", "cluster", c.ID, "to", in.HsmType, "rollback", rollback)
		s.spawn(func() { s.changeHsmType(c.ID, rollback) })
	}
	return &ClusterOutput{Cluster: out}, nil
}

// checkHsmTypeChangeLocked says whether c may change to type typ now, and whether that is a
// rollback (s.mu held).
func (s *Service) checkHsmTypeChangeLocked(c *clusterRec, typ string) (rollback bool, err error) {
	switch {
	case typ != hsm1 && typ != hsm2:
		return false, invalid("HsmType %s is not supported.", typ)
	case c.State == clusterModifying || c.State == clusterRollingBack:
		return false, invalid("The cluster %s is %s: wait until it is done.", c.ID, c.State)
	case c.State != cluster.ClusterActive:
		return false, invalid("The cluster %s is %s: only an ACTIVE cluster changes HSM type.", c.ID, c.State)
	case typ == c.HsmType:
		return false, invalid("The cluster %s is already of type %s.", c.ID, typ)
	case typ == hsm2:
		return false, nil
	case c.PrevHsmType == hsm1 && c.RollbackUntil != nil && s.now().Before(*c.RollbackUntil):
		return true, nil
	}
	// hsm1.medium is at its end of support: no cluster moves to it but by a rollback.
	return false, invalid("The cluster %s cannot move to %s: only a cluster migrated from it can roll back, within %v of the migration's start.",
		c.ID, typ, rollbackWindow)
}

// changeHsmType replaces the HSMs of a cluster that ModifyCluster set MODIFY_IN_PROGRESS or
// ROLLBACK_IN_PROGRESS with HSMs of its new type, one at a time, each after a backup; then the
// cluster is ACTIVE again. Close stops it between HSMs (Open completes it).
func (s *Service) changeHsmType(id string, rollback bool) {
	s.mu.Lock()
	c := s.cat.Clusters[id]
	if c == nil {
		s.mu.Unlock()
		return
	}
	hs := slices.Clone(c.HSMs)
	s.mu.Unlock()
	for _, h := range hs {
		select {
		case <-s.stop:
			return
		case <-time.After(s.cfg.HsmReplaceTime):
		}
		// Each step holds the cluster's op lock; CreateHsm and DeleteHsm, which wait for it,
		// find the cluster still changing and refuse.
		rt := s.lockedRuntime(id)
		_, err := s.takeBackup(id)
		rt.op.Unlock()
		if err != nil && !rollback {
			s.log.Warn("hsm type migration stopped: no backup", "cluster", id, "err", err)
			s.mu.Lock()
			c.HsmType, c.PrevHsmType, c.RollbackUntil = c.PrevHsmType, "", nil
			for _, x := range c.HSMs {
				x.HsmType = c.HsmType
			}
			c.State = cluster.ClusterActive
			_ = s.saveLocked()
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		h.HsmType = c.HsmType
		_ = s.saveLocked()
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	finishModification(c)
	_ = s.saveLocked()
	s.log.Info("hsm type changed", "cluster", id, "type", c.HsmType)
}

// finishModification completes an HSM type change: every HSM of the new type, the cluster
// ACTIVE; a rollback closes the rollback window.
func finishModification(c *clusterRec) {
	if c.State != clusterModifying && c.State != clusterRollingBack {
		return
	}
	if c.State == clusterRollingBack {
		c.PrevHsmType, c.RollbackUntil = "", nil
	}
	for _, h := range c.HSMs {
		h.HsmType = c.HsmType
	}
	c.State = cluster.ClusterActive
}

// eniIPLocked picks the ENI IP of a new HSM in az (s.mu held): want, if it is a usable address of
// the subnet's range (SubnetCIDR) that no HSM of the account's VPC holds, or else the first such
// address. AWS keeps the first four addresses and the last of every subnet
// (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
func (s *Service) eniIPLocked(c *clusterRec, az, subnet, want string) (string, error) {
	prefix, err := netip.ParsePrefix(SubnetCIDR(az))
	if err != nil {
		return "", err
	}
	used := map[netip.Addr]bool{}
	for _, o := range s.cat.Clusters {
		if o.Account != c.Account || o.Region != c.Region {
			continue
		}
		for _, h := range o.HSMs {
			if a, err := netip.ParseAddr(h.EniIP); err == nil {
				used[a] = true
			}
		}
	}
	first := prefix.Addr().Next().Next().Next().Next()
	last := prefix.Addr()
	for a := prefix.Addr(); prefix.Contains(a); a = a.Next() {
		last = a
	}
	usable := func(a netip.Addr) bool { return prefix.Contains(a) && !a.Less(first) && a.Less(last) }
	if want != "" {
		a, err := netip.ParseAddr(want)
		switch {
		case err != nil || !a.Is4():
			return "", invalid("IpAddress %s is not an IPv4 address.", want)
		case !usable(a):
			return "", invalid("IpAddress %s is not an available address of subnet %s (%s) in %s.", want, subnet, prefix, az)
		case used[a]:
			return "", invalid("IpAddress %s is in use.", want)
		}
		return want, nil
	}
	for a := first; usable(a); a = a.Next() {
		if !used[a] {
			return a.String(), nil
		}
	}
	return "", invalid("Subnet %s (%s) has no free address.", subnet, prefix)
}
