package policy

import (
	"testing"
)

// evalCase is one request against a key policy and the caller's identity policies.
type evalCase struct {
	name     string
	key      string   // key policy document ("" for none)
	identity []string // identity policy documents
	caller   Principal
	action   string
	want     Reason
	sid      string // the deciding statement's Sid, when there is one
}

func runEval(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var kp *Policy
			if c.key != "" {
				kp = mustParse(t, KeyPolicy, c.key)
			}
			var ids []*Policy
			for _, d := range c.identity {
				ids = append(ids, mustParse(t, IdentityPolicy, d))
			}
			req := request(c.caller, c.action, keyARN, nil)
			d := Evaluate(req, kp, ids)
			if d.Reason != c.want || d.Allowed != (c.want == AllowedByResource || c.want == AllowedByIdentity) {
				t.Fatalf("decision %+v (%v), want %v", d, d.Reason, c.want)
			}
			if c.sid != "" && d.Sid != c.sid {
				t.Fatalf("decided by Sid %q, want %q", d.Sid, c.sid)
			}
		})
	}
}

func keyPolicy(stmts string) string { return `{"Version":"2012-10-17","Statement":[` + stmts + `]}` }

func identityPolicy(stmts string) string {
	return `{"Version":"2012-10-17","Statement":[` + stmts + `]}`
}

const (
	allowRoot  = `{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`
	allowAcct  = `{"Sid":"account","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}`
	allowAlice = `{"Sid":"alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`
	idEncrypt  = `{"Sid":"enc","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`
	idAllKMS   = `{"Sid":"all","Effect":"Allow","Action":"kms:*","Resource":"*"}`
)

func TestDefaultKeyPolicyDelegatesToTheAccount(t *testing.T) {
	def := DefaultKeyPolicy(acct)
	runEval(t, []evalCase{
		{"root is named by the account principal", def, nil, root, "kms:Encrypt", AllowedByResource, "Enable IAM User Permissions"},
		{"root may do anything kms:*", def, nil, root, "kms:ScheduleKeyDeletion", AllowedByResource, ""},
		{"a user with no policy is denied", def, nil, alice, "kms:Encrypt", NoIdentityAllow, ""},
		{"a user's IAM policy allows what it names", def, []string{identityPolicy(idEncrypt)}, alice, "kms:Encrypt", AllowedByIdentity, "enc"},
		{"and nothing else", def, []string{identityPolicy(idEncrypt)}, alice, "kms:Decrypt", NoIdentityAllow, ""},
		{"a role session with a role policy", def, []string{identityPolicy(idAllKMS)}, ci, "kms:GenerateDataKey", AllowedByIdentity, "all"},
		{"another account's root is not this account", def, nil, RootPrincipal(otherAcct), "kms:Encrypt", NoResourceAllow, ""},
		{"another account's user with an IAM policy", def, []string{identityPolicy(idAllKMS)}, mallory, "kms:Encrypt", NoResourceAllow, ""},
		{"the account id form delegates the same way", keyPolicy(allowAcct), []string{identityPolicy(idEncrypt)}, bob, "kms:Encrypt", AllowedByIdentity, ""},
		{"the account id form names root", keyPolicy(allowAcct), nil, root, "kms:Encrypt", AllowedByResource, "account"},
	})
}

