package kms

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Authorization: every KMS operation is decided as AWS decides it, for the principal that signed
// the request. An operation on a key evaluates the key policy with the caller's identity
// policies (an explicit Deny anywhere wins; a statement naming the caller allows; one naming the
// account delegates to the identity policies), and then the key's grants; operations that name
// no key (CreateKey, ListKeys, ListAliases, GenerateRandom, ListRetirableGrants, the custom key
// store operations) are decided by identity policies alone, as AWS's "Permissions reference"
// lists them with resource "*":
// https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html
// https://docs.aws.amazon.com/kms/latest/developerguide/control-access.html
// The condition keys each request carries are those of
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html and
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html

// caller is the request as the KMS handlers see it: who signed it (the embedded awsapi.Caller),
// the action it asks for, the policy request with the condition keys the input and the
// endpoint supply, the caller's identity policies, and the encryption context grant
// constraints are checked against.
type caller struct {
	*awsapi.Caller
	action string
	req    policy.Request
	ids    []*policy.Policy
	ec     map[string]string
	// viaGrant is the grant that allowed the last authorized action, when no policy did: a
	// grantee's CreateGrant may only pass on what its grant holds.
	viaGrant *grantRec
	// denial is what the policies decided when a grant allowed instead.
	denial policy.Decision
}

// conditioner is an operation input that contributes condition keys (and the encryption
// context) to its request.
type conditioner interface{ conditions(c *caller) }

// identityOnly are the operations without a key resource: identity policies alone decide them.
var identityOnly = map[string]bool{
	"CreateKey": true, "ListKeys": true, "ListAliases": true, "GenerateRandom": true, "ListRetirableGrants": true,
	"CreateCustomKeyStore": true, "DescribeCustomKeyStores": true, "UpdateCustomKeyStore": true,
	"DeleteCustomKeyStore": true, "ConnectCustomKeyStore": true, "DisconnectCustomKeyStore": true,
}

// newCaller prepares the authorization of one request for operation op.
func (s *Server) newCaller(c *awsapi.Caller, action string) *caller {
	cl := &caller{Caller: c, action: action}
	who := c.Who()
	cl.req.Principal = who
	cl.req.Action = action
	cl.ids = s.iam.Policies(&who)
	s.baseContext(cl)
	return cl
}

// baseContext sets the condition keys every request carries.
func (s *Server) baseContext(cl *caller) {
	c, who := cl.Caller, &cl.req.Principal
	ctx := &cl.req.Context
	// The keys set here, the key's own (authorize) and an operation's few.
	ctx.Grow(24)
	now := s.now().UTC()
	ctx.Set("aws:CurrentTime", now.Format(time.RFC3339))
	ctx.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	ctx.Set("aws:SecureTransport", strconv.FormatBool(c.Secure))
	ctx.Set("aws:RequestedRegion", c.Region)
	if c.SourceIP != "" {
		ctx.Set("aws:SourceIp", c.SourceIP)
	}
	ctx.Set("kms:CallerAccount", who.Account)
}

// authorizeIdentity decides an operation that names no key: identity policies alone (the root
// user may do anything in its account).
func (s *Server) authorizeIdentity(c *caller, resource string) error {
	if c.req.Principal.Type == policy.PrincipalRoot {
		return nil
	}
	c.req.Resource = resource
	d := policy.Evaluate(&c.req, nil, c.ids)
	if !d.Allowed {
		return awsapi.NewError(errAccessDenied, "%s", d.Message(&c.req))
	}
	return nil
}

