package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAcceptsTheShapesAWSAccepts(t *testing.T) {
	cases := []struct {
		name string
		typ  Type
		doc  string
		n    int // statements
	}{
		{"default key policy", KeyPolicy, DefaultKeyPolicy(acct), 1},
		{"statement as an object", KeyPolicy, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}`, 1},
		{"legacy version", KeyPolicy, `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`, 1},
		{"no version", IdentityPolicy, `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, 1},
		{"principal list of ARNs and account ids", KeyPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:role/svc/deployer","arn:aws:sts::111122223333:assumed-role/deployer/ci-run-7","arn:aws-cn:iam::444455556666:root"]},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":["*"]}]}`, 1},
		{"service principal", KeyPolicy, `{"Statement":[{"Effect":"Allow","Principal":{"Service":["logs.amazonaws.com","cloudtrail.amazonaws.com"]},"Action":"kms:GenerateDataKey*","Resource":"*"}]}`, 1},
		{"NotPrincipal with Deny", KeyPolicy, `{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:user/alice"]},"Action":"kms:*","Resource":"*"}]}`, 1},
		{"NotAction and NotResource", IdentityPolicy, `{"Statement":[{"Sid":"x","Effect":"Allow","NotAction":["kms:ScheduleKeyDeletion","kms:Delete*"],"NotResource":"arn:aws:kms:*:111122223333:key/secret"}]}`, 1},
		{"conditions of every type", KeyPolicy, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*","Condition":{
			"StringEquals":{"kms:EncryptionContext:tenant":["42","43"],"kms:CallerAccount":"111122223333"},
			"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":"tenant*"},
			"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]},
			"NumericLessThanEquals":{"kms:RotationPeriodInDays":365},
			"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},
			"Bool":{"aws:SecureTransport":true},
			"BinaryEquals":{"test:Blob":"QmluYXJ5VmFsdWU="},
			"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32"]},
			"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"},
			"Null":{"kms:EncryptionContext:tenant":"false"},
			"StringNotEqualsIfExists":{"kms:RequestAlias":"alias/legacy"}}}]}`, 1},
		{"trust policy", TrustPolicy, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}`, 1},
		{"several statements", KeyPolicy, `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"},{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]}`, 3},
		{"empty condition block", IdentityPolicy, `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{}}]}`, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustParse(t, c.typ, c.doc)
			if p.Len() != c.n || p.Type() != c.typ {
				t.Fatalf("Len = %d Type = %v, want %d %v", p.Len(), p.Type(), c.n, c.typ)
			}
		})
	}
}

func TestParseRecordsVersionIdAndSids(t *testing.T) {
	p := mustParse(t, KeyPolicy, DefaultKeyPolicy(acct))
	if p.Version() != "2012-10-17" || p.ID() != "key-default-1" || p.Sid(0) != "Enable IAM User Permissions" {
		t.Fatalf("Version %q ID %q Sid %q", p.Version(), p.ID(), p.Sid(0))
	}
	p = mustParse(t, IdentityPolicy, `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`)
	if p.Version() != "2008-10-17" {
		t.Fatalf("a document without Version is %q, want AWS's default 2008-10-17", p.Version())
	}
}

// stmt builds a one-statement key policy from its members.
func stmt(members string) string {
	return `{"Version":"2012-10-17","Statement":[{` + members + `}]}`
}

const okPrincipal = `"Principal":{"AWS":"arn:aws:iam::111122223333:root"}`

