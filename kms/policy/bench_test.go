package policy

import (
	"fmt"
	"strings"
	"testing"
)

// twentyStatementPolicy is a key policy as a careful administrator writes one: admins, users per
// tenant with encryption context and algorithm conditions, grants only for AWS resources, a
// network fence and TLS required; the request benchRequest makes is allowed by the last
// statement after every other has been tried.
func twentyStatementPolicy() string {
	var s []string
	s = append(s, `{"Sid":"deny-plain-http","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`)
	s = append(s, `{"Sid":"deny-outside","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16","203.0.113.0/24"]},"Bool":{"aws:ViaAWSService":"false"}}}`)
	s = append(s, `{"Sid":"deny-delete","Effect":"Deny","Principal":"*","Action":["kms:ScheduleKeyDeletion","kms:DeleteImportedKeyMaterial"],"Resource":"*","Condition":{"StringNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/admin/*"}}}`)
	for i := 0; i < 8; i++ {
		s = append(s, fmt.Sprintf(`{"Sid":"admins-%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/admin/a%d"},"Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}`, i, i))
	}
	for i := 0; i < 6; i++ {
		s = append(s, fmt.Sprintf(`{"Sid":"tenant-%d","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/app/t%d","arn:aws:iam::111122223333:user/t%d"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"%d","kms:CallerAccount":"111122223333"},"ForAllValues:StringLike":{"kms:EncryptionContextKeys":["tenant","purpose*"]},"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}}`, i, i, i, i))
	}
	s = append(s, `{"Sid":"grants","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`)
	s = append(s, `{"Sid":"rotation","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:EnableKeyRotation","Resource":"*","Condition":{"NumericLessThanEquals":{"kms:RotationPeriodInDays":365}}}`)
	s = append(s, `{"Sid":"app-users","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"42"},"ForAllValues:StringLike":{"kms:EncryptionContextKeys":["tenant","purpose*"]},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}}`)
	return `{"Version":"2012-10-17","Id":"bench","Statement":[` + strings.Join(s, ",\n") + `]}`
}

func benchRequest() *Request {
	r := request(alice, "kms:Encrypt", keyARN, map[string][]string{
		"aws:SecureTransport":          {"true"},
		"aws:SourceIp":                 {"10.1.2.3"},
		"aws:ViaAWSService":            {"false"},
		"aws:CurrentTime":              {"2026-05-01T12:00:00Z"},
		"kms:CallerAccount":            {acct},
		"kms:EncryptionContext:tenant": {"42"},
		"kms:EncryptionContextKeys":    {"tenant", "purpose-x"},
		"kms:EncryptionAlgorithm":      {"SYMMETRIC_DEFAULT"},
	})
	return r
}

func TestBenchmarkPolicyDecidesAsIntended(t *testing.T) {
	p := mustParse(t, KeyPolicy, twentyStatementPolicy())
	if p.Len() != 20 {
		t.Fatalf("%d statements", p.Len())
	}
	if d := Evaluate(benchRequest(), p, nil); !d.Allowed || d.Sid != "app-users" {
		t.Fatalf("%+v", d)
	}
}

// BenchmarkEvaluate compares what authorizing one Encrypt costs with the default key policy
// (root, and an IAM user through delegation) and with a 20-statement policy full of conditions.
func BenchmarkEvaluate(b *testing.B) {
	def := mustParse(b, KeyPolicy, DefaultKeyPolicy(acct))
	big := mustParse(b, KeyPolicy, twentyStatementPolicy())
	id := mustParse(b, IdentityPolicy, identityPolicy(idAllKMS))
	asRoot := benchRequest()
	asRoot.Principal = root
	asUser := benchRequest()
	b.Run("default-policy/root", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Evaluate(asRoot, def, nil)
		}
	})
	b.Run("default-policy/iam-user", func(b *testing.B) {
		ids := []*Policy{id}
		b.ReportAllocs()
		for b.Loop() {
			Evaluate(asUser, def, ids)
		}
	})
	b.Run("20-statements-with-conditions", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Evaluate(asUser, big, nil)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, c := range []struct{ name, doc string }{
		{"default-policy", DefaultKeyPolicy(acct)},
		{"20-statements", twentyStatementPolicy()},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseKeyPolicy(c.doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