// authorize decides the caller's action on key k (callers hold s.mu): the key policy with the
// identity policies, then the grants. requested is the KeyId parameter as given (for
// kms:RequestAlias).
func (s *Server) authorize(c *caller, k *keyRec, requested string) *awsapi.Error {
	r := &c.req
	r.Action = c.action
	r.Resource = keyARN(k)
	r.ResourceAccount = k.Account
	ctx := &r.Context
	ctx.Set("kms:KeySpec", k.Spec)
	ctx.Set("kms:CustomerMasterKeySpec", k.Spec)
	ctx.Set("kms:KeyUsage", k.Usage)
	ctx.Set("kms:KeyOrigin", k.Origin)
	ctx.Set("kms:MultiRegion", strconv.FormatBool(k.MultiRegion))
	if k.MultiRegion {
		ctx.Set("kms:MultiRegionKeyType", s.multiRegionKeyType(k))
	} else {
		ctx.Delete("kms:MultiRegionKeyType")
	}
	if a := requestAlias(requested); a != "" {
		ctx.Set("kms:RequestAlias", a)
	} else {
		ctx.Delete("kms:RequestAlias")
	}
	ctx.Set("kms:ResourceAliases", s.aliasesOf(k)...)
	if k.Compiled == nil {
		// A stored policy that no longer parses allows nobody (see db.load).
		return awsapi.NewError(errAccessDenied, "%s", policy.AccessDeniedMessage(r.Principal.ARN, r.Action, r.Resource, policy.NoResourceAllow))
	}
	c.viaGrant = nil
	d := policy.Evaluate(r, k.Compiled, c.ids)
	if d.Allowed {
		return nil
	}
	if d.Reason != policy.ExplicitDenyResource && d.Reason != policy.ExplicitDenyIdentity {
		if g := s.grantAllows(c, k); g != nil {
			c.viaGrant, c.denial = g, d
			return nil
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

// aliasesOf lists the alias names of k (callers hold s.mu).
func (s *Server) aliasesOf(k *keyRec) []string {
	var out []string
	for _, a := range s.aliases {
		if a.Names(k) {
			out = append(out, a.Name)
		}
	}
	return out
}

// grantAllows finds a grant of k that lets the caller do its action (package grant says which
// do). https://docs.aws.amazon.com/kms/latest/developerguide/grants.html
func (s *Server) grantAllows(c *caller, k *keyRec) *grantRec {
	op := strings.TrimPrefix(c.action, "kms:")
	for _, g := range s.grants.Of(grantKey(k)) {
		if g.Allows(&c.req.Principal, op, c.ec) {
			return g
		}
	}
	return nil
}

// setEC records the encryption context of a request: for grant constraints, and as the
// kms:EncryptionContext:KEY and kms:EncryptionContextKeys condition keys.
func (c *caller) setEC(ec map[string]string) {
	c.ec = ec
	if len(ec) == 0 {
		return
	}
	keys := make([]string, 0, len(ec))
	for k, v := range ec {
		c.req.Context.Set("kms:EncryptionContext:"+k, v)
		keys = append(keys, k)
	}
	c.req.Context.Set("kms:EncryptionContextKeys", keys...)
}

// withAction is c asking for another action on the same request (ReEncrypt's two halves).
func (c *caller) withAction(action string) *caller {
	d := *c
	d.action = action
	return &d
}

// The inputs' condition keys.

func (in *encryptInput) conditions(c *caller) {
	c.setEC(in.EncryptionContext)
	c.req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.EncryptionAlgorithm, specSymmetric))
}

func (in *reEncryptInput) conditions(c *caller) {
	c.setEC(in.SourceEncryptionContext)
	c.req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.SourceEncryptionAlgorithm, specSymmetric))
}

func (in *decryptInput) conditions(c *caller) {
	c.setEC(in.EncryptionContext)
	c.req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.EncryptionAlgorithm, specSymmetric))
}

func (in *dataKeyInput) conditions(c *caller) {
	c.setEC(in.EncryptionContext)
	c.req.Context.Set("kms:EncryptionAlgorithm", specSymmetric)
	if in.KeySpec != "" {
		c.req.Context.Set("kms:DataKeyPairSpec", in.KeySpec)
	}
}

func (in *dataKeyPairInput) conditions(c *caller) {
	c.setEC(in.EncryptionContext)
	c.req.Context.Set("kms:EncryptionAlgorithm", specSymmetric)
	c.req.Context.Set("kms:DataKeyPairSpec", in.KeyPairSpec)
}

func (in *deriveInput) conditions(c *caller) {
	c.req.Context.Set("kms:KeyAgreementAlgorithm", in.KeyAgreementAlgorithm)
}

func (in *signInput) conditions(c *caller) {
	if in.SigningAlgorithm != "" {
		c.req.Context.Set("kms:SigningAlgorithm", in.SigningAlgorithm)
	}
	if in.MessageType != "" {
		c.req.Context.Set("kms:MessageType", in.MessageType)
	}
}

func (in *macInput) conditions(c *caller) {
	if in.MacAlgorithm != "" {
		c.req.Context.Set("kms:MacAlgorithm", in.MacAlgorithm)
	}
}

