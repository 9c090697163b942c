package kms

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

const acct = "111122223333"

// wantDenied checks err is AccessDeniedException with AWS's message for this denial.
func wantDenied(t *testing.T, err error, who, action, resource, because string) {
	t.Helper()
	wantErr(t, err, "AccessDeniedException")
	var ae smithy.APIError
	errors.As(err, &ae)
	want := "User: " + who + " is not authorized to perform: " + action
	if resource != "" {
		want += " on resource: " + resource
	}
	want += " " + because
	if ae.ErrorMessage() != want {
		t.Fatalf("message\n got %s\nwant %s", ae.ErrorMessage(), want)
	}
}

func noResourcePolicy(action string) string {
	return "because no resource-based policy allows the " + action + " action"
}
func noIdentityPolicy(action string) string {
	return "because no identity-based policy allows the " + action + " action"
}

const denyResource = "with an explicit deny in a resource-based policy"
const denyIdentity = "with an explicit deny in an identity-based policy"

func (e *testEnv) newKey(policy string) (id, arn string) {
	e.t.Helper()
	in := &awskms.CreateKeyInput{}
	if policy != "" {
		in.Policy = aws.String(policy)
		in.BypassPolicyLockoutSafetyCheck = true
	}
	out, err := e.kms.CreateKey(ctx(), in)
	check(e.t, err)
	return aws.ToString(out.KeyMetadata.KeyId), aws.ToString(out.KeyMetadata.Arn)
}

// keyPolicy is a key policy: the account (administrator, and delegation to IAM) plus stmts.
func keyPolicy(stmts ...string) string {
	all := append([]string{`{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"}`}, stmts...)
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(all, ",") + `]}`
}

// onlyNames is a key policy that names principals without delegating to the account.
func onlyNames(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func identityDoc(stmts ...string) map[string]string {
	return map[string]string{"p": `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`}
}

func encryptAs(c *awskms.Client, key string, ec map[string]string) error {
	_, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x"), EncryptionContext: ec})
	return err
}

func TestUserWithoutPolicyIsDeniedEverything(t *testing.T) {
	e := newEnv(t, Config{})
	keyID, keyARN := e.newKey("")
	ct, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	check(t, err)
	bob := e.newUser("bob", nil)
	c := bob.kms
	k := aws.String(keyID)
	for action, call := range map[string]func() error{
		"kms:Encrypt": func() error { return encryptAs(c, keyID, nil) },
		"kms:Decrypt": func() error {
			_, err := c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: ct.CiphertextBlob})
			return err
		},
		"kms:DescribeKey": func() error { _, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: k}); return err },
		"kms:GenerateDataKey": func() error {
			_, err := c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: k, NumberOfBytes: aws.Int32(32)})
			return err
		},
		"kms:ReEncryptTo": func() error {
			_, err := c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: ct.CiphertextBlob, DestinationKeyId: k})
			return err
		},
		"kms:DisableKey":   func() error { _, err := c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: k}); return err },
		"kms:GetKeyPolicy": func() error { _, err := c.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: k}); return err },
		"kms:PutKeyPolicy": func() error {
			_, err := c.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: k, Policy: aws.String(keyPolicy())})
			return err
		},
		"kms:ScheduleKeyDeletion": func() error {
			_, err := c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: k})
			return err
		},
		"kms:CreateGrant": func() error {
			_, err := c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: k, GranteePrincipal: aws.String(bob.arn), Operations: []types.GrantOperation{"Encrypt"}})
			return err
		},
		"kms:ListGrants": func() error { _, err := c.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: k}); return err },
		"kms:TagResource": func() error {
			_, err := c.TagResource(ctx(), &awskms.TagResourceInput{KeyId: k, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}})
			return err
		},
		"kms:EnableKeyRotation": func() error {
			_, err := c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: k})
			return err
		},
	} {
		// The default key policy delegates to the account, so the missing allow is an identity one.
		wantDenied(t, call(), bob.arn, action, keyARN, noIdentityPolicy(action))
	}
	// An alias is authorized first on the alias (identity policies only), then on its key.
	_, err = c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/bob"), TargetKeyId: k})
	wantDenied(t, err, bob.arn, "kms:CreateAlias", "arn:aws:kms:us-east-1:"+acct+":alias/bob", noIdentityPolicy("kms:CreateAlias"))
	for action, call := range map[string]func() error{
		"kms:CreateKey":   func() error { _, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{}); return err },
		"kms:ListKeys":    func() error { _, err := c.ListKeys(ctx(), &awskms.ListKeysInput{}); return err },
		"kms:ListAliases": func() error { _, err := c.ListAliases(ctx(), &awskms.ListAliasesInput{}); return err },
		"kms:GenerateRandom": func() error {
			_, err := c.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(8)})
			return err
		},
		"kms:DescribeCustomKeyStores": func() error {
			_, err := c.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{})
			return err
		},
	} {
		wantDenied(t, call(), bob.arn, action, "*", noIdentityPolicy(action))
	}
	// The administrator is still allowed everything under the default policy.
	check(t, encryptAs(e.kms, keyID, nil))
}

