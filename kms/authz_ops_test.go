package kms

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestEveryOperationDeniesAUserWithoutPolicy sends every KMS operation hsmsim implements, with a
// valid input, as an IAM user without any policy, and expects AWS's AccessDeniedException for a
// kms: action: no operation is left unauthorized. (Without --strict the access key in the
// Authorization header identifies the caller; the signature is not checked.)
func TestEveryOperationDeniesAUserWithoutPolicy(t *testing.T) {
	e := newEnv(t, Config{})
	keyID, _ := e.newKey("")
	ct, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	check(t, err)
	hm, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	check(t, err)
	sg, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)
	_, err = e.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/existing"), TargetKeyId: aws.String(keyID)})
	check(t, err)
	g, err := e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String("arn:aws:iam::" + acct + ":role/other"),
		Operations: []types.GrantOperation{"Encrypt"}})
	check(t, err)
	mr, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{MultiRegion: aws.Bool(true)})
	check(t, err)
	ext, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeExternal})
	check(t, err)
	bob := e.newUser("bob", nil)

	blob := base64.StdEncoding.EncodeToString(ct.CiphertextBlob)
	k, h, s := `"KeyId":"`+keyID+`"`, `"KeyId":"`+aws.ToString(hm.KeyMetadata.KeyId)+`"`, `"KeyId":"`+aws.ToString(sg.KeyMetadata.KeyId)+`"`
	x := `"KeyId":"` + aws.ToString(ext.KeyMetadata.KeyId) + `"`
	inputs := map[string]string{
		"GetParametersForImport":    `{` + x + `,"WrappingAlgorithm":"RSAES_OAEP_SHA_256","WrappingKeySpec":"RSA_2048"}`,
		"ImportKeyMaterial":         `{` + x + `,"ImportToken":"eA==","EncryptedKeyMaterial":"eA==","ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}`,
		"DeleteImportedKeyMaterial": `{` + x + `}`,
		"CreateKey":                 `{}`, "DescribeKey": `{` + k + `}`, "ListKeys": `{}`, "EnableKey": `{` + k + `}`, "DisableKey": `{` + k + `}`,
		"ScheduleKeyDeletion": `{` + k + `,"PendingWindowInDays":7}`, "CancelKeyDeletion": `{` + k + `}`,
		"UpdateKeyDescription": `{` + k + `,"Description":"x"}`, "TagResource": `{` + k + `,"Tags":[{"TagKey":"a","TagValue":"b"}]}`,
		"UntagResource": `{` + k + `,"TagKeys":["a"]}`, "ListResourceTags": `{` + k + `}`, "GetKeyPolicy": `{` + k + `,"PolicyName":"default"}`,
		"PutKeyPolicy": `{` + k + `,"Policy":` + mustJSON(keyPolicy()) + `}`, "ListKeyPolicies": `{` + k + `}`,
		"EnableKeyRotation": `{` + k + `}`, "DisableKeyRotation": `{` + k + `}`, "GetKeyRotationStatus": `{` + k + `}`,
		"RotateKeyOnDemand": `{` + k + `}`, "ListKeyRotations": `{` + k + `}`, "GetKeyLastUsage": `{` + k + `}`,
		"CreateAlias": `{"AliasName":"alias/new",` + strings.Replace(k, "KeyId", "TargetKeyId", 1) + `}`,
		"UpdateAlias": `{"AliasName":"alias/existing",` + strings.Replace(k, "KeyId", "TargetKeyId", 1) + `}`,
		"DeleteAlias": `{"AliasName":"alias/existing"}`, "ListAliases": `{}`,
		"Encrypt": `{` + k + `,"Plaintext":"eA=="}`, "Decrypt": `{"CiphertextBlob":"` + blob + `"}`,
		"ReEncrypt":       `{"CiphertextBlob":"` + blob + `","DestinationKeyId":"` + keyID + `"}`,
		"GenerateDataKey": `{` + k + `,"NumberOfBytes":16}`, "GenerateDataKeyWithoutPlaintext": `{` + k + `,"NumberOfBytes":16}`,
		"GenerateRandom":                      `{"NumberOfBytes":8}`,
		"GenerateMac":                         `{` + h + `,"Message":"eA==","MacAlgorithm":"HMAC_SHA_256"}`,
		"VerifyMac":                           `{` + h + `,"Message":"eA==","MacAlgorithm":"HMAC_SHA_256","Mac":"eA=="}`,
		"Sign":                                `{` + s + `,"Message":"eA==","SigningAlgorithm":"ECDSA_SHA_256"}`,
		"Verify":                              `{` + s + `,"Message":"eA==","SigningAlgorithm":"ECDSA_SHA_256","Signature":"eA=="}`,
		"GetPublicKey":                        `{` + s + `}`,
		"GenerateDataKeyPair":                 `{` + k + `,"KeyPairSpec":"ECC_NIST_P256"}`,
		"GenerateDataKeyPairWithoutPlaintext": `{` + k + `,"KeyPairSpec":"ECC_NIST_P256"}`,
		"DeriveSharedSecret":                  `{` + s + `,"KeyAgreementAlgorithm":"ECDH","PublicKey":"eA=="}`,
		"CreateGrant":                         `{` + k + `,"GranteePrincipal":"` + bob.arn + `","Operations":["Encrypt"]}`,
		"ListGrants":                          `{` + k + `}`, "ListRetirableGrants": `{"RetiringPrincipal":"` + bob.arn + `"}`,
		"RetireGrant":             `{` + k + `,"GrantId":"` + aws.ToString(g.GrantId) + `"}`,
		"RevokeGrant":             `{` + k + `,"GrantId":"` + aws.ToString(g.GrantId) + `"}`,
		"CreateCustomKeyStore":    `{"CustomKeyStoreName":"s","CloudHsmClusterId":"cluster-abcdefghijk","TrustAnchorCertificate":"x","KeyStorePassword":"password1"}`,
		"DescribeCustomKeyStores": `{}`, "UpdateCustomKeyStore": `{"CustomKeyStoreId":"cks-1234567890abcdef0","NewCustomKeyStoreName":"t"}`,
		"DeleteCustomKeyStore": `{"CustomKeyStoreId":"cks-1234567890abcdef0"}`, "ConnectCustomKeyStore": `{"CustomKeyStoreId":"cks-1234567890abcdef0"}`,
		"DisconnectCustomKeyStore": `{"CustomKeyStoreId":"cks-1234567890abcdef0"}`,
		"ReplicateKey":             `{"KeyId":"` + aws.ToString(mr.KeyMetadata.KeyId) + `","ReplicaRegion":"us-west-2"}`,
		"UpdatePrimaryRegion":      `{"KeyId":"` + aws.ToString(mr.KeyMetadata.KeyId) + `","PrimaryRegion":"us-west-2"}`,
	}
	for op := range kmsHandlers {
		body, ok := inputs[op]
		if !ok {
			t.Errorf("%s: no input in this test: add one", op)
			continue
		}
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL, strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "TrentService."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+bob.ak+"/20260101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := http.DefaultClient.Do(req)
		check(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &out)
		if resp.StatusCode != 400 || out.Type != "AccessDeniedException" || !strings.HasPrefix(out.Message, "User: "+bob.arn+" is not authorized to perform: kms:") {
			t.Errorf("%s as a user without policy: %d %s", op, resp.StatusCode, raw)
		}
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
