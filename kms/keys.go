package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/grant"
	"github.com/hsmsim/hsmsim/kms/keyspec"
	"github.com/hsmsim/hsmsim/kms/multiregion"
	"github.com/hsmsim/hsmsim/kms/policy"
	"github.com/hsmsim/hsmsim/kms/record"
)

// KMS keys: what a key is (its states, spec and usage, ARN, metadata), how a KeyId parameter
// finds one, and its life cycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey,
// UpdateKeyDescription, ScheduleKeyDeletion, CancelKeyDeletion and the deletion that comes due.

const (
	specSymmetric = "SYMMETRIC_DEFAULT"
	usageEncrypt  = "ENCRYPT_DECRYPT"
	usageSign     = "SIGN_VERIFY"
	usageMac      = "GENERATE_VERIFY_MAC"
	usageAgree    = "KEY_AGREEMENT"
	originKMS     = "AWS_KMS"
	originHSM     = "AWS_CLOUDHSM"
	originExt     = "EXTERNAL"
)

// keyIDRE is a key id: a UUID, or mrk- and 32 hex digits for a multi-Region key.
var keyIDRE = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)

// randomHex is n random bytes in hex: key material ids and grant ids.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func keyARN(k *keyRec) string { return k.ARN() }

func aliasARN(c *caller, name string) string {
	return "arn:aws:kms:" + c.Region + ":" + c.Account + ":" + name
}