func TestParseRefusesMalformedDocuments(t *testing.T) {
	cases := []struct {
		name string
		typ  Type
		doc  string
		msg  string
	}{
		// JSON
		{"empty", KeyPolicy, ``, msgInvalidJSON},
		{"truncated", KeyPolicy, `{"Statement":[`, msgInvalidJSON},
		{"not an object", KeyPolicy, `[]`, msgInvalidJSON},
		{"a string", KeyPolicy, `"policy"`, msgInvalidJSON},
		{"null", KeyPolicy, `null`, msgInvalidJSON},
		{"trailing data", KeyPolicy, DefaultKeyPolicy(acct) + `{}`, msgInvalidJSON},
		{"trailing comma", KeyPolicy, `{"Statement":[{"Effect":"Allow",}]}`, msgInvalidJSON},
		{"single quotes", KeyPolicy, `{'Statement':[]}`, msgInvalidJSON},
		{"invalid UTF-8", KeyPolicy, "{\"Id\":\"\xff\",\"Statement\":[]}", msgInvalidJSON},
		{"too deep", KeyPolicy, strings.Repeat("[", 40) + strings.Repeat("]", 40), msgInvalidJSON},
		{"duplicate element", KeyPolicy, stmt(`"Effect":"Allow","Effect":"Deny",` + okPrincipal + `,"Action":"kms:*","Resource":"*"`), "Duplicate element in policy: Effect"},
		// top level
		{"bad version", KeyPolicy, `{"Version":"2012-10-18","Statement":[]}`, msgVersion},
		{"version as a number", KeyPolicy, `{"Version":2012,"Statement":[]}`, msgVersion},
		{"unknown top-level element", KeyPolicy, `{"Version":"2012-10-17","Statements":[]}`, "Policy document contains an unknown element: Statements"},
		{"Id not a string", KeyPolicy, `{"Id":1,"Statement":[]}`, "Policy element Id must be a string"},
		{"no Statement", KeyPolicy, `{"Version":"2012-10-17"}`, msgNoStatement},
		{"empty Statement", KeyPolicy, `{"Statement":[]}`, msgNoStatement},
		{"Statement a string", KeyPolicy, `{"Statement":"Allow"}`, "Policy element Statement must be an object or an array of objects"},
		{"Statement holds a number", KeyPolicy, `{"Statement":[1]}`, "Policy element Statement must be an object or an array of objects"},
		// statement elements
		{"unknown statement element", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Resources":"*"`), "Policy statement contains an unknown element: Resources"},
		{"element names are case-sensitive", KeyPolicy, stmt(`"effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*"`), "Policy statement contains an unknown element: effect"},
		{"Sid not a string", KeyPolicy, stmt(`"Sid":7,"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*"`), "Statement element Sid must be a string"},
		{"no Effect", KeyPolicy, stmt(okPrincipal + `,"Action":"kms:*","Resource":"*"`), msgNoEffect},
		{"lower-case effect", KeyPolicy, stmt(`"Effect":"allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*"`), "Invalid effect: allow"},
		{"unknown effect", KeyPolicy, stmt(`"Effect":"Permit",` + okPrincipal + `,"Action":"kms:*","Resource":"*"`), "Invalid effect: Permit"},
		{"effect not a string", KeyPolicy, stmt(`"Effect":true,` + okPrincipal + `,"Action":"kms:*","Resource":"*"`), "Invalid effect: a boolean"},
		// Action
		{"no Action", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Resource":"*"`), msgNoActions},
		{"empty Action", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":[],"Resource":"*"`), msgNoActions},
		{"Action and NotAction", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","NotAction":"kms:Decrypt","Resource":"*"`), "Policy statement cannot contain both Action and NotAction"},
		{"action without vendor", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"Encrypt","Resource":"*"`), msgVendor},
		{"action with empty vendor", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":":Encrypt","Resource":"*"`), msgVendor},
		{"action with empty name", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:","Resource":"*"`), msgVendor},
		{"action with two colons", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:Encrypt:Now","Resource":"*"`), msgOneColon},
		{"wildcard vendor", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"*:Encrypt","Resource":"*"`), msgVendor},
		{"action not a string", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":["kms:Encrypt",3],"Resource":"*"`), "Policy element Action must be a string or an array of strings"},
		// Resource
		{"no Resource", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*"`), msgNoResources},
		{"no Resource in an identity policy", IdentityPolicy, stmt(`"Effect":"Allow","Action":"kms:*"`), msgNoResources},
		{"empty Resource", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":[]`), msgNoResources},
		{"Resource and NotResource", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","NotResource":"*"`), "Policy statement cannot contain both Resource and NotResource"},
		{"resource not an ARN", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"key/1234"`), `Resource key/1234 must be in ARN format or "*".`},
		{"resource an object", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":{"a":"b"}`), "Policy element Resource must be a string or an array of strings"},
		{"Resource in a trust policy", TrustPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"sts:AssumeRole","Resource":"*"`), "Has prohibited field Resource"},
		// Principal
		{"no Principal in a key policy", KeyPolicy, stmt(`"Effect":"Allow","Action":"kms:*","Resource":"*"`), msgNoPrincipal},
		{"no Principal in a trust policy", TrustPolicy, stmt(`"Effect":"Allow","Action":"sts:AssumeRole"`), msgNoPrincipal},
		{"Principal in an identity policy", IdentityPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*"`), "Has prohibited field Principal"},
		{"NotPrincipal in an identity policy", IdentityPolicy, stmt(`"Effect":"Deny","NotPrincipal":{"AWS":"*"},"Action":"kms:*","Resource":"*"`), "Has prohibited field NotPrincipal"},
		{"NotPrincipal in a trust policy", TrustPolicy, stmt(`"Effect":"Deny","NotPrincipal":{"AWS":"*"},"Action":"sts:AssumeRole"`), "Has prohibited field NotPrincipal"},
		{"Principal and NotPrincipal", KeyPolicy, stmt(`"Effect":"Deny",` + okPrincipal + `,"NotPrincipal":{"AWS":"*"},"Action":"kms:*","Resource":"*"`), "Policy statement cannot contain both Principal and NotPrincipal"},
		{"NotPrincipal with Allow", KeyPolicy, stmt(`"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"`), msgNotPrincipalAllow},
		{"principal ARN as a bare string", KeyPolicy, stmt(`"Effect":"Allow","Principal":"arn:aws:iam::111122223333:root","Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal a user name", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal a short account id", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"12345"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal a group", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:group/devs"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal ARN with a wildcard", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal a KMS key ARN", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"` + keyARN + `"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal session without a session name", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/deployer"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal with a region", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"arn:aws:iam:us-east-1:111122223333:root"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"empty principal list", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":[]},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"empty principal object", KeyPolicy, stmt(`"Effect":"Allow","Principal":{},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"unknown principal type", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"IAM":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"principal a number", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":111122223333},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"service principal with a space", KeyPolicy, stmt(`"Effect":"Allow","Principal":{"Service":"logs amazonaws.com"},"Action":"kms:*","Resource":"*"`), msgKMSInvalidPrincipal},
		{"trust policy's invalid principal", TrustPolicy, stmt(`"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"sts:AssumeRole"`), `Invalid principal in policy: "AWS":"alice"`},
		// Condition
		{"unknown condition operator", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"aws:username":"alice"}}`), "Invalid Condition type : StringEqualz"},
		{"operator names are case-sensitive", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"stringequals":{"aws:username":"alice"}}`), "Invalid Condition type : stringequals"},
		{"NullIfExists", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}`), "Invalid Condition type : NullIfExists"},
		{"unknown set operator", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"ForSomeValues:StringEquals":{"aws:username":"alice"}}`), "Invalid Condition type : ForSomeValues:StringEquals"},
		{"IfExists on its own", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"IfExists":{"aws:username":"alice"}}`), "Invalid Condition type : IfExists"},
		{"condition not an object", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":["StringEquals"]`), "Condition must be an object, not an array"},
		{"operator not an object", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"StringEquals":"alice"}`), "Condition operator StringEquals must map condition keys to values"},
		{"condition key without vendor", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"username":"alice"}}`), msgVendor},
		{"condition value null", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:username":null}}`), "Condition value for aws:username must be a string, number, boolean or an array of them"},
		{"condition value an object", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:username":{"a":"b"}}}`), "Condition value for aws:username must be a string, number, boolean or an array of them"},
		{"condition values nested", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:username":[["alice"]]}}`), "Condition value for aws:username must be a string, number, boolean or an array of them"},
		{"numeric value not a number", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"NumericLessThan":{"kms:RotationPeriodInDays":"ninety"}}`), `Invalid Condition value for NumericLessThan kms:RotationPeriodInDays: "ninety"`},
		{"numeric value hex", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"NumericEquals":{"kms:RotationPeriodInDays":"0x5a"}}`), `Invalid Condition value for NumericEquals kms:RotationPeriodInDays: "0x5a"`},
		{"date value not a date", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}`), `Invalid Condition value for DateLessThan aws:CurrentTime: "tomorrow"`},
		{"IP value not a CIDR", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/33"}}`), `Invalid Condition value for IpAddress aws:SourceIp: "203.0.113.0/33"`},
		{"binary value not base64", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"BinaryEquals":{"test:Blob":"not base64!"}}`), `Invalid Condition value for BinaryEquals test:Blob: "not base64!"`},
		{"Null value not a boolean", KeyPolicy, stmt(`"Effect":"Allow",` + okPrincipal + `,"Action":"kms:*","Resource":"*","Condition":{"Null":{"aws:username":"maybe"}}`), `Invalid Condition value for Null aws:username: "maybe"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.doc, ParseOptions{Type: c.typ})
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", p)
			}
			wantMalformed(t, err, c.msg)
		})
	}
}

