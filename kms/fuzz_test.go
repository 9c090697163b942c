package kms

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// FuzzRequestDecoder: any body for any operation is answered, never with a panic or a 5xx; a
// refusal before the handler is a SerializationException or ValidationException, and any other
// answer is a 200 or a 400 with an exception type.
func FuzzRequestDecoder(f *testing.F) {
	ops := awsapi.KMS.Operations()
	seeds := []string{`{}`, ``, `{"KeyId":"alias/x","Plaintext":"aGk="}`, `{"Limit":5000}`, `{"KeyId":1}`, `[`, `null`,
		`{"Tags":[{"TagKey":null}]}`, `{"EncryptionContext":{"a":1}}`, `{"NumberOfBytes":99999999999}`, `{"CiphertextBlob":"AQ=="}`,
		`{"KeySpec":"HMAC_256","KeyUsage":"GENERATE_VERIFY_MAC"}`, `{"GrantTokens":["x"],"KeyId":"k"}`}
	for i, op := range ops {
		f.Add(op, seeds[i%len(seeds)])
	}
	s, err := Open(Config{DataDir: f.TempDir(), NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, op, body string) {
		var spec struct{ KeySpec, CustomerMasterKeySpec string }
		if op == "CreateKey" && json.Unmarshal([]byte(body), &spec) == nil && strings.HasPrefix(spec.KeySpec+spec.CustomerMasterKeySpec, "RSA_") {
			return // RSA key generation is slow and proves nothing about decoding
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "TrentService."+op)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != 200 && w.Code != 400 {
			t.Fatalf("%s %q: status %d: %s", op, body, w.Code, w.Body.String())
		}
		var e struct {
			Type string `json:"__type"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatalf("%s %q: answer is not JSON: %s", op, body, w.Body.String())
		}
		if w.Code == 400 && e.Type == "" {
			t.Fatalf("%s %q: 400 without __type", op, body)
		}
		if !slices.Contains(ops, op) {
			if e.Type != awsapi.UnknownOperationException {
				t.Fatalf("unknown operation %q answered %s", op, e.Type)
			}
			return
		}
		if verr := awsapi.KMS.CheckInput(op, []byte(body)); verr != nil {
			if verr.Type != awsapi.SerializationException && verr.Type != awsapi.ValidationException {
				t.Fatalf("decoder answered %s", verr.Type)
			}
			if e.Type != verr.Type {
				t.Fatalf("%s %q: decoder says %s, endpoint answered %s", op, body, verr.Type, e.Type)
			}
		}
	})
}

// FuzzCiphertextBlob: any bytes given to Decrypt are refused with an exception, never a panic;
// the parser itself refuses only with InvalidCiphertextException.
func FuzzCiphertextBlob(f *testing.F) {
	s, err := Open(Config{DataDir: f.TempDir(), NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	c := s.newCaller(&awsapi.Caller{Region: "us-east-1", Account: "111122223333"}, "kms:Decrypt")
	out, err := createKey(s, ctx(), c, &createKeyInput{})
	if err != nil {
		f.Fatal(err)
	}
	ck, _ := s.forEncrypt(c, out.KeyMetadata.KeyId, "")
	good, err := encrypt(ctx(), ck, map[string]string{"a": "b"}, []byte("plaintext"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:48])
	f.Add([]byte{1})
	f.Add(append([]byte{2}, good[1:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, perr := parseBlob(b); perr != nil && perr.Type != errInvalidCiphertext {
			t.Fatalf("parser answered %s", perr.Type)
		}
		_, plain, err := s.decrypt(ctx(), c, nil, "", map[string]string{"a": "b"}, b)
		if err == nil {
			if string(b) != string(good) || string(plain) != "plaintext" {
				t.Fatalf("forged ciphertext %x decrypted", b)
			}
			return
		}
		switch toAWS(err).Type {
		case errInvalidCiphertext, errNotFound:
		default:
			t.Fatalf("Decrypt of %x: %v", b, err)
		}
	})
}
