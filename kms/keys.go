package kms

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Key states (KeyState enum).
const (
	stateEnabled     = "Enabled"
	stateDisabled    = "Disabled"
	statePending     = "PendingDeletion"
	stateUnavailable = "Unavailable"
)

const (
	specSymmetric = "SYMMETRIC_DEFAULT"
	usageEncrypt  = "ENCRYPT_DECRYPT"
	usageSign     = "SIGN_VERIFY"
	usageMac      = "GENERATE_VERIFY_MAC"
	originKMS     = "AWS_KMS"
	originHSM     = "AWS_CLOUDHSM"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func keyARN(k *keyRec) string {
	return "arn:aws:kms:" + k.Region + ":" + k.Account + ":key/" + k.ID
}

func aliasARN(c *caller, name string) string {
	return "arn:aws:kms:" + c.Region + ":" + c.Account + ":" + name
}

// defaultPolicy is the key policy KMS gives a key created without one: the account's IAM decides.
func defaultPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

// resolve finds the key a KeyId parameter names (key id, key ARN, alias name or alias ARN) in the
// caller's account and region. Callers hold s.mu.
func (s *Server) resolve(c *caller, id string) (*keyRec, *Error) {
	if rest, ok := strings.CutPrefix(id, "arn:"); ok {
		f := strings.SplitN(rest, ":", 5)
		if len(f) != 5 || f[0] != "aws" || f[1] != "kms" {
			return nil, newError(errNotFound, "Invalid arn %s", id)
		}
		if f[2] != c.Region || f[3] != c.Account {
			return nil, newError(errNotFound, "Key '%s' does not exist", id)
		}
		switch {
		case strings.HasPrefix(f[4], "key/"):
			return s.resolveID(c, strings.TrimPrefix(f[4], "key/"))
		case strings.HasPrefix(f[4], "alias/"):
			return s.resolveAlias(c, f[4])
		}
		return nil, newError(errNotFound, "Invalid arn %s", id)
	}
	if strings.HasPrefix(id, "alias/") {
		return s.resolveAlias(c, id)
	}
	return s.resolveID(c, id)
}

func (s *Server) resolveID(c *caller, id string) (*keyRec, *Error) {
	if !uuidRE.MatchString(id) {
		return nil, newError(errNotFound, "Invalid keyId '%s'", id)
	}
	k := s.keys[id]
	if k == nil || k.Account != c.Account || k.Region != c.Region {
		return nil, newError(errNotFound, "Key 'arn:aws:kms:%s:%s:key/%s' does not exist", c.Region, c.Account, id)
	}
	return k, nil
}

func (s *Server) resolveAlias(c *caller, name string) (*keyRec, *Error) {
	a := s.aliases[aliasKey(c.Account, c.Region, name)]
	if a == nil {
		return nil, newError(errNotFound, "Alias '%s' is not found.", aliasARN(c, name))
	}
	k := s.keys[a.Target]
	if k == nil {
		return nil, newError(errNotFound, "Alias '%s' is not found.", aliasARN(c, name))
	}
	return k, nil
}

// keyState is the state a key shows: a custom key store key is Unavailable while its store is not
// connected, unless it is pending deletion (KMSDG:fix-keystore). Callers hold s.mu.
func (s *Server) keyState(k *keyRec) string {
	switch {
	case k.Pending:
		return statePending
	case k.StoreID != "" && !s.storeConnected(k.StoreID):
		return stateUnavailable
	case k.Enabled:
		return stateEnabled
	}
	return stateDisabled
}

// checkUsable is the key-state rule of every cryptographic operation.
func (s *Server) checkUsable(k *keyRec) *Error {
	switch s.keyState(k) {
	case stateDisabled:
		return newError(errDisabled, "%s is disabled.", keyARN(k))
	case statePending:
		return newError(errInvalidState, "%s is pending deletion.", keyARN(k))
	case stateUnavailable:
		return newError(errInvalidState, "%s is unavailable because its custom key store %s is not connected.", keyARN(k), k.StoreID)
	}
	return nil
}

// checkNotPending is the rule of the management operations that a key pending deletion refuses.
func checkNotPending(k *keyRec) *Error {
	if k.Pending {
		return newError(errInvalidState, "%s is pending deletion.", keyARN(k))
	}
	return nil
}

// keyMetadata is the KeyMetadata structure.
type keyMetadata struct {
	AWSAccountId                string
	KeyId                       string
	Arn                         string
	CreationDate                *epoch
	Enabled                     bool
	Description                 string
	KeyUsage                    string
	KeyState                    string
	DeletionDate                *epoch `json:",omitempty"`
	Origin                      string
	CustomKeyStoreId            string `json:",omitempty"`
	CloudHsmClusterId           string `json:",omitempty"`
	KeyManager                  string
	CustomerMasterKeySpec       string
	KeySpec                     string
	EncryptionAlgorithms        []string `json:",omitempty"`
	SigningAlgorithms           []string `json:",omitempty"`
	MacAlgorithms               []string `json:",omitempty"`
	MultiRegion                 bool
	PendingDeletionWindowInDays int    `json:",omitempty"`
	CurrentKeyMaterialId        string `json:",omitempty"`
}

func (s *Server) metadata(k *keyRec) *keyMetadata {
	st := s.keyState(k)
	m := &keyMetadata{AWSAccountId: k.Account, KeyId: k.ID, Arn: keyARN(k), CreationDate: ts(k.Created),
		Enabled: st == stateEnabled, Description: k.Desc, KeyUsage: k.Usage, KeyState: st, Origin: k.Origin,
		CustomKeyStoreId: k.StoreID, CloudHsmClusterId: k.ClusterID, KeyManager: "CUSTOMER",
		CustomerMasterKeySpec: k.Spec, KeySpec: k.Spec}
	if k.Pending {
		m.DeletionDate, m.PendingDeletionWindowInDays = ts(k.DeleteAt), k.Window
	}
	if k.Usage == usageEncrypt && k.Spec == specSymmetric {
		m.EncryptionAlgorithms = []string{specSymmetric}
		m.CurrentKeyMaterialId = k.Versions[len(k.Versions)-1].ID
	}
	if a, ok := specAlgorithms[k.Spec]; ok {
		switch k.Usage {
		case usageEncrypt:
			m.EncryptionAlgorithms = a.encrypt
		case usageSign:
			m.SigningAlgorithms = a.sign
		case usageMac:
			m.MacAlgorithms = a.mac
		}
	}
	return m
}

// ---- CreateKey, DescribeKey, ListKeys ----

type createKeyInput struct {
	Policy                         *string
	Description                    string
	KeyUsage                       string
	CustomerMasterKeySpec          string
	KeySpec                        string
	Origin                         string
	CustomKeyStoreId               string
	BypassPolicyLockoutSafetyCheck bool
	Tags                           []tag
	MultiRegion                    bool
	XksKeyId                       string
}

type keyMetadataOutput struct {
	KeyMetadata *keyMetadata
}

func createKey(s *Server, ctx context.Context, c *caller, in *createKeyInput) (*keyMetadataOutput, error) {
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	} else if in.CustomerMasterKeySpec != "" {
		return nil, newError(errValidation, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated.")
	}
	if spec == "" {
		spec = specSymmetric
	}
	usage := in.KeyUsage
	if usage == "" {
		usage = usageEncrypt
		if strings.HasPrefix(spec, "HMAC_") {
			usage = usageMac
		}
	}
	origin := in.Origin
	if origin == "" {
		origin = originKMS
		if in.CustomKeyStoreId != "" {
			origin = originHSM
		}
	}
	if in.MultiRegion {
		return nil, newError(errUnsupported, "hsmsim does not support multi-Region keys.")
	}
	switch origin {
	case originKMS:
		if in.CustomKeyStoreId != "" {
			return nil, newError(errUnsupported, "CustomKeyStoreId requires Origin AWS_CLOUDHSM.")
		}
	case originHSM:
		if in.CustomKeyStoreId == "" {
			return nil, newError(errUnsupported, "Origin AWS_CLOUDHSM requires a CustomKeyStoreId.")
		}
		if spec != specSymmetric || usage != usageEncrypt {
			return nil, newError(errUnsupported, "KeySpec %s with KeyUsage %s is not supported in a custom key store. Only SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys are.", spec, usage)
		}
	default:
		return nil, newError(errUnsupported, "hsmsim does not support keys of origin %s.", origin)
	}
	if err := checkSpecUsage(spec, usage); err != nil {
		return nil, err
	}
	policy := defaultPolicy(c.Account)
	if in.Policy != nil {
		if err := checkPolicy(*in.Policy); err != nil {
			return nil, err
		}
		policy = *in.Policy
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	k := &keyRec{ID: newUUID(), Account: c.Account, Region: c.Region, Created: now, Desc: in.Description,
		Usage: usage, Spec: spec, Origin: origin, Enabled: true, Policy: policy, Tags: dedupTags(nil, in.Tags)}
	if origin == originHSM {
		if err := s.createHSMKey(ctx, c, k, in.CustomKeyStoreId); err != nil {
			return nil, err
		}
	} else {
		v, pub, err := s.newMaterial(k, 1, "")
		if err != nil {
			return nil, err
		}
		k.Versions, k.PublicKey = []matVersion{v}, pub
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.saveKey(k); err != nil {
		return nil, err
	}
	return &keyMetadataOutput{KeyMetadata: s.metadata(k)}, nil
}

type keyIDInput struct {
	KeyId       string
	GrantTokens []string
}

func describeKey(s *Server, _ context.Context, c *caller, in *keyIDInput) (*keyMetadataOutput, error) {
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	return &keyMetadataOutput{KeyMetadata: s.metadata(k)}, nil
}

type listInput struct {
	Limit  *int
	Marker *string
}

type keyListEntry struct {
	KeyId  string
	KeyArn string
}

type listKeysOutput struct {
	Keys       []keyListEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func listKeys(s *Server, _ context.Context, c *caller, in *listInput) (*listKeysOutput, error) {
	s.mu.RLock()
	var all []*keyRec
	for _, k := range s.keys {
		if k.Account == c.Account && k.Region == c.Region {
			all = append(all, k)
		}
	}
	s.mu.RUnlock()
	items, next, trunc, err := page(all, func(k *keyRec) string { return k.ID }, in.Limit, 100, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &listKeysOutput{Keys: []keyListEntry{}, NextMarker: next, Truncated: trunc}
	for _, k := range items {
		out.Keys = append(out.Keys, keyListEntry{KeyId: k.ID, KeyArn: keyARN(k)})
	}
	return out, nil
}

// page returns one page of items ordered by sortKey. A marker is the opaque (base64) sort key of
// the last item of the previous page; one that does not decode is InvalidMarkerException.
func page[T any](items []T, sortKey func(T) string, limit *int, def int, marker *string) ([]T, string, bool, *Error) {
	sort.Slice(items, func(i, j int) bool { return sortKey(items[i]) < sortKey(items[j]) })
	n := def
	if limit != nil {
		n = *limit
	}
	start := 0
	if marker != nil {
		after, err := base64.RawURLEncoding.DecodeString(*marker)
		if err != nil || len(after) == 0 {
			return nil, "", false, newError(errInvalidMarker, "Invalid marker %s", *marker)
		}
		start = sort.Search(len(items), func(i int) bool { return sortKey(items[i]) > string(after) })
	}
	end := min(start+n, len(items))
	out := items[start:end]
	if end < len(items) {
		return out, base64.RawURLEncoding.EncodeToString([]byte(sortKey(items[end-1]))), true, nil
	}
	return out, "", false, nil
}

// ---- state changes ----

// mutateKey runs f on a copy of the key KeyId names and persists the copy if f succeeds.
func (s *Server) mutateKey(c *caller, id string, f func(k *keyRec) error) (*keyRec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, rerr := s.resolve(c, id)
	if rerr != nil {
		return nil, rerr
	}
	k := cur.clone()
	if err := f(k); err != nil {
		return nil, err
	}
	if err := s.saveKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

type empty struct{}

func enableKey(s *Server, _ context.Context, c *caller, in *keyIDInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Enabled = true
		return nil
	})
	return nil, err
}

func disableKey(s *Server, _ context.Context, c *caller, in *keyIDInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Enabled = false
		return nil
	})
	return nil, err
}

type scheduleDeletionInput struct {
	KeyId               string
	PendingWindowInDays *int
}

type scheduleDeletionOutput struct {
	KeyId               string
	DeletionDate        *epoch
	KeyState            string
	PendingWindowInDays int
}

func scheduleKeyDeletion(s *Server, _ context.Context, c *caller, in *scheduleDeletionInput) (*scheduleDeletionOutput, error) {
	days := 30
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
	}
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Pending, k.Window = true, days
		k.DeleteAt = s.now().UTC().Add(time.Duration(days) * 24 * time.Hour)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &scheduleDeletionOutput{KeyId: keyARN(k), DeletionDate: ts(k.DeleteAt), KeyState: statePending, PendingWindowInDays: days}, nil
}

type keyIDOutput struct {
	KeyId string
}

func cancelKeyDeletion(s *Server, _ context.Context, c *caller, in *keyIDInput) (*keyIDOutput, error) {
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if !k.Pending {
			return newError(errInvalidState, "%s is not pending deletion.", keyARN(k))
		}
		// A key whose deletion is canceled comes back disabled (KMSDG:deleting-keys).
		k.Pending, k.DeleteAt, k.Window, k.Enabled = false, time.Time{}, 0, false
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{KeyId: keyARN(k)}, nil
}

type updateDescriptionInput struct {
	KeyId       string
	Description string
}

func updateKeyDescription(s *Server, _ context.Context, c *caller, in *updateDescriptionInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Desc = in.Description
		return nil
	})
	return nil, err
}