func (in *createKeyInput) conditions(c *caller) {
	spec := orDefault(in.KeySpec, orDefault(in.CustomerMasterKeySpec, specSymmetric))
	c.req.Context.Set("kms:KeySpec", spec)
	c.req.Context.Set("kms:CustomerMasterKeySpec", spec)
	c.req.Context.Set("kms:KeyUsage", orDefault(in.KeyUsage, usageEncrypt))
	c.req.Context.Set("kms:KeyOrigin", orDefault(in.Origin, originKMS))
	c.req.Context.Set("kms:MultiRegion", strconv.FormatBool(in.MultiRegion))
	c.req.Context.Set("kms:BypassPolicyLockoutSafetyCheck", strconv.FormatBool(in.BypassPolicyLockoutSafetyCheck))
	tagConditions(c, in.Tags)
}

func (in *tagResourceInput) conditions(c *caller) { tagConditions(c, in.Tags) }

func tagConditions(c *caller, tags []tag) {
	var keys []string
	for _, t := range tags {
		c.req.Context.Set("aws:RequestTag/"+t.TagKey, t.TagValue)
		keys = append(keys, t.TagKey)
	}
	if len(keys) > 0 {
		c.req.Context.Set("aws:TagKeys", keys...)
	}
}

func (in *createGrantInput) conditions(c *caller) {
	c.req.Context.Set("kms:GrantOperations", in.Operations...)
	c.req.Context.Set("kms:GranteePrincipal", in.GranteePrincipal)
	if in.RetiringPrincipal != "" {
		c.req.Context.Set("kms:RetiringPrincipal", in.RetiringPrincipal)
	}
	c.req.Context.Set("kms:GrantIsForAWSResource", "false")
	if in.Constraints != nil {
		switch {
		case in.Constraints.EncryptionContextEquals != nil:
			c.req.Context.Set("kms:GrantConstraintType", "EncryptionContextEquals")
			c.setEC(in.Constraints.EncryptionContextEquals)
		case in.Constraints.EncryptionContextSubset != nil:
			c.req.Context.Set("kms:GrantConstraintType", "EncryptionContextSubset")
			c.setEC(in.Constraints.EncryptionContextSubset)
		}
	}
}

func (in *enableRotationInput) conditions(c *caller) {
	if in.RotationPeriodInDays != nil {
		c.req.Context.Set("kms:RotationPeriodInDays", strconv.Itoa(*in.RotationPeriodInDays))
	}
}

func (in *policyInput) conditions(c *caller) {
	c.req.Context.Set("kms:BypassPolicyLockoutSafetyCheck", strconv.FormatBool(in.BypassPolicyLockoutSafetyCheck))
}

func (in *scheduleDeletionInput) conditions(c *caller) {
	if in.PendingWindowInDays != nil {
		c.req.Context.Set("kms:ScheduleKeyDeletionPendingWindowInDays", strconv.Itoa(*in.PendingWindowInDays))
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// parseKeyPolicy checks a key policy as KMS does at CreateKey and PutKeyPolicy: the grammar, the
// 32 KiB quota and principals that exist, each refused with MalformedPolicyDocumentException.
func (s *Server) parseKeyPolicy(doc string) (*policy.Policy, *awsapi.Error) {
	p, err := policy.Parse(doc, policy.ParseOptions{Type: policy.KeyPolicy, MaxSize: policy.KeyPolicyMaxBytes, PrincipalExists: s.iam.Exists})
	if err != nil {
		var pe *policy.Error
		if errors.As(err, &pe) {
			return nil, awsapi.NewError(errMalformedPolicy, "%s", pe.Message)
		}
		return nil, awsapi.NewError(errMalformedPolicy, "%s", err.Error())
	}
	return p, nil
}

// checkLockout is KMS's policy lockout safety check: the caller must still be allowed to call
// PutKeyPolicy under the new policy, unless it bypasses the check.
func checkLockout(c *caller, p *policy.Policy, keyARN, account string, bypass bool) *awsapi.Error {
	if bypass {
		return nil
	}
	r := c.req
	r.Resource, r.ResourceAccount = keyARN, account
	if !policy.AllowsPutKeyPolicy(p, &r, c.ids) {
		return awsapi.NewError(errMalformedPolicy, "%s", policy.LockoutMessage)
	}
	return nil
}
