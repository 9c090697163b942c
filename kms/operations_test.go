package kms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// The KMS against its model (the operations and error lists of kms-2014-11-01, which awsapi
// carries in shapes_gen.go): every operation is answered, and every exception an operation
// answers is one the model lists for it.

// commonErrors are the exceptions every AWS operation may answer without its model listing
// them: the request's validation, authorization and throttling
// (https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html; the JSON protocol
// names validation ValidationException).
var commonErrors = []string{awsapi.ValidationException, errAccessDenied, "ThrottlingException"}

// inModel says whether op may answer exception code: its model list or a common error.
func inModel(op, code string) bool {
	return awsapi.KMS.Lists(op, code) || slices.Contains(commonErrors, code)
}

// produced collects every exception a handler of this package's tests answered, by operation:
// TestMain wraps the handler table, so every test of the package contributes, and checks the
// collection against the model when the tests are done.
var produced = struct {
	sync.Mutex
	m map[string]map[string]string // operation → exception → a message that showed it
}{m: map[string]map[string]string{}}

func TestMain(m *testing.M) {
	for name, h := range kmsHandlers {
		kmsHandlers[name] = func(s *Server, ctx context.Context, c *caller, body []byte) (any, error) {
			out, err := h(s, ctx, c, body)
			if err != nil {
				e := toAWS(err)
				produced.Lock()
				if produced.m[name] == nil {
					produced.m[name] = map[string]string{}
				}
				produced.m[name][e.Type] = e.Message
				produced.Unlock()
			}
			return out, err
		}
	}
	code := m.Run()
	if bad := outsideModel(); len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "FAIL: exceptions the KMS model does not list for their operation:")
		for _, b := range bad {
			fmt.Fprintln(os.Stderr, "  "+b)
		}
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// outsideModel lists the collected exceptions the model does not list for their operation.
func outsideModel() []string {
	produced.Lock()
	defer produced.Unlock()
	var bad []string
	for op, errs := range produced.m {
		for code, msg := range errs {
			if !inModel(op, code) {
				bad = append(bad, fmt.Sprintf("%s: %s (%s)", op, code, msg))
			}
		}
	}
	sort.Strings(bad)
	return bad
}

// opFixture is a server with a key in each state and usage an operation's error paths need.
type opFixture struct {
	e                   *testEnv
	c                   *awskms.Client
	sym, symARN         string // an enabled symmetric encryption key
	disabled, pending   string // symmetric keys, disabled and pending deletion
	mac, sign           string // an HMAC_256 key and an ECC_NIST_P256 signing key
	blob                []byte // a ciphertext under sym
	grantID, grantToken string // a grant on sym, retirable by its grantee
	signature, macTag   []byte
	disabledMac         string // a disabled HMAC_256 key
}

const (
	noKey    = "1234abcd-12ab-34cd-56ef-1234567890ab"
	badARN   = "arn:aws:kms:us-east-1:" + acct + ":thing/1234abcd"
	noStore  = "cks-1234567890abcdef0"
	badToken = "bm90IGEgdG9rZW4="
	grantee  = "arn:aws:iam::" + acct + ":role/app"
	noGrant  = "0000000000000000000000000000000000000000000000000000000000000000"
)

