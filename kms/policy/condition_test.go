package policy

import (
	"strconv"
	"testing"
	"time"
)

// condCase is one Condition block evaluated for one request context. A key absent from ctx is
// absent from the request; a key mapped to an empty list is present with no values (an empty
// multivalued key), which AWS treats as absent.
type condCase struct {
	name string
	cond string
	ctx  map[string][]string
	want bool
}

// runConds evaluates each case as the only statement of an identity policy allowing
// kms:Encrypt to caller; the statement allows iff the condition holds.
func runConds(t *testing.T, caller Principal, version string, cases []condCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := `{"Version":"` + version + `","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":` + c.cond + `}]}`
			p := mustParse(t, IdentityPolicy, doc)
			d := Evaluate(request(caller, "kms:Encrypt", keyARN, c.ctx), nil, []*Policy{p})
			if d.Allowed != c.want {
				t.Fatalf("condition %s with %v: allowed = %v, want %v", c.cond, c.ctx, d.Allowed, c.want)
			}
		})
	}
}

func ctx1(k string, v ...string) map[string][]string { return map[string][]string{k: v} }

const ec = "kms:EncryptionContext:tenant"

func TestStringOperators(t *testing.T) {
	runConds(t, alice, "2012-10-17", []condCase{
		{"StringEquals match", `{"StringEquals":{"kms:EncryptionContext:tenant":"42"}}`, ctx1(ec, "42"), true},
		{"StringEquals no match", `{"StringEquals":{"kms:EncryptionContext:tenant":"42"}}`, ctx1(ec, "43"), false},
		{"StringEquals missing key", `{"StringEquals":{"kms:EncryptionContext:tenant":"42"}}`, nil, false},
		{"StringEquals is case-sensitive in values", `{"StringEquals":{"kms:EncryptionContext:tenant":"Acme"}}`, ctx1(ec, "acme"), false},
		{"condition keys are case-insensitive", `{"StringEquals":{"KMS:ENCRYPTIONCONTEXT:TENANT":"42"}}`, ctx1("kms:encryptioncontext:Tenant", "42"), true},
		{"StringEquals values are ORed", `{"StringEquals":{"kms:EncryptionContext:tenant":["41","42"]}}`, ctx1(ec, "42"), true},
		{"StringEquals has no wildcards", `{"StringEquals":{"kms:EncryptionContext:tenant":"4*"}}`, ctx1(ec, "42"), false},
		{"StringEquals star is literal", `{"StringEquals":{"kms:EncryptionContext:tenant":"4*"}}`, ctx1(ec, "4*"), true},
		{"StringEquals number value", `{"StringEquals":{"kms:EncryptionContext:tenant":42}}`, ctx1(ec, "42"), true},
		{"StringEquals empty string", `{"StringEquals":{"kms:EncryptionContext:tenant":""}}`, ctx1(ec, ""), true},
		{"StringNotEquals differs", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"42"}}`, ctx1(ec, "43"), true},
		{"StringNotEquals equal", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"42"}}`, ctx1(ec, "42"), false},
		{"StringNotEquals missing key holds", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"42"}}`, nil, true},
		{"StringNotEquals values are NORed: one equal", `{"StringNotEquals":{"kms:EncryptionContext:tenant":["41","42"]}}`, ctx1(ec, "42"), false},
		{"StringNotEquals values are NORed: none equal", `{"StringNotEquals":{"kms:EncryptionContext:tenant":["41","42"]}}`, ctx1(ec, "43"), true},
		{"StringEqualsIgnoreCase match", `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"ACME"}}`, ctx1(ec, "acme"), true},
		{"StringEqualsIgnoreCase no match", `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"ACME"}}`, ctx1(ec, "acne"), false},
		{"StringEqualsIgnoreCase missing key", `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"ACME"}}`, nil, false},
		{"StringNotEqualsIgnoreCase same but case", `{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"ACME"}}`, ctx1(ec, "Acme"), false},
		{"StringNotEqualsIgnoreCase differs", `{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"ACME"}}`, ctx1(ec, "other"), true},
		{"StringNotEqualsIgnoreCase missing key holds", `{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"ACME"}}`, nil, true},
		{"StringLike star", `{"StringLike":{"kms:EncryptionContext:tenant":"te*"}}`, ctx1(ec, "tenant-9"), true},
		{"StringLike question mark", `{"StringLike":{"kms:EncryptionContext:tenant":"te?ant"}}`, ctx1(ec, "tenant"), true},
		{"StringLike question mark is one character", `{"StringLike":{"kms:EncryptionContext:tenant":"te?t"}}`, ctx1(ec, "tenant"), false},
		{"StringLike question mark is one rune", `{"StringLike":{"kms:EncryptionContext:tenant":"caf?"}}`, ctx1(ec, "café"), true},
		{"StringLike inner stars backtrack", `{"StringLike":{"kms:EncryptionContext:tenant":"a*b*c"}}`, ctx1(ec, "aXbYbZc"), true},
		{"StringLike inner stars no match", `{"StringLike":{"kms:EncryptionContext:tenant":"a*b*c"}}`, ctx1(ec, "aXcYb"), false},
		{"StringLike is case-sensitive", `{"StringLike":{"kms:EncryptionContext:tenant":"Te*"}}`, ctx1(ec, "tenant"), false},
		{"StringLike star matches empty", `{"StringLike":{"kms:EncryptionContext:tenant":"*"}}`, ctx1(ec, ""), true},
		{"StringLike missing key", `{"StringLike":{"kms:EncryptionContext:tenant":"*"}}`, nil, false},
		{"StringNotLike matching", `{"StringNotLike":{"kms:EncryptionContext:tenant":"te*"}}`, ctx1(ec, "tenant"), false},
		{"StringNotLike not matching", `{"StringNotLike":{"kms:EncryptionContext:tenant":"te*"}}`, ctx1(ec, "other"), true},
		{"StringNotLike missing key holds", `{"StringNotLike":{"kms:EncryptionContext:tenant":"te*"}}`, nil, true},
		{"StringEqualsIfExists missing", `{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"42"}}`, nil, true},
		{"StringEqualsIfExists present match", `{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"42"}}`, ctx1(ec, "42"), true},
		{"StringEqualsIfExists present no match", `{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"42"}}`, ctx1(ec, "43"), false},
		{"StringNotEqualsIfExists missing", `{"StringNotEqualsIfExists":{"kms:EncryptionContext:tenant":"42"}}`, nil, true},
		{"StringNotEqualsIfExists present equal", `{"StringNotEqualsIfExists":{"kms:EncryptionContext:tenant":"42"}}`, ctx1(ec, "42"), false},
		{"StringLikeIfExists missing", `{"StringLikeIfExists":{"kms:EncryptionContext:tenant":"x*"}}`, nil, true},
		{"StringNotLikeIfExists present matching", `{"StringNotLikeIfExists":{"kms:EncryptionContext:tenant":"x*"}}`, ctx1(ec, "xy"), false},
		{"StringEqualsIgnoreCaseIfExists missing", `{"StringEqualsIgnoreCaseIfExists":{"kms:EncryptionContext:tenant":"x"}}`, nil, true},
	})
}

func TestNumericOperators(t *testing.T) {
	const k = "kms:RotationPeriodInDays"
	runConds(t, alice, "2012-10-17", []condCase{
		{"NumericEquals match", `{"NumericEquals":{"kms:RotationPeriodInDays":"90"}}`, ctx1(k, "90"), true},
		{"NumericEquals numerically", `{"NumericEquals":{"kms:RotationPeriodInDays":90}}`, ctx1(k, "90.0"), true},
		{"NumericEquals no match", `{"NumericEquals":{"kms:RotationPeriodInDays":90}}`, ctx1(k, "91"), false},
		{"NumericEquals missing key", `{"NumericEquals":{"kms:RotationPeriodInDays":90}}`, nil, false},
		{"NumericEquals request not a number", `{"NumericEquals":{"kms:RotationPeriodInDays":90}}`, ctx1(k, "ninety"), false},
		{"NumericNotEquals differs", `{"NumericNotEquals":{"kms:RotationPeriodInDays":90}}`, ctx1(k, "91"), true},
		{"NumericNotEquals equal", `{"NumericNotEquals":{"kms:RotationPeriodInDays":90}}`, ctx1(k, "90"), false},
		{"NumericNotEquals missing key holds", `{"NumericNotEquals":{"kms:RotationPeriodInDays":90}}`, nil, true},
		{"NumericNotEquals NORed", `{"NumericNotEquals":{"kms:RotationPeriodInDays":[90,180]}}`, ctx1(k, "180"), false},
		{"NumericLessThan below", `{"NumericLessThan":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "90"), true},
		{"NumericLessThan equal", `{"NumericLessThan":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "100"), false},
		{"NumericLessThan missing key", `{"NumericLessThan":{"kms:RotationPeriodInDays":100}}`, nil, false},
		{"NumericLessThanEquals equal", `{"NumericLessThanEquals":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "100"), true},
		{"NumericLessThanEquals above", `{"NumericLessThanEquals":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "101"), false},
		{"NumericGreaterThan above", `{"NumericGreaterThan":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "101"), true},
		{"NumericGreaterThan equal", `{"NumericGreaterThan":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "100"), false},
		{"NumericGreaterThanEquals equal", `{"NumericGreaterThanEquals":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "100"), true},
		{"NumericGreaterThanEquals below", `{"NumericGreaterThanEquals":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "99"), false},
		{"Numeric decimals and negatives", `{"NumericLessThan":{"kms:RotationPeriodInDays":"-1.5"}}`, ctx1(k, "-2"), true},
		{"Numeric values ORed", `{"NumericLessThan":{"kms:RotationPeriodInDays":[10,1000]}}`, ctx1(k, "500"), true},
		{"NumericLessThanIfExists missing", `{"NumericLessThanIfExists":{"kms:RotationPeriodInDays":100}}`, nil, true},
		{"NumericLessThanIfExists present above", `{"NumericLessThanIfExists":{"kms:RotationPeriodInDays":100}}`, ctx1(k, "365"), false},
	})
}

func TestDateOperators(t *testing.T) {
	const k = "aws:CurrentTime"
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	iso := now.Format(time.RFC3339)
	epoch := strconv.FormatInt(now.Unix(), 10)
	runConds(t, alice, "2012-10-17", []condCase{
		{"DateLessThan before", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, ctx1(k, iso), true},
		{"DateLessThan after", `{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, ctx1(k, iso), false},
		{"DateLessThan missing key", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, nil, false},
		{"DateLessThan request not a date", `{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, ctx1(k, "yesterday"), false},
		{"DateEquals across zones", `{"DateEquals":{"aws:CurrentTime":"2026-05-01T14:00:00+02:00"}}`, ctx1(k, iso), true},
		{"DateEquals ISO policy, epoch request", `{"DateEquals":{"aws:EpochTime":"` + iso + `"}}`, ctx1("aws:EpochTime", epoch), true},
		{"DateEquals epoch policy, ISO request", `{"DateEquals":{"aws:CurrentTime":` + epoch + `}}`, ctx1(k, iso), true},
		{"DateEquals fractional seconds", `{"DateEquals":{"aws:CurrentTime":"2026-05-01T12:00:00.000Z"}}`, ctx1(k, iso), true},
		{"DateEquals differs", `{"DateEquals":{"aws:CurrentTime":"2026-05-01T12:00:01Z"}}`, ctx1(k, iso), false},
		{"DateNotEquals differs", `{"DateNotEquals":{"aws:CurrentTime":"2026-05-01T12:00:01Z"}}`, ctx1(k, iso), true},
		{"DateNotEquals equal", `{"DateNotEquals":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}}`, ctx1(k, iso), false},
		{"DateNotEquals missing key holds", `{"DateNotEquals":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}}`, nil, true},
		{"DateLessThanEquals equal", `{"DateLessThanEquals":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}}`, ctx1(k, iso), true},
		{"DateLessThanEquals after", `{"DateLessThanEquals":{"aws:CurrentTime":"2026-05-01T11:59:59Z"}}`, ctx1(k, iso), false},
		{"DateGreaterThan after", `{"DateGreaterThan":{"aws:CurrentTime":"2026-05-01"}}`, ctx1(k, iso), true},
		{"DateGreaterThan equal", `{"DateGreaterThan":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}}`, ctx1(k, iso), false},
		{"DateGreaterThanEquals equal", `{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-05-01T12:00:00Z"}}`, ctx1(k, iso), true},
		{"DateGreaterThanEquals before", `{"DateGreaterThanEquals":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}`, ctx1(k, iso), false},
		{"DateLessThanIfExists missing", `{"DateLessThanIfExists":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}`, nil, true},
	})
}

