package quota

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/ciphertext"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// keys is a KMS with fixed keys: id → spec and store.
type keys map[string][2]string

func (k keys) QuotaKey(_ *awsapi.Caller, ref string) (string, string, bool) {
	v, ok := k[ref]
	return v[0], v[1], ok
}

const hsmKeyID = "0b8f1b7e-4c5d-4e6f-8a9b-0c1d2e3f4a5b"

var (
	alice = &awsapi.Caller{Account: "111122223333", Region: "us-east-1"}
	bob   = &awsapi.Caller{Account: "444455556666", Region: "us-east-1"}
)

func newQuotas(t *testing.T) (*Quotas, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	q := New(AWS, c.now)
	q.UseKeys(keys{
		"sym":    {"SYMMETRIC_DEFAULT", ""},
		"rsa":    {"RSA_2048", ""},
		"hsm":    {"SYMMETRIC_DEFAULT", "cks-1234567890abcdef0"},
		"hsm-2":  {"SYMMETRIC_DEFAULT", "cks-abcdef01234567890"},
		hsmKeyID: {"SYMMETRIC_DEFAULT", "cks-1234567890abcdef0"},
	})
	return q, c
}

// call sends one request; true when it passed.
func call(t *testing.T, q *Quotas, c *awsapi.Caller, op string, body any) bool {
	t.Helper()
	b, _ := json.Marshal(body)
	_, err := q.Intercept(nil, nil, &awsapi.Request{Service: "kms", Operation: op, Caller: c, Body: b})
	if err == nil {
		return true
	}
	var e *awsapi.Error
	if !errors.As(err, &e) || e.Type != "ThrottlingException" || e.Status != 400 ||
		e.Message != "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls." {
		t.Fatalf("%s refused with %v, want AWS's ThrottlingException", op, err)
	}
	return false
}

// passes counts how many of n back-to-back requests pass.
func passes(t *testing.T, q *Quotas, c *awsapi.Caller, op string, body any, n int) int {
	t.Helper()
	ok := 0
	for range n {
		if call(t, q, c, op, body) {
			ok++
		}
	}
	return ok
}

func TestAnOperationGetsOneSecondOfItsRateThenItsRate(t *testing.T) {
	q, clk := newQuotas(t)
	if got := passes(t, q, alice, "CreateKey", nil, 8); got != 5 {
		t.Fatalf("%d of 8 CreateKey at once passed, want 5 (5/s)", got)
	}
	if got := passes(t, q, alice, "CreateAlias", nil, 8); got != 5 {
		t.Fatalf("CreateAlias shares CreateKey's quota: %d of 8 passed", got)
	}
	if got := passes(t, q, bob, "CreateKey", nil, 8); got != 5 {
		t.Fatalf("another account shares alice's quota: %d of 8 passed", got)
	}
	clk.advance(200 * time.Millisecond)
	if got := passes(t, q, alice, "CreateKey", nil, 3); got != 1 {
		t.Fatalf("%d CreateKey passed 200 ms later, want 1", got)
	}
	if got := passes(t, q, alice, "GetParametersForImport", nil, 2); got != 1 {
		t.Fatalf("%d GetParametersForImport passed at once, want 1 (one in each 4 s)", got)
	}
	clk.advance(3 * time.Second)
	if call(t, q, alice, "GetParametersForImport", nil) {
		t.Fatal("a second GetParametersForImport passed within 4 s")
	}
	clk.advance(time.Second)
	if !call(t, q, alice, "GetParametersForImport", nil) {
		t.Fatal("GetParametersForImport refused 4 s after the last")
	}
	if got := passes(t, q, alice, "ListKeyRotations", nil, 100); got != 100 {
		t.Fatalf("an operation without a listed quota was throttled: %d of 100 passed", got)
	}
	if _, err := q.Intercept(nil, nil, &awsapi.Request{Service: "cloudhsm", Operation: "CreateKey", Caller: alice}); err != nil {
		t.Fatalf("another service's request was counted: %v", err)
	}
}

func TestCryptographicOperationsShareAQuotaPerKeyType(t *testing.T) {
	q, _ := newQuotas(t)
	if got := passes(t, q, alice, "Sign", map[string]string{"KeyId": "rsa"}, 600) +
		passes(t, q, alice, "Verify", map[string]string{"KeyId": "rsa"}, 600); got != 1000 {
		t.Fatalf("%d RSA Sign and Verify passed at once, want 1000 (the shared RSA quota)", got)
	}
	if got := passes(t, q, alice, "Encrypt", map[string]string{"KeyId": "sym"}, 1000); got != 1000 {
		t.Fatalf("symmetric keys share the RSA quota: %d of 1000 passed", got)
	}
	if got := passes(t, q, alice, "GenerateDataKeyPair", map[string]string{"KeyId": "sym", "KeyPairSpec": "RSA_2048"}, 3); got != 1 {
		t.Fatalf("%d GenerateDataKeyPair RSA_2048 passed at once, want 1", got)
	}
	if !call(t, q, alice, "GenerateDataKeyPairWithoutPlaintext", map[string]string{"KeyId": "sym", "KeyPairSpec": "ECC_NIST_P256"}) {
		t.Fatal("ECC_NIST_P256 key pairs share RSA_2048's quota")
	}
}

// A custom key store's 1,800 units a second: Encrypt takes one, GenerateDataKey and
// GenerateRandom three; each store counts alone; Decrypt finds the key in its ciphertext.
func TestACustomKeyStoreHas1800UnitsASecond(t *testing.T) {
	q, clk := newQuotas(t)
	if got := passes(t, q, alice, "GenerateDataKey", map[string]string{"KeyId": "hsm"}, 700); got != 600 {
		t.Fatalf("%d GenerateDataKey passed at once, want 600 (1,800 units, 3 each)", got)
	}
	if call(t, q, alice, "Encrypt", map[string]string{"KeyId": "hsm"}) {
		t.Fatal("an Encrypt passed on a used-up key store")
	}
	if !call(t, q, alice, "Encrypt", map[string]string{"KeyId": "hsm-2"}) || !call(t, q, alice, "Encrypt", map[string]string{"KeyId": "sym"}) {
		t.Fatal("another key store, or the default one, shares the used-up store's quota")
	}
	clk.advance(time.Second / 600) // three units
	if !call(t, q, alice, "GenerateRandom", map[string]string{"CustomKeyStoreId": "cks-1234567890abcdef0"}) {
		t.Fatal("GenerateRandom refused once three units came back")
	}
	clk.advance(time.Second)
	blob := ciphertext.Assemble(ciphertext.Header(hsmKeyID, 1), make([]byte, ciphertext.NonceLen), make([]byte, 16))
	if got := passes(t, q, alice, "Decrypt", map[string]any{"CiphertextBlob": blob}, 1900); got != 1800 {
		t.Fatalf("%d Decrypt without KeyId passed, want 1800 (its ciphertext names a key in the store)", got)
	}
}
