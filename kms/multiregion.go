package kms

import (
	"context"
	"strconv"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/multiregion"
	"github.com/hsmsim/hsmsim/kms/policy"
	"github.com/hsmsim/hsmsim/kms/record"
)

// Multi-Region keys: a set of keys in several regions of one account that share their key id
// (mrk- and 32 hex digits), key spec, usage, origin, every version of their key material and
// their rotation, so a ciphertext of one region decrypts in another; everything else (policy,
// tags, description, aliases, grants, enabled state, deletion) is each key's own. One key of the
// set is the primary: CreateKey MultiRegion=true makes it, ReplicateKey copies it into another
// region, UpdatePrimaryRegion moves the primary role, and only the primary rotates and replicates.
// Each key of a set is an ordinary keyRec in its region (keyed by account, region and id); every
// key names the set's primary region, and saving the primary passes its shared properties on.
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-overview.html
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-replicate.html
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-update.html
// https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-delete.html
//
// The transient states (a new replica is Creating, UpdatePrimaryRegion leaves both keys Updating,
// "a few seconds" on AWS) last Config.MultiRegionDelay and are read from the clock, so they
// survive a restart and tests step over them with their clock.

// defaultMultiRegionDelay is how long the transient states last by default.
const defaultMultiRegionDelay = 2 * time.Second

// related is the other keys of k's multi-Region set, found through s.sets (callers hold s.mu).
func (s *Server) related(k *keyRec) []*keyRec {
	var out []*keyRec
	if !k.MultiRegion {
		return out
	}
	for _, region := range s.sets.Regions(k.Account, k.ID) {
		if o := s.keyAt(k.Account, region, k.ID); region != k.Region && o != nil && o.MultiRegion {
			out = append(out, o)
		}
	}
	return out
}

// hasReplicas: k is a primary key whose set has replicas (callers hold s.mu).
func (s *Server) hasReplicas(k *keyRec) bool {
	return k.MultiRegion && !k.IsReplica() && len(s.related(k)) > 0
}

// multiRegionConfig is DescribeKey's MultiRegionConfiguration: the primary and every replica,
// k included (nil for a single-Region key). Callers hold s.mu.
func (s *Server) multiRegionConfig(k *keyRec) *multiregion.Configuration {
	if !k.MultiRegion {
		return nil
	}
	var replicas []multiregion.Key
	for _, o := range append(s.related(k), k) {
		if o.IsReplica() {
			replicas = append(replicas, multiregion.Key{Arn: keyARN(o), Region: o.Region})
		}
	}
	primary := multiregion.Key{Arn: keyARN(&keyRec{Account: k.Account, Region: k.PrimaryRegion, ID: k.ID}), Region: k.PrimaryRegion}
	return multiregion.Describe(k.Region, primary, replicas)
}

// checkManageable is the rule of the management operations that a key pending deletion refuses,
// and a key being Updating too ("you cannot replicate the new primary key or perform certain
// management operations, such as enabling or disabling these keys", multi-region-update.html).
func (s *Server) checkManageable(k *keyRec) *awsapi.Error {
	if err := checkNotPending(k); err != nil {
		return err
	}
	if s.keyState(k) == record.StateUpdating {
		return awsapi.NewError(errInvalidState, "%s is updating its primary Region.", keyARN(k))
	}
	return nil
}

// checkSettledEnabled: ReplicateKey and UpdatePrimaryRegion want their keys Enabled ("Both the
// primary key and the replica key must be in the Enabled key state when the operation starts").
func (s *Server) checkSettledEnabled(k *keyRec) *awsapi.Error {
	if err := s.checkUsable(k); err != nil {
		return err
	}
	return s.checkManageable(k)
}

// shareWithReplicas gives the replicas of primary key k its shared properties: the key material
// (every version) and the rotation settings (callers hold s.mu for writing).
func (s *Server) shareWithReplicas(k *keyRec) error {
	if !k.MultiRegion || k.IsReplica() {
		return nil
	}
	for _, r := range s.related(k) {
		if r.SharesWith(k) {
			continue
		}
		c := r.Clone()
		c.CopyShared(k)
		if err := s.db.Put(record.BucketKeys, c.Ref(), c); err != nil {
			return err
		}
		s.keys[c.Ref()] = c
	}
	return nil
}

// startPrimaryDeletions begins the waiting period of each primary key that was waiting in
// PendingReplicaDeletion for the replicas just deleted, now that none is left (callers hold s.mu
// for writing). https://docs.aws.amazon.com/kms/latest/developerguide/multi-region-keys-delete.html
func (s *Server) startPrimaryDeletions(deleted []*keyRec) {
	now := s.now().UTC()
	for _, d := range deleted {
		if !d.IsReplica() {
			continue
		}
		p := s.keyAt(d.Account, d.PrimaryRegion, d.ID)
		if p == nil || !p.Pending || !p.DeleteAt.IsZero() || s.hasReplicas(p) {
			continue
		}
		c := p.Clone()
		c.DeleteAt = now.Add(time.Duration(c.Window) * 24 * time.Hour)
		if err := s.saveKey(c); err != nil {
			s.log.Error("primary key deletion", "key", keyARN(c), "err", err)
		}
	}
}

// resolvePrimary is resolve for the operations that need the primary key of a multi-Region set
// (callers hold s.mu).
func (s *Server) resolvePrimary(c *caller, id string) (*keyRec, *awsapi.Error) {
	k, err := s.resolve(c, id)
	if err != nil {
		return nil, err
	}
	if !k.MultiRegion {
		return nil, awsapi.NewError(errUnsupported, "%s is not a multi-Region key.", keyARN(k))
	}
	if k.IsReplica() {
		return nil, awsapi.NewError(errUnsupported, "%s is a multi-Region replica key; its primary key is in %s.", keyARN(k), k.PrimaryRegion)
	}
	return k, nil
}

