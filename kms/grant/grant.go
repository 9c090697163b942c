// Package grant is what a KMS grant is and what it allows, apart from the KMS's key records: the
// grant record, its token, its encryption context constraints, the table of operations a grant
// on each kind of key may allow, who may retire it, and the in-memory index of a server's grants
// by key. Package kms serves CreateGrant, ListGrants, ListRetirableGrants, RetireGrant and
// RevokeGrant over it and consults it when a key policy does not allow a request.
//
// A grant takes effect as soon as CreateGrant returns (hsmsim has no eventual consistency to
// bridge), so a grant token only needs to be well-formed: a token hsmsim did not issue is
// InvalidGrantTokenException, and a revoked grant's token authorizes nothing because the grant
// is gone.
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
package grant

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// The exceptions of the KMS model this package answers with.
const (
	errInvalidArn        = "InvalidArnException"
	errInvalidGrantID    = "InvalidGrantIdException"
	errInvalidGrantToken = "InvalidGrantTokenException"
	errLimitExceeded     = "LimitExceededException"
)

// MaxPerKey is the per-key grant quota.
const MaxPerKey = 50000

// Grant is one grant of a key, as stored (JSON in bbolt).
type Grant struct {
	ID    string `json:"id"`
	KeyID string `json:"key"`
	// The key's account and region: a multi-Region key's id names a key in several regions.
	// Grants stored before they were kept per region have none (package kms finds them at load).
	Account     string       `json:"account,omitempty"`
	Region      string       `json:"region,omitempty"`
	Name        string       `json:"name,omitempty"`
	Grantee     string       `json:"grantee"`
	Retiring    string       `json:"retiring,omitempty"`
	Operations  []string     `json:"operations"`
	Constraints *Constraints `json:"constraints,omitempty"`
	Created     time.Time    `json:"created"`
	Token       string       `json:"token"`
}

// Constraints are a grant's encryption context constraints (GrantConstraints); at most one of
// the two is set.
type Constraints struct {
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
}

// New is a new grant of the key id of account and region, with a fresh id and token; ops are
// kept sorted so that an identical CreateGrant finds it (Same).
func New(account, region, keyID, name, grantee, retiring string, ops []string, cons *Constraints, now time.Time) *Grant {
	g := &Grant{ID: randomHex(32), KeyID: keyID, Account: account, Region: region, Name: name, Grantee: grantee, Retiring: retiring,
		Operations: sortedOps(ops), Constraints: cons, Created: now}
	g.Token = newToken(g.ID)
	return g
}

func sortedOps(ops []string) []string {
	ops = slices.Clone(ops)
	slices.Sort(ops)
	return ops
}

// Same says whether g is what a named CreateGrant with these parameters would create: such a
// request again is the same grant (idempotent CreateGrant, KMSDG:grant-manage).
func (g *Grant) Same(name, grantee, retiring string, ops []string, cons *Constraints) bool {
	return name != "" && g.Name == name && g.Grantee == grantee && g.Retiring == retiring &&
		slices.Equal(g.Operations, sortedOps(ops)) && reflect.DeepEqual(g.Constraints, cons)
}

