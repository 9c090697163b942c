// Package authz decides KMS requests as AWS decides them, for the principal that signed the
// request. An operation on a key evaluates the key policy with the caller's identity policies
// (an explicit Deny anywhere wins; a statement naming the caller allows; one naming the account
// delegates to the identity policies), and then the key's grants; operations that name no key
// (CreateKey, ListKeys, ListAliases, GenerateRandom, ListRetirableGrants, the custom key store
// operations) are decided by identity policies alone, as AWS's "Permissions reference" lists
// them with resource "*":
// https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html
// https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html
// The condition keys each request carries are those of
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html and
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
//
// Package kms gathers what a decision needs (the caller's identity policies, the key's facts
// and grants) from its records and answers with the error this package returns.
package authz

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/grant"
	"github.com/hsmsim/hsmsim/kms/policy"
	"github.com/hsmsim/hsmsim/kms/record"
)

// The exceptions of the KMS model this package answers with.
const (
	errAccessDenied    = "AccessDeniedException"
	errMalformedPolicy = "MalformedPolicyDocumentException"
)

// Caller is the request as the KMS handlers see it: who signed it (the embedded awsapi.Caller),
// the action it asks for, the policy request with the condition keys the input and the
// endpoint supply, the caller's identity policies, and the encryption context grant
// constraints are checked against.
type Caller struct {
	*awsapi.Caller
	Action string
	Req    policy.Request
	IDs    []*policy.Policy
	EC     map[string]string
	// ViaGrant is the grant that allowed the last authorized action, when no policy did: a
	// grantee's CreateGrant may only pass on what its grant holds.
	ViaGrant *grant.Grant
	// Denial is what the policies decided when a grant allowed instead.
	Denial policy.Decision
}

// IdentityOnly are the operations without a key resource: identity policies alone decide them.
var IdentityOnly = map[string]bool{
	"CreateKey": true, "ListKeys": true, "ListAliases": true, "GenerateRandom": true, "ListRetirableGrants": true,
	"CreateCustomKeyStore": true, "DescribeCustomKeyStores": true, "UpdateCustomKeyStore": true,
	"DeleteCustomKeyStore": true, "ConnectCustomKeyStore": true, "DisconnectCustomKeyStore": true,
}

// NewCaller prepares the authorization of one request for action (kms:OPERATION) at now, by a
// principal whose identity policies policies gives: the condition keys every request carries.
func NewCaller(c *awsapi.Caller, action string, policies func(*policy.Principal) []*policy.Policy, now time.Time) *Caller {
	who := c.Who()
	cl := &Caller{Caller: c, Action: action, IDs: policies(&who)}
	cl.Req.Principal = who
	cl.Req.Action = action
	ctx := &cl.Req.Context
	// The keys set here, the key's own (Authorize) and an operation's few.
	ctx.Grow(24)
	now = now.UTC()
	ctx.Set("aws:CurrentTime", now.Format(time.RFC3339))
	ctx.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	ctx.Set("aws:SecureTransport", strconv.FormatBool(c.Secure))
	ctx.Set("aws:RequestedRegion", c.Region)
	if c.SourceIP != "" {
		ctx.Set("aws:SourceIp", c.SourceIP)
	}
	ctx.Set("kms:CallerAccount", who.Account)
	return cl
}

// Identity decides an operation that names no key: identity policies alone (the root user may
// do anything in its account).
func (c *Caller) Identity(resource string) *awsapi.Error {
	if c.Req.Principal.Type == policy.PrincipalRoot {
		return nil
	}
	c.Req.Resource = resource
	d := policy.Evaluate(&c.Req, nil, c.IDs)
	if !d.Allowed {
		return awsapi.NewError(errAccessDenied, "%s", d.Message(&c.Req))
	}
	return nil
}

// Key is what a decision on a key needs of it besides its record: its ARN, whether it is a
// replica, its alias names and its grants.
type Key struct {
	*record.Key
	ARN     string
	Aliases []string
	Grants  map[string]*grant.Grant
}

