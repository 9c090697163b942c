package kms

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

func TestGrantsAuthorizeExactlyTheirOperations(t *testing.T) {
	e := newEnv(t, Config{})
	keyID, keyARN := e.newKey("")
	bob := e.newUser("bob", nil)
	carol := e.newUser("carol", nil)
	wantDenied(t, encryptAs(bob.kms, keyID, map[string]string{"tenant": "42"}), bob.arn, "kms:Encrypt", keyARN, noIdentityPolicy("kms:Encrypt"))

	g, err := e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(bob.arn),
		RetiringPrincipal: aws.String(carol.arn), Operations: []types.GrantOperation{"Encrypt", "Decrypt"},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "42"}}})
	check(t, err)
	// The grant token makes the grant usable at once.
	ct, err := bob.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x"),
		EncryptionContext: map[string]string{"tenant": "42", "extra": "ok"}, GrantTokens: []string{aws.ToString(g.GrantToken)}})
	check(t, err)
	_, err = bob.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: ct.CiphertextBlob, EncryptionContext: map[string]string{"tenant": "42", "extra": "ok"}})
	check(t, err)
	// The constraint: the context must include tenant=42.
	wantDenied(t, encryptAs(bob.kms, keyID, map[string]string{"tenant": "43"}), bob.arn, "kms:Encrypt", keyARN, noIdentityPolicy("kms:Encrypt"))
	wantDenied(t, encryptAs(bob.kms, keyID, nil), bob.arn, "kms:Encrypt", keyARN, noIdentityPolicy("kms:Encrypt"))
	// Only the grant's operations, only for the grantee.
	_, err = bob.kms.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(16), EncryptionContext: map[string]string{"tenant": "42"}})
	wantDenied(t, err, bob.arn, "kms:GenerateDataKey", keyARN, noIdentityPolicy("kms:GenerateDataKey"))
	wantDenied(t, encryptAs(carol.kms, keyID, map[string]string{"tenant": "42"}), carol.arn, "kms:Encrypt", keyARN, noIdentityPolicy("kms:Encrypt"))

	// EncryptionContextEquals: exactly that context.
	eq, err := e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(carol.arn),
		Operations: []types.GrantOperation{"GenerateDataKey", "RetireGrant"}, Constraints: &types.GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}})
	check(t, err)
	_, err = carol.kms.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(16), EncryptionContext: map[string]string{"a": "1"}})
	check(t, err)
	_, err = carol.kms.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(16), EncryptionContext: map[string]string{"a": "1", "b": "2"}})
	wantErr(t, err, "AccessDeniedException")

	// RetireGrant: not the grantee without RetireGrant in the grant, nor a stranger...
	_, err = bob.kms.RetireGrant(ctx(), &awskms.RetireGrantInput{GrantToken: g.GrantToken})
	wantDenied(t, err, bob.arn, "kms:RetireGrant", keyARN, noResourcePolicy("kms:RetireGrant"))
	eve := e.newUser("eve", nil)
	_, err = eve.kms.RetireGrant(ctx(), &awskms.RetireGrantInput{KeyId: aws.String(keyID), GrantId: g.GrantId})
	wantErr(t, err, "AccessDeniedException")
	// ...but the retiring principal, and a grantee whose grant includes RetireGrant.
	_, err = carol.kms.RetireGrant(ctx(), &awskms.RetireGrantInput{GrantToken: g.GrantToken})
	check(t, err)
	wantDenied(t, encryptAs(bob.kms, keyID, map[string]string{"tenant": "42"}), bob.arn, "kms:Encrypt", keyARN, noIdentityPolicy("kms:Encrypt"))
	_, err = carol.kms.RetireGrant(ctx(), &awskms.RetireGrantInput{KeyId: aws.String(keyID), GrantId: eq.GrantId})
	check(t, err)

	// RevokeGrant: whoever the policies allow kms:RevokeGrant; a revoked grant's token is no
	// authority.
	g2, err := e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(bob.arn), Operations: []types.GrantOperation{"Encrypt"}})
	check(t, err)
	check(t, encryptAs(bob.kms, keyID, nil))
	_, err = bob.kms.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: aws.String(keyID), GrantId: g2.GrantId})
	wantDenied(t, err, bob.arn, "kms:RevokeGrant", keyARN, noIdentityPolicy("kms:RevokeGrant"))
	_, err = e.kms.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: aws.String(keyID), GrantId: g2.GrantId})
	check(t, err)
	_, err = bob.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x"), GrantTokens: []string{aws.ToString(g2.GrantToken)}})
	wantErr(t, err, "AccessDeniedException")

	// A grantee with CreateGrant in its grant passes on at most what it holds.
	_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(eve.arn),
		Operations: []types.GrantOperation{"Encrypt", "CreateGrant"}, Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "7"}}})
	check(t, err)
	pass := func(ops []types.GrantOperation, cons *types.GrantConstraints) error {
		_, err := eve.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(carol.arn), Operations: ops, Constraints: cons})
		return err
	}
	wantErr(t, pass([]types.GrantOperation{"Decrypt"}, &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "7"}}), "AccessDeniedException")
	wantErr(t, pass([]types.GrantOperation{"Encrypt"}, nil), "AccessDeniedException")
	wantErr(t, pass([]types.GrantOperation{"Encrypt"}, &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "8"}}), "AccessDeniedException")
	check(t, pass([]types.GrantOperation{"Encrypt"}, &types.GrantConstraints{EncryptionContextEquals: map[string]string{"tenant": "7", "app": "x"}}))
	check(t, encryptAs(carol.kms, keyID, map[string]string{"tenant": "7", "app": "x"}))

	// A grant to a role serves its sessions.
	role := e.newRole("app", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+bob.arn+`"},"Action":"sts:AssumeRole"}]}`)
	_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(role), Operations: []types.GrantOperation{"Encrypt"}})
	check(t, err)
	sess := e.assume(bob, role, "s1")
	check(t, encryptAs(sess.kms, keyID, nil))
}