func TestKeyPolicyNamingPrincipals(t *testing.T) {
	const allowRole = `{"Sid":"role","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/svc/deployer"},"Action":"kms:Decrypt","Resource":"*"}`
	const allowSession = `{"Sid":"session","Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/deployer/ci-run-7"},"Action":"kms:Decrypt","Resource":"*"}`
	const allowAnyone = `{"Sid":"anyone","Effect":"Allow","Principal":"*","Action":"kms:DescribeKey","Resource":"*"}`
	const allowAnyAWS = `{"Sid":"anyaws","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:GetPublicKey","Resource":"*"}`
	const allowService = `{"Sid":"logs","Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:GenerateDataKey*","Resource":"*"}`
	otherSession := AssumedRolePrincipal(acct, "/svc/", "deployer", "ci-run-8", "AROADEPLOYER000000", nil)
	logs := Principal{Type: PrincipalService, ARN: "logs.amazonaws.com"}
	runEval(t, []evalCase{
		{"a user named directly needs no IAM policy", keyPolicy(allowAlice), nil, alice, "kms:Decrypt", AllowedByResource, "alice"},
		{"only for the actions named", keyPolicy(allowAlice), nil, alice, "kms:ScheduleKeyDeletion", NoResourceAllow, ""},
		{"another user is not named", keyPolicy(allowAlice), nil, bob, "kms:Decrypt", NoResourceAllow, ""},
		{"IAM policies do not count without delegation", keyPolicy(allowAlice), []string{identityPolicy(idAllKMS)}, bob, "kms:Decrypt", NoResourceAllow, ""},
		{"root has no access the key policy does not give", keyPolicy(allowAlice), nil, root, "kms:Decrypt", NoResourceAllow, ""},
		{"a role ARN names its sessions", keyPolicy(allowRole), nil, ci, "kms:Decrypt", AllowedByResource, "role"},
		{"a session ARN names that session", keyPolicy(allowSession), nil, ci, "kms:Decrypt", AllowedByResource, "session"},
		{"and not another session of the role", keyPolicy(allowSession), nil, otherSession, "kms:Decrypt", NoResourceAllow, ""},
		{"a role ARN does not name a user", keyPolicy(allowRole), nil, alice, "kms:Decrypt", NoResourceAllow, ""},
		{"Principal * names everyone", keyPolicy(allowAnyone), nil, mallory, "kms:DescribeKey", AllowedByResource, "anyone"},
		{"AWS * names everyone", keyPolicy(allowAnyAWS), nil, bob, "kms:GetPublicKey", AllowedByResource, "anyaws"},
		{"a service principal", keyPolicy(allowService), nil, logs, "kms:GenerateDataKeyWithoutPlaintext", AllowedByResource, "logs"},
		{"a service is not a user", keyPolicy(allowService), nil, alice, "kms:GenerateDataKey", NoResourceAllow, ""},
		{"a direct allow wins over a delegation listed first", keyPolicy(allowRoot + `,` + allowAlice), nil, alice, "kms:Encrypt", AllowedByResource, "alice"},
	})
}

func TestExplicitDenyWins(t *testing.T) {
	const denyAliceDelete = `{"Sid":"nodelete","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}`
	const denyAccountDecrypt = `{"Sid":"nodecrypt","Effect":"Deny","Principal":{"AWS":"111122223333"},"Action":"kms:Decrypt","Resource":"*"}`
	const idDenyDecrypt = `{"Sid":"iddeny","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`
	const allowAliceAll = `{"Sid":"aliceall","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}`
	runEval(t, []evalCase{
		{"a key policy deny over its own allow", keyPolicy(allowAliceAll + `,` + denyAliceDelete), nil, alice, "kms:ScheduleKeyDeletion", ExplicitDenyResource, "nodelete"},
		{"the deny names only its action", keyPolicy(allowAliceAll + `,` + denyAliceDelete), nil, alice, "kms:Encrypt", AllowedByResource, "aliceall"},
		{"a key policy deny over an IAM allow", keyPolicy(allowRoot + `,` + denyAliceDelete), []string{identityPolicy(idAllKMS)}, alice, "kms:ScheduleKeyDeletion", ExplicitDenyResource, "nodelete"},
		{"a deny naming the account covers its users", keyPolicy(allowAliceAll + `,` + denyAccountDecrypt), nil, alice, "kms:Decrypt", ExplicitDenyResource, "nodecrypt"},
		{"and its role sessions", keyPolicy(allowRoot + `,` + denyAccountDecrypt), []string{identityPolicy(idAllKMS)}, ci, "kms:Decrypt", ExplicitDenyResource, "nodecrypt"},
		{"and root", keyPolicy(allowRoot + `,` + denyAccountDecrypt), nil, root, "kms:Decrypt", ExplicitDenyResource, "nodecrypt"},
		{"a deny naming a user spares others", keyPolicy(allowRoot + `,` + denyAliceDelete), []string{identityPolicy(idAllKMS)}, bob, "kms:ScheduleKeyDeletion", AllowedByIdentity, "all"},
		{"an identity deny over a key policy allow", keyPolicy(allowAliceAll), []string{identityPolicy(idDenyDecrypt)}, alice, "kms:Decrypt", ExplicitDenyIdentity, "iddeny"},
		{"an identity deny needs no delegation", keyPolicy(allowAlice), []string{identityPolicy(idDenyDecrypt)}, alice, "kms:Decrypt", ExplicitDenyIdentity, ""},
		{"an identity deny in a second policy", DefaultKeyPolicy(acct), []string{identityPolicy(idAllKMS), identityPolicy(idDenyDecrypt)}, bob, "kms:Decrypt", ExplicitDenyIdentity, "iddeny"},
		{"a deny in the same identity policy as the allow", DefaultKeyPolicy(acct), []string{identityPolicy(idAllKMS + `,` + idDenyDecrypt)}, bob, "kms:Decrypt", ExplicitDenyIdentity, "iddeny"},
	})
}