func TestKeyPolicyIdentityPolicyAndDeny(t *testing.T) {
	e := newEnv(t, Config{})
	bobARN := "arn:aws:iam::" + acct + ":user/bob"
	// Bob's identity policy allows kms:Decrypt everywhere and kms:Encrypt on one key.
	bob := e.newUser("bob", identityDoc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}`))
	carol := e.newUser("carol", nil)

	// 1. A key policy statement naming bob allows exactly kms:Encrypt, without delegating.
	k1, a1 := e.newKey(onlyNames(`{"Effect":"Allow","Principal":{"AWS":"`+bobARN+`"},"Action":"kms:Encrypt","Resource":"*"}`,
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:root"},"Action":["kms:Decrypt","kms:PutKeyPolicy","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"Account"}}}`))
	check(t, encryptAs(bob.kms, k1, nil))
	// Decrypt: bob's identity policy allows it, but the key policy does not delegate to the
	// account for bob (the condition holds only for the root), so IAM policies have no effect.
	ct, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(k1), Plaintext: []byte("x")})
	wantDenied(t, err, "arn:aws:iam::"+acct+":root", "kms:Encrypt", a1, noResourcePolicy("kms:Encrypt"))
	_ = ct
	_, err = bob.kms.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(k1)})
	wantDenied(t, err, bobARN, "kms:DescribeKey", a1, noResourcePolicy("kms:DescribeKey"))
	wantDenied(t, encryptAs(carol.kms, k1, nil), carol.arn, "kms:Encrypt", a1, noResourcePolicy("kms:Encrypt"))

	// 2. An identity policy allows what it names when the key policy delegates to the account.
	k2, a2 := e.newKey("")
	ct2, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(k2), Plaintext: []byte("x")})
	check(t, err)
	_, err = bob.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: ct2.CiphertextBlob})
	check(t, err)
	wantDenied(t, encryptAs(bob.kms, k2, nil), bobARN, "kms:Encrypt", a2, noIdentityPolicy("kms:Encrypt"))

	// 3. An explicit Deny wins: in the key policy over the identity Allow...
	k3, a3 := e.newKey(keyPolicy(`{"Effect":"Deny","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:Decrypt","Resource":"*"}`))
	ct3, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(k3), Plaintext: []byte("x")})
	check(t, err)
	_, err = bob.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: ct3.CiphertextBlob})
	wantDenied(t, err, bobARN, "kms:Decrypt", a3, denyResource)
	// ...and in an identity policy over the key policy's Allow.
	k4, a4 := e.newKey(keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:*","Resource":"*"}`))
	check(t, encryptAs(bob.kms, k4, nil))
	_, err = e.iam().PutUserPolicy(ctx(), &awsiam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("deny"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:Encrypt","Resource":"` + a4 + `"}]}`)})
	check(t, err)
	wantDenied(t, encryptAs(bob.kms, k4, nil), bobARN, "kms:Encrypt", a4, denyIdentity)
	// ...and over a grant.
	_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(k4), GranteePrincipal: aws.String(bobARN), Operations: []types.GrantOperation{"Encrypt"}})
	check(t, err)
	wantDenied(t, encryptAs(bob.kms, k4, nil), bobARN, "kms:Encrypt", a4, denyIdentity)
}

