package kms

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// post sends a raw JSON 1.1 request and returns status, __type and message.
func post(t *testing.T, url, target, body string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	check(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Fatalf("Content-Type %q", ct)
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
		Msg2    string `json:"Message"`
	}
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Type, e.Message + e.Msg2
}

// TestWireErrors: the front end answers bad requests as AWS does, before any handler runs.
func TestWireErrors(t *testing.T) {
	e := newEnv(t, Config{})
	u := e.hs.URL
	cases := []struct {
		name, target, body string
		status             int
		typ, msg           string
	}{
		{"unknown operation", "TrentService.MakeCoffee", `{}`, 400, "UnknownOperationException", ""},
		{"unknown service", "Nope.Encrypt", `{}`, 400, "UnknownOperationException", ""},
		{"no target", "", `{}`, 400, "UnknownOperationException", ""},
		{"malformed JSON", "TrentService.ListKeys", `{"Limit":`, 400, "SerializationException", ""},
		{"not an object", "TrentService.ListKeys", `[1]`, 400, "SerializationException", ""},
		{"wrong type", "TrentService.ListKeys", `{"Limit":"ten"}`, 400, "SerializationException", ""},
		{"bad base64", "TrentService.Encrypt", `{"KeyId":"k","Plaintext":"***"}`, 400, "SerializationException", ""},
		{"missing member", "TrentService.Encrypt", `{"Plaintext":"aGk="}`, 400, "ValidationException",
			"1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"},
		{"two violations", "TrentService.ListKeys", `{"Limit":0,"Marker":""}`, 400, "ValidationException",
			"2 validation errors detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1; Value '' at 'marker' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"enum", "TrentService.CreateKey", `{"KeySpec":"AES_999"}`, 400, "ValidationException",
			"Value 'AES_999' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: ["},
		{"pattern", "TrentService.CreateAlias", `{"AliasName":"alias/a b","TargetKeyId":"x"}`, 400, "ValidationException",
			"Value 'alias/a b' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"},
		{"nested list member", "TrentService.TagResource", `{"KeyId":"k","Tags":[{"TagKey":"","TagValue":"v"}]}`, 400, "ValidationException",
			"Value '' at 'tags.1.member.tagKey' failed to satisfy constraint"},
		{"sensitive value left out", "TrentService.CreateCustomKeyStore", `{"CustomKeyStoreName":"n","KeyStorePassword":"short"}`, 400, "ValidationException",
			"Value at 'keyStorePassword' failed to satisfy constraint: Member must have length greater than or equal to 7"},
		{"random range", "TrentService.GenerateRandom", `{"NumberOfBytes":1025}`, 400, "ValidationException",
			"Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024"},
		{"empty body is an empty input", "TrentService.ListKeys", ``, 200, "", ""},
		{"not found", "TrentService.DescribeKey", `{"KeyId":"alias/none"}`, 400, "NotFoundException", "Alias 'arn:aws:kms:us-east-1:111122223333:alias/none' is not found."},
		{"unsupported", "TrentService.CreateKey", `{"KeySpec":"SM2","KeyUsage":"SIGN_VERIFY"}`, 400, "UnsupportedOperationException", "SM2"},
		{"CloudHSM without a control plane", "BaldrApiService.DescribeClusters", `{}`, 400, "UnknownOperationException", ""},
		{"CloudHSM validation", "BaldrApiService.DeleteCluster", `{"ClusterId":"nope"}`, 400, "ValidationException", "at 'clusterId'"},
	}
	for _, tc := range cases {
		st, typ, msg := post(t, u, tc.target, tc.body, nil)
		if st != tc.status || typ != tc.typ || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: got %d %s %q; want %d %s containing %q", tc.name, st, typ, msg, tc.status, tc.typ, tc.msg)
		}
	}
	// A bad request changes nothing.
	keys, err := e.kms.ListKeys(ctx(), &awskms.ListKeysInput{})
	check(t, err)
	if len(keys.Keys) != 0 {
		t.Fatalf("bad requests created %d keys", len(keys.Keys))
	}
	// The SDK surfaces the front end's ValidationException as a generic API error with its code.
	_, err = e.kms.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(0)})
	wantErr(t, err, "ValidationException")
}

// TestStrictSigV4: in strict mode the SDK's real SigV4 signatures verify, and every way of
// getting them wrong is the AWS exception for it.
func TestStrictSigV4(t *testing.T) {
	e := newEnv(t, Config{Strict: true, Credentials: []awsapi.Credential{
		{AccessKeyID: testAccessKey, SecretAccessKey: testSecret},
		{AccessKeyID: "AKIAOTHERACCOUNT0001", SecretAccessKey: "other-secret", AccountID: "444455556666"},
	}, Now: time.Now})
	k, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	if _, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("signed")}); err != nil {
		t.Fatal(err)
	}

	wrong := sdkClient(e.hs.URL, testAccessKey, "not-the-secret")
	_, err = wrong.ListKeys(ctx(), &awskms.ListKeysInput{})
	wantErr(t, err, "InvalidSignatureException")
	unknown := sdkClient(e.hs.URL, "AKIANOBODY0000000000", "x")
	_, err = unknown.ListKeys(ctx(), &awskms.ListKeysInput{})
	wantErr(t, err, "UnrecognizedClientException")
	st, typ, _ := post(t, e.hs.URL, "TrentService.ListKeys", `{}`, nil)
	if st != 400 || typ != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned request: %d %s", st, typ)
	}

	// Another account's key: its region and account come from the credential; the first
	// account's key is not visible to it.
	other := sdkClient(e.hs.URL, "AKIAOTHERACCOUNT0001", "other-secret")
	ok, err := other.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	if !strings.HasPrefix(aws.ToString(ok.KeyMetadata.Arn), "arn:aws:kms:us-east-1:444455556666:key/") {
		t.Fatalf("other account's ARN %s", aws.ToString(ok.KeyMetadata.Arn))
	}
	_, err = other.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: k.KeyMetadata.KeyId})
	var nfe *types.NotFoundException
	if !errors.As(err, &nfe) {
		t.Fatalf("cross-account DescribeKey: %v", err)
	}

	// A request signed for another service, and one whose body was changed after signing.
	signed := func(service, body string) *http.Request {
		req := httptest.NewRequest(http.MethodPost, e.hs.URL+"/", strings.NewReader(body))
		req.RequestURI = ""
		req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		sum := sha256Hex(body)
		check(t, v4.NewSigner().SignHTTP(ctx(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecret}, req, sum, service, "us-east-1", time.Now()))
		return req
	}
	for name, req := range map[string]*http.Request{"wrong service": signed("s3", `{}`), "tampered body": tamper(signed("kms", `{}`), `{"Limit":1}`)} {
		resp, err := http.DefaultClient.Do(req)
		check(t, err)
		var body struct {
			Type string `json:"__type"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Type != "InvalidSignatureException" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body.Type)
		}
	}
	good := signed("kms", `{}`)
	resp, err := http.DefaultClient.Do(good)
	check(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("hand-signed request: %d", resp.StatusCode)
	}
}

func tamper(r *http.Request, body string) *http.Request {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Del("Content-Length")
	return r
}