func TestNotActionNotResourceNotPrincipal(t *testing.T) {
	const allowAllButDelete = `{"Sid":"most","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"NotAction":["kms:ScheduleKeyDeletion","kms:Disable*"],"Resource":"*"}`
	const otherKey = "arn:aws:kms:us-east-1:111122223333:key/other"
	const idNotSecret = `{"Sid":"notsecret","Effect":"Allow","Action":"kms:*","NotResource":"` + keyARN + `"}`
	const idOnlyOther = `{"Sid":"other","Effect":"Allow","Action":"kms:*","Resource":"` + otherKey + `"}`
	// Deny everything to everyone but the account (root) and alice.
	const denyAllButAlice = `{"Sid":"fence","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:iam::111122223333:user/alice"]},"Action":"kms:*","Resource":"*"}`
	// Listing alice without her account does not spare her (AWS checks the account first).
	const denyAllButAliceOnly = `{"Sid":"fence2","Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}`
	const denyAllButRole = `{"Sid":"fence3","Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/svc/deployer"]},"Action":"kms:*","Resource":"*"}`
	runEval(t, []evalCase{
		{"NotAction allows the rest", keyPolicy(allowAllButDelete), nil, alice, "kms:Encrypt", AllowedByResource, "most"},
		{"NotAction excludes what it names", keyPolicy(allowAllButDelete), nil, alice, "kms:ScheduleKeyDeletion", NoResourceAllow, ""},
		{"NotAction wildcards", keyPolicy(allowAllButDelete), nil, alice, "kms:DisableKeyRotation", NoResourceAllow, ""},
		{"NotResource allows other resources", DefaultKeyPolicy(acct), []string{identityPolicy(idNotSecret)}, bob, "kms:Encrypt", NoIdentityAllow, ""},
		{"Resource names one key", DefaultKeyPolicy(acct), []string{identityPolicy(idOnlyOther)}, bob, "kms:Encrypt", NoIdentityAllow, ""},
		{"NotPrincipal spares those listed with their account", keyPolicy(allowRoot + `,` + allowAlice + `,` + denyAllButAlice), nil, alice, "kms:Encrypt", AllowedByResource, "alice"},
		{"NotPrincipal spares root", keyPolicy(allowRoot + `,` + denyAllButAlice), nil, root, "kms:Encrypt", AllowedByResource, "root"},
		{"NotPrincipal denies the rest", keyPolicy(allowRoot + `,` + denyAllButAlice), []string{identityPolicy(idAllKMS)}, bob, "kms:Encrypt", ExplicitDenyResource, "fence"},
		{"NotPrincipal denies other accounts", keyPolicy(`{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},` + denyAllButAlice), nil, mallory, "kms:Encrypt", ExplicitDenyResource, "fence"},
		{"NotPrincipal without the account denies", keyPolicy(allowAlice + `,` + denyAllButAliceOnly), nil, alice, "kms:Encrypt", ExplicitDenyResource, "fence2"},
		{"NotPrincipal role and account spare its sessions", keyPolicy(allowRoot + `,` + denyAllButRole), []string{identityPolicy(idAllKMS)}, ci, "kms:Encrypt", AllowedByIdentity, ""},
		{"NotPrincipal role spares no user", keyPolicy(allowRoot + `,` + denyAllButRole), []string{identityPolicy(idAllKMS)}, alice, "kms:Encrypt", ExplicitDenyResource, "fence3"},
	})
	// The NotResource and Resource cases above are denied for the key in the request; the
	// other key is allowed.
	kp := mustParse(t, KeyPolicy, DefaultKeyPolicy(acct))
	for _, doc := range []string{identityPolicy(idNotSecret), identityPolicy(idOnlyOther)} {
		d := Evaluate(request(bob, "kms:Encrypt", otherKey, nil), kp, []*Policy{mustParse(t, IdentityPolicy, doc)})
		if !d.Allowed {
			t.Fatalf("%s on the other key: %+v", doc, d)
		}
	}
}