func TestCreateGrantKeyStatesAndOperations(t *testing.T) {
	e := newEnv(t, Config{})
	keyID, _ := e.newKey("")
	grantee := aws.String("arn:aws:iam::" + acct + ":user/bob")
	create := func(key string, ops ...types.GrantOperation) error {
		_, err := e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: grantee, Operations: ops})
		return err
	}
	wantErr(t, create(keyID, "Sign"), "ValidationException")
	wantErr(t, create(keyID, "GenerateMac"), "ValidationException")
	signing, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)
	signID := aws.ToString(signing.KeyMetadata.KeyId)
	wantErr(t, create(signID, "Encrypt"), "ValidationException")
	check(t, create(signID, "Sign", "Verify", "GetPublicKey", "DescribeKey"))
	_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(signID), GranteePrincipal: grantee, Operations: []types.GrantOperation{"Sign"},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}})
	wantErr(t, err, "ValidationException")

	// Grantee and retiring principals are principals' ARNs.
	for _, bad := range []string{"bob", "arn:aws:iam::" + acct + ":group/admins", "arn:aws:kms:us-east-1:" + acct + ":key/x"} {
		_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String(bad), Operations: []types.GrantOperation{"Encrypt"}})
		wantErr(t, err, "InvalidArnException")
		_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: grantee, RetiringPrincipal: aws.String(bad), Operations: []types.GrantOperation{"Encrypt"}})
		wantErr(t, err, "InvalidArnException")
	}
	check(t, create(keyID, "Encrypt"))
	_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String("logs.us-east-1.amazonaws.com"), Operations: []types.GrantOperation{"Encrypt"}})
	check(t, err)

	_, err = e.kms.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(keyID)})
	check(t, err)
	wantErr(t, create(keyID, "Encrypt"), "DisabledException")
	_, err = e.kms.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(7)})
	check(t, err)
	wantErr(t, create(keyID, "Encrypt"), "KMSInvalidStateException")
}