// deleteDueKeys removes keys whose waiting period is over, with their aliases and grants; the
// material of a custom key store key is destroyed in the cluster on a best-effort basis.
func (s *Server) deleteDueKeys(ctx context.Context) {
	now := s.now()
	s.mu.Lock()
	var hsmDeletes []*keyRec
	for _, k := range s.keys {
		if !k.Pending || now.Before(k.DeleteAt) {
			continue
		}
		var aliases, grants []string
		for ak, a := range s.aliases {
			if a.Target == k.ID {
				aliases = append(aliases, ak)
			}
		}
		for gid, g := range s.grants {
			if g.KeyID == k.ID {
				grants = append(grants, gid)
			}
		}
		if err := s.del(bucketAliases, aliases...); err != nil {
			continue
		}
		if err := s.del(bucketGrants, grants...); err != nil {
			continue
		}
		if err := s.del(bucketKeys, k.ID); err != nil {
			continue
		}
		for _, a := range aliases {
			delete(s.aliases, a)
		}
		for _, g := range grants {
			delete(s.grants, g)
		}
		delete(s.keys, k.ID)
		if k.StoreID != "" {
			hsmDeletes = append(hsmDeletes, k)
		}
		s.log.Info("key deleted", "key", keyARN(k))
	}
	s.mu.Unlock()
	for _, k := range hsmDeletes {
		s.destroyHSMKey(ctx, k)
	}
}