func TestActionAndResourceWildcards(t *testing.T) {
	cases := []struct {
		action, resource string
		reqAction        string
		reqResource      string
		want             bool
	}{
		{"kms:Encrypt", "*", "kms:Encrypt", keyARN, true},
		{"kms:Encrypt", "*", "kms:Decrypt", keyARN, false},
		{"KMS:encrypt", "*", "kms:Encrypt", keyARN, true},
		{"kms:Encrypt", "*", "KMS:ENCRYPT", keyARN, true},
		{"kms:*", "*", "kms:CreateGrant", keyARN, true},
		{"kms:*", "*", "iam:CreateUser", keyARN, false},
		{"*", "*", "iam:CreateUser", keyARN, true},
		{"kms:Generate*", "*", "kms:GenerateDataKeyPairWithoutPlaintext", keyARN, true},
		{"kms:Generate*", "*", "kms:Encrypt", keyARN, false},
		{"kms:*Key", "*", "kms:DescribeKey", keyARN, true},
		{"kms:*Key", "*", "kms:DescribeKeys", keyARN, false},
		{"kms:Describe?ey", "*", "kms:DescribeKey", keyARN, true},
		{"kms:*Grant*", "*", "kms:ListRetirableGrants", keyARN, true},
		{"kms:Encrypt", keyARN, "kms:Encrypt", keyARN, true},
		{"kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/*", "kms:Encrypt", keyARN, true},
		{"kms:Encrypt", "arn:aws:kms:*:111122223333:key/*", "kms:Encrypt", keyARN, true},
		{"kms:Encrypt", "arn:aws:kms:*:444455556666:key/*", "kms:Encrypt", keyARN, false},
		{"kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890a?", "kms:Encrypt", keyARN, true},
		{"kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:KEY/*", "kms:Encrypt", keyARN, false}, // resources are case-sensitive
		{"kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:alias/*", "kms:Encrypt", keyARN, false},
	}
	// Identity policies alone decide here, so that non-KMS actions are not held back by a key
	// policy that delegates only kms:*.
	for _, c := range cases {
		id := mustParse(t, IdentityPolicy, identityPolicy(`{"Effect":"Allow","Action":"`+c.action+`","Resource":"`+c.resource+`"}`))
		d := Evaluate(request(alice, c.reqAction, c.reqResource, nil), nil, []*Policy{id})
		if d.Allowed != c.want {
			t.Errorf("Action %q Resource %q for %s on %s: allowed %v, want %v", c.action, c.resource, c.reqAction, c.reqResource, d.Allowed, c.want)
		}
	}
}

func TestResourcePolicyVariable(t *testing.T) {
	id := mustParse(t, IdentityPolicy, identityPolicy(`{"Effect":"Allow","Action":"kms:CreateAlias","Resource":"arn:aws:kms:*:111122223333:alias/${aws:username}/*"}`))
	for _, c := range []struct {
		who  Principal
		res  string
		want bool
	}{
		{alice, "arn:aws:kms:us-east-1:111122223333:alias/alice/app", true},
		{alice, "arn:aws:kms:us-east-1:111122223333:alias/bob/app", false},
		{bob, "arn:aws:kms:us-east-1:111122223333:alias/bob/app", true},
		{ci, "arn:aws:kms:us-east-1:111122223333:alias//app", false}, // a session has no aws:username
	} {
		if d := Evaluate(request(c.who, "kms:CreateAlias", c.res, nil), nil, []*Policy{id}); d.Allowed != c.want {
			t.Errorf("%s on %s: %v, want %v", c.who.ARN, c.res, d.Allowed, c.want)
		}
	}
}