func TestLockoutCheckAndBadPolicies(t *testing.T) {
	e := newEnv(t, Config{})
	keyID, _ := e.newKey("")
	bob := e.newUser("bob", nil)
	onlyBob := onlyNames(`{"Effect":"Allow","Principal":{"AWS":"` + bob.arn + `"},"Action":"kms:*","Resource":"*"}`)
	put := func(doc string, bypass bool) error {
		_, err := e.kms.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(doc), BypassPolicyLockoutSafetyCheck: bypass})
		return err
	}
	get := func() string {
		out, err := e.kms.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: aws.String(keyID)})
		check(t, err)
		return aws.ToString(out.Policy)
	}
	before := get()
	// The administrator would lock itself out.
	err := put(onlyBob, false)
	wantErr(t, err, "MalformedPolicyDocumentException")
	if !strings.Contains(err.Error(), "The new key policy will not allow you to update the key policy in the future.") {
		t.Fatal(err)
	}
	_, err = e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{Policy: aws.String(onlyBob)})
	wantErr(t, err, "MalformedPolicyDocumentException")

	// Bad input: each refused with MalformedPolicyDocumentException, the policy unchanged.
	for name, doc := range map[string]string{
		"not json":          `{"Statement":[`,
		"unknown operator":  keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + bob.arn + `"},"Action":"kms:*","Resource":"*","Condition":{"StringEqualsAlmost":{"kms:CallerAccount":"1"}}}`),
		"not an ARN":        keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"kms:*","Resource":"*"}`),
		"unknown principal": keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/nobody"},"Action":"kms:*","Resource":"*"}`),
		"duplicate element": `{"Statement":[{"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*"}]}`,
		"over 32 KiB":       keyPolicy(`{"Sid":"` + strings.Repeat("x", 32*1024) + `","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}`),
	} {
		wantErr(t, put(doc, true), "MalformedPolicyDocumentException")
		if get() != before {
			t.Fatalf("%s: the policy changed", name)
		}
		_ = name
	}

	// With the bypass the administrator can give the key away, and then has lost it, across a
	// restart too (policies and identities are persisted).
	check(t, put(onlyBob, true))
	e.restart()
	bob = e.as(bob.arn, bob.ak, bob.secret, "")
	_, err = e.kms.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: aws.String(keyID)})
	wantErr(t, err, "AccessDeniedException")
	check(t, encryptAs(bob.kms, keyID, nil))
	// Bob's own lockout check: a policy that only delegates to the account would lock him out
	// (he has no identity policy); one that keeps naming him passes.
	_, err = bob.kms.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(keyPolicy())})
	wantErr(t, err, "MalformedPolicyDocumentException")
	shared := keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + bob.arn + `"},"Action":"kms:PutKeyPolicy","Resource":"*"}`)
	_, err = bob.kms.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(shared)})
	check(t, err)
	if get() != shared {
		t.Fatal("bob's policy not stored")
	}
}

// newRole creates a role with a trust policy and returns its ARN.
func (e *testEnv) newRole(name, trust string) string {
	e.t.Helper()
	r, err := e.iam().CreateRole(ctx(), &awsiam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(trust)})
	check(e.t, err)
	return aws.ToString(r.Role.Arn)
}

