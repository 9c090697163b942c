package policy

// Evaluation follows "Policy evaluation logic" for the policy types hsmsim has (resource and
// identity policies; no SCPs, permissions boundaries or session policies):
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html
// with the rule KMS adds for key policies: "Unless the key policy explicitly allows it, you
// cannot use IAM policies to allow access to a KMS key. Without permission from the key policy,
// IAM policies that allow permissions have no effect."
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
// A role trust policy decides AssumeRole the same way.

// Reason says why a Decision came out as it did.
type Reason uint8

const (
	// NoResourceAllow: no statement of the resource policy allows the caller, directly or
	// through its account. (The zero Decision is this denial.)
	NoResourceAllow Reason = iota
	// NoIdentityAllow: the resource policy delegates to the caller's account (or there is no
	// resource policy) and no identity policy allows the request.
	NoIdentityAllow
	// ExplicitDenyResource: a Deny statement of the resource policy matched.
	ExplicitDenyResource
	// ExplicitDenyIdentity: a Deny statement of an identity policy matched.
	ExplicitDenyIdentity
	// AllowedByResource: a resource policy statement naming the caller allowed it.
	AllowedByResource
	// AllowedByIdentity: an identity policy allowed it, the resource policy (if any)
	// delegating to the account.
	AllowedByIdentity
)

func (r Reason) String() string {
	switch r {
	case NoResourceAllow:
		return "no resource-based policy allows"
	case NoIdentityAllow:
		return "no identity-based policy allows"
	case ExplicitDenyResource:
		return "explicit deny in a resource-based policy"
	case ExplicitDenyIdentity:
		return "explicit deny in an identity-based policy"
	case AllowedByResource:
		return "allowed by a resource-based policy"
	}
	return "allowed by an identity-based policy"
}

// Decision is the outcome of an evaluation, with the statement that decided it.
type Decision struct {
	Allowed bool
	Reason  Reason
	// Policy is -1 for the resource policy, or an index into the identity policies; with
	// Statement it names the deciding statement. Both are -1 for an implicit deny.
	Policy    int
	Statement int
	Sid       string
}

// ResourcePolicy is Decision.Policy's value for the resource policy.
const ResourcePolicy = -1

// Evaluate decides req against a resource policy (a key policy or trust policy; nil where the
// action has none, as for kms:CreateKey, which identity policies alone decide) and the caller's
// identity policies (nil entries are skipped).
//
// An explicit Deny in any of them wins. Otherwise a resource policy statement that names the
// caller allows; one that names the caller's account delegates to the identity policies, which
// must then allow; without a resource policy the identity policies decide alone. For a
// cross-account request (req.ResourceAccount set and not the caller's) both the resource policy
// and an identity policy must allow.
//
// Evaluate allocates nothing, except for a policy variable in a StringEqualsIgnoreCase value and
// for a BinaryEquals request value that is not in the policy value's canonical base64.
func Evaluate(req *Request, resource *Policy, identity []*Policy) Decision {
	ec := evalCtx{req: req}
	p := &req.Principal

	if resource != nil {
		for _, i := range resource.deny {
			st := &resource.stmts[i]
			if st.appliesTo(p, true) && st.matches(&ec) {
				return Decision{Reason: ExplicitDenyResource, Policy: ResourcePolicy, Statement: int(i), Sid: st.sid}
			}
		}
	}
	if pi, i := identityMatch(identity, true, &ec); pi >= 0 {
		return Decision{Reason: ExplicitDenyIdentity, Policy: pi, Statement: i, Sid: identity[pi].stmts[i].sid}
	}

	denied := Decision{Reason: NoIdentityAllow, Policy: -1, Statement: -1}
	direct, delegated := -1, -1
	if resource != nil {
		for _, i := range resource.allow {
			st := &resource.stmts[i]
			m := st.principals.match(p)
			if m == pmNone || (m == pmAccount && delegated >= 0) || !st.matches(&ec) {
				continue
			}
			if m == pmDirect {
				direct = int(i)
				break
			}
			delegated = int(i)
		}
		cross := req.ResourceAccount != "" && req.ResourceAccount != p.Account
		switch {
		case direct >= 0 && !cross:
			return Decision{Allowed: true, Reason: AllowedByResource, Policy: ResourcePolicy, Statement: direct, Sid: resource.stmts[direct].sid}
		case direct < 0 && delegated < 0:
			denied.Reason = NoResourceAllow
			return denied
		}
	}
	if pi, i := identityMatch(identity, false, &ec); pi >= 0 {
		return Decision{Allowed: true, Reason: AllowedByIdentity, Policy: pi, Statement: i, Sid: identity[pi].stmts[i].sid}
	}
	return denied
}