func TestConditionsInAKeyPolicy(t *testing.T) {
	kp := mustParse(t, KeyPolicy, keyPolicy(allowRoot+`,{"Sid":"tenant42","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:Decrypt","Resource":"*",
		"Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"42","kms:CallerAccount":"111122223333"}}},
		{"Sid":"tls","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`))
	base := map[string][]string{"kms:CallerAccount": {acct}, "aws:SecureTransport": {"true"}}
	with := func(k, v string) map[string][]string {
		m := map[string][]string{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = []string{v}
		return m
	}
	for _, c := range []struct {
		name string
		ctx  map[string][]string
		want Reason
	}{
		{"context carries tenant 42", with(ec, "42"), AllowedByResource},
		{"another tenant", with(ec, "7"), NoIdentityAllow},
		{"no encryption context", base, NoIdentityAllow},
		{"plain HTTP is denied first", with("aws:SecureTransport", "false"), ExplicitDenyResource},
	} {
		d := Evaluate(request(alice, "kms:Decrypt", keyARN, c.ctx), kp, nil)
		if d.Reason != c.want {
			t.Errorf("%s: %v, want %v", c.name, d.Reason, c.want)
		}
	}
}

func TestIdentityPoliciesAloneWithoutAResource(t *testing.T) {
	id := mustParse(t, IdentityPolicy, identityPolicy(`{"Sid":"mk","Effect":"Allow","Action":["kms:CreateKey","kms:ListKeys"],"Resource":"*"}`))
	if d := Evaluate(request(alice, "kms:CreateKey", "", nil), nil, []*Policy{id}); !d.Allowed || d.Reason != AllowedByIdentity || d.Policy != 0 || d.Statement != 0 || d.Sid != "mk" {
		t.Fatalf("CreateKey with an IAM allow: %+v", d)
	}
	d := Evaluate(request(alice, "kms:CreateCustomKeyStore", "", nil), nil, []*Policy{id})
	if d.Allowed || d.Reason != NoIdentityAllow {
		t.Fatalf("CreateCustomKeyStore without an allow: %+v", d)
	}
	if got, want := d.Message(request(alice, "kms:CreateCustomKeyStore", "", nil)),
		"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:CreateCustomKeyStore because no identity-based policy allows the kms:CreateCustomKeyStore action"; got != want {
		t.Fatalf("message\n got %q\nwant %q", got, want)
	}
	if d := Evaluate(request(root, "kms:CreateKey", "", nil), nil, nil); d.Allowed {
		t.Fatalf("no policies at all allowed something: %+v", d)
	}
}

func TestCrossAccountNeedsBothPolicies(t *testing.T) {
	const allowOther = `{"Sid":"other","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:Decrypt","Resource":"*"}`
	const allowMallory = `{"Sid":"mallory","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/mallory"},"Action":"kms:Decrypt","Resource":"*"}`
	idDecrypt := mustParse(t, IdentityPolicy, identityPolicy(`{"Sid":"dec","Effect":"Allow","Action":"kms:Decrypt","Resource":"`+keyARN+`"}`))
	for _, c := range []struct {
		name string
		key  string
		ids  []*Policy
		want Reason
	}{
		{"key policy names the account, identity allows", keyPolicy(allowRoot + `,` + allowOther), []*Policy{idDecrypt}, AllowedByIdentity},
		{"key policy names the account, no identity policy", keyPolicy(allowRoot + `,` + allowOther), nil, NoIdentityAllow},
		{"key policy names the user, still needs identity", keyPolicy(allowRoot + `,` + allowMallory), nil, NoIdentityAllow},
		{"key policy names the user, identity allows", keyPolicy(allowRoot + `,` + allowMallory), []*Policy{idDecrypt}, AllowedByIdentity},
		{"key policy does not name the account", DefaultKeyPolicy(acct), []*Policy{idDecrypt}, NoResourceAllow},
	} {
		req := request(mallory, "kms:Decrypt", keyARN, nil)
		req.ResourceAccount = acct
		if d := Evaluate(req, mustParse(t, KeyPolicy, c.key), c.ids); d.Reason != c.want {
			t.Errorf("%s: %+v, want %v", c.name, d, c.want)
		}
	}
}

func TestTrustPolicyDecidesAssumeRole(t *testing.T) {
	const roleARN = "arn:aws:iam::111122223333:role/svc/deployer"
	trustAlice := mustParse(t, TrustPolicy, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}`)
	trustAccount := mustParse(t, TrustPolicy, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalTag/Department":"eng"}}}]}`)
	idAssume := mustParse(t, IdentityPolicy, identityPolicy(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"`+roleARN+`"}`))
	for _, c := range []struct {
		name  string
		trust *Policy
		who   Principal
		ids   []*Policy
		want  Reason
	}{
		{"trusted user", trustAlice, alice, nil, AllowedByResource},
		{"untrusted user", trustAlice, bob, []*Policy{idAssume}, NoResourceAllow},
		{"account trust needs an identity allow", trustAccount, alice, nil, NoIdentityAllow},
		{"account trust with an identity allow", trustAccount, alice, []*Policy{idAssume}, AllowedByIdentity},
		{"account trust's condition fails", trustAccount, bob, []*Policy{idAssume}, NoResourceAllow},
	} {
		if d := Evaluate(request(c.who, "sts:AssumeRole", roleARN, nil), c.trust, c.ids); d.Reason != c.want {
			t.Errorf("%s: %+v, want %v", c.name, d, c.want)
		}
	}
}

func TestDecisionNamesTheStatement(t *testing.T) {
	kp := mustParse(t, KeyPolicy, keyPolicy(allowRoot+`,`+allowAlice+`,{"Sid":"deny-bob","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/ops/bob"},"Action":"kms:*","Resource":"*"}`))
	id0 := mustParse(t, IdentityPolicy, identityPolicy(idEncrypt))
	id1 := mustParse(t, IdentityPolicy, identityPolicy(idAllKMS+`,{"Sid":"nodecrypt","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}`))
	if d := Evaluate(request(alice, "kms:Decrypt", keyARN, nil), kp, nil); d.Policy != ResourcePolicy || d.Statement != 1 || d.Sid != "alice" {
		t.Errorf("resource allow: %+v", d)
	}
	if d := Evaluate(request(bob, "kms:Encrypt", keyARN, nil), kp, []*Policy{id0}); d.Policy != ResourcePolicy || d.Statement != 2 || d.Sid != "deny-bob" {
		t.Errorf("resource deny: %+v", d)
	}
	if d := Evaluate(request(alice, "kms:Decrypt", keyARN, nil), kp, []*Policy{id0, nil, id1}); d.Reason != ExplicitDenyIdentity || d.Policy != 2 || d.Statement != 1 {
		t.Errorf("identity deny in the third policy: %+v", d)
	}
	if d := Evaluate(request(Principal(UserPrincipal(acct, "", "carol", "AIDACAROL", nil)), "kms:Sign", keyARN, nil), kp, []*Policy{id0, id1}); d.Reason != AllowedByIdentity || d.Policy != 1 || d.Statement != 0 {
		t.Errorf("identity allow in the second policy: %+v", d)
	}
	if d := Evaluate(request(alice, "kms:Sign", keyARN, nil), kp, nil); d.Allowed || d.Policy != -1 || d.Statement != -1 || d.Sid != "" {
		t.Errorf("implicit deny names no statement: %+v", d)
	}
}

func TestAccessDeniedMessages(t *testing.T) {
	user := "arn:aws:iam::111122223333:user/alice"
	session := "arn:aws:sts::111122223333:assumed-role/deployer/ci-run-7"
	for _, c := range []struct {
		who, action, resource string
		r                     Reason
		want                  string
	}{
		{user, "kms:Encrypt", keyARN, NoResourceAllow,
			"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:Encrypt on resource: " + keyARN + " because no resource-based policy allows the kms:Encrypt action"},
		{session, "kms:Decrypt", keyARN, NoIdentityAllow,
			"User: arn:aws:sts::111122223333:assumed-role/deployer/ci-run-7 is not authorized to perform: kms:Decrypt on resource: " + keyARN + " because no identity-based policy allows the kms:Decrypt action"},
		{session, "kms:Decrypt", keyARN, ExplicitDenyResource,
			"User: arn:aws:sts::111122223333:assumed-role/deployer/ci-run-7 is not authorized to perform: kms:Decrypt on resource: " + keyARN + " with an explicit deny in a resource-based policy"},
		{user, "kms:ScheduleKeyDeletion", keyARN, ExplicitDenyIdentity,
			"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:ScheduleKeyDeletion on resource: " + keyARN + " with an explicit deny in an identity-based policy"},
		{user, "kms:CreateKey", "", NoIdentityAllow,
			"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: kms:CreateKey because no identity-based policy allows the kms:CreateKey action"},
	} {
		if got := AccessDeniedMessage(c.who, c.action, c.resource, c.r); got != c.want {
			t.Errorf("\n got %q\nwant %q", got, c.want)
		}
	}
	// A decision's message uses the request's principal, action and resource.
	kp := mustParse(t, KeyPolicy, DefaultKeyPolicy(acct))
	req := request(bob, "kms:Encrypt", keyARN, nil)
	d := Evaluate(req, kp, nil)
	if want := "User: arn:aws:iam::111122223333:user/ops/bob is not authorized to perform: kms:Encrypt on resource: " + keyARN + " because no identity-based policy allows the kms:Encrypt action"; d.Message(req) != want {
		t.Errorf("Decision.Message = %q", d.Message(req))
	}
	if ok := Evaluate(request(root, "kms:Encrypt", keyARN, nil), kp, nil); ok.Message(req) != "" {
		t.Errorf("an allowed decision has a message: %q", ok.Message(req))
	}
}

func TestLockoutSafetyCheck(t *testing.T) {
	idPut := mustParse(t, IdentityPolicy, identityPolicy(`{"Effect":"Allow","Action":"kms:PutKeyPolicy","Resource":"*"}`))
	for _, c := range []struct {
		name   string
		policy string
		who    Principal
		ids    []*Policy
		want   bool
	}{
		{"default policy keeps root", DefaultKeyPolicy(acct), root, nil, true},
		{"default policy, a user with an IAM allow", DefaultKeyPolicy(acct), alice, []*Policy{idPut}, true},
		{"default policy, a user without one", DefaultKeyPolicy(acct), alice, nil, false},
		{"a policy naming only alice locks root out", keyPolicy(allowAlice), root, nil, false},
		{"a policy giving alice kms:* keeps her", keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}`), alice, nil, true},
		{"a policy for another account locks the account out", DefaultKeyPolicy(otherAcct), root, nil, false},
		{"root allowed only Encrypt", keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:Encrypt","Resource":"*"}`), root, nil, false},
		{"a deny on PutKeyPolicy", keyPolicy(allowRoot + `,{"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}`), root, nil, false},
		{"PutKeyPolicy named with other case", keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"KMS:putkeypolicy","Resource":"*"}`), root, nil, true},
	} {
		np := mustParse(t, KeyPolicy, c.policy)
		req := request(c.who, "kms:CreateKey", keyARN, nil)
		if got := AllowsPutKeyPolicy(np, req, c.ids); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
		if req.Action != "kms:CreateKey" {
			t.Fatalf("the check changed the caller's request")
		}
	}
	if LockoutMessage != "The new key policy will not allow you to update the key policy in the future." {
		t.Fatal(LockoutMessage)
	}
}

func TestEvaluateDoesNotAllocate(t *testing.T) {
	kp := mustParse(t, KeyPolicy, DefaultKeyPolicy(acct))
	big := mustParse(t, KeyPolicy, twentyStatementPolicy())
	id := mustParse(t, IdentityPolicy, identityPolicy(idAllKMS))
	req := benchRequest()
	for name, run := range map[string]func(){
		"default, root":       func() { Evaluate(req, kp, nil) },
		"default, IAM user":   func() { r := *req; r.Principal = alice; Evaluate(&r, kp, []*Policy{id}) },
		"20 statements":       func() { Evaluate(req, big, nil) },
		"lockout check, root": func() { AllowsPutKeyPolicy(kp, req, nil) },
	} {
		if n := testing.AllocsPerRun(100, run); n != 0 {
			t.Errorf("%s: %v allocations per evaluation", name, n)
		}
	}
}

func TestContextGrowKeepsKeys(t *testing.T) {
	var c Context
	c.Set("kms:CallerAccount", acct)
	c.Grow(8)
	c.Set("aws:SourceIp", "10.0.0.1")
	if v, ok := c.Get("KMS:CALLERACCOUNT"); !ok || v[0] != acct || c.Len() != 2 {
		t.Fatalf("after Grow: %v %v %d", v, ok, c.Len())
	}
}