// assume makes who assume role and returns the session.
func (e *testEnv) assume(who *identity, role, session string) *identity {
	e.t.Helper()
	out, err := who.sts.AssumeRole(ctx(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String(session)})
	check(e.t, err)
	c := out.Credentials
	return e.as(aws.ToString(out.AssumedRoleUser.Arn), aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
}

func TestAssumeRoleTrustAndSessions(t *testing.T) {
	e := newEnv(t, Config{Strict: true, Credentials: adminCreds})
	bob := e.newUser("bob", nil)
	carol := e.newUser("carol", nil)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bob.arn + `"},"Action":"sts:AssumeRole"}]}`
	role := e.newRole("deployer", trust)
	_, err := e.iam().PutRolePolicy(ctx(), &awsiam.PutRolePolicyInput{RoleName: aws.String("deployer"), PolicyName: aws.String("kms"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`)})
	check(t, err)
	keyID, keyARN := e.newKey("")

	// The trust policy names bob, not carol; the root user may not assume roles at all.
	_, err = carol.sts.AssumeRole(ctx(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("x1")})
	wantErr(t, err, "AccessDenied")
	if !strings.Contains(err.Error(), "User: "+carol.arn+" is not authorized to perform: sts:AssumeRole on resource: "+role) {
		t.Fatal(err)
	}
	_, err = e.sts().AssumeRole(ctx(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("x1")})
	wantErr(t, err, "AccessDenied")
	_, err = e.iam().CreateRole(ctx(), &awsiam.CreateRoleInput{RoleName: aws.String("bad"), AssumeRolePolicyDocument: aws.String(`{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`)})
	wantErr(t, err, "MalformedPolicyDocument")
	_, err = e.iam().CreateRole(ctx(), &awsiam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: aws.String(trust)})
	wantErr(t, err, "EntityAlreadyExists")

	// A trust policy that names the account delegates to the caller's identity policies.
	acctRole := e.newRole("shared", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+acct+`"},"Action":"sts:AssumeRole"}]}`)
	_, err = carol.sts.AssumeRole(ctx(), &sts.AssumeRoleInput{RoleArn: aws.String(acctRole), RoleSessionName: aws.String("x2")})
	wantErr(t, err, "AccessDenied")
	_, err = e.iam().PutUserPolicy(ctx(), &awsiam.PutUserPolicyInput{UserName: aws.String("carol"), PolicyName: aws.String("assume"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + acctRole + `"}]}`)})
	check(t, err)
	e.assume(carol, acctRole, "x2")
	_, err = e.iam().DeleteRole(ctx(), &awsiam.DeleteRoleInput{RoleName: aws.String("deployer")})
	wantErr(t, err, "DeleteConflict")

	_, err = bob.sts.AssumeRole(ctx(), &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("narrow"),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`)})
	wantErr(t, err, "ValidationError")

	sess := e.assume(bob, role, "ci-run-7")
	wantARN := "arn:aws:sts::" + acct + ":assumed-role/deployer/ci-run-7"
	if sess.arn != wantARN {
		t.Fatalf("session ARN %s", sess.arn)
	}
	id, err := sess.sts.GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	check(t, err)
	if aws.ToString(id.Arn) != wantARN || !strings.HasSuffix(aws.ToString(id.UserId), ":ci-run-7") {
		t.Fatalf("GetCallerIdentity %+v", id)
	}
	// The session has the role's identity policies: Encrypt, not Decrypt.
	check(t, encryptAs(sess.kms, keyID, nil))
	_, err = sess.kms.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(keyID)})
	wantDenied(t, err, wantARN, "kms:DescribeKey", keyARN, noIdentityPolicy("kms:DescribeKey"))

	// Strict mode: a session's request must carry its token; an unknown key is unrecognized.
	noToken := e.as(sess.arn, sess.ak, sess.secret, "")
	wantErr(t, encryptAs(noToken.kms, keyID, nil), "UnrecognizedClientException")
	_, err = noToken.sts.GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	wantErr(t, err, "InvalidClientTokenId")
	stranger := e.as("", "AKIANOBODY0000000000", "secret", "")
	wantErr(t, encryptAs(stranger.kms, keyID, nil), "UnrecognizedClientException")
	badSecret := e.as(bob.arn, bob.ak, "wrong", "")
	wantErr(t, encryptAs(badSecret.kms, keyID, nil), "InvalidSignatureException")

	// The session expires after an hour (the default duration).
	e.clock.Advance(61 * time.Minute)
	wantErr(t, encryptAs(sess.kms, keyID, nil), "ExpiredTokenException")
	_, err = sess.sts.GetCallerIdentity(ctx(), &sts.GetCallerIdentityInput{})
	wantErr(t, err, "ExpiredToken")
}

var adminCreds = []awsapi.Credential{{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}}
