package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/grant"
	"github.com/hsmsim/hsmsim/kms/policy"
	"github.com/hsmsim/hsmsim/kms/record"
)

// Grants are stored, listed, retired and revoked as KMS does, and authorize their grantee for
// their operations (authz.go). Package kms/grant holds what a grant is and allows; these are the
// operations over the server's records.
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html

type grantRec = grant.Grant

type createGrantInput struct {
	KeyId             string
	GranteePrincipal  string
	RetiringPrincipal string
	Operations        []string
	Constraints       *grant.Constraints
	GrantTokens       []string
	Name              string
	DryRun            bool
}

type createGrantOutput struct {
	GrantToken string
	GrantId    string
}

// grantKey names k for the grants index.
func grantKey(k *keyRec) grant.Key { return grant.Key{Account: k.Account, Region: k.Region, ID: k.ID} }

func createGrant(s *Server, _ context.Context, c *caller, in *createGrantInput) (*createGrantOutput, error) {
	if err := grant.CheckTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if err := grant.CheckRequest(in.Operations, in.Constraints); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, rerr := s.resolve(c, in.KeyId)
	if rerr != nil {
		return nil, rerr
	}
	// CreateGrant's row of the key state table: a disabled key refuses it (DisabledException),
	// a key pending deletion or unavailable too (KMSInvalidStateException).
	// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
	if err := s.checkUsable(k); err != nil {
		return nil, err
	}
	if err := grant.CheckOperations(keyARN(k), k.Spec, k.Usage, in.Operations, in.Constraints != nil); err != nil {
		return nil, err
	}
	if g := c.ViaGrant; g != nil && !g.Covers(in.Operations, in.Constraints) {
		return nil, awsapi.NewError(errAccessDenied, "%s", c.Denial.Message(&c.Req))
	}
	if err := grant.CheckPrincipal(in.GranteePrincipal); err != nil {
		return nil, err
	}
	if in.RetiringPrincipal != "" {
		if err := grant.CheckPrincipal(in.RetiringPrincipal); err != nil {
			return nil, err
		}
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	have := s.grants.Of(grantKey(k))
	for _, g := range have {
		if g.Same(in.Name, in.GranteePrincipal, in.RetiringPrincipal, in.Operations, in.Constraints) {
			return &createGrantOutput{GrantToken: g.Token, GrantId: g.ID}, nil
		}
	}
	if err := grant.CheckQuota(len(have)); err != nil {
		return nil, err
	}
	g := grant.New(k.Account, k.Region, k.ID, in.Name, in.GranteePrincipal, in.RetiringPrincipal, in.Operations, in.Constraints, s.now().UTC())
	if err := s.db.Put(record.BucketGrants, g.ID, g); err != nil {
		return nil, err
	}
	s.grants.Put(g)
	return &createGrantOutput{GrantToken: g.Token, GrantId: g.ID}, nil
}

type listGrantsInput struct {
	KeyId             string
	GrantId           string
	GranteePrincipal  string
	RetiringPrincipal string
	Limit             *int
	Marker            *string
}

type listGrantsOutput struct {
	Grants     []grant.Entry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

// listGrantsWhere is one page of the grants keep accepts.
func listGrantsWhere(s *Server, in *listGrantsInput, keep func(g *grantRec) bool) (*listGrantsOutput, error) {
	s.mu.RLock()
	var all []grant.Entry
	for g := range s.grants.All() {
		if keep(g) {
			all = append(all, g.Entry(keyARN(s.keyAt(g.Account, g.Region, g.KeyID))))
		}
	}
	s.mu.RUnlock()
	items, next, trunc, err := page(all, func(e grant.Entry) string { return e.GrantId }, in.Limit, 50, in.Marker)
	if err != nil {
		return nil, err
	}
	return &listGrantsOutput{Grants: append([]grant.Entry{}, items...), NextMarker: next, Truncated: trunc}, nil
}

func listGrants(s *Server, _ context.Context, c *caller, in *listGrantsInput) (*listGrantsOutput, error) {
	s.mu.RLock()
	k, rerr := s.resolve(c, in.KeyId)
	s.mu.RUnlock()
	if rerr != nil {
		return nil, rerr
	}
	return listGrantsWhere(s, in, func(g *grantRec) bool {
		return g.KeyOf() == grantKey(k) && (in.GrantId == "" || g.ID == in.GrantId) && (in.GranteePrincipal == "" || g.Grantee == in.GranteePrincipal)
	})
}

func listRetirableGrants(s *Server, _ context.Context, c *caller, in *listGrantsInput) (*listGrantsOutput, error) {
	return listGrantsWhere(s, in, func(g *grantRec) bool {
		return g.Retiring == in.RetiringPrincipal && g.Account == c.Account && g.Region == c.Region && s.keyAt(g.Account, g.Region, g.KeyID) != nil
	})
}

type retireGrantInput struct {
	GrantToken string
	KeyId      string
	GrantId    string
	DryRun     bool
}

// removeGrant deletes a grant of key k (callers hold s.mu).
func removeGrant(s *Server, k *keyRec, id string, dry bool) error {
	if err := grant.CheckID(id); err != nil {
		return err
	}
	g := s.grants.Get(id)
	if g == nil || g.KeyOf() != grantKey(k) {
		return awsapi.NewError(errNotFound, "Grant ID %s not found", id)
	}
	if err := dryRun(dry); err != nil {
		return err
	}
	if err := s.db.Del(record.BucketGrants, id); err != nil {
		return err
	}
	s.grants.Drop(g)
	return nil
}

func retireGrant(s *Server, _ context.Context, c *caller, in *retireGrantInput) (*empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k *keyRec
	id := in.GrantId
	if in.GrantToken != "" {
		tid, err := grant.IDOfToken(in.GrantToken)
		if err != nil {
			return nil, err
		}
		id = tid
		g := s.grants.Get(id)
		if g == nil {
			return nil, awsapi.NewError(errNotFound, "Grant not found")
		}
		k = s.keyAt(g.Account, g.Region, g.KeyID)
		if k == nil || k.Account != c.Account || k.Region != c.Region {
			return nil, awsapi.NewError(errNotFound, "Grant not found")
		}
	} else {
		if in.KeyId == "" || in.GrantId == "" {
			return nil, awsapi.NewError(awsapi.ValidationException, "Either GrantToken or both KeyId and GrantId must be specified.")
		}
		var rerr *awsapi.Error
		if k, rerr = s.find(c, in.KeyId); rerr != nil {
			return nil, rerr
		}
	}
	if g := s.grants.Get(id); g != nil && g.KeyOf() == grantKey(k) && !g.MayRetire(&c.Req.Principal, k.Account) {
		return nil, awsapi.NewError(errAccessDenied, "%s", policy.AccessDeniedMessage(c.Req.Principal.ARN, "kms:RetireGrant", keyARN(k), policy.NoResourceAllow))
	}
	return nil, removeGrant(s, k, id, in.DryRun)
}

func revokeGrant(s *Server, _ context.Context, c *caller, in *retireGrantInput) (*empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, rerr := s.resolve(c, in.KeyId)
	if rerr != nil {
		return nil, rerr
	}
	return nil, removeGrant(s, k, in.GrantId, in.DryRun)
}