// pad grows a key policy to exactly n bytes with whitespace after the document, which JSON
// allows and KMS counts.
func pad(doc string, n int) string { return doc + strings.Repeat(" ", n-len(doc)) }

func TestKeyPolicySizeLimit(t *testing.T) {
	doc := DefaultKeyPolicy(acct)
	if _, err := ParseKeyPolicy(pad(doc, KeyPolicyMaxBytes)); err != nil {
		t.Fatalf("a policy of exactly 32 KiB: %v", err)
	}
	_, err := ParseKeyPolicy(pad(doc, KeyPolicyMaxBytes+1))
	if !errors.Is(err, ErrTooLarge) || errors.Is(err, ErrMalformed) {
		t.Fatalf("32 KiB + 1: %v, want ErrTooLarge", err)
	}
	if want := "The key policy size of 32769 bytes exceeds the maximum size of 32768 bytes."; err.Error() != want {
		t.Fatalf("message %q, want %q", err.Error(), want)
	}
	// The limit is checked before the JSON: an oversize document of garbage is too large, not
	// malformed.
	if _, err := ParseKeyPolicy(strings.Repeat("x", KeyPolicyMaxBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize garbage: %v", err)
	}
}

func TestIAMSizeLimitIgnoresWhitespace(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`
	spaced := strings.ReplaceAll(doc, ",", ",\n"+strings.Repeat(" ", 1000))
	if len(spaced) <= TrustPolicyMaxChars {
		t.Fatalf("test document too small: %d", len(spaced))
	}
	if _, err := ParseTrustPolicy(spaced); err != nil {
		t.Fatalf("whitespace counted against the trust policy limit: %v", err)
	}
	long := `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":[` +
		strings.Repeat(`"sts:AssumeRole",`, 130) + `"sts:AssumeRole"]}]}`
	_, err := ParseTrustPolicy(long)
	if !errors.Is(err, ErrTooLarge) || err.Error() != "Cannot exceed quota for PolicySize: 2048" {
		t.Fatalf("over 2048 characters: %v", err)
	}
	if got := Size(" a \n b\t", true); got != 2 {
		t.Fatalf("Size ignoring whitespace = %d, want 2", got)
	}
}

func TestPrincipalExistsHookRefusesUnknownPrincipals(t *testing.T) {
	known := map[string]bool{"arn:aws:iam::111122223333:user/alice": true}
	o := ParseOptions{Type: KeyPolicy, PrincipalExists: func(arn string) bool { return known[arn] }}
	ok := stmt(`"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/alice"]},"Action":"kms:*","Resource":"*"`)
	if _, err := Parse(ok, o); err != nil {
		t.Fatalf("known principal and an account: %v", err)
	}
	bad := stmt(`"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/ghost"},"Action":"kms:*","Resource":"*"`)
	_, err := Parse(bad, o)
	wantMalformed(t, err, msgKMSInvalidPrincipal)
}
