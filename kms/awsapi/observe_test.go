package awsapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

type seen struct {
	op, reqID, ua string
	input         map[string]any
	out           any
	errType       string
	status        int
}

type recorder struct {
	mu  sync.Mutex
	all []seen
}

func (r *recorder) Observe(q *Request, out any, e *Error, status int, _ time.Duration) {
	s := seen{op: q.Operation, reqID: q.RequestID, ua: q.UserAgent, input: q.Input, out: out, status: status}
	if e != nil {
		s.errType = e.Type
	}
	r.mu.Lock()
	r.all = append(r.all, s)
	r.mu.Unlock()
}

func post(t *testing.T, h http.Handler, op, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", "TrentService."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("User-Agent", "observe-test/1")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// TestObserverSeesEveryAnswerOnce: a success, a handler's error, a model violation and an
// unknown operation each reach the observer once, with the status the client got.
func TestObserverSeesEveryAnswerOnce(t *testing.T) {
	rec := &recorder{}
	svc := &Service{API: KMS, Handlers: map[string]Handler{
		"Encrypt": func(context.Context, *Caller, []byte) (any, error) {
			return map[string]string{"KeyId": "arn:aws:kms:us-east-1:111122223333:key/k"}, nil
		},
		"Decrypt": func(context.Context, *Caller, []byte) (any, error) {
			return nil, NewError("NotFoundException", "no key")
		},
	}}
	e := NewEndpoint(Config{Observer: Observers(nil, rec)}, svc)
	post(t, e, "Encrypt", `{"KeyId":"k","Plaintext":"cGxhaW4="}`)
	post(t, e, "Decrypt", `{"CiphertextBlob":"AAAA"}`)
	post(t, e, "Encrypt", `{"KeyId":"k"}`)
	post(t, e, "NoSuchOperation", `{}`)
	want := []seen{
		{op: "Encrypt", status: 200},
		{op: "Decrypt", status: 400, errType: "NotFoundException"},
		{op: "Encrypt", status: 400, errType: ValidationException},
		{op: "NoSuchOperation", status: 400, errType: UnknownOperationException},
	}
	if len(rec.all) != len(want) {
		t.Fatalf("observed %d requests, want %d", len(rec.all), len(want))
	}
	for i, w := range want {
		g := rec.all[i]
		if g.op != w.op || g.status != w.status || g.errType != w.errType || g.ua != "observe-test/1" || len(g.reqID) != 36 {
			t.Errorf("request %d: got %+v, want %+v", i, g, w)
		}
	}
	if rec.all[0].out == nil || rec.all[0].input["KeyId"] != "k" {
		t.Errorf("the success lacks its output or input: %+v", rec.all[0])
	}
}

// TestAppendParamsLeavesOutSecrets: requestParameters in lower camel case, the plaintext
// (sensitive) and blobs left out, maps kept as sent; members in the table's (sorted) order.
func TestAppendParamsLeavesOutSecrets(t *testing.T) {
	cases := []struct{ op, in, want string }{
		{"Encrypt", `{"KeyId":"alias/x","Plaintext":"c2VjcmV0","EncryptionContext":{"b":"2","a":"1"},"EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}`,
			`{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{"a":"1","b":"2"},"keyId":"alias/x"}`},
		{"Decrypt", `{"CiphertextBlob":"AAAA","GrantTokens":["t1"]}`, `{"grantTokens":["t1"]}`},
		{"CreateCustomKeyStore", `{"CustomKeyStoreName":"n","KeyStorePassword":"hunter2hunter2","CloudHsmClusterId":"cluster-234abcdefgh"}`,
			`{"cloudHsmClusterId":"cluster-234abcdefgh","customKeyStoreName":"n"}`},
		{"ImportKeyMaterial", `{"KeyId":"k","ImportToken":"AAAA","EncryptedKeyMaterial":"AAAA","ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}`,
			`{"expirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE","keyId":"k"}`},
		{"ListKeys", ``, `null`},
	}
	for _, c := range cases {
		var in map[string]any
		if c.in != "" {
			var err *Error
			if in, err = KMS.decodeInput(KMS.ops[c.op], []byte(c.in)); err != nil {
				t.Fatalf("%s: %v", c.op, err)
			}
		}
		got := string(KMS.AppendParams(nil, c.op, in))
		if !json.Valid([]byte(got)) {
			t.Fatalf("%s: not JSON: %s", c.op, got)
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.op, got, c.want)
		}
	}
	if s := KMS.SecretMembers(); !s["Plaintext"] || !s["KeyStorePassword"] || !s["ImportToken"] || s["KeyId"] {
		t.Errorf("SecretMembers: %v", s)
	}
	if got := string(AppendString(nil, "a\"b\\c\n\x01é")); got != `"a\"b\\c\n\u0001é"` {
		t.Errorf("AppendString: %s", got)
	}
}