// identityMatch finds the first Deny (or Allow) statement of the identity policies that matches
// the request: its policy's index and its own, or -1, -1.
func identityMatch(identity []*Policy, deny bool, ec *evalCtx) (int, int) {
	for pi, ip := range identity {
		if ip == nil {
			continue
		}
		idx := ip.allow
		if deny {
			idx = ip.deny
		}
		for _, i := range idx {
			if ip.stmts[i].matches(ec) {
				return pi, int(i)
			}
		}
	}
	return -1, -1
}

// appliesTo reports whether a resource policy statement's Principal or NotPrincipal covers p.
// A Deny naming p's account covers every identity of that account.
func (s *statement) appliesTo(p *Principal, deny bool) bool {
	if !s.hasPrincipal {
		return false
	}
	if s.notPrincipal {
		return !s.principals.excludes(p)
	}
	m := s.principals.match(p)
	return m == pmDirect || (deny && m == pmAccount)
}

// matches tests Action, Resource and Condition (the principal is the caller's concern).
func (s *statement) matches(ec *evalCtx) bool {
	if !matchList(s.actions, ec.req.Action, ec) != s.notAction {
		return false
	}
	if s.hasResource && !matchList(s.resources, ec.req.Resource, ec) != s.notResource {
		return false
	}
	for i := range s.conds {
		if !s.conds[i].eval(ec) {
			return false
		}
	}
	return true
}

func matchList(pats []pattern, s string, ec *evalCtx) bool {
	for i := range pats {
		if pats[i].match(s, ec) {
			return true
		}
	}
	return false
}

// Message is the AccessDeniedException message for a denial of req ("" when allowed).
func (d Decision) Message(req *Request) string {
	if d.Allowed {
		return ""
	}
	return AccessDeniedMessage(req.Principal.ARN, req.Action, req.Resource, d.Reason)
}

// AccessDeniedMessage formats AWS's access denied message: "User: ARN is not authorized to
// perform: ACTION on resource: RESOURCE because no resource-based policy allows the ACTION
// action", or "... with an explicit deny in a resource-based policy" (or "in an identity-based
// policy"). The resource part is left out when resource is "".
// https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
func AccessDeniedMessage(principalARN, action, resource string, r Reason) string {
	msg := "User: " + principalARN + " is not authorized to perform: " + action
	if resource != "" {
		msg += " on resource: " + resource
	}
	switch r {
	case ExplicitDenyResource:
		return msg + " with an explicit deny in a resource-based policy"
	case ExplicitDenyIdentity:
		return msg + " with an explicit deny in an identity-based policy"
	case NoIdentityAllow:
		return msg + " because no identity-based policy allows the " + action + " action"
	}
	return msg + " because no resource-based policy allows the " + action + " action"
}

// PutKeyPolicyAction is the action the KMS lockout safety check asks about.
const PutKeyPolicyAction = "kms:PutKeyPolicy"

// AllowsPutKeyPolicy is KMS's policy lockout safety check: would the new key policy (with the
// caller's identity policies) still let req's principal call PutKeyPolicy on the key? KMS
// refuses a CreateKey or PutKeyPolicy whose policy fails it, unless
// BypassPolicyLockoutSafetyCheck is set, with MalformedPolicyDocumentException: "The new key
// policy will not allow you to update the key policy in the future."
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html#prevent-unmanageable-key
func AllowsPutKeyPolicy(newPolicy *Policy, req *Request, identity []*Policy) bool {
	r := *req
	r.Action = PutKeyPolicyAction
	return Evaluate(&r, newPolicy, identity).Allowed
}

// LockoutMessage is KMS's message for a policy that fails the lockout safety check.
const LockoutMessage = "The new key policy will not allow you to update the key policy in the future."

// DefaultKeyPolicy is the key policy KMS gives a key created through the API without one: one
// statement that allows the account, and so enables IAM policies, for every KMS action. The text
// is KMS's, spacing included, since GetKeyPolicy returns it.
// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html
func DefaultKeyPolicy(account string) string {
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