func TestBoolBinaryAndNull(t *testing.T) {
	const st = "aws:SecureTransport"
	runConds(t, alice, "2012-10-17", []condCase{
		{"Bool true", `{"Bool":{"aws:SecureTransport":"true"}}`, ctx1(st, "true"), true},
		{"Bool false request", `{"Bool":{"aws:SecureTransport":"true"}}`, ctx1(st, "false"), false},
		{"Bool JSON boolean", `{"Bool":{"aws:SecureTransport":true}}`, ctx1(st, "true"), true},
		{"Bool ignores case", `{"Bool":{"aws:SecureTransport":"true"}}`, ctx1(st, "TRUE"), true},
		{"Bool false policy", `{"Bool":{"aws:SecureTransport":false}}`, ctx1(st, "false"), true},
		{"Bool missing key", `{"Bool":{"aws:SecureTransport":"true"}}`, nil, false},
		{"BoolIfExists missing", `{"BoolIfExists":{"aws:SecureTransport":"true"}}`, nil, true},
		{"BoolIfExists present false", `{"BoolIfExists":{"aws:SecureTransport":"true"}}`, ctx1(st, "false"), false},
		{"BinaryEquals match", `{"BinaryEquals":{"test:Blob":"QmluYXJ5VmFsdWU="}}`, ctx1("test:Blob", "QmluYXJ5VmFsdWU="), true},
		{"BinaryEquals other bytes", `{"BinaryEquals":{"test:Blob":"QmluYXJ5VmFsdWU="}}`, ctx1("test:Blob", "T3RoZXI="), false},
		{"BinaryEquals request not base64", `{"BinaryEquals":{"test:Blob":"QmluYXJ5VmFsdWU="}}`, ctx1("test:Blob", "BinaryValue"), false},
		{"BinaryEquals missing key", `{"BinaryEquals":{"test:Blob":"QmluYXJ5VmFsdWU="}}`, nil, false},
		{"BinaryEqualsIfExists missing", `{"BinaryEqualsIfExists":{"test:Blob":"QmluYXJ5VmFsdWU="}}`, nil, true},
		{"Null true, key absent", `{"Null":{"kms:EncryptionContext:tenant":"true"}}`, nil, true},
		{"Null true, key present", `{"Null":{"kms:EncryptionContext:tenant":"true"}}`, ctx1(ec, "42"), false},
		{"Null true, empty multivalued key", `{"Null":{"kms:EncryptionContextKeys":"true"}}`, ctx1("kms:EncryptionContextKeys"), true},
		{"Null false, key present", `{"Null":{"kms:EncryptionContext:tenant":false}}`, ctx1(ec, "42"), true},
		{"Null false, key absent", `{"Null":{"kms:EncryptionContext:tenant":false}}`, nil, false},
		{"Null either", `{"Null":{"kms:EncryptionContext:tenant":["true","false"]}}`, nil, true},
	})
}