func (s *Server) sweeper() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.bgCtx.Done():
			return
		case <-t.C:
			s.sweep(s.bgCtx)
		}
	}
}

// sweep runs what time makes due: key deletions and automatic rotations.
func (s *Server) sweep(ctx context.Context) {
	s.deleteDueKeys(ctx)
	s.rotateDueKeys()
}

// ---- tags ----

func checkTags(tags []tag) *Error {
	for _, t := range tags {
		if strings.HasPrefix(t.TagKey, "aws:") {
			return newError(errTag, "Tag keys beginning with 'aws:' are reserved for AWS use.")
		}
	}
	return nil
}

// dedupTags applies tags to have: a new value for a present key replaces the old one.
func dedupTags(have, add []tag) []tag {
	out := append([]tag(nil), have...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if out[i].TagKey == t.TagKey {
				out[i].TagValue, replaced = t.TagValue, true
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}

// maxTags is the per-key tag quota.
const maxTags = 50

type tagResourceInput struct {
	KeyId string
	Tags  []tag
}

func tagResource(s *Server, _ context.Context, c *caller, in *tagResourceInput) (*empty, error) {
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Tags = dedupTags(k.Tags, in.Tags)
		if len(k.Tags) > maxTags {
			return newError(errLimitExceeded, "A KMS key can have at most %d tags.", maxTags)
		}
		return nil
	})
	return nil, err
}

