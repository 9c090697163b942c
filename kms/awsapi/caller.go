package awsapi

// Caller is who a request comes from, as far as the endpoint can tell: the access key and region
// of its SigV4 credential scope, and the account that key belongs to. Every service's handlers
// act in the caller's account and region; Go callers of a service build one themselves.
type Caller struct {
	AccessKey string
	Region    string
	Account   string
}

// Credential is one access key the endpoint knows, and the account it acts for.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	AccountID       string // empty: Config.AccountID
}

// The region and account of a caller whose request does not say (an unsigned request), unless
// configured otherwise. The account is the one AWS's documentation uses in examples.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "111122223333"
)
