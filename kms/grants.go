package kms

import (
	"context"
	"encoding/base64"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Grants are stored, listed, retired and revoked as KMS does, and authorize their grantee for
// their operations (authz.go). A grant takes effect as soon as CreateGrant returns (hsmsim has
// no eventual consistency to bridge), so a grant token only needs to be well-formed: a token
// hsmsim did not issue is InvalidGrantTokenException, and a revoked grant's token authorizes
// nothing because the grant is gone.
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html

const grantTokenPrefix = "hsmsim-grant-v1:"

var grantIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// checkGrantTokens accepts the tokens CreateGrant issued.
func checkGrantTokens(tokens []string) *awsapi.Error {
	for _, t := range tokens {
		if _, ok := grantIDOfToken(t); !ok {
			return awsapi.NewError(errInvalidGrantToken, "Invalid grant token")
		}
	}
	return nil
}

func grantToken(id string) string {
	return base64.StdEncoding.EncodeToString([]byte(grantTokenPrefix + id + ":" + randomHex(16)))
}

func grantIDOfToken(t string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return "", false
	}
	rest, ok := strings.CutPrefix(string(b), grantTokenPrefix)
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, ":")
	return id, grantIDRE.MatchString(id)
}

type createGrantInput struct {
	KeyId             string
	GranteePrincipal  string
	RetiringPrincipal string
	Operations        []string
	Constraints       *grantConstraints
	GrantTokens       []string
	Name              string
	DryRun            bool
}

type createGrantOutput struct {
	GrantToken string
	GrantId    string
}

// maxGrantsPerKey is the per-key grant quota.
const maxGrantsPerKey = 50000