type untagResourceInput struct {
	KeyId   string
	TagKeys []string
}

func untagResource(s *Server, _ context.Context, c *caller, in *untagResourceInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		var keep []tag
		for _, t := range k.Tags {
			drop := false
			for _, d := range in.TagKeys {
				drop = drop || d == t.TagKey
			}
			if !drop {
				keep = append(keep, t)
			}
		}
		k.Tags = keep
		return nil
	})
	return nil, err
}

type listTagsInput struct {
	KeyId  string
	Limit  *int
	Marker *string
}

type listTagsOutput struct {
	Tags       []tag
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func listResourceTags(s *Server, _ context.Context, c *caller, in *listTagsInput) (*listTagsOutput, error) {
	s.mu.RLock()
	k, rerr := s.resolve(c, in.KeyId)
	var tags []tag
	if rerr == nil {
		tags = append(tags, k.Tags...)
	}
	s.mu.RUnlock()
	if rerr != nil {
		return nil, rerr
	}
	items, next, trunc, err := page(tags, func(t tag) string { return t.TagKey }, in.Limit, 50, in.Marker)
	if err != nil {
		return nil, err
	}
	return &listTagsOutput{Tags: append([]tag{}, items...), NextMarker: next, Truncated: trunc}, nil
}

// ---- key policies ----

// maxPolicyBytes is the key policy size quota (32 KB; the model allows more).
const maxPolicyBytes = 32 * 1024

func checkPolicy(p string) *Error {
	if len(p) > maxPolicyBytes {
		return newError(errLimitExceeded, "The key policy exceeds the maximum size of %d bytes.", maxPolicyBytes)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(p), &doc); err != nil {
		return newError(errMalformedPolicy, "The new key policy will not allow you to update the key policy in the future.")
	}
	if _, ok := doc["Statement"]; !ok {
		return newError(errMalformedPolicy, "Policy document must contain a Statement.")
	}
	return nil
}

func checkPolicyName(name *string) *Error {
	if name != nil && *name != "default" {
		return newError(errNotFound, "No such policy exists: %s", *name)
	}
	return nil
}

type policyInput struct {
	KeyId      string
	PolicyName *string
	Policy     string
}

type getPolicyOutput struct {
	Policy     string
	PolicyName string
}

func getKeyPolicy(s *Server, _ context.Context, c *caller, in *policyInput) (*getPolicyOutput, error) {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	return &getPolicyOutput{Policy: k.Policy, PolicyName: "default"}, nil
}

func putKeyPolicy(s *Server, _ context.Context, c *caller, in *policyInput) (*empty, error) {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	if err := checkPolicy(in.Policy); err != nil {
		return nil, err
	}
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Policy = in.Policy
		return nil
	})
	return nil, err
}