func newOpFixture(t *testing.T) *opFixture {
	e := newEnv(t, Config{})
	f := &opFixture{e: e, c: e.kms}
	c := e.kms
	f.sym, f.symARN = e.newKey("")
	f.disabled, _ = e.newKey("")
	check(t, tryOp(c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(f.disabled)})))
	f.pending, _ = e.newKey("")
	check(t, tryOp(c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(f.pending), PendingWindowInDays: aws.Int32(7)})))
	mk := func(spec types.KeySpec, usage types.KeyUsageType) string {
		out, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		check(t, err)
		return aws.ToString(out.KeyMetadata.KeyId)
	}
	f.mac, f.sign = mk(types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac), mk(types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	f.disabledMac = mk(types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	check(t, tryOp(c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(f.disabledMac)})))
	enc, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(f.sym), Plaintext: []byte("fixture")})
	check(t, err)
	f.blob = enc.CiphertextBlob
	check(t, tryOp(c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/fixture"), TargetKeyId: aws.String(f.sym)})))
	g, err := c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(f.sym), GranteePrincipal: aws.String(grantee),
		RetiringPrincipal: aws.String("arn:aws:iam::" + acct + ":root"), Operations: []types.GrantOperation{"Encrypt"}})
	check(t, err)
	f.grantID, f.grantToken = aws.ToString(g.GrantId), aws.ToString(g.GrantToken)
	sg, err := c.Sign(ctx(), &awskms.SignInput{KeyId: aws.String(f.sign), Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	check(t, err)
	f.signature = sg.Signature
	gm, err := c.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: aws.String(f.mac), Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	check(t, err)
	f.macTag = gm.Mac
	return f
}

// opCase is one call of an operation and the exception it must answer ("" for success).
type opCase struct {
	what string
	want string
	call func(f *opFixture) error
}

// opCases drives each operation of the model, first with a request that succeeds (or, for an
// operation that needs a cluster, the answer it gives without one), then through its error paths.
func opCases() map[string][]opCase {
	s := aws.String
	tru := aws.Bool(true)
	sha := types.MacAlgorithmSpecHmacSha256
	ecdsa := types.SigningAlgorithmSpecEcdsaSha256
	ops := []types.GrantOperation{"Encrypt"}
	cases := keyMaterialCases()
	for op, cs := range map[string][]opCase{
		"CancelKeyDeletion": {
			{"pending key", "", func(f *opFixture) error {
				return tryOp(f.c.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: s(f.pending)}))
			}},
			{"not pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: s(f.sym)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: s(noKey)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: s(badARN)}))
			}},
		},
		"ConnectCustomKeyStore": {
			{"no store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.ConnectCustomKeyStore(ctx(), &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: s(noStore)}))
			}},
		},
		"CreateAlias": {
			{"new alias", "", func(f *opFixture) error {
				return tryOp(f.c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: s("alias/new"), TargetKeyId: s(f.sym)}))
			}},
			{"taken", errAlreadyExists, func(f *opFixture) error {
				return tryOp(f.c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: s("alias/fixture"), TargetKeyId: s(f.sym)}))
			}},
			{"reserved name", errInvalidAliasName, func(f *opFixture) error {
				return tryOp(f.c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: s("alias/aws/mine"), TargetKeyId: s(f.sym)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: s("alias/x"), TargetKeyId: s(noKey)}))
			}},
			{"pending key", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: s("alias/x"), TargetKeyId: s(f.pending)}))
			}},
		},
		"CreateCustomKeyStore": {
			{"no cluster", "CloudHsmClusterNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.CreateCustomKeyStore(ctx(), &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: s("s"), CloudHsmClusterId: s("cluster-234567abcde"),
					TrustAnchorCertificate: s("x"), KeyStorePassword: s("kmsPassword1")}))
			}},
			{"external key store", "XksProxyUriUnreachableException", func(f *opFixture) error {
				return tryOp(f.c.CreateCustomKeyStore(ctx(), &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: s("x"), CustomKeyStoreType: types.CustomKeyStoreTypeExternalKeyStore,
					XksProxyConnectivity: types.XksProxyConnectivityTypePublicEndpoint, XksProxyUriEndpoint: s("https://xks.example.com"), XksProxyUriPath: s("/kms/xks/v1"),
					XksProxyAuthenticationCredential: &types.XksProxyAuthenticationCredentialType{AccessKeyId: s("ABCDEFGHIJKLMNOPQRST"), RawSecretAccessKey: s("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")}}))
			}},
		},
		"CreateGrant": {
			{"grant", "", func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(f.sym), GranteePrincipal: s(grantee), Operations: ops}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(f.disabled), GranteePrincipal: s(grantee), Operations: ops}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(f.pending), GranteePrincipal: s(grantee), Operations: ops}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(noKey), GranteePrincipal: s(grantee), Operations: ops}))
			}},
			{"bad grantee", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(f.sym), GranteePrincipal: s("bob"), Operations: ops}))
			}},
			{"bad token", errInvalidGrantToken, func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(f.sym), GranteePrincipal: s(grantee), Operations: ops, GrantTokens: []string{badToken}}))
			}},
			{"operation the key cannot do", awsapi.ValidationException, func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(f.sym), GranteePrincipal: s(grantee), Operations: []types.GrantOperation{"Sign"}}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: s(f.sym), GranteePrincipal: s(grantee), Operations: ops, DryRun: tru}))
			}},
		},
		"CreateKey": {
			{"symmetric", "", func(f *opFixture) error { return tryOp(f.c.CreateKey(ctx(), &awskms.CreateKeyInput{})) }},
			{"bad policy", errMalformedPolicy, func(f *opFixture) error {
				return tryOp(f.c.CreateKey(ctx(), &awskms.CreateKeyInput{Policy: s(`{"Statement":"x"}`)}))
			}},
			{"reserved tag", errTag, func(f *opFixture) error {
				return tryOp(f.c.CreateKey(ctx(), &awskms.CreateKeyInput{Tags: []types.Tag{{TagKey: s("aws:x"), TagValue: s("v")}}}))
			}},
			{"no store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: s(noStore)}))
			}},
			{"no external key store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeExternalKeyStore, CustomKeyStoreId: s(noStore), XksKeyId: s("k1")}))
			}},
		},
		"Decrypt": {
			{"decrypt", "", func(f *opFixture) error {
				return tryOp(f.c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: f.blob}))
			}},
			{"junk", errInvalidCiphertext, func(f *opFixture) error {
				return tryOp(f.c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: []byte("junk junk junk junk junk junk junk junk")}))
			}},
			{"other key", errIncorrectKey, func(f *opFixture) error {
				return tryOp(f.c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: f.blob, KeyId: s(f.disabled)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: f.blob, KeyId: s(noKey)}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				check(f.e.t.(*testing.T), tryOp(f.c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: s(f.sym)})))
				defer f.c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: s(f.sym)})
				return tryOp(f.c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: f.blob}))
			}},
			{"bad token", errInvalidGrantToken, func(f *opFixture) error {
				return tryOp(f.c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: f.blob, GrantTokens: []string{badToken}}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: f.blob, DryRun: tru}))
			}},
		},
		"DeleteAlias": {
			{"alias", "", func(f *opFixture) error {
				return tryOp(f.c.DeleteAlias(ctx(), &awskms.DeleteAliasInput{AliasName: s("alias/fixture")}))
			}},
			{"no alias", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.DeleteAlias(ctx(), &awskms.DeleteAliasInput{AliasName: s("alias/none")}))
			}},
		},
		"DeleteCustomKeyStore": {
			{"no store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.DeleteCustomKeyStore(ctx(), &awskms.DeleteCustomKeyStoreInput{CustomKeyStoreId: s(noStore)}))
			}},
		},
		"DescribeCustomKeyStores": {
			{"all", "", func(f *opFixture) error {
				return tryOp(f.c.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{}))
			}},
			{"no store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreId: s(noStore)}))
			}},
			{"bad marker", errInvalidMarker, func(f *opFixture) error {
				return tryOp(f.c.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{Marker: s("!!")}))
			}},
		},
		"DescribeKey": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: s(f.sym)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: s(noKey)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: s(badARN)}))
			}},
			{"bad token", awsapi.ValidationException, func(f *opFixture) error {
				return tryOp(f.c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: s(f.sym), GrantTokens: []string{badToken}}))
			}},
		},
		"DisableKey": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: s(f.sym)}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: s(f.pending)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: s(noKey)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: s(badARN)}))
			}},
		},
		"DisableKeyRotation": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.DisableKeyRotation(ctx(), &awskms.DisableKeyRotationInput{KeyId: s(f.sym)}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.DisableKeyRotation(ctx(), &awskms.DisableKeyRotationInput{KeyId: s(f.disabled)}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.DisableKeyRotation(ctx(), &awskms.DisableKeyRotationInput{KeyId: s(f.pending)}))
			}},
			{"HMAC key", errUnsupported, func(f *opFixture) error {
				return tryOp(f.c.DisableKeyRotation(ctx(), &awskms.DisableKeyRotationInput{KeyId: s(f.mac)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.DisableKeyRotation(ctx(), &awskms.DisableKeyRotationInput{KeyId: s(noKey)}))
			}},
		},
		"DisconnectCustomKeyStore": {
			{"no store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.DisconnectCustomKeyStore(ctx(), &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: s(noStore)}))
			}},
		},
		"EnableKey": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: s(f.disabled)}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: s(f.pending)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error { return tryOp(f.c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: s(noKey)})) }},
		},
		"EnableKeyRotation": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: s(f.sym)}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: s(f.disabled)}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: s(f.pending)}))
			}},
			{"HMAC key", errUnsupported, func(f *opFixture) error {
				return tryOp(f.c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: s(f.mac)}))
			}},
		},
		"Encrypt": {
			{"encrypt", "", func(f *opFixture) error {
				return tryOp(f.c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: s(f.sym), Plaintext: []byte("x")}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: s(f.disabled), Plaintext: []byte("x")}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: s(f.pending), Plaintext: []byte("x")}))
			}},
			{"HMAC key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: s(f.mac), Plaintext: []byte("x")}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: s(badARN), Plaintext: []byte("x")}))
			}},
			{"bad token", errInvalidGrantToken, func(f *opFixture) error {
				return tryOp(f.c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: s(f.sym), Plaintext: []byte("x"), GrantTokens: []string{badToken}}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: s(f.sym), Plaintext: []byte("x"), DryRun: tru}))
			}},
		},
		"GenerateDataKey": {
			{"data key", "", func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: s(f.sym), KeySpec: types.DataKeySpecAes256}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: s(f.disabled), KeySpec: types.DataKeySpecAes256}))
			}},
			{"signing key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: s(f.sign), KeySpec: types.DataKeySpecAes256}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: s("alias/none"), KeySpec: types.DataKeySpecAes256}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: s(f.sym), KeySpec: types.DataKeySpecAes256, DryRun: tru}))
			}},
		},
		"GenerateDataKeyWithoutPlaintext": {
			{"data key", "", func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyWithoutPlaintext(ctx(), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: s("alias/fixture"), NumberOfBytes: aws.Int32(16)}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyWithoutPlaintext(ctx(), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: s(f.pending), NumberOfBytes: aws.Int32(16)}))
			}},
			{"HMAC key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.GenerateDataKeyWithoutPlaintext(ctx(), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: s(f.mac), NumberOfBytes: aws.Int32(16)}))
			}},
		},
		"GenerateMac": {
			{"mac", "", func(f *opFixture) error {
				return tryOp(f.c.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: s(f.mac), Message: []byte("m"), MacAlgorithm: sha}))
			}},
			{"symmetric key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: s(f.sym), Message: []byte("m"), MacAlgorithm: sha}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: s(f.disabledMac), Message: []byte("m"), MacAlgorithm: sha}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: s(f.mac), Message: []byte("m"), MacAlgorithm: sha, DryRun: tru}))
			}},
		},
		"GenerateRandom": {
			{"random", "", func(f *opFixture) error {
				return tryOp(f.c.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(16)}))
			}},
			{"no store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(16), CustomKeyStoreId: s(noStore)}))
			}},
		},
		"GetKeyLastUsage": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: s(f.symARN)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: s(noKey)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: s(badARN)}))
			}},
		},
		"GetKeyPolicy": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: s(f.sym)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: s(noKey)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: s(badARN)}))
			}},
		},
		"GetKeyRotationStatus": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: s(f.sym)}))
			}},
			{"HMAC key", errUnsupported, func(f *opFixture) error {
				return tryOp(f.c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: s(f.mac)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: s(badARN)}))
			}},
		},
		"GetPublicKey": {
			{"signing key", "", func(f *opFixture) error {
				return tryOp(f.c.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: s(f.sign)}))
			}},
			{"symmetric key", errUnsupported, func(f *opFixture) error {
				return tryOp(f.c.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: s(f.sym)}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: s(f.disabled)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: s(badARN)}))
			}},
		},
		"ListAliases": {
			{"all", "", func(f *opFixture) error { return tryOp(f.c.ListAliases(ctx(), &awskms.ListAliasesInput{})) }},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.ListAliases(ctx(), &awskms.ListAliasesInput{KeyId: s(noKey)}))
			}},
			{"bad marker", errInvalidMarker, func(f *opFixture) error {
				return tryOp(f.c.ListAliases(ctx(), &awskms.ListAliasesInput{Marker: s("!!")}))
			}},
		},
		"ListGrants": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: s(f.sym)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: s(noKey)}))
			}},
			{"bad marker", errInvalidMarker, func(f *opFixture) error {
				return tryOp(f.c.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: s(f.sym), Marker: s("!!")}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: s(badARN)}))
			}},
		},
		"ListKeyPolicies": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.ListKeyPolicies(ctx(), &awskms.ListKeyPoliciesInput{KeyId: s(f.sym)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.ListKeyPolicies(ctx(), &awskms.ListKeyPoliciesInput{KeyId: s(noKey)}))
			}},
		},
		"ListKeyRotations": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: s(f.sym)}))
			}},
			{"HMAC key", errUnsupported, func(f *opFixture) error {
				return tryOp(f.c.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: s(f.mac)}))
			}},
			{"bad marker", errInvalidMarker, func(f *opFixture) error {
				return tryOp(f.c.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: s(f.sym), Marker: s("!!")}))
			}},
		},
		"ListKeys": {
			{"all", "", func(f *opFixture) error { return tryOp(f.c.ListKeys(ctx(), &awskms.ListKeysInput{})) }},
			{"bad marker", errInvalidMarker, func(f *opFixture) error {
				return tryOp(f.c.ListKeys(ctx(), &awskms.ListKeysInput{Marker: s("!!")}))
			}},
		},
		"ListResourceTags": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.ListResourceTags(ctx(), &awskms.ListResourceTagsInput{KeyId: s(f.sym)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.ListResourceTags(ctx(), &awskms.ListResourceTagsInput{KeyId: s(noKey)}))
			}},
			{"bad marker", errInvalidMarker, func(f *opFixture) error {
				return tryOp(f.c.ListResourceTags(ctx(), &awskms.ListResourceTagsInput{KeyId: s(f.sym), Marker: s("!!")}))
			}},
		},
		"ListRetirableGrants": {
			{"root", "", func(f *opFixture) error {
				return tryOp(f.c.ListRetirableGrants(ctx(), &awskms.ListRetirableGrantsInput{RetiringPrincipal: s("arn:aws:iam::" + acct + ":root")}))
			}},
			{"bad marker", errInvalidMarker, func(f *opFixture) error {
				return tryOp(f.c.ListRetirableGrants(ctx(), &awskms.ListRetirableGrantsInput{RetiringPrincipal: s(grantee), Marker: s("!!")}))
			}},
		},
		"PutKeyPolicy": {
			{"policy", "", func(f *opFixture) error {
				return tryOp(f.c.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: s(f.sym), Policy: s(keyPolicy())}))
			}},
			{"bad policy", errMalformedPolicy, func(f *opFixture) error {
				return tryOp(f.c.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: s(f.sym), Policy: s(`{"Statement":"x"}`)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: s(noKey), Policy: s(keyPolicy())}))
			}},
		},
		"ReEncrypt": {
			{"re-encrypt", "", func(f *opFixture) error {
				return tryOp(f.c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: f.blob, DestinationKeyId: s(f.sym)}))
			}},
			{"junk", errInvalidCiphertext, func(f *opFixture) error {
				return tryOp(f.c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: []byte("junk junk junk junk junk junk junk junk"), DestinationKeyId: s(f.sym)}))
			}},
			{"other source key", errIncorrectKey, func(f *opFixture) error {
				return tryOp(f.c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: f.blob, SourceKeyId: s(f.disabled), DestinationKeyId: s(f.sym)}))
			}},
			{"disabled destination", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: f.blob, DestinationKeyId: s(f.disabled)}))
			}},
			{"HMAC destination", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: f.blob, DestinationKeyId: s(f.mac)}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: f.blob, DestinationKeyId: s(f.sym), DryRun: tru}))
			}},
		},
		"RetireGrant": {
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.RetireGrant(ctx(), &awskms.RetireGrantInput{GrantToken: s(f.grantToken), DryRun: tru}))
			}},
			{"by token", "", func(f *opFixture) error {
				return tryOp(f.c.RetireGrant(ctx(), &awskms.RetireGrantInput{GrantToken: s(f.grantToken)}))
			}},
			{"bad token", errInvalidGrantToken, func(f *opFixture) error {
				return tryOp(f.c.RetireGrant(ctx(), &awskms.RetireGrantInput{GrantToken: s(badToken)}))
			}},
			{"bad grant id", errInvalidGrantID, func(f *opFixture) error {
				return tryOp(f.c.RetireGrant(ctx(), &awskms.RetireGrantInput{KeyId: s(f.symARN), GrantId: s("x")}))
			}},
			{"no grant", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.RetireGrant(ctx(), &awskms.RetireGrantInput{KeyId: s(f.symARN), GrantId: s(noGrant)}))
			}},
		},
		"RevokeGrant": {
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: s(f.sym), GrantId: s(f.grantID), DryRun: tru}))
			}},
			{"grant", "", func(f *opFixture) error {
				return tryOp(f.c.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: s(f.sym), GrantId: s(f.grantID)}))
			}},
			{"bad grant id", errInvalidGrantID, func(f *opFixture) error {
				return tryOp(f.c.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: s(f.sym), GrantId: s("x")}))
			}},
			{"no grant", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: s(f.sym), GrantId: s(noGrant)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: s(badARN), GrantId: s(f.grantID)}))
			}},
		},
		"RotateKeyOnDemand": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: s(f.sym)}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: s(f.disabled)}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: s(f.pending)}))
			}},
			{"HMAC key", errUnsupported, func(f *opFixture) error {
				return tryOp(f.c.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: s(f.mac)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: s(badARN)}))
			}},
		},
		"ScheduleKeyDeletion": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: s(f.sym)}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: s(f.pending)}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: s(noKey)}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: s(badARN)}))
			}},
		},
		"Sign": {
			{"sign", "", func(f *opFixture) error {
				return tryOp(f.c.Sign(ctx(), &awskms.SignInput{KeyId: s(f.sign), Message: []byte("m"), SigningAlgorithm: ecdsa}))
			}},
			{"symmetric key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.Sign(ctx(), &awskms.SignInput{KeyId: s(f.sym), Message: []byte("m"), SigningAlgorithm: ecdsa}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.Sign(ctx(), &awskms.SignInput{KeyId: s(noKey), Message: []byte("m"), SigningAlgorithm: ecdsa}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.Sign(ctx(), &awskms.SignInput{KeyId: s(f.sign), Message: []byte("m"), SigningAlgorithm: ecdsa, DryRun: tru}))
			}},
		},
		"TagResource": {
			{"tag", "", func(f *opFixture) error {
				return tryOp(f.c.TagResource(ctx(), &awskms.TagResourceInput{KeyId: s(f.sym), Tags: []types.Tag{{TagKey: s("k"), TagValue: s("v")}}}))
			}},
			{"reserved tag", errTag, func(f *opFixture) error {
				return tryOp(f.c.TagResource(ctx(), &awskms.TagResourceInput{KeyId: s(f.sym), Tags: []types.Tag{{TagKey: s("aws:k"), TagValue: s("v")}}}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.TagResource(ctx(), &awskms.TagResourceInput{KeyId: s(f.pending), Tags: []types.Tag{{TagKey: s("k"), TagValue: s("v")}}}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.TagResource(ctx(), &awskms.TagResourceInput{KeyId: s(badARN), Tags: []types.Tag{{TagKey: s("k"), TagValue: s("v")}}}))
			}},
		},
		"UntagResource": {
			{"untag", "", func(f *opFixture) error {
				return tryOp(f.c.UntagResource(ctx(), &awskms.UntagResourceInput{KeyId: s(f.sym), TagKeys: []string{"k"}}))
			}},
			{"no key", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.UntagResource(ctx(), &awskms.UntagResourceInput{KeyId: s(noKey), TagKeys: []string{"k"}}))
			}},
		},
		"UpdateAlias": {
			{"alias", "", func(f *opFixture) error {
				return tryOp(f.c.UpdateAlias(ctx(), &awskms.UpdateAliasInput{AliasName: s("alias/fixture"), TargetKeyId: s(f.disabled)}))
			}},
			{"no alias", errNotFound, func(f *opFixture) error {
				return tryOp(f.c.UpdateAlias(ctx(), &awskms.UpdateAliasInput{AliasName: s("alias/none"), TargetKeyId: s(f.sym)}))
			}},
			{"pending target", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.UpdateAlias(ctx(), &awskms.UpdateAliasInput{AliasName: s("alias/fixture"), TargetKeyId: s(f.pending)}))
			}},
		},
		"UpdateCustomKeyStore": {
			{"no store", "CustomKeyStoreNotFoundException", func(f *opFixture) error {
				return tryOp(f.c.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: s(noStore), NewCustomKeyStoreName: s("n")}))
			}},
		},
		"UpdateKeyDescription": {
			{"key", "", func(f *opFixture) error {
				return tryOp(f.c.UpdateKeyDescription(ctx(), &awskms.UpdateKeyDescriptionInput{KeyId: s(f.sym), Description: s("d")}))
			}},
			{"pending", errInvalidState, func(f *opFixture) error {
				return tryOp(f.c.UpdateKeyDescription(ctx(), &awskms.UpdateKeyDescriptionInput{KeyId: s(f.pending), Description: s("d")}))
			}},
			{"bad ARN", errInvalidArn, func(f *opFixture) error {
				return tryOp(f.c.UpdateKeyDescription(ctx(), &awskms.UpdateKeyDescriptionInput{KeyId: s(badARN), Description: s("d")}))
			}},
		},
		"Verify": {
			{"verify", "", func(f *opFixture) error {
				return tryOp(f.c.Verify(ctx(), &awskms.VerifyInput{KeyId: s(f.sign), Message: []byte("m"), Signature: f.signature, SigningAlgorithm: ecdsa}))
			}},
			{"wrong message", errInvalidSignature, func(f *opFixture) error {
				return tryOp(f.c.Verify(ctx(), &awskms.VerifyInput{KeyId: s(f.sign), Message: []byte("n"), Signature: f.signature, SigningAlgorithm: ecdsa}))
			}},
			{"HMAC key", errInvalidKeyUsage, func(f *opFixture) error {
				return tryOp(f.c.Verify(ctx(), &awskms.VerifyInput{KeyId: s(f.mac), Message: []byte("m"), Signature: f.signature, SigningAlgorithm: ecdsa}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.Verify(ctx(), &awskms.VerifyInput{KeyId: s(f.sign), Message: []byte("m"), Signature: f.signature, SigningAlgorithm: ecdsa, DryRun: tru}))
			}},
		},
		"VerifyMac": {
			{"verify", "", func(f *opFixture) error {
				return tryOp(f.c.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: s(f.mac), Message: []byte("m"), Mac: f.macTag, MacAlgorithm: sha}))
			}},
			{"wrong message", errInvalidMac, func(f *opFixture) error {
				return tryOp(f.c.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: s(f.mac), Message: []byte("n"), Mac: f.macTag, MacAlgorithm: sha}))
			}},
			{"disabled", errDisabled, func(f *opFixture) error {
				return tryOp(f.c.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: s(f.disabledMac), Message: []byte("m"), Mac: f.macTag, MacAlgorithm: sha}))
			}},
			{"dry run", errDryRun, func(f *opFixture) error {
				return tryOp(f.c.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: s(f.mac), Message: []byte("m"), Mac: f.macTag, MacAlgorithm: sha, DryRun: tru}))
			}},
		},
	} {
		cases[op] = cs
	}
	return cases
}

