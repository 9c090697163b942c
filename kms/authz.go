package kms

import (
	"strconv"

	"github.com/hsmsim/hsmsim/kms/authz"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Authorization: package kms/authz decides every request as AWS does; this file gathers what it
// needs from the records, and each operation's input adds its condition keys (conditions).

// caller is one request being authorized (authz.Caller).
type caller = authz.Caller

// conditioner is an operation input that contributes condition keys (and the encryption
// context) to its request.
type conditioner interface{ conditions(c *caller) }

// newCaller prepares the authorization of one request for action.
func (s *Server) newCaller(c *awsapi.Caller, action string) *caller {
	return authz.NewCaller(c, action, s.iam.Policies, s.now())
}

// authorize decides the caller's action on key k (callers hold s.mu): the key policy with the
// identity policies, then the grants. requested is the KeyId parameter as given (for
// kms:RequestAlias).
func (s *Server) authorize(c *caller, k *keyRec, requested string) *awsapi.Error {
	return c.Authorize(&authz.Key{Key: k, ARN: keyARN(k), Aliases: s.aliasesOf(k), Grants: s.grants.Of(grantKey(k))}, requested)
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

// parseKeyPolicy checks a key policy as KMS does at CreateKey and PutKeyPolicy.
func (s *Server) parseKeyPolicy(doc string) (*policy.Policy, *awsapi.Error) {
	return authz.ParseKeyPolicy(doc, s.iam.Exists)
}

// The inputs' condition keys.

func (in *encryptInput) conditions(c *caller) {
	c.SetEC(in.EncryptionContext)
	c.Req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.EncryptionAlgorithm, specSymmetric))
}

func (in *reEncryptInput) conditions(c *caller) {
	c.SetEC(in.SourceEncryptionContext)
	c.Req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.SourceEncryptionAlgorithm, specSymmetric))
}

func (in *decryptInput) conditions(c *caller) {
	c.SetEC(in.EncryptionContext)
	c.Req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.EncryptionAlgorithm, specSymmetric))
}

func (in *dataKeyInput) conditions(c *caller) {
	c.SetEC(in.EncryptionContext)
	c.Req.Context.Set("kms:EncryptionAlgorithm", specSymmetric)
	if in.KeySpec != "" {
		c.Req.Context.Set("kms:DataKeyPairSpec", in.KeySpec)
	}
}

func (in *dataKeyPairInput) conditions(c *caller) {
	c.SetEC(in.EncryptionContext)
	c.Req.Context.Set("kms:EncryptionAlgorithm", specSymmetric)
	c.Req.Context.Set("kms:DataKeyPairSpec", in.KeyPairSpec)
}

func (in *deriveInput) conditions(c *caller) {
	c.Req.Context.Set("kms:KeyAgreementAlgorithm", in.KeyAgreementAlgorithm)
}

func (in *signInput) conditions(c *caller) {
	if in.SigningAlgorithm != "" {
		c.Req.Context.Set("kms:SigningAlgorithm", in.SigningAlgorithm)
	}
	if in.MessageType != "" {
		c.Req.Context.Set("kms:MessageType", in.MessageType)
	}
}

func (in *macInput) conditions(c *caller) {
	if in.MacAlgorithm != "" {
		c.Req.Context.Set("kms:MacAlgorithm", in.MacAlgorithm)
	}
}

func (in *createKeyInput) conditions(c *caller) {
	spec := orDefault(in.KeySpec, orDefault(in.CustomerMasterKeySpec, specSymmetric))
	c.Req.Context.Set("kms:KeySpec", spec)
	c.Req.Context.Set("kms:CustomerMasterKeySpec", spec)
	c.Req.Context.Set("kms:KeyUsage", orDefault(in.KeyUsage, usageEncrypt))
	c.Req.Context.Set("kms:KeyOrigin", orDefault(in.Origin, originKMS))
	c.Req.Context.Set("kms:MultiRegion", strconv.FormatBool(in.MultiRegion))
	c.Req.Context.Set("kms:BypassPolicyLockoutSafetyCheck", strconv.FormatBool(in.BypassPolicyLockoutSafetyCheck))
	c.SetTags(in.Tags)
}

func (in *tagResourceInput) conditions(c *caller) { c.SetTags(in.Tags) }

func (in *createGrantInput) conditions(c *caller) {
	c.Req.Context.Set("kms:GrantOperations", in.Operations...)
	c.Req.Context.Set("kms:GranteePrincipal", in.GranteePrincipal)
	if in.RetiringPrincipal != "" {
		c.Req.Context.Set("kms:RetiringPrincipal", in.RetiringPrincipal)
	}
	c.Req.Context.Set("kms:GrantIsForAWSResource", "false")
	if in.Constraints != nil {
		switch {
		case in.Constraints.EncryptionContextEquals != nil:
			c.Req.Context.Set("kms:GrantConstraintType", "EncryptionContextEquals")
			c.SetEC(in.Constraints.EncryptionContextEquals)
		case in.Constraints.EncryptionContextSubset != nil:
			c.Req.Context.Set("kms:GrantConstraintType", "EncryptionContextSubset")
			c.SetEC(in.Constraints.EncryptionContextSubset)
		}
	}
}

func (in *enableRotationInput) conditions(c *caller) {
	if in.RotationPeriodInDays != nil {
		c.Req.Context.Set("kms:RotationPeriodInDays", strconv.Itoa(*in.RotationPeriodInDays))
	}
}

func (in *policyInput) conditions(c *caller) {
	c.Req.Context.Set("kms:BypassPolicyLockoutSafetyCheck", strconv.FormatBool(in.BypassPolicyLockoutSafetyCheck))
}

func (in *scheduleDeletionInput) conditions(c *caller) {
	if in.PendingWindowInDays != nil {
		c.Req.Context.Set("kms:ScheduleKeyDeletionPendingWindowInDays", strconv.Itoa(*in.PendingWindowInDays))
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