type listPoliciesOutput struct {
	PolicyNames []string
	Truncated   bool
}

func listKeyPolicies(s *Server, _ context.Context, c *caller, in *listTagsInput) (*listPoliciesOutput, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.resolve(c, in.KeyId); err != nil {
		return nil, err
	}
	return &listPoliciesOutput{PolicyNames: []string{"default"}}, nil
}

// ---- rotation ----

// maxOnDemandRotations is the per-key quota of RotateKeyOnDemand.
const maxOnDemandRotations = 10

// checkRotatable: only symmetric keys whose material KMS made can rotate; custom key store keys
// cannot (BOTO-KMS EnableKeyRotation, RotateKeyOnDemand).
func checkRotatable(k *keyRec, needEnabled bool) *Error {
	if k.Spec != specSymmetric || k.Origin != originKMS {
		return newError(errUnsupported, "%s does not support automatic or on-demand key rotation: only symmetric encryption KMS keys with AWS_KMS key material can rotate.", keyARN(k))
	}
	if err := checkNotPending(k); err != nil {
		return err
	}
	if needEnabled && !k.Enabled {
		return newError(errDisabled, "%s is disabled.", keyARN(k))
	}
	return nil
}

type enableRotationInput struct {
	KeyId                string
	RotationPeriodInDays *int
}

func enableKeyRotation(s *Server, _ context.Context, c *caller, in *enableRotationInput) (*empty, error) {
	period := 365
	if in.RotationPeriodInDays != nil {
		period = *in.RotationPeriodInDays
	}
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkRotatable(k, true); err != nil {
			return err
		}
		k.RotationOn, k.RotationPeriod = true, period
		k.NextRotation = s.now().UTC().Add(time.Duration(period) * 24 * time.Hour)
		return nil
	})
	return nil, err
}