// resolve finds the key a KeyId parameter names (key id, key ARN, alias name or alias ARN) in the
// caller's account and region, and authorizes the caller's action on it. Callers hold s.mu.
func (s *Server) resolve(c *caller, id string) (*keyRec, *awsapi.Error) {
	k, err := s.find(c, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(c, k, id); err != nil {
		return nil, err
	}
	return k, nil
}

// find is resolve without the authorization (callers hold s.mu).
func (s *Server) find(c *caller, id string) (*keyRec, *awsapi.Error) {
	if rest, ok := strings.CutPrefix(id, "arn:"); ok {
		f := strings.SplitN(rest, ":", 5)
		if len(f) != 5 || f[0] != "aws" || f[1] != "kms" || !(strings.HasPrefix(f[4], "key/") || strings.HasPrefix(f[4], "alias/")) {
			return nil, invalidARN(c, id)
		}
		if f[2] != c.Region || f[3] != c.Account {
			return nil, awsapi.NewError(errNotFound, "Key '%s' does not exist", id)
		}
		switch {
		case strings.HasPrefix(f[4], "key/"):
			return s.resolveID(c, strings.TrimPrefix(f[4], "key/"))
		default:
			return s.resolveAlias(c, f[4])
		}
	}
	if strings.HasPrefix(id, "alias/") {
		return s.resolveAlias(c, id)
	}
	return s.resolveID(c, id)
}

// invalidARN answers a KeyId that is an ARN but not of a KMS key or alias: InvalidArnException
// where the operation's model lists it (DescribeKey, ScheduleKeyDeletion, ...), else
// NotFoundException, the only answer those operations (Encrypt, CreateAlias, ...) have for a key
// they cannot find.
func invalidARN(c *caller, id string) *awsapi.Error {
	if awsapi.KMS.Lists(strings.TrimPrefix(c.Action, "kms:"), errInvalidArn) {
		return awsapi.NewError(errInvalidArn, "Invalid arn %s", id)
	}
	return awsapi.NewError(errNotFound, "Invalid arn %s", id)
}

func (s *Server) resolveID(c *caller, id string) (*keyRec, *awsapi.Error) {
	if !keyIDRE.MatchString(id) {
		return nil, awsapi.NewError(errNotFound, "Invalid keyId '%s'", id)
	}
	k := s.keyAt(c.Account, c.Region, id)
	if k == nil {
		return nil, awsapi.NewError(errNotFound, "Key 'arn:aws:kms:%s:%s:key/%s' does not exist", c.Region, c.Account, id)
	}
	return k, nil
}

func (s *Server) resolveAlias(c *caller, name string) (*keyRec, *awsapi.Error) {
	a := s.aliases[record.AliasRef(c.Account, c.Region, name)]
	if a == nil {
		return nil, awsapi.NewError(errNotFound, "Alias '%s' is not found.", aliasARN(c, name))
	}
	k := s.keyAt(a.Account, a.Region, a.Target)
	if k == nil {
		return nil, awsapi.NewError(errNotFound, "Alias '%s' is not found.", aliasARN(c, name))
	}
	return k, nil
}

// keyState is the state k shows now (the key state table, record.Key.State). Callers hold s.mu.
func (s *Server) keyState(k *keyRec) string { return k.State(s.now(), s.keyStoreOf(k).available(k)) }

// checkUsable is the key-state rule of every cryptographic operation.
func (s *Server) checkUsable(k *keyRec) *awsapi.Error {
	switch s.keyState(k) {
	case record.StateDisabled:
		return awsapi.NewError(errDisabled, "%s is disabled.", keyARN(k))
	case record.StatePending, record.StatePendingReplica:
		return awsapi.NewError(errInvalidState, "%s is pending deletion.", keyARN(k))
	case record.StateCreating:
		return awsapi.NewError(errInvalidState, "%s is being created.", keyARN(k))
	case record.StateUnavailable:
		return awsapi.NewError(errInvalidState, "%s is unavailable because its custom key store %s is not connected.", keyARN(k), k.StoreID)
	case record.StateImport:
		return errPendingImport(k)
	}
	return nil
}

// checkNotPending is the rule of the management operations that a key pending deletion refuses.
func checkNotPending(k *keyRec) *awsapi.Error {
	if k.Pending {
		return awsapi.NewError(errInvalidState, "%s is pending deletion.", keyARN(k))
	}
	return nil
}

// usableKey resolves a key for a cryptographic operation: grant tokens well-formed, the key
// found and in a usable state, and of key usage usage ("" for any).
func (s *Server) usableKey(c *caller, keyID string, grantTokens []string, usage string) (*keyRec, error) {
	if err := grant.CheckTokens(grantTokens); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.usableKeyLocked(c, keyID, usage)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// usableKeyLocked is usableKey without the grant tokens, for callers that hold s.mu.
func (s *Server) usableKeyLocked(c *caller, keyID, usage string) (*keyRec, *awsapi.Error) {
	k, err := s.resolve(c, keyID)
	if err == nil {
		err = s.checkUsable(k)
	}
	if err != nil {
		return nil, err
	}
	if usage != "" && k.Usage != usage {
		return nil, wrongUsage(k)
	}
	return k, nil
}

func wrongUsage(k *keyRec) *awsapi.Error {
	return awsapi.NewError(errInvalidKeyUsage, "%s key usage is %s which is not valid for this operation.", keyARN(k), k.Usage)
}

// keyMetadata is the KeyMetadata structure.
type keyMetadata = record.Metadata

func (s *Server) metadata(k *keyRec) *keyMetadata {
	return k.Metadata(s.keyState(k), s.multiRegionConfig(k))
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
		return nil, awsapi.NewError(awsapi.ValidationException, "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec parameter is deprecated.")
	}
	if spec == "" {
		spec = specSymmetric
	}
	usage := in.KeyUsage
	if usage == "" {
		usage = usageEncrypt
		if keyspec.HMAC(spec) {
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
	if origin == originXKS {
		return nil, s.externalKeyStoreKey(c, in.CustomKeyStoreId)
	}
	switch origin {
	case originKMS:
		if in.CustomKeyStoreId != "" {
			return nil, awsapi.NewError(errUnsupported, "CustomKeyStoreId requires Origin AWS_CLOUDHSM.")
		}
	case originHSM:
		if in.CustomKeyStoreId == "" {
			return nil, awsapi.NewError(errUnsupported, "Origin AWS_CLOUDHSM requires a CustomKeyStoreId.")
		}
		if in.MultiRegion {
			// "you cannot create a multi-Region key in a custom key store" (CreateKey, MultiRegion)
			return nil, awsapi.NewError(errUnsupported, "Multi-Region keys are not supported in a custom key store.")
		}
		// "This parameter is valid only for symmetric encryption KMS keys in a single Region. You
		// cannot create any other type of KMS key in a custom key store." (CreateKey's
		// CustomKeyStoreId, KMS API Reference); UnsupportedOperationException is the exception for
		// "a specified parameter is not supported ... for this operation".
		if spec != specSymmetric || usage != usageEncrypt {
			return nil, awsapi.NewError(errUnsupported, "KeySpec %s with KeyUsage %s is not supported in a custom key store. Only SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys are.", spec, usage)
		}
	case originExt:
		// A key for imported material; its material comes with ImportKeyMaterial (imports.go).
		if in.CustomKeyStoreId != "" {
			return nil, awsapi.NewError(errUnsupported, "You cannot import key material into a KMS key in a custom key store.")
		}
	default:
		return nil, awsapi.NewError(errUnsupported, "hsmsim does not support keys of origin %s.", origin)
	}
	if err := keyspec.Check(spec, usage); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	k := &keyRec{ID: awsapi.NewUUID(), Account: c.Account, Region: c.Region, Created: now, Desc: in.Description,
		Usage: usage, Spec: spec, Origin: origin, Enabled: true, Policy: policy.DefaultKeyPolicy(c.Account), Tags: dedupTags(nil, in.Tags)}
	if in.MultiRegion {
		k.ID, k.MultiRegion, k.PrimaryRegion = multiregion.NewKeyID(), true, c.Region
	}
	if in.Policy != nil {
		p, err := s.parseKeyPolicy(*in.Policy)
		if err != nil {
			return nil, err
		}
		if err := c.CheckLockout(p, keyARN(k), k.Account, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
		k.Policy, k.Compiled = *in.Policy, p
	} else {
		k.Compiled = s.defaultPolicy(c.Account)
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if err := s.keyStoreOf(k).newKey(ctx, c, k, in.CustomKeyStoreId); err != nil {
		return nil, err
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
	// DescribeKey's model list has no InvalidGrantTokenException: a token KMS did not issue is
	// invalid input, the common ValidationException.
	if err := grant.CheckTokens(in.GrantTokens); err != nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "%s", err.Message)
	}
	return viewKey(s, c, in.KeyId, func(k *keyRec) (*keyMetadataOutput, error) {
		return &keyMetadataOutput{KeyMetadata: s.metadata(k)}, nil
	})
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
// ---- state changes ----

// viewKey is f of the key KeyId names, read under s.mu.
func viewKey[T any](s *Server, c *caller, id string, f func(k *keyRec) (T, error)) (T, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.resolve(c, id)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(k)
}

// mutateKey runs f on a copy of the key KeyId names and persists the copy if f succeeds.
func (s *Server) mutateKey(c *caller, id string, f func(k *keyRec) error) (*keyRec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, rerr := s.resolve(c, id)
	if rerr != nil {
		return nil, rerr
	}
	k := cur.Clone()
	if err := f(k); err != nil {
		return nil, err
	}
	if err := s.saveKey(k); err != nil {
		return nil, err
	}
	return k, nil
}

func enableKey(s *Server, _ context.Context, c *caller, in *keyIDInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := s.checkManageable(k); err != nil {
			return err
		}
		if k.AwaitsImport() {
			return errPendingImport(k)
		}
		k.Enabled = true
		// Rotation resumes: a key whose rotation came due while it was disabled rotates now
		// (GetKeyRotationStatus in the KMS API Reference, "Disabled").
		if rotationDue(s, k) {
			return rotateNow(s, k)
		}
		return nil
	})
	return nil, err
}

func disableKey(s *Server, _ context.Context, c *caller, in *keyIDInput) (*empty, error) {
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := s.checkManageable(k); err != nil {
			return err
		}
		if k.AwaitsImport() {
			return errPendingImport(k)
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
	DeletionDate        *awsapi.Timestamp
	KeyState            string
	PendingWindowInDays int
}

func scheduleKeyDeletion(s *Server, _ context.Context, c *caller, in *scheduleDeletionInput) (*scheduleDeletionOutput, error) {
	days := 30
	if in.PendingWindowInDays != nil {
		days = *in.PendingWindowInDays
	}
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := s.checkManageable(k); err != nil {
			return err
		}
		k.Pending, k.Window = true, days
		// A primary key with replicas waits for their deletion before its own waiting period
		// begins (deleteDueKeys): its deletion date is not known yet.
		if !s.hasReplicas(k) {
			k.DeleteAt = s.now().UTC().Add(time.Duration(days) * 24 * time.Hour)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &scheduleDeletionOutput{KeyId: keyARN(k), DeletionDate: awsapi.Time(k.DeleteAt), KeyState: s.keyState(k), PendingWindowInDays: days}, nil
}

type keyIDOutput struct {
	KeyId string
}

func cancelKeyDeletion(s *Server, _ context.Context, c *caller, in *keyIDInput) (*keyIDOutput, error) {
	k, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if !k.Pending {
			return awsapi.NewError(errInvalidState, "%s is not pending deletion.", keyARN(k))
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

// deleteDueKeys removes keys whose waiting period is over, with their aliases and grants; their
// stores then destroy the material (a custom key store's in its cluster, on a best-effort basis).
func deleteDueKeys(s *Server, ctx context.Context) {
	now := s.now()
	s.mu.Lock()
	var deleted []*keyRec
	for _, k := range s.keys {
		if !k.Pending || k.DeleteAt.IsZero() || now.Before(k.DeleteAt) {
			continue
		}
		var aliases, grants []string
		var grantRecs []*grantRec
		for ak, a := range s.aliases {
			if a.Names(k) {
				aliases = append(aliases, ak)
			}
		}
		for gid, g := range s.grants.Of(grantKey(k)) {
			grants = append(grants, gid)
			grantRecs = append(grantRecs, g)
		}
		if err := s.db.Del(record.BucketAliases, aliases...); err != nil {
			continue
		}
		if err := s.db.Del(record.BucketGrants, grants...); err != nil {
			continue
		}
		if err := s.db.Del(record.BucketKeys, k.Ref()); err != nil {
			continue
		}
		for _, a := range aliases {
			delete(s.aliases, a)
		}
		for _, g := range grantRecs {
			s.grants.Drop(g)
		}
		s.dropKey(k)
		s.usage.Forget(keyARN(k))
		deleted = append(deleted, k)
		s.log.Info("key deleted", "key", keyARN(k))
	}
	s.startPrimaryDeletions(deleted)
	s.mu.Unlock()
	for _, k := range deleted {
		s.keyStoreOf(k).destroy(ctx, k)
	}
}