func TestAliasesTakePermissionOnAliasAndKey(t *testing.T) {
	e := newEnv(t, Config{})
	k1, a1 := e.newKey("")
	k2, a2 := e.newKey("")
	bob := e.newUser("bob", identityDoc(`{"Effect":"Allow","Action":["kms:CreateAlias","kms:UpdateAlias","kms:DeleteAlias"],"Resource":["arn:aws:kms:*:`+acct+`:alias/bob-*","`+a1+`"]}`))
	aliasARN := func(n string) string { return "arn:aws:kms:us-east-1:" + acct + ":" + n }
	_, err := bob.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/bob-1"), TargetKeyId: aws.String(k1)})
	check(t, err)
	_, err = bob.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/other"), TargetKeyId: aws.String(k1)})
	wantDenied(t, err, bob.arn, "kms:CreateAlias", aliasARN("alias/other"), noIdentityPolicy("kms:CreateAlias"))
	_, err = bob.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/bob-2"), TargetKeyId: aws.String(k2)})
	wantDenied(t, err, bob.arn, "kms:CreateAlias", a2, noIdentityPolicy("kms:CreateAlias"))
	// UpdateAlias needs the new key too; DeleteAlias the key the alias names.
	_, err = bob.kms.UpdateAlias(ctx(), &awskms.UpdateAliasInput{AliasName: aws.String("alias/bob-1"), TargetKeyId: aws.String(k2)})
	wantDenied(t, err, bob.arn, "kms:UpdateAlias", a2, noIdentityPolicy("kms:UpdateAlias"))
	_, err = e.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/bob-3"), TargetKeyId: aws.String(k2)})
	check(t, err)
	_, err = bob.kms.DeleteAlias(ctx(), &awskms.DeleteAliasInput{AliasName: aws.String("alias/bob-3")})
	wantDenied(t, err, bob.arn, "kms:DeleteAlias", a2, noIdentityPolicy("kms:DeleteAlias"))
	_, err = bob.kms.DeleteAlias(ctx(), &awskms.DeleteAliasInput{AliasName: aws.String("alias/bob-1")})
	check(t, err)
}

// cpFake is a CloudHSM control plane that describes no clusters.
type cpFake struct{ cloudhsm.NotImplemented }

func (cpFake) DescribeClusters(context.Context, *awsapi.Caller, *cloudhsm.DescribeClustersInput) (*cloudhsm.DescribeClustersOutput, error) {
	return &cloudhsm.DescribeClustersOutput{}, nil
}

// TestControlPlaneAuthorizedByIdentityPolicies: CloudHSM V2 has no resource policies, so an IAM
// user needs an identity policy allowing cloudhsm:ACTION; the administrator needs none.
func TestControlPlaneAuthorizedByIdentityPolicies(t *testing.T) {
	e := newEnv(t, Config{ControlPlane: cpFake{}})
	hsmAs := func(ak, secret string) *cloudhsmv2.Client {
		return cloudhsmv2.New(cloudhsmv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.hs.URL), RetryMaxAttempts: 1,
			Credentials: credentials.NewStaticCredentialsProvider(ak, secret, "")})
	}
	_, err := hsmAs(testAccessKey, testSecret).DescribeClusters(ctx(), &cloudhsmv2.DescribeClustersInput{})
	check(t, err)
	bob := e.newUser("bob", nil)
	_, err = hsmAs(bob.ak, bob.secret).DescribeClusters(ctx(), &cloudhsmv2.DescribeClustersInput{})
	wantErr(t, err, "CloudHsmAccessDeniedException")
	if !strings.Contains(err.Error(), "User: "+bob.arn+" is not authorized to perform: cloudhsm:DescribeClusters") {
		t.Fatal(err)
	}
	carol := e.newUser("carol", identityDoc(`{"Effect":"Allow","Action":"cloudhsm:Describe*","Resource":"*"}`))
	_, err = hsmAs(carol.ak, carol.secret).DescribeClusters(ctx(), &cloudhsmv2.DescribeClustersInput{})
	check(t, err)
	_, err = hsmAs(carol.ak, carol.secret).DeleteCluster(ctx(), &cloudhsmv2.DeleteClusterInput{ClusterId: aws.String("cluster-abcdefghijk")})
	wantErr(t, err, "CloudHsmAccessDeniedException")
}