func disableKeyRotation(s *Server, _ context.Context, c *caller, in *keyIDInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkRotatable(k, true); err != nil {
			return err
		}
		k.RotationOn, k.NextRotation = false, time.Time{}
		return nil
	})
	return nil, err
}

type rotationStatusOutput struct {
	KeyRotationEnabled        bool
	KeyId                     string
	RotationPeriodInDays      int    `json:",omitempty"`
	NextRotationDate          *epoch `json:",omitempty"`
	OnDemandRotationStartDate *epoch `json:",omitempty"`
}

func getKeyRotationStatus(s *Server, _ context.Context, c *caller, in *keyIDInput) (*rotationStatusOutput, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.resolve(c, in.KeyId)
	if err != nil {
		return nil, err
	}
	if k.Spec != specSymmetric || k.Origin != originKMS {
		return nil, newError(errUnsupported, "%s does not support key rotation.", keyARN(k))
	}
	out := &rotationStatusOutput{KeyRotationEnabled: k.RotationOn, KeyId: keyARN(k)}
	if k.RotationOn {
		out.RotationPeriodInDays, out.NextRotationDate = k.RotationPeriod, ts(k.NextRotation)
	}
	return out, nil
}

func rotateKeyOnDemand(s *Server, _ context.Context, c *caller, in *keyIDInput) (*keyIDOutput, error) {
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkRotatable(k, true); err != nil {
			return err
		}
		n := 0
		for _, v := range k.Versions {
			if v.Rotation == "ON_DEMAND" {
				n++
			}
		}
		if n >= maxOnDemandRotations {
			return newError(errLimitExceeded, "%s has reached the limit of %d on-demand rotations.", keyARN(k), maxOnDemandRotations)
		}
		return s.addVersion(k, "ON_DEMAND")
	})
	if err != nil {
		return nil, err
	}
	return &keyIDOutput{KeyId: keyARN(k)}, nil
}

func (s *Server) addVersion(k *keyRec, how string) error {
	v, _, err := s.newMaterial(k, uint32(len(k.Versions)+1), how)
	if err != nil {
		return err
	}
	k.Versions = append(k.Versions, v)
	return nil
}

// rotateDueKeys performs the automatic rotations whose date has come.
func (s *Server) rotateDueKeys() {
	now := s.now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cur := range s.keys {
		if !cur.RotationOn || cur.Pending || now.Before(cur.NextRotation) {
			continue
		}
		k := cur.clone()
		if err := s.addVersion(k, "AUTOMATIC"); err != nil {
			continue
		}
		k.NextRotation = now.Add(time.Duration(k.RotationPeriod) * 24 * time.Hour)
		if err := s.saveKey(k); err != nil {
			s.log.Error("automatic rotation", "key", keyARN(k), "err", err)
		}
	}
}

type rotationEntry struct {
	KeyId         string
	KeyMaterialId string
	RotationDate  *epoch
	RotationType  string
}

type listRotationsOutput struct {
	Rotations  []rotationEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func listKeyRotations(s *Server, _ context.Context, c *caller, in *listTagsInput) (*listRotationsOutput, error) {
	s.mu.RLock()
	k, rerr := s.resolve(c, in.KeyId)
	var vs []matVersion
	var arn string
	if rerr == nil {
		vs, arn = append(vs, k.Versions...), keyARN(k)
		if k.Spec != specSymmetric || k.Origin != originKMS {
			rerr = newError(errUnsupported, "%s does not support key rotation.", arn)
		}
	}
	s.mu.RUnlock()
	if rerr != nil {
		return nil, rerr
	}
	var rot []matVersion
	for _, v := range vs {
		if v.Rotation != "" {
			rot = append(rot, v)
		}
	}
	items, next, trunc, err := page(rot, func(v matVersion) string { return fmt.Sprintf("%010d", v.N) }, in.Limit, 100, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &listRotationsOutput{Rotations: []rotationEntry{}, NextMarker: next, Truncated: trunc}
	for _, v := range items {
		out.Rotations = append(out.Rotations, rotationEntry{KeyId: arn, KeyMaterialId: v.ID, RotationDate: ts(v.Created), RotationType: v.Rotation})
	}
	return out, nil
}