// ---- ReplicateKey ----

type replicateKeyInput struct {
	KeyId                          string
	ReplicaRegion                  string
	Policy                         *string
	BypassPolicyLockoutSafetyCheck bool
	Description                    string
	Tags                           []tag
}

func (in *replicateKeyInput) conditions(c *caller) {
	c.Req.Context.Set("kms:ReplicaRegion", in.ReplicaRegion)
	c.Req.Context.Set("kms:BypassPolicyLockoutSafetyCheck", strconv.FormatBool(in.BypassPolicyLockoutSafetyCheck))
	c.SetTags(in.Tags)
}

type replicateKeyOutput struct {
	ReplicaKeyMetadata *keyMetadata
	ReplicaPolicy      string
	ReplicaTags        []tag
}

// replicateKey copies primary key KeyId into ReplicaRegion. The caller needs kms:ReplicateKey on
// the primary (its key policy) and kms:CreateKey, with kms:TagResource for Tags, from its
// identity policies (ReplicateKey's "Required permissions").
func replicateKey(s *Server, _ context.Context, c *caller, in *replicateKeyInput) (*replicateKeyOutput, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	var pol *policy.Policy
	if in.Policy != nil {
		p, err := s.parseKeyPolicy(*in.Policy)
		if err != nil {
			return nil, err
		}
		pol = p
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.resolvePrimary(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if err := multiregion.CheckReplicaRegion(keyARN(p), p.Region, in.ReplicaRegion); err != nil {
		return nil, err
	}
	if err := s.checkSettledEnabled(p); err != nil {
		return nil, err
	}
	if s.keyAt(p.Account, in.ReplicaRegion, p.ID) != nil {
		// Also while that replica is pending deletion (ReplicateKey in the KMS API Reference).
		return nil, awsapi.NewError(errAlreadyExists, "Key 'arn:aws:kms:%s:%s:key/%s' already exists", in.ReplicaRegion, p.Account, p.ID)
	}
	actions := []string{"kms:CreateKey"}
	if len(in.Tags) > 0 {
		actions = append(actions, "kms:TagResource")
	}
	for _, action := range actions {
		ic := c.WithAction(action)
		ic.Req.Action = action
		if err := ic.Identity("*"); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	r := &keyRec{ID: p.ID, Account: p.Account, Region: in.ReplicaRegion, Created: now, Desc: in.Description, Usage: p.Usage, Spec: p.Spec,
		Origin: p.Origin, Enabled: true, Policy: policy.DefaultKeyPolicy(p.Account), Compiled: s.defaultPolicy(p.Account), Tags: dedupTags(nil, in.Tags),
		PublicKey: p.PublicKey, MultiRegion: true, PrimaryRegion: p.Region, CreatingUntil: now.Add(s.cfg.MultiRegionDelay)}
	r.CopyShared(p)
	if pol != nil {
		if err := c.CheckLockout(pol, keyARN(r), r.Account, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
		r.Policy, r.Compiled = *in.Policy, pol
	}
	if err := s.saveKey(r); err != nil {
		return nil, err
	}
	s.log.Info("key replicated", "key", keyARN(p), "replica", keyARN(r))
	return &replicateKeyOutput{ReplicaKeyMetadata: s.metadata(r), ReplicaPolicy: r.Policy, ReplicaTags: append([]tag{}, r.Tags...)}, nil
}

// ---- UpdatePrimaryRegion ----

type updatePrimaryRegionInput struct {
	KeyId         string
	PrimaryRegion string
}

func (in *updatePrimaryRegionInput) conditions(c *caller) {
	c.Req.Context.Set("kms:PrimaryRegion", in.PrimaryRegion)
}

// updatePrimaryRegion makes the replica in PrimaryRegion the primary key of KeyId's set and the
// primary a replica. The caller needs kms:UpdatePrimaryRegion on both keys (each one's policy).
func updatePrimaryRegion(s *Server, _ context.Context, c *caller, in *updatePrimaryRegionInput) (*empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.resolvePrimary(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if in.PrimaryRegion == p.Region {
		return nil, awsapi.NewError(awsapi.ValidationException, "%s is already the primary key: the new primary Region must be another one.", keyARN(p))
	}
	r := s.keyAt(p.Account, in.PrimaryRegion, p.ID)
	if r == nil {
		// "There must be an existing replica key in this Region."
		return nil, awsapi.NewError(errNotFound, "Key 'arn:aws:kms:%s:%s:key/%s' does not exist", in.PrimaryRegion, p.Account, p.ID)
	}
	if err := s.authorize(c, r, ""); err != nil {
		return nil, err
	}
	for _, k := range []*keyRec{p, r} {
		if err := s.checkSettledEnabled(k); err != nil {
			return nil, err
		}
	}
	until := s.now().UTC().Add(s.cfg.MultiRegionDelay)
	// The replicas first, the new primary last: saving it shares its properties.
	for _, k := range append(s.related(r), r) {
		u := k.Clone()
		u.PrimaryRegion = in.PrimaryRegion
		if k == p || k == r {
			u.UpdatingUntil = until
		}
		if err := s.saveKey(u); err != nil {
			return nil, err
		}
	}
	s.log.Info("primary Region updated", "key", keyARN(p), "primary", keyARN(r))
	return nil, nil
}