// Authorize decides the caller's action on key k: the key policy with the identity policies,
// then the grants. requested is the KeyId parameter as given (for kms:RequestAlias).
func (c *Caller) Authorize(k *Key, requested string) *awsapi.Error {
	r := &c.Req
	r.Action = c.Action
	r.Resource = k.ARN
	r.ResourceAccount = k.Account
	ctx := &r.Context
	ctx.Set("kms:KeySpec", k.Spec)
	ctx.Set("kms:CustomerMasterKeySpec", k.Spec)
	ctx.Set("kms:KeyUsage", k.Usage)
	ctx.Set("kms:KeyOrigin", k.Origin)
	ctx.Set("kms:MultiRegion", strconv.FormatBool(k.MultiRegion))
	switch {
	case k.IsReplica():
		ctx.Set("kms:MultiRegionKeyType", "REPLICA")
	case k.MultiRegion:
		ctx.Set("kms:MultiRegionKeyType", "PRIMARY")
	default:
		ctx.Delete("kms:MultiRegionKeyType")
	}
	if a := requestAlias(requested); a != "" {
		ctx.Set("kms:RequestAlias", a)
	} else {
		ctx.Delete("kms:RequestAlias")
	}
	ctx.Set("kms:ResourceAliases", k.Aliases...)
	if k.Compiled == nil {
		// A stored policy that no longer parses allows nobody (record.DB.Load).
		return awsapi.NewError(errAccessDenied, "%s", policy.AccessDeniedMessage(r.Principal.ARN, r.Action, r.Resource, policy.NoResourceAllow))
	}
	c.ViaGrant = nil
	d := policy.Evaluate(r, k.Compiled, c.IDs)
	if d.Allowed {
		return nil
	}
	if d.Reason != policy.ExplicitDenyResource && d.Reason != policy.ExplicitDenyIdentity {
		// A grant that lets the caller do its action.
		// https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
		op := strings.TrimPrefix(c.Action, "kms:")
		for _, g := range k.Grants {
			if g.Allows(&r.Principal, op, c.EC) {
				c.ViaGrant, c.Denial = g, d
				return nil
			}
		}
	}
	return awsapi.NewError(errAccessDenied, "%s", d.Message(r))
}

// requestAlias is the alias name a KeyId parameter uses, if it uses one.
func requestAlias(id string) string {
	if strings.HasPrefix(id, "alias/") {
		return id
	}
	if strings.HasPrefix(id, "arn:") {
		if i := strings.Index(id, ":alias/"); i >= 0 {
			return id[i+1:]
		}
	}
	return ""
}

// SetEC records the encryption context of a request: for grant constraints, and as the
// kms:EncryptionContext:KEY and kms:EncryptionContextKeys condition keys.
func (c *Caller) SetEC(ec map[string]string) {
	c.EC = ec
	if len(ec) == 0 {
		return
	}
	keys := make([]string, 0, len(ec))
	for k, v := range ec {
		c.Req.Context.Set("kms:EncryptionContext:"+k, v)
		keys = append(keys, k)
	}
	c.Req.Context.Set("kms:EncryptionContextKeys", keys...)
}

// WithAction is c asking for another action on the same request (ReEncrypt's two halves).
func (c *Caller) WithAction(action string) *Caller {
	d := *c
	d.Action = action
	return &d
}

// SetTags sets the aws:RequestTag/KEY and aws:TagKeys condition keys of the tags a request adds.
func (c *Caller) SetTags(tags []record.Tag) {
	var keys []string
	for _, t := range tags {
		c.Req.Context.Set("aws:RequestTag/"+t.TagKey, t.TagValue)
		keys = append(keys, t.TagKey)
	}
	if len(keys) > 0 {
		c.Req.Context.Set("aws:TagKeys", keys...)
	}
}

// ParseKeyPolicy checks a key policy as KMS does at CreateKey and PutKeyPolicy: the grammar, the
// 32 KiB quota and principals that exist (exists), each refused with
// MalformedPolicyDocumentException.
func ParseKeyPolicy(doc string, exists func(arn string) bool) (*policy.Policy, *awsapi.Error) {
	p, err := policy.Parse(doc, policy.ParseOptions{Type: policy.KeyPolicy, MaxSize: policy.KeyPolicyMaxBytes, PrincipalExists: exists})
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			return nil, awsapi.NewError(errMalformedPolicy, "%s", pe.Message)
		}
		return nil, awsapi.NewError(errMalformedPolicy, "%s", err.Error())
	}
	return p, nil
}

// CheckLockout is KMS's policy lockout safety check: the caller must still be allowed to call
// PutKeyPolicy under the new policy p of key keyARN in account, unless it bypasses the check.
func (c *Caller) CheckLockout(p *policy.Policy, keyARN, account string, bypass bool) *awsapi.Error {
	if bypass {
		return nil
	}
	r := c.Req
	r.Resource, r.ResourceAccount = keyARN, account
	if !policy.AllowsPutKeyPolicy(p, &r, c.IDs) {
		return awsapi.NewError(errMalformedPolicy, "%s", policy.LockoutMessage)
	}
	return nil
}
