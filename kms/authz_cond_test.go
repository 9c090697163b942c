package kms

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestConditionKeysAndOperators: a key policy statement that allows bob only under one condition
// allows the request that meets it and denies the one that does not, for each condition key the
// KMS fills from a request and each operator family KMS policies use. The policy package tests
// every operator's semantics; this checks each key reaches it from the wire.
func TestConditionKeysAndOperators(t *testing.T) {
	e := newEnv(t, Config{})
	bobARN := "arn:aws:iam::" + acct + ":user/bob"
	bob := e.newUser("bob", nil)
	_, err := e.iam().TagUser(ctx(), &awsiam.TagUserInput{UserName: aws.String("bob"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("red")}}})
	check(t, err)

	hmac, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	check(t, err)
	signing, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)

	type call func(c *awskms.Client, key string) error
	enc := func(ec map[string]string) call {
		return func(c *awskms.Client, key string) error { return encryptAs(c, key, ec) }
	}
	byAlias := func(c *awskms.Client, key string) error { return encryptAs(c, "alias/cond-"+key[:8], nil) }
	rotate := func(days int32) call {
		return func(c *awskms.Client, key string) error {
			_, err := c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: aws.String(key), RotationPeriodInDays: aws.Int32(days)})
			return err
		}
	}
	grant := func(ops ...types.GrantOperation) call {
		return func(c *awskms.Client, key string) error {
			_, err := c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: aws.String(bobARN), Operations: ops})
			return err
		}
	}
	grantWith := func(cons *types.GrantConstraints) call {
		return func(c *awskms.Client, key string) error {
			_, err := c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(key), GranteePrincipal: aws.String(bobARN),
				Operations: []types.GrantOperation{"Decrypt"}, Constraints: cons})
			return err
		}
	}
	subset := &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "42"}}
	reEncrypt := func(same bool) call {
		return func(c *awskms.Client, key string) error {
			ct, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
			check(t, err)
			dst := key
			if !same {
				dst, _ = e.newKey(keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"` + bobARN + `"},"Action":"kms:ReEncryptTo","Resource":"*"}`))
			}
			_, err = c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: ct.CiphertextBlob, DestinationKeyId: aws.String(dst)})
			return err
		}
	}
	sign := func(alg types.SigningAlgorithmSpec) call {
		return func(c *awskms.Client, _ string) error {
			_, err := c.Sign(ctx(), &awskms.SignInput{KeyId: signing.KeyMetadata.KeyId, Message: []byte("m"), SigningAlgorithm: alg})
			return err
		}
	}
	mac := func(alg types.MacAlgorithmSpec) call {
		return func(c *awskms.Client, _ string) error {
			_, err := c.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: hmac.KeyMetadata.KeyId, Message: []byte("m"), MacAlgorithm: alg})
			return err
		}
	}

	for _, tc := range []struct {
		name, action, cond string
		allowed, denied    call
	}{
		{"StringEquals kms:EncryptionContext:", "kms:Encrypt", `{"StringEquals":{"kms:EncryptionContext:tenant":"42"}}`, enc(map[string]string{"tenant": "42"}), enc(map[string]string{"tenant": "43"})},
		{"StringNotEquals", "kms:Encrypt", `{"StringNotEquals":{"kms:EncryptionContext:tenant":"43"}}`, enc(map[string]string{"tenant": "42"}), enc(map[string]string{"tenant": "43"})},
		{"StringEqualsIgnoreCase", "kms:Encrypt", `{"StringEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"ABC"}}`, enc(map[string]string{"tenant": "abc"}), enc(map[string]string{"tenant": "abd"})},
		{"StringLike wildcards", "kms:Encrypt", `{"StringLike":{"kms:EncryptionContext:app":"web-*-?"}}`, enc(map[string]string{"app": "web-eu-1"}), enc(map[string]string{"app": "api-eu-1"})},
		{"StringNotLike", "kms:Encrypt", `{"StringNotLike":{"kms:EncryptionContext:app":"api-*"}}`, enc(map[string]string{"app": "web"}), enc(map[string]string{"app": "api-1"})},
		{"ForAllValues kms:EncryptionContextKeys", "kms:Encrypt", `{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","purpose"]},"Null":{"kms:EncryptionContextKeys":"false"}}`, enc(map[string]string{"tenant": "1"}), enc(map[string]string{"tenant": "1", "other": "x"})},
		{"ForAnyValue kms:EncryptionContextKeys", "kms:Encrypt", `{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"tenant"}}`, enc(map[string]string{"tenant": "1", "x": "y"}), enc(map[string]string{"x": "y"})},
		{"Null", "kms:Encrypt", `{"Null":{"kms:EncryptionContext:tenant":"true"}}`, enc(nil), enc(map[string]string{"tenant": "1"})},
		{"StringEqualsIfExists", "kms:Encrypt", `{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"42"}}`, enc(nil), enc(map[string]string{"tenant": "1"})},
		{"kms:CallerAccount", "kms:Encrypt", `{"StringEquals":{"kms:CallerAccount":"` + acct + `"}}`, enc(nil), nil},
		{"kms:CallerAccount other", "kms:Encrypt", `{"StringEquals":{"kms:CallerAccount":"444455556666"}}`, nil, enc(nil)},
		{"kms:KeySpec", "kms:Encrypt", `{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT","kms:KeyUsage":"ENCRYPT_DECRYPT","kms:KeyOrigin":"AWS_KMS","kms:CustomerMasterKeySpec":"SYMMETRIC_DEFAULT"}}`, enc(nil), nil},
		{"kms:KeyOrigin other", "kms:Encrypt", `{"StringEquals":{"kms:KeyOrigin":"AWS_CLOUDHSM"}}`, nil, enc(nil)},
		{"kms:RequestAlias", "kms:Encrypt", `{"StringLike":{"kms:RequestAlias":"alias/cond-*"}}`, byAlias, enc(nil)},
		{"kms:ResourceAliases", "kms:Encrypt", `{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/cond-*"}}`, enc(nil), nil},
		{"kms:EncryptionAlgorithm", "kms:Encrypt", `{"StringEquals":{"kms:EncryptionAlgorithm":"RSAES_OAEP_SHA_256"}}`, nil, enc(nil)},
		{"kms:SigningAlgorithm", "kms:Sign", `{"StringEquals":{"kms:SigningAlgorithm":"ECDSA_SHA_256"}}`, sign(types.SigningAlgorithmSpecEcdsaSha256), nil},
		{"kms:MacAlgorithm", "kms:GenerateMac", `{"StringEquals":{"kms:MacAlgorithm":"HMAC_SHA_256"}}`, mac(types.MacAlgorithmSpecHmacSha256), nil},
		{"kms:MacAlgorithm other", "kms:GenerateMac", `{"StringEquals":{"kms:MacAlgorithm":"HMAC_SHA_512"}}`, nil, mac(types.MacAlgorithmSpecHmacSha256)},
		{"NumericLessThanEquals kms:RotationPeriodInDays", "kms:EnableKeyRotation", `{"NumericLessThanEquals":{"kms:RotationPeriodInDays":"180"}}`, rotate(90), rotate(365)},
		{"NumericGreaterThan", "kms:EnableKeyRotation", `{"NumericGreaterThan":{"kms:RotationPeriodInDays":100}}`, rotate(200), rotate(90)},
		{"ForAllValues kms:GrantOperations", "kms:CreateGrant", `{"ForAllValues:StringEquals":{"kms:GrantOperations":["Encrypt","Decrypt"]}}`, grant("Encrypt"), grant("Encrypt", "ReEncryptFrom")},
		{"Bool kms:GrantIsForAWSResource", "kms:CreateGrant", `{"Bool":{"kms:GrantIsForAWSResource":"true"}}`, nil, grant("Encrypt")},
		{"kms:GrantConstraintType", "kms:CreateGrant", `{"StringEquals":{"kms:GrantConstraintType":"EncryptionContextSubset"}}`, grantWith(subset), grantWith(nil)},
		{"kms:GranteePrincipal", "kms:CreateGrant", `{"StringEquals":{"kms:GranteePrincipal":"` + bobARN + `"}}`, grantWith(nil), nil},
		{"grant context key", "kms:CreateGrant", `{"StringEquals":{"kms:EncryptionContext:tenant":"42"}}`, grantWith(subset), grantWith(nil)},
		{"kms:ReEncryptOnSameKey", "kms:ReEncrypt*", `{"Bool":{"kms:ReEncryptOnSameKey":"true"}}`, reEncrypt(true), nil},
		{"kms:ReEncryptOnSameKey false", "kms:ReEncryptFrom", `{"Bool":{"kms:ReEncryptOnSameKey":"true"}}`, nil, reEncrypt(false)},
		{"aws:SourceIp", "kms:Encrypt", `{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, enc(nil), nil},
		{"NotIpAddress", "kms:Encrypt", `{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, nil, enc(nil)},
		{"Bool aws:SecureTransport", "kms:Encrypt", `{"Bool":{"aws:SecureTransport":"true"}}`, nil, enc(nil)},
		{"DateLessThan aws:CurrentTime", "kms:Encrypt", `{"DateLessThan":{"aws:CurrentTime":"2999-01-01T00:00:00Z"}}`, enc(nil), nil},
		{"DateGreaterThan aws:CurrentTime", "kms:Encrypt", `{"DateGreaterThan":{"aws:CurrentTime":"2999-01-01T00:00:00Z"}}`, nil, enc(nil)},
		{"ArnLike aws:PrincipalArn", "kms:Encrypt", `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/b*"}}`, enc(nil), nil},
		{"ArnNotEquals aws:PrincipalArn", "kms:Encrypt", `{"ArnNotEquals":{"aws:PrincipalArn":"` + bobARN + `"}}`, nil, enc(nil)},
		{"aws:PrincipalTag", "kms:Encrypt", `{"StringEquals":{"aws:PrincipalTag/team":"red"}}`, enc(nil), nil},
		{"aws:PrincipalTag other", "kms:Encrypt", `{"StringEquals":{"aws:PrincipalTag/team":"blue"}}`, nil, enc(nil)},
		{"aws:username", "kms:Encrypt", `{"StringEquals":{"aws:username":"bob"}}`, enc(nil), nil},
		{"aws:userid", "kms:Encrypt", `{"StringLike":{"aws:userid":"AIDA*"}}`, enc(nil), nil},
		{"policy variable", "kms:Encrypt", `{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, enc(map[string]string{"owner": "bob"}), enc(map[string]string{"owner": "eve"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pol := keyPolicy(`{"Effect":"Allow","Principal":{"AWS":"`+bobARN+`"},"Action":"`+tc.action+`","Resource":"*","Condition":`+tc.cond+`}`,
				`{"Effect":"Allow","Principal":{"AWS":"`+bobARN+`"},"Action":"kms:ReEncryptTo","Resource":"*","Condition":{"Bool":{"kms:ReEncryptOnSameKey":"true"}}}`)
			key, _ := e.newKey(pol)
			for _, k := range []*string{hmac.KeyMetadata.KeyId, signing.KeyMetadata.KeyId} {
				_, err := e.kms.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: k, Policy: aws.String(pol)})
				check(t, err)
			}
			_, err := e.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/cond-" + key[:8]), TargetKeyId: aws.String(key)})
			check(t, err)
			if tc.allowed != nil {
				check(t, tc.allowed(bob.kms, key))
			}
			if tc.denied != nil {
				err := tc.denied(bob.kms, key)
				wantErr(t, err, "AccessDeniedException")
				if !strings.Contains(err.Error(), bobARN) {
					t.Fatalf("denial does not name the caller: %v", err)
				}
			}
		})
	}
}

// TestCreateKeyConditionKeys: CreateKey is decided by identity policies alone, with the key's
// spec, usage and origin as condition keys.
func TestCreateKeyConditionKeys(t *testing.T) {
	e := newEnv(t, Config{})
	bob := e.newUser("bob", identityDoc(`{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*","Condition":{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT","kms:KeyOrigin":"AWS_KMS"},"StringLike":{"kms:KeyUsage":"ENCRYPT_*"}}}`))
	_, err := bob.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	_, err = bob.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	wantDenied(t, err, bob.arn, "kms:CreateKey", "*", noIdentityPolicy("kms:CreateKey"))
}
