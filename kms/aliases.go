package kms

import (
	"context"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyspec"
	"github.com/hsmsim/hsmsim/kms/record"
)

// Aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases. An alias names one key of its
// account and region; KeyId parameters accept it wherever they accept a key id (keys.go resolve).
// Changing an alias takes the permission twice, as on AWS: on the alias, from the caller's
// identity policies (aliases have no policy of their own), and on each key it names, from the
// key policy. https://docs.aws.amazon.com/kms/latest/developerguide/alias-access.html

// maxAliasesPerKey is the per-key alias quota.
const maxAliasesPerKey = 50

// checkAliasName: aliases start with alias/, and alias/aws/ belongs to AWS managed keys.
func checkAliasName(name string) *awsapi.Error {
	if !strings.HasPrefix(name, "alias/") || name == "alias/" {
		return awsapi.NewError(awsapi.ValidationException, "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return awsapi.NewError(errInvalidAliasName, "Alias %s cannot begin with 'alias/aws/'. The alias/aws/ prefix is reserved for AWS managed keys.", name)
	}
	return nil
}

// aliasTarget resolves TargetKeyId, which must name a key by id or key ARN (not by alias).
func aliasTarget(s *Server, c *caller, id string) (*keyRec, *awsapi.Error) {
	if strings.HasPrefix(id, "alias/") || strings.Contains(id, ":alias/") {
		return nil, awsapi.NewError(awsapi.ValidationException, "Aliases must refer to keys. Not aliases")
	}
	k, err := s.resolve(c, id)
	if err != nil {
		return nil, err
	}
	if err := checkNotPending(k); err != nil {
		return nil, err
	}
	return k, nil
}

type aliasInput struct {
	AliasName   string
	TargetKeyId string
}

func createAlias(s *Server, _ context.Context, c *caller, in *aliasInput) (*empty, error) {
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	if err := c.Identity(aliasARN(c, in.AliasName)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := aliasTarget(s, c, in.TargetKeyId)
	if err != nil {
		return nil, err
	}
	ak := record.AliasRef(c.Account, c.Region, in.AliasName)
	if s.aliases[ak] != nil {
		return nil, awsapi.NewError(errAlreadyExists, "An alias with the name %s already exists", aliasARN(c, in.AliasName))
	}
	n := 0
	for _, a := range s.aliases {
		if a.Names(k) {
			n++
		}
	}
	if n >= maxAliasesPerKey {
		return nil, awsapi.NewError(errLimitExceeded, "A KMS key can have at most %d aliases.", maxAliasesPerKey)
	}
	now := s.now().UTC()
	a := &aliasRec{Name: in.AliasName, Account: c.Account, Region: c.Region, Target: k.ID, Created: now, Updated: now}
	if err := s.db.Put(record.BucketAliases, ak, a); err != nil {
		return nil, err
	}
	s.aliases[ak] = a
	return nil, nil
}

func updateAlias(s *Server, _ context.Context, c *caller, in *aliasInput) (*empty, error) {
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	if err := c.Identity(aliasARN(c, in.AliasName)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ak := record.AliasRef(c.Account, c.Region, in.AliasName)
	cur := s.aliases[ak]
	if cur == nil {
		return nil, awsapi.NewError(errNotFound, "Alias %s is not found.", aliasARN(c, in.AliasName))
	}
	if old := s.keyAt(cur.Account, cur.Region, cur.Target); old != nil {
		if err := s.authorize(c, old, in.AliasName); err != nil {
			return nil, err
		}
	}
	k, err := aliasTarget(s, c, in.TargetKeyId)
	if err != nil {
		return nil, err
	}
	// An alias may move only between keys of the same type (symmetric, asymmetric or HMAC) and
	// key usage, so that code using it keeps working; the key spec may differ (UpdateAlias in
	// the KMS API Reference; KMSDG:alias-manage).
	if old := s.keyAt(cur.Account, cur.Region, cur.Target); old != nil && (keyspec.Type(old.Spec) != keyspec.Type(k.Spec) || old.Usage != k.Usage) {
		return nil, awsapi.NewError(awsapi.ValidationException, "%s is a %s key with key usage %s, which is not the type and key usage of the current target of %s (%s, %s).",
			keyARN(k), keyspec.Type(k.Spec), k.Usage, in.AliasName, keyspec.Type(old.Spec), old.Usage)
	}
	a := *cur
	a.Target, a.Updated = k.ID, s.now().UTC()
	if err := s.db.Put(record.BucketAliases, ak, &a); err != nil {
		return nil, err
	}
	s.aliases[ak] = &a
	return nil, nil
}

type aliasNameInput struct {
	AliasName string
}

func deleteAlias(s *Server, _ context.Context, c *caller, in *aliasNameInput) (*empty, error) {
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	if err := c.Identity(aliasARN(c, in.AliasName)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ak := record.AliasRef(c.Account, c.Region, in.AliasName)
	a := s.aliases[ak]
	if a == nil {
		return nil, awsapi.NewError(errNotFound, "Alias %s is not found.", aliasARN(c, in.AliasName))
	}
	if k := s.keyAt(a.Account, a.Region, a.Target); k != nil {
		if err := s.authorize(c, k, in.AliasName); err != nil {
			return nil, err
		}
	}
	if err := s.db.Del(record.BucketAliases, ak); err != nil {
		return nil, err
	}
	delete(s.aliases, ak)
	return nil, nil
}

type listAliasesInput struct {
	KeyId  *string
	Limit  *int
	Marker *string
}

type aliasEntry struct {
	AliasName       string
	AliasArn        string
	TargetKeyId     string
	CreationDate    *awsapi.Timestamp
	LastUpdatedDate *awsapi.Timestamp
}

type listAliasesOutput struct {
	Aliases    []aliasEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

func listAliases(s *Server, _ context.Context, c *caller, in *listAliasesInput) (*listAliasesOutput, error) {
	s.mu.RLock()
	var only string
	if in.KeyId != nil {
		k, err := s.resolve(c, *in.KeyId)
		if err != nil {
			s.mu.RUnlock()
			return nil, err
		}
		only = k.ID
	}
	var all []aliasRec
	for _, a := range s.aliases {
		if a.Account == c.Account && a.Region == c.Region && (only == "" || a.Target == only) {
			all = append(all, *a)
		}
	}
	s.mu.RUnlock()
	items, next, trunc, err := page(all, func(a aliasRec) string { return a.Name }, in.Limit, 50, in.Marker)
	if err != nil {
		return nil, err
	}
	out := &listAliasesOutput{Aliases: []aliasEntry{}, NextMarker: next, Truncated: trunc}
	for _, a := range items {
		out.Aliases = append(out.Aliases, aliasEntry{AliasName: a.Name, AliasArn: aliasARN(c, a.Name), TargetKeyId: a.Target,
			CreationDate: awsapi.Time(a.Created), LastUpdatedDate: awsapi.Time(a.Updated)})
	}
	return out, nil
}
