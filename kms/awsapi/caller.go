package awsapi

import (
	"time"

	"github.com/hsmsim/hsmsim/kms/policy"
)

// Caller is who a request comes from, as far as the endpoint can tell: the access key and region
// of its SigV4 credential scope, the account that key belongs to and the principal it identifies
// (the account's root unless the key is an IAM user's or a role session's), and where the request
// came from. Every service's handlers act in the caller's account and region; Go callers of a
// service build one themselves (a zero Principal acts as the account's root).
type Caller struct {
	AccessKey string
	Region    string
	Account   string
	Principal policy.Principal
	SourceIP  string // the client's address, for aws:SourceIp
	Secure    bool   // the request came over TLS (aws:SecureTransport)
}

// Who is the caller's principal: its own, or the account's root when it has none.
func (c *Caller) Who() policy.Principal {
	if c.Principal.Type == policy.PrincipalUnknown {
		return policy.RootPrincipal(c.Account)
	}
	return c.Principal
}

// Credential is one access key the endpoint knows, and the identity it acts for.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	AccountID       string // empty: Config.AccountID
	// SessionToken is a role session's token: a request signed with the key must carry it
	// (X-Amz-Security-Token). Empty for long-term keys.
	SessionToken string
	// Expires is when a session's credentials stop working (zero: never).
	Expires time.Time
	// Principal is who the key identifies; the zero value is the account's root.
	Principal policy.Principal
}

// The region and account of a caller whose request does not say (an unsigned request), unless
// configured otherwise. The account is the one AWS's documentation uses in examples.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "111122223333"
)