func TestIPAddressOperators(t *testing.T) {
	const k = "aws:SourceIp"
	runConds(t, alice, "2012-10-17", []condCase{
		{"IpAddress in range", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx1(k, "203.0.113.7"), true},
		{"IpAddress out of range", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx1(k, "198.51.100.1"), false},
		{"IpAddress missing key", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, nil, false},
		{"IpAddress single address", `{"IpAddress":{"aws:SourceIp":"203.0.113.7"}}`, ctx1(k, "203.0.113.7"), true},
		{"IpAddress unmasked CIDR", `{"IpAddress":{"aws:SourceIp":"203.0.113.7/24"}}`, ctx1(k, "203.0.113.200"), true},
		{"IpAddress IPv6", `{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, ctx1(k, "2001:db8::1"), true},
		{"IpAddress IPv4-mapped request", `{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx1(k, "::ffff:203.0.113.9"), true},
		{"IpAddress values ORed", `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}`, ctx1(k, "203.0.113.9"), true},
		{"IpAddress request not an address", `{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`, ctx1(k, "localhost"), false},
		{"NotIpAddress outside", `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx1(k, "198.51.100.1"), true},
		{"NotIpAddress inside", `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, ctx1(k, "203.0.113.1"), false},
		{"NotIpAddress missing key holds", `{"NotIpAddress":{"aws:SourceIp":"203.0.113.0/24"}}`, nil, true},
		{"NotIpAddress NORed", `{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","203.0.113.0/24"]}}`, ctx1(k, "10.1.2.3"), false},
		{"IpAddressIfExists missing", `{"IpAddressIfExists":{"aws:SourceIp":"203.0.113.0/24"}}`, nil, true},
	})
}

func TestArnOperators(t *testing.T) {
	const k = "aws:SourceArn"
	const key = "arn:aws:kms:us-east-1:111122223333:key/abc"
	runConds(t, alice, "2012-10-17", []condCase{
		{"ArnEquals exact", `{"ArnEquals":{"aws:SourceArn":"` + key + `"}}`, ctx1(k, key), true},
		{"ArnEquals other", `{"ArnEquals":{"aws:SourceArn":"` + key + `"}}`, ctx1(k, key+"d"), false},
		{"ArnEquals takes wildcards", `{"ArnEquals":{"aws:SourceArn":"arn:aws:kms:*:111122223333:key/*"}}`, ctx1(k, key), true},
		{"ArnLike region wildcard", `{"ArnLike":{"aws:SourceArn":"arn:aws:kms:*:111122223333:key/*"}}`, ctx1(k, key), true},
		{"ArnLike other account", `{"ArnLike":{"aws:SourceArn":"arn:aws:kms:*:111122223333:key/*"}}`, ctx1(k, "arn:aws:kms:us-east-1:444455556666:key/abc"), false},
		{"ArnLike star stays in its component", `{"ArnLike":{"aws:SourceArn":"arn:aws:kms:*:111122223333:key/abc"}}`, ctx1(k, "arn:aws:kms:us-east-1:evil:111122223333:key/abc"), false},
		{"ArnLike question mark", `{"ArnLike":{"aws:SourceArn":"arn:aws:kms:us-east-?:111122223333:key/abc"}}`, ctx1(k, key), true},
		{"ArnLike resource keeps colons", `{"ArnLike":{"aws:SourceArn":"arn:aws:logs:us-east-1:111122223333:log-group:*"}}`, ctx1(k, "arn:aws:logs:us-east-1:111122223333:log-group:app:stream"), true},
		{"ArnLike is case-sensitive", `{"ArnLike":{"aws:SourceArn":"arn:aws:kms:*:111122223333:KEY/*"}}`, ctx1(k, key), false},
		{"ArnLike request not an ARN", `{"ArnLike":{"aws:SourceArn":"arn:*:*:*:*:*"}}`, ctx1(k, "not-an-arn"), false},
		{"ArnLike bare star", `{"ArnLike":{"aws:SourceArn":"*"}}`, ctx1(k, key), true},
		{"ArnLike missing key", `{"ArnLike":{"aws:SourceArn":"*"}}`, nil, false},
		{"ArnNotEquals other", `{"ArnNotEquals":{"aws:SourceArn":"` + key + `"}}`, ctx1(k, key+"d"), true},
		{"ArnNotEquals same", `{"ArnNotEquals":{"aws:SourceArn":"` + key + `"}}`, ctx1(k, key), false},
		{"ArnNotLike matching", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:kms:*:111122223333:key/*"}}`, ctx1(k, key), false},
		{"ArnNotLike not matching", `{"ArnNotLike":{"aws:SourceArn":"arn:aws:kms:*:444455556666:key/*"}}`, ctx1(k, key), true},
		{"ArnNotLike missing key holds", `{"ArnNotLike":{"aws:SourceArn":"*"}}`, nil, true},
		{"ArnNotLike request not an ARN holds", `{"ArnNotLike":{"aws:SourceArn":"arn:*:*:*:*:*"}}`, ctx1(k, "not-an-arn"), true},
		{"ArnLikeIfExists missing", `{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:kms:*:*:*"}}`, nil, true},
		{"aws:PrincipalArn from the caller", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`, nil, true},
	})
}

func TestSetOperators(t *testing.T) {
	const ops = "kms:GrantOperations"
	const keys = "kms:EncryptionContextKeys"
	runConds(t, alice, "2012-10-17", []condCase{
		{"ForAnyValue one matches", `{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, ctx1(ops, "Decrypt", "RetireGrant"), true},
		{"ForAnyValue none matches", `{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, ctx1(ops, "RetireGrant"), false},
		{"ForAnyValue missing key", `{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Decrypt"]}}`, nil, false},
		{"ForAnyValue empty set", `{"ForAnyValue:StringEquals":{"kms:GrantOperations":["Decrypt"]}}`, ctx1(ops), false},
		{"ForAnyValue IfExists missing", `{"ForAnyValue:StringEqualsIfExists":{"kms:GrantOperations":["Decrypt"]}}`, nil, true},
		{"ForAllValues all match", `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, ctx1(ops, "Encrypt", "Decrypt"), true},
		{"ForAllValues one does not", `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, ctx1(ops, "Decrypt", "RetireGrant"), false},
		{"ForAllValues missing key holds", `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt"]}}`, nil, true},
		{"ForAllValues empty set holds", `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt"]}}`, ctx1(ops), true},
		{"ForAllValues StringLike", `{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":"tenant*"}}`, ctx1(keys, "tenantId", "tenantName"), true},
		{"ForAllValues StringLike one outside", `{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":"tenant*"}}`, ctx1(keys, "tenantId", "user"), false},
		{"ForAnyValue StringNotEquals: one differs", `{"ForAnyValue:StringNotEquals":{"kms:GrantOperations":"Decrypt"}}`, ctx1(ops, "Decrypt", "Encrypt"), true},
		{"ForAnyValue StringNotEquals: none differs", `{"ForAnyValue:StringNotEquals":{"kms:GrantOperations":"Decrypt"}}`, ctx1(ops, "Decrypt"), false},
		{"ForAllValues StringNotEquals: none equal", `{"ForAllValues:StringNotEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, ctx1(ops, "RetireGrant", "CreateGrant"), true},
		{"ForAllValues StringNotEquals: one equal", `{"ForAllValues:StringNotEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, ctx1(ops, "RetireGrant", "Decrypt"), false},
		{"ForAllValues StringNotEquals missing holds", `{"ForAllValues:StringNotEquals":{"kms:GrantOperations":"Decrypt"}}`, nil, true},
		{"ForAnyValue NumericGreaterThan", `{"ForAnyValue:NumericGreaterThan":{"test:Sizes":100}}`, ctx1("test:Sizes", "5", "500"), true},
		{"ForAllValues IpAddress", `{"ForAllValues:IpAddress":{"test:Hops":"10.0.0.0/8"}}`, ctx1("test:Hops", "10.0.0.1", "192.0.2.1"), false},
		{"plain positive operator on a multivalued key: any", `{"StringEquals":{"kms:GrantOperations":"Decrypt"}}`, ctx1(ops, "Encrypt", "Decrypt"), true},
		{"plain negated operator on a multivalued key: none", `{"StringNotEquals":{"kms:GrantOperations":"Decrypt"}}`, ctx1(ops, "Encrypt", "Decrypt"), false},
		{"plain negated operator on a multivalued key: all differ", `{"StringNotEquals":{"kms:GrantOperations":"Decrypt"}}`, ctx1(ops, "Encrypt", "Sign"), true},
		{"plain operator on an empty set: missing", `{"StringEquals":{"kms:GrantOperations":"Decrypt"}}`, ctx1(ops), false},
	})
}

func TestConditionBlocksAreANDedAndValuesORed(t *testing.T) {
	two := map[string][]string{"test:A": {"a"}, "test:B": {"b"}}
	runConds(t, alice, "2012-10-17", []condCase{
		{"two keys, both hold", `{"StringEquals":{"test:A":"a","test:B":"b"}}`, two, true},
		{"two keys, one fails", `{"StringEquals":{"test:A":"a","test:B":"x"}}`, two, false},
		{"two keys, one missing", `{"StringEquals":{"test:A":"a","test:C":"c"}}`, two, false},
		{"two operators, both hold", `{"StringEquals":{"test:A":"a"},"StringLike":{"test:B":"?"}}`, two, true},
		{"two operators, one fails", `{"StringEquals":{"test:A":"a"},"StringLike":{"test:B":"??"}}`, two, false},
		{"same key under two operators", `{"StringLike":{"test:A":"*"},"StringNotEquals":{"test:A":"a"}}`, two, false},
		{"values ORed within a key", `{"StringEquals":{"test:A":["x","y","a"]}}`, two, true},
	})
}

func TestPrincipalConditionKeys(t *testing.T) {
	runConds(t, alice, "2012-10-17", []condCase{
		{"aws:username", `{"StringEquals":{"aws:username":"alice"}}`, nil, true},
		{"aws:userid", `{"StringEquals":{"aws:userid":"AIDAALICE0000000000"}}`, nil, true},
		{"aws:PrincipalAccount", `{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`, nil, true},
		{"aws:PrincipalType", `{"StringEquals":{"aws:PrincipalType":"User"}}`, nil, true},
		{"aws:PrincipalArn", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`, nil, true},
		{"aws:PrincipalTag", `{"StringEquals":{"aws:PrincipalTag/Department":"eng"}}`, nil, true},
		{"aws:PrincipalTag key is case-insensitive", `{"StringEquals":{"aws:principaltag/department":"eng"}}`, nil, true},
		{"aws:PrincipalTag value is case-sensitive", `{"StringEquals":{"aws:PrincipalTag/Department":"Eng"}}`, nil, false},
		{"aws:PrincipalTag absent", `{"Null":{"aws:PrincipalTag/CostCenter":"true"}}`, nil, true},
		{"context overrides a derived key", `{"StringEquals":{"aws:username":"override"}}`, ctx1("aws:username", "override"), true},
	})
	runConds(t, ci, "2012-10-17", []condCase{
		{"a session's aws:PrincipalArn is its role", `{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/svc/deployer"}}`, nil, true},
		{"a session's aws:userid", `{"StringLike":{"aws:userid":"AROADEPLOYER000000:*"}}`, nil, true},
		{"a session has no aws:username", `{"Null":{"aws:username":"true"}}`, nil, true},
		{"a session's aws:PrincipalType", `{"StringEquals":{"aws:PrincipalType":"AssumedRole"}}`, nil, true},
		{"a session's tags", `{"StringEquals":{"aws:PrincipalTag/team":"build"}}`, nil, true},
	})
	runConds(t, root, "2012-10-17", []condCase{
		{"root's aws:PrincipalType", `{"StringEquals":{"aws:PrincipalType":"Account"}}`, nil, true},
		{"root's aws:userid is the account", `{"StringEquals":{"aws:userid":"111122223333"}}`, nil, true},
	})
}

func TestPolicyVariables(t *testing.T) {
	const owner = "kms:EncryptionContext:owner"
	runConds(t, alice, "2012-10-17", []condCase{
		{"variable matches", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, ctx1(owner, "alice"), true},
		{"variable differs", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, ctx1(owner, "bob"), false},
		{"variable inside text", `{"StringEquals":{"kms:EncryptionContext:owner":"user-${aws:username}-x"}}`, ctx1(owner, "user-alice-x"), true},
		{"variable in StringLike", `{"StringLike":{"kms:EncryptionContext:owner":"${aws:username}/*"}}`, ctx1(owner, "alice/docs"), true},
		{"variable value is literal in StringLike", `{"StringLike":{"kms:EncryptionContext:owner":"${aws:PrincipalTag/Department}"}}`, ctx1(owner, "eng"), true},
		{"variable in StringEqualsIgnoreCase", `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:owner":"${aws:username}"}}`, ctx1(owner, "ALICE"), true},
		{"variable in ArnLike", `{"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:user/${aws:username}"}}`, ctx1("aws:SourceArn", "arn:aws:iam::111122223333:user/alice"), true},
		{"variable default when absent", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:PrincipalTag/CostCenter, 'none'}"}}`, ctx1(owner, "none"), true},
		{"unresolvable variable matches nothing", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:PrincipalTag/CostCenter}"}}`, ctx1(owner, ""), false},
		{"escaped star is literal", `{"StringLike":{"kms:EncryptionContext:owner":"a${*}"}}`, ctx1(owner, "a*"), true},
		{"escaped star is not a wildcard", `{"StringLike":{"kms:EncryptionContext:owner":"a${*}"}}`, ctx1(owner, "ab"), false},
		{"escaped dollar and question mark", `{"StringEquals":{"kms:EncryptionContext:owner":"${$}{x}${?}"}}`, ctx1(owner, "${x}?"), true},
		{"multivalued key is no variable", `{"StringEquals":{"kms:EncryptionContext:owner":"${test:Multi}"}}`, map[string][]string{owner: {"a"}, "test:Multi": {"a", "b"}}, false},
	})
	// Variables are a 2012-10-17 feature: in a 2008-10-17 policy "${...}" is plain text.
	runConds(t, alice, "2008-10-17", []condCase{
		{"legacy version: literal", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, ctx1(owner, "${aws:username}"), true},
		{"legacy version: no substitution", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, ctx1(owner, "alice"), false},
	})
}
