package policy

import (
	"errors"
	"testing"
)

const (
	acct      = "111122223333"
	otherAcct = "444455556666"
	keyARN    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

// The callers the tests use: the account root (hsmsim's administrator), two IAM users and a
// session of a role with a path.
var (
	root  = RootPrincipal(acct)
	alice = UserPrincipal(acct, "", "alice", "AIDAALICE0000000000", map[string]string{"Department": "eng"})
	bob   = UserPrincipal(acct, "/ops/", "bob", "AIDABOB00000000000", nil)
	ci    = AssumedRolePrincipal(acct, "/svc/", "deployer", "ci-run-7", "AROADEPLOYER000000", map[string]string{"team": "build"})
	// a principal of another account
	mallory = UserPrincipal(otherAcct, "", "mallory", "AIDAMALLORY0000000", nil)
)

func mustParse(t testing.TB, typ Type, doc string) *Policy {
	t.Helper()
	p, err := Parse(doc, ParseOptions{Type: typ})
	if err != nil {
		t.Fatalf("Parse(%s): %v\n%s", typ, err, doc)
	}
	return p
}

func request(p Principal, action, resource string, ctx map[string][]string) *Request {
	r := &Request{Principal: p, Action: action, Resource: resource}
	for k, v := range ctx {
		r.Context.Set(k, v...)
	}
	return r
}

// wantMalformed checks that err is an *Error of kind ErrMalformed carrying msg.
func wantMalformed(t *testing.T, err error, msg string) {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error = %v (%T), want *Error", err, err)
	}
	if !errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %q: kind %v, want ErrMalformed", err, pe.Kind)
	}
	if msg != "" && pe.Message != msg {
		t.Fatalf("message = %q, want %q", pe.Message, msg)
	}
}