// errorCode is the AWS exception of err ("" for nil).
func errorCode(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an AWS error: %v", err)
	}
	return ae.ErrorCode()
}

// TestEveryKMSOperationIsAnswered walks the operations of the KMS model: each is answered by
// its handler (its first case, a valid request, gets neither UnknownOperationException nor
// UnsupportedOperationException). The external key store (XKS) paths answer the
// exception a KMS that cannot reach an XKS proxy answers (opCases).
func TestEveryKMSOperationIsAnswered(t *testing.T) {
	cases := opCases()
	ops := awsapi.KMS.Operations()
	if n := len(cases); n != len(ops) {
		t.Errorf("the model has %d operations, the walk covers %d", len(ops), n)
	}
	f := newOpFixture(t)
	for _, op := range ops {
		cs, ok := cases[op]
		if !ok {
			t.Errorf("%s: an operation of the model the walk does not call", op)
			continue
		}
		if code := errorCode(t, cs[0].call(f)); code == awsapi.UnknownOperationException || code == errUnsupported {
			t.Errorf("%s (%s): %s", op, cs[0].what, code)
		}
	}
}

// TestErrorsAgainstModel drives every operation through its error paths (opCases): each answers
// the exception the case names, and that exception is in the operation's model list (or common).
func TestErrorsAgainstModel(t *testing.T) {
	for op, cs := range opCases() {
		t.Run(op, func(t *testing.T) {
			f := newOpFixture(t)
			for _, c := range cs {
				if c.want != "" && !inModel(op, c.want) {
					t.Errorf("%s: the case expects %s, which the model does not list", c.what, c.want)
				}
				if got := errorCode(t, c.call(f)); got != c.want {
					t.Errorf("%s: got %q, want %q", c.what, got, c.want)
				}
			}
		})
	}
	if bad := outsideModel(); len(bad) > 0 {
		t.Errorf("exceptions outside the model so far:\n%s", strings.Join(bad, "\n"))
	}
}
