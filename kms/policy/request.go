package policy

import "strings"

// PrincipalType is the kind of identity that signed a request.
type PrincipalType uint8

const (
	PrincipalUnknown     PrincipalType = iota
	PrincipalRoot                      // the account root user: arn:aws:iam::ACCOUNT:root
	PrincipalUser                      // an IAM user
	PrincipalAssumedRole               // an STS role session
	PrincipalService                   // an AWS service principal, e.g. ec2.amazonaws.com
)

// Principal is the caller of a request, as authentication established it.
type Principal struct {
	Type PrincipalType
	// ARN is what AccessDenied messages name: the root or user ARN, the session ARN
	// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION), or a service principal's name.
	ARN     string
	Account string
	// RoleARN is a session's role (arn:aws:iam::ACCOUNT:role/PATH/ROLE): a policy naming the
	// role names its sessions, and aws:PrincipalArn is the role ARN.
	RoleARN  string
	UserID   string            // aws:userid: AIDA… for a user, AROA…:SESSION for a session, the account id for root
	Username string            // aws:username, for IAM users only
	Tags     map[string]string // aws:PrincipalTag/KEY: a user's tags, or a session's role and session tags
}

// RootPrincipal is the account's root user (hsmsim's account administrator).
func RootPrincipal(account string) Principal {
	return Principal{Type: PrincipalRoot, ARN: "arn:aws:iam::" + account + ":root", Account: account, UserID: account}
}

// UserPrincipal is an IAM user; path is "/" or "/division/.../" ("" means "/").
func UserPrincipal(account, path, name, userID string, tags map[string]string) Principal {
	if path == "" {
		path = "/"
	}
	return Principal{Type: PrincipalUser, ARN: "arn:aws:iam::" + account + ":user" + path + name,
		Account: account, UserID: userID, Username: name, Tags: tags}
}

// AssumedRolePrincipal is a session of a role; roleID is the role's unique id (AROA…).
func AssumedRolePrincipal(account, rolePath, roleName, session, roleID string, tags map[string]string) Principal {
	if rolePath == "" {
		rolePath = "/"
	}
	return Principal{Type: PrincipalAssumedRole,
		ARN:     "arn:aws:sts::" + account + ":assumed-role/" + roleName + "/" + session,
		Account: account, RoleARN: "arn:aws:iam::" + account + ":role" + rolePath + roleName,
		UserID: roleID + ":" + session, Tags: tags}
}

// Context holds a request's condition keys. Keys are case-insensitive (stored in lower case);
// values keep their case, since whether they compare with case depends on the operator.
// A key with several values is a multivalued key (kms:EncryptionContextKeys,
// kms:GrantOperations); a key set with no values is treated as absent.
type Context struct {
	m map[string][]string
}

// Set gives key its values, replacing any it had.
func (c *Context) Set(key string, values ...string) {
	if c.m == nil {
		c.m = make(map[string][]string)
	}
	c.m[strings.ToLower(key)] = values
}

// Grow makes room for n more keys, so that a caller that knows how many it will set does not
// pay for the map growing step by step.
func (c *Context) Grow(n int) {
	if c.m == nil {
		c.m = make(map[string][]string, n)
		return
	}
	m := make(map[string][]string, len(c.m)+n)
	for k, v := range c.m {
		m[k] = v
	}
	c.m = m
}

// Get returns key's values.
func (c *Context) Get(key string) ([]string, bool) {
	v, ok := c.m[strings.ToLower(key)]
	return v, ok
}

// Delete removes key.
func (c *Context) Delete(key string) { delete(c.m, strings.ToLower(key)) }

// Len is the number of keys set.
func (c *Context) Len() int { return len(c.m) }

// Request is what a policy decides about: who, doing what, to which resource, in what context.
type Request struct {
	Principal Principal
	Action    string // "kms:Encrypt"; compared case-insensitively
	Resource  string // the resource ARN ("" where the action has none)
	// ResourceAccount is the account owning the resource. When it is set and differs from the
	// principal's, the request is cross-account: the resource policy and an identity policy
	// must both allow it. Empty means same-account.
	ResourceAccount string
	// Context holds the condition keys the service supplies (aws:SourceIp, aws:CurrentTime,
	// kms:EncryptionContext:…). aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
	// aws:userid, aws:username and aws:PrincipalTag/* come from Principal unless set here.
	Context Context
}

// values is one context key's values without copying them: one builtin value or the caller's slice.
type values struct {
	one  string
	many []string
	n    int
}

func (v values) at(i int) string {
	if v.many != nil {
		return v.many[i]
	}
	return v.one
}

func single(s string) values { return values{one: s, n: 1} }

// evalCtx is one evaluation's view of the request; it lives on the evaluator's stack.
type evalCtx struct {
	req *Request
}

const principalTagPrefix = "aws:principaltag/"

// lookup finds a condition key (already lower case): the request's Context first, then the keys
// AWS derives from the principal.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
func (ec *evalCtx) lookup(key string) (values, bool) {
	if v, ok := ec.req.Context.m[key]; ok {
		return values{many: v, n: len(v)}, len(v) > 0
	}
	p := &ec.req.Principal
	switch key {
	case "aws:principalarn":
		if p.Type == PrincipalService {
			break
		}
		if p.RoleARN != "" {
			return single(p.RoleARN), true
		}
		if p.ARN != "" {
			return single(p.ARN), true
		}
	case "aws:principalaccount":
		if p.Account != "" {
			return single(p.Account), true
		}
	case "aws:userid":
		if p.UserID != "" {
			return single(p.UserID), true
		}
	case "aws:username":
		if p.Username != "" {
			return single(p.Username), true
		}
	case "aws:principaltype":
		switch p.Type {
		case PrincipalRoot:
			return single("Account"), true
		case PrincipalUser:
			return single("User"), true
		case PrincipalAssumedRole:
			return single("AssumedRole"), true
		}
	default:
		if strings.HasPrefix(key, principalTagPrefix) {
			name := key[len(principalTagPrefix):]
			for k, v := range p.Tags {
				if strings.EqualFold(k, name) {
					return single(v), true
				}
			}
		}
	}
	return values{}, false
}

// variable resolves a policy variable: a single-valued key's value, else its default.
func (ec *evalCtx) variable(t *ptok) (string, bool) {
	if v, ok := ec.lookup(t.s); ok && v.n == 1 {
		return v.at(0), true
	}
	if t.hasDef {
		return t.def, true
	}
	return "", false
}
