package policy

import (
	"errors"
	"testing"
)

// FuzzParseEvaluate: any document either parses or is refused with an *Error of a known kind
// and a message, never a panic; a document that parses can be evaluated for any request without
// a panic, gives the same decision twice, and explains every denial. Run it with a bounded
// -fuzzminimizetime (5s): minimizing a long policy otherwise looks like a hang.
func FuzzParseEvaluate(f *testing.F) {
	f.Add(DefaultKeyPolicy(acct), "kms:Encrypt", "42")
	f.Add(`{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/alice"]},"NotAction":"kms:Describe*","NotResource":"arn:aws:kms:*:*:key/${aws:username}"}}`, "kms:Sign", "")
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":"*${?}*"},"ForAnyValue:NumericLessThanIfExists":{"test:N":["1e3","-2"]},"DateGreaterThan":{"aws:CurrentTime":1700000000},"Null":{"aws:username":false},"BinaryEquals":{"test:Blob":"AA=="},"IpAddress":{"aws:SourceIp":"::/0"},"ArnNotLike":{"aws:PrincipalArn":"arn:*:iam::*:role/*"}}}]}`, "iam:PassRole", "x")
	f.Add(`{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, "KMS:ENCRYPT", "")
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`, "sts:AssumeRole", "")
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/deployer/ci-run-7"},"Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:tenant":"a*b*?c"}}}]}`, "kms:GenerateDataKey", "aXbYbZc")
	f.Add(`{"Statement":[`, "kms:Encrypt", "")
	f.Add(`{"Statement":[{"Effect":"Allow","Effect":"Deny"}]}`, "", "")

	callers := []Principal{root, alice, bob, ci, mallory, {Type: PrincipalService, ARN: "logs.amazonaws.com"}, {}}
	f.Fuzz(func(t *testing.T, doc, action, tenant string) {
		var parsed []*Policy
		for _, typ := range []Type{KeyPolicy, IdentityPolicy, TrustPolicy} {
			p, err := Parse(doc, ParseOptions{Type: typ, MaxSize: KeyPolicyMaxBytes})
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) || pe.Message == "" || (!errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge)) {
					t.Fatalf("Parse(%v) error %#v is not a policy error", typ, err)
				}
				continue
			}
			if p.Len() == 0 {
				t.Fatalf("Parse(%v) accepted a document without statements", typ)
			}
			parsed = append(parsed, p)
		}
		for _, p := range parsed {
			for _, who := range callers {
				req := request(who, action, keyARN, map[string][]string{
					"kms:EncryptionContext:tenant": {tenant},
					"kms:EncryptionContextKeys":    {"tenant", tenant},
					"aws:SourceIp":                 {tenant},
					"aws:CurrentTime":              {tenant},
					"test:N":                       {tenant},
					"test:Blob":                    {tenant},
				})
				var res, ident *Policy
				if p.Type() == IdentityPolicy {
					ident = p
				} else {
					res = p
				}
				d := Evaluate(req, res, []*Policy{ident})
				if again := Evaluate(req, res, []*Policy{ident}); again != d {
					t.Fatalf("two evaluations differ: %+v and %+v", d, again)
				}
				if !d.Allowed && d.Message(req) == "" {
					t.Fatalf("denial without a message: %+v", d)
				}
				if d.Allowed && (d.Statement < 0 || d.Statement >= p.Len()) {
					t.Fatalf("allowed by statement %d of %d", d.Statement, p.Len())
				}
				AllowsPutKeyPolicy(p, req, nil)
			}
		}
	})
}