// CheckRequest is what CreateGrant refuses before it looks at the key: no operations, and both
// kinds of constraint at once.
func CheckRequest(ops []string, cons *Constraints) *awsapi.Error {
	if len(ops) == 0 {
		return awsapi.NewError(awsapi.ValidationException, "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if cons != nil && cons.EncryptionContextEquals != nil && cons.EncryptionContextSubset != nil {
		return awsapi.NewError(awsapi.ValidationException, "Grant constraints cannot include both EncryptionContextEquals and EncryptionContextSubset.")
	}
	return nil
}

// CheckQuota refuses a grant beyond MaxPerKey on a key that has n.
func CheckQuota(n int) *awsapi.Error {
	if n >= MaxPerKey {
		return awsapi.NewError(errLimitExceeded, "A KMS key can have at most %d grants.", MaxPerKey)
	}
	return nil
}

// randomHex is n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ---- Tokens and ids ----

const tokenPrefix = "hsmsim-grant-v1:"

var idRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// CheckID refuses a grant id that is not one (InvalidGrantIdException).
func CheckID(id string) *awsapi.Error {
	if !idRE.MatchString(id) {
		return awsapi.NewError(errInvalidGrantID, "Invalid grant id %s", id)
	}
	return nil
}

// CheckTokens accepts the tokens CreateGrant issued.
func CheckTokens(tokens []string) *awsapi.Error {
	for _, t := range tokens {
		if _, err := IDOfToken(t); err != nil {
			return err
		}
	}
	return nil
}

func newToken(id string) string {
	return base64.StdEncoding.EncodeToString([]byte(tokenPrefix + id + ":" + randomHex(16)))
}

// IDOfToken is the id of the grant token t names (InvalidGrantTokenException if t is not a
// token CreateGrant issued).
func IDOfToken(t string) (string, *awsapi.Error) {
	bad := awsapi.NewError(errInvalidGrantToken, "Invalid grant token")
	b, err := base64.StdEncoding.DecodeString(t)
	if err != nil {
		return "", bad
	}
	rest, ok := strings.CutPrefix(string(b), tokenPrefix)
	if !ok {
		return "", bad
	}
	id, _, _ := strings.Cut(rest, ":")
	if !idRE.MatchString(id) {
		return "", bad
	}
	return id, nil
}

// ---- Principals ----

// principalARN is the form of a principal a grant may name: the account's root, a user, a role
// (with their paths), a role session, or an AWS service principal.
var principalARN = regexp.MustCompile(`^(arn:aws:iam::\d{12}:(root|user/.+|role/.+)|arn:aws:sts::\d{12}:assumed-role/[^/]+/.+|[a-z0-9.-]+\.amazonaws\.com)$`)

// CheckPrincipal refuses a grantee or retiring principal that is not a principal's ARN (an IAM
// group, a key, a bare name) with InvalidArnException, as KMS does. Unlike KMS, hsmsim does not
// require the user or role to exist: grants made before their principal stay valid.
func CheckPrincipal(p string) *awsapi.Error {
	if !principalARN.MatchString(p) {
		return awsapi.NewError(errInvalidArn, "%s is not a valid principal", p)
	}
	return nil
}

// samePrincipal: arn names p, or the role p is a session of (a grant to a role serves its
// sessions).
func samePrincipal(arn string, p *policy.Principal) bool {
	return arn != "" && (arn == p.ARN || (p.RoleARN != "" && arn == p.RoleARN))
}

// MayRetire says whether who may retire g, of a key of keyAccount, which the grant itself
// decides: its retiring principal, its grantee if the grant includes RetireGrant, and the account
// the grant was created in (its root).
// https://docs.aws.amazon.com/kms/latest/developerguide/grant-delete.html
func (g *Grant) MayRetire(who *policy.Principal, keyAccount string) bool {
	return samePrincipal(g.Retiring, who) || (samePrincipal(g.Grantee, who) && slices.Contains(g.Operations, "RetireGrant")) ||
		(who.Type == policy.PrincipalRoot && who.Account == keyAccount)
}

// ---- What a grant allows ----

// Allows says whether g lets who do op with encryption context ec: who is the grantee, op is one
// of the grant's operations, and ec meets the grant's constraints.
func (g *Grant) Allows(who *policy.Principal, op string, ec map[string]string) bool {
	return samePrincipal(g.Grantee, who) && slices.Contains(g.Operations, op) && g.constraintsMet(op, ec)
}

// ecOperations are the grant operations that take an encryption context; a grant's constraints
// apply to them only ("Grants with grant constraints can include the DescribeKey and RetireGrant
// operations, but the constraint doesn't apply to these operations", CreateGrant in the KMS API
// Reference).
var ecOperations = map[string]bool{"Encrypt": true, "Decrypt": true, "GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true,
	"ReEncryptFrom": true, "ReEncryptTo": true, "GenerateDataKeyPair": true, "GenerateDataKeyPairWithoutPlaintext": true, "CreateGrant": true}

func (g *Grant) constraintsMet(op string, ec map[string]string) bool {
	if g.Constraints == nil || !ecOperations[op] || op == "CreateGrant" {
		return true
	}
	if eq := g.Constraints.EncryptionContextEquals; eq != nil {
		return maps.Equal(eq, ec) || (len(eq) == 0 && len(ec) == 0)
	}
	for k, v := range g.Constraints.EncryptionContextSubset {
		if got, ok := ec[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Covers says whether a grant created through g, for ops with constraints cons, stays within it:
// a grantee's CreateGrant passes on at most its own grant, the same operations or fewer and an
// encryption context constraint at least as strict. (CreateGrant in the KMS API Reference;
// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html)
func (g *Grant) Covers(ops []string, cons *Constraints) bool {
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

// Entry is a grant as ListGrants shows it (GrantListEntry).
type Entry struct {
	KeyId             string
	GrantId           string
	Name              string `json:",omitempty"`
	CreationDate      *awsapi.Timestamp
	GranteePrincipal  string
	RetiringPrincipal string `json:",omitempty"`
	IssuingAccount    string
	Operations        []string
	Constraints       *Constraints `json:",omitempty"`
}

// Entry is g as ListGrants shows it; keyARN is its key's ARN.
func (g *Grant) Entry(keyARN string) Entry {
	return Entry{KeyId: keyARN, GrantId: g.ID, Name: g.Name, CreationDate: awsapi.Time(g.Created), GranteePrincipal: g.Grantee,
		RetiringPrincipal: g.Retiring, IssuingAccount: "arn:aws:iam::" + g.Account + ":root", Operations: g.Operations, Constraints: g.Constraints}
}