func createGrant(s *Server, _ context.Context, c *caller, in *createGrantInput) (*createGrantOutput, error) {
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if len(in.Operations) == 0 {
		return nil, awsapi.NewError(awsapi.ValidationException, "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if in.Constraints != nil && in.Constraints.EncryptionContextEquals != nil && in.Constraints.EncryptionContextSubset != nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "Grant constraints cannot include both EncryptionContextEquals and EncryptionContextSubset.")
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
	if err := checkGrantOperations(k, in.Operations, in.Constraints != nil); err != nil {
		return nil, err
	}
	if g := c.viaGrant; g != nil && !g.covers(in.Operations, in.Constraints) {
		// A grantee's CreateGrant passes on at most its own grant: the same operations or
		// fewer, and an encryption context constraint at least as strict. (CreateGrant in the
		// KMS API Reference; https://docs.aws.amazon.com/kms/latest/developerguide/grants.html)
		return nil, awsapi.NewError(errAccessDenied, "%s", c.denial.Message(&c.req))
	}
	if err := checkGrantPrincipal(in.GranteePrincipal); err != nil {
		return nil, err
	}
	if in.RetiringPrincipal != "" {
		if err := checkGrantPrincipal(in.RetiringPrincipal); err != nil {
			return nil, err
		}
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	ops := slices.Clone(in.Operations)
	slices.Sort(ops)
	n := len(s.keyGrants[k.ref()])
	for _, g := range s.keyGrants[k.ref()] {
		// A named grant created again with the same parameters is the same grant (idempotent
		// CreateGrant, KMSDG:grant-manage).
		if in.Name != "" && g.Name == in.Name && g.Grantee == in.GranteePrincipal && g.Retiring == in.RetiringPrincipal &&
			slices.Equal(g.Operations, ops) && reflect.DeepEqual(g.Constraints, in.Constraints) {
			return &createGrantOutput{GrantToken: g.Token, GrantId: g.ID}, nil
		}
	}
	if n >= maxGrantsPerKey {
		return nil, awsapi.NewError(errLimitExceeded, "A KMS key can have at most %d grants.", maxGrantsPerKey)
	}
	g := &grantRec{ID: randomHex(32), KeyID: k.ID, Account: k.Account, Region: k.Region, Name: in.Name, Grantee: in.GranteePrincipal, Retiring: in.RetiringPrincipal,
		Operations: ops, Constraints: in.Constraints, Created: s.now().UTC()}
	g.Token = grantToken(g.ID)
	if err := s.db.put(bucketGrants, g.ID, g); err != nil {
		return nil, err
	}
	s.putGrant(g)
	return &createGrantOutput{GrantToken: g.Token, GrantId: g.ID}, nil
}

type grantEntry struct {
	KeyId             string
	GrantId           string
	Name              string `json:",omitempty"`
	CreationDate      *awsapi.Timestamp
	GranteePrincipal  string
	RetiringPrincipal string `json:",omitempty"`
	IssuingAccount    string
	Operations        []string
	Constraints       *grantConstraints `json:",omitempty"`
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
	Grants     []grantEntry
	NextMarker string `json:",omitempty"`
	Truncated  bool
}

// entry is g as ListGrants shows it; k is its key.
func (g *grantRec) entry(k *keyRec) grantEntry {
	return grantEntry{KeyId: keyARN(k), GrantId: g.ID, Name: g.Name, CreationDate: awsapi.Time(g.Created), GranteePrincipal: g.Grantee,
		RetiringPrincipal: g.Retiring, IssuingAccount: "arn:aws:iam::" + k.Account + ":root", Operations: g.Operations, Constraints: g.Constraints}
}

// listGrantsWhere is one page of the grants keep accepts.
func listGrantsWhere(s *Server, in *listGrantsInput, keep func(g *grantRec) bool) (*listGrantsOutput, error) {
	s.mu.RLock()
	var all []grantEntry
	for _, g := range s.grants {
		if keep(g) {
			all = append(all, g.entry(s.keys[g.keyRef()]))
		}
	}
	s.mu.RUnlock()
	items, next, trunc, err := page(all, func(e grantEntry) string { return e.GrantId }, in.Limit, 50, in.Marker)
	if err != nil {
		return nil, err
	}
	return &listGrantsOutput{Grants: append([]grantEntry{}, items...), NextMarker: next, Truncated: trunc}, nil
}

func listGrants(s *Server, _ context.Context, c *caller, in *listGrantsInput) (*listGrantsOutput, error) {
	s.mu.RLock()
	k, rerr := s.resolve(c, in.KeyId)
	s.mu.RUnlock()
	if rerr != nil {
		return nil, rerr
	}
	return listGrantsWhere(s, in, func(g *grantRec) bool {
		return g.keyRef() == k.ref() && (in.GrantId == "" || g.ID == in.GrantId) && (in.GranteePrincipal == "" || g.Grantee == in.GranteePrincipal)
	})
}

func listRetirableGrants(s *Server, _ context.Context, c *caller, in *listGrantsInput) (*listGrantsOutput, error) {
	return listGrantsWhere(s, in, func(g *grantRec) bool {
		return g.Retiring == in.RetiringPrincipal && g.Account == c.Account && g.Region == c.Region && s.keys[g.keyRef()] != nil
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
	if !grantIDRE.MatchString(id) {
		return awsapi.NewError(errInvalidGrantID, "Invalid grant id %s", id)
	}
	g := s.grants[id]
	if g == nil || g.keyRef() != k.ref() {
		return awsapi.NewError(errNotFound, "Grant ID %s not found", id)
	}
	if err := dryRun(dry); err != nil {
		return err
	}
	if err := s.db.del(bucketGrants, id); err != nil {
		return err
	}
	s.dropGrant(g)
	return nil
}

// covers says whether a grant created through g stays within it.
func (g *grantRec) covers(ops []string, cons *grantConstraints) bool {
	for _, op := range ops {
		if !slices.Contains(g.Operations, op) {
			return false
		}
	}
	have := g.Constraints
	if have == nil {
		return true
	}
	if cons == nil {
		return false
	}
	if have.EncryptionContextEquals != nil {
		return cons.EncryptionContextEquals != nil && maps.Equal(have.EncryptionContextEquals, cons.EncryptionContextEquals)
	}
	// A subset constraint: the new one must require every pair it requires.
	want := cons.EncryptionContextSubset
	if cons.EncryptionContextEquals != nil {
		want = cons.EncryptionContextEquals
	}
	for k, v := range have.EncryptionContextSubset {
		if got, ok := want[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// principalARN is the form of a principal a grant may name: the account's root, a user, a role
// (with their paths), a role session, or an AWS service principal.
var principalARN = regexp.MustCompile(`^(arn:aws:iam::\d{12}:(root|user/.+|role/.+)|arn:aws:sts::\d{12}:assumed-role/[^/]+/.+|[a-z0-9.-]+\.amazonaws\.com)$`)

// checkGrantPrincipal refuses a grantee or retiring principal that is not a principal's ARN
// (an IAM group, a key, a bare name) with InvalidArnException, as KMS does. Unlike KMS, hsmsim
// does not require the user or role to exist: grants made before their principal stay valid.
func checkGrantPrincipal(p string) *awsapi.Error {
	if !principalARN.MatchString(p) {
		return awsapi.NewError(errInvalidArn, "%s is not a valid principal", p)
	}
	return nil
}

// putGrant records g in memory (callers hold s.mu).
func (s *Server) putGrant(g *grantRec) {
	s.grants[g.ID] = g
	m := s.keyGrants[g.keyRef()]
	if m == nil {
		m = map[string]*grantRec{}
		s.keyGrants[g.keyRef()] = m
	}
	m[g.ID] = g
}

// dropGrant forgets g in memory (callers hold s.mu).
func (s *Server) dropGrant(g *grantRec) {
	delete(s.grants, g.ID)
	delete(s.keyGrants[g.keyRef()], g.ID)
	if len(s.keyGrants[g.keyRef()]) == 0 {
		delete(s.keyGrants, g.keyRef())
	}
}

// mayRetire says whether the caller may retire g, which the grant itself decides: its retiring
// principal, its grantee if the grant includes RetireGrant, and the account the grant was created
// in (its root). https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html
func mayRetire(c *caller, g *grantRec, k *keyRec) bool {
	who := &c.req.Principal
	return samePrincipal(g.Retiring, who) || (g.namesGrantee(who) && slices.Contains(g.Operations, "RetireGrant")) ||
		(who.Type == policy.PrincipalRoot && who.Account == k.Account)
}

func retireGrant(s *Server, _ context.Context, c *caller, in *retireGrantInput) (*empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var k *keyRec
	id := in.GrantId
	if in.GrantToken != "" {
		tid, ok := grantIDOfToken(in.GrantToken)
		if !ok {
			return nil, awsapi.NewError(errInvalidGrantToken, "Invalid grant token")
		}
		id = tid
		g := s.grants[id]
		if g == nil {
			return nil, awsapi.NewError(errNotFound, "Grant not found")
		}
		k = s.keys[g.keyRef()]
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
	if g := s.grants[id]; g != nil && g.keyRef() == k.ref() && !mayRetire(c, g, k) {
		return nil, awsapi.NewError(errAccessDenied, "%s", policy.AccessDeniedMessage(c.req.Principal.ARN, "kms:RetireGrant", keyARN(k), policy.NoResourceAllow))
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

// grantOperations are the operations a grant may allow, by the key usage that can do them
// (CreateGrant's Operations in the KMS API Reference); every key allows the grant management
// ones. An asymmetric encryption key does what a symmetric one does but the data key
// operations, and has a public key (grantableOperations).
var grantOperations = map[string][]string{
	usageEncrypt: {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
		"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"},
	usageSign:  {"Sign", "Verify", "GetPublicKey"},
	usageMac:   {"GenerateMac", "VerifyMac"},
	usageAgree: {"DeriveSharedSecret", "GetPublicKey"},
}

var grantManagement = []string{"CreateGrant", "RetireGrant", "DescribeKey"}

var asymmetricEncryptOperations = []string{"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"}

// grantableOperations are the operations a grant on k may allow besides grantManagement.
func grantableOperations(k *keyRec) []string {
	if k.Usage == usageEncrypt && k.Spec != specSymmetric {
		return asymmetricEncryptOperations
	}
	return grantOperations[k.Usage]
}

// checkGrantOperations refuses operations key k cannot do, and encryption context constraints
// on a key whose operations take no encryption context (asymmetric and HMAC keys).
func checkGrantOperations(k *keyRec, ops []string, constrained bool) *awsapi.Error {
	for _, op := range ops {
		if !slices.Contains(grantableOperations(k), op) && !slices.Contains(grantManagement, op) {
			return awsapi.NewError(awsapi.ValidationException, "Grant operation %s is not valid for KMS key %s with KeyUsage %s.", op, keyARN(k), k.Usage)
		}
	}
	if constrained && k.Spec != specSymmetric {
		return awsapi.NewError(awsapi.ValidationException, "Grant constraints are not supported for KMS key %s with KeySpec %s: its operations take no encryption context.", keyARN(k), k.Spec)
	}
	return nil
}
