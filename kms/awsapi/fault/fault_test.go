package fault_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/awsapi/fault"
)

// env is a KMS (with CloudHSM V2, IAM and STS on the same endpoint) on a loopback port whose
// endpoint consults a fault.Set.
type env struct {
	set *fault.Set
	url string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	set := fault.New(fault.Config{Seed: 1})
	s, err := kms.Open(kms.Config{DataDir: t.TempDir(), NoSync: true, SweepEvery: time.Hour, Faults: set})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() { set.Clear(); hs.Close(); _ = s.Close() })
	return &env{set: set, url: hs.URL}
}

// kmsClient is the SDK's client with retries off, so every fault is seen.
func (e *env) kmsClient(region, ak string, timeout time.Duration) *awskms.Client {
	return awskms.New(awskms.Options{Region: region, BaseEndpoint: aws.String(e.url), Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(ak, "secret", ""), HTTPClient: &http.Client{Timeout: timeout}})
}

func (e *env) add(t *testing.T, r fault.Rule) fault.Rule {
	t.Helper()
	got, err := e.set.Add(r)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func newKey(t *testing.T, c *awskms.Client) string {
	t.Helper()
	out, err := c.CreateKey(context.Background(), &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

func encrypt(c *awskms.Client, key string) error {
	_, err := c.Encrypt(context.Background(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
	return err
}

// wantAWS checks err is the AWS error code with the HTTP status.
func wantAWS(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("want %s (%d), got %v", code, status, err)
	}
}

func TestErrorMatchesOperationAndKeyAsWritten(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 10*time.Second)
	k1, k2 := newKey(t, c), newKey(t, c)
	arn := "arn:aws:kms:us-east-1:111122223333:key/" + k1
	if _, err := c.CreateAlias(context.Background(), &awskms.CreateAliasInput{AliasName: aws.String("alias/one"), TargetKeyId: aws.String(k1)}); err != nil {
		t.Fatal(err)
	}
	r := e.add(t, fault.Rule{Error: "ThrottlingException", Operations: []string{"Encrypt"}, Keys: []string{arn}})
	if r.Status != 400 || r.Message == "" || r.ID != "api-1" || time.Until(r.Expires) > fault.DefaultFor {
		t.Fatalf("rule in force: %+v", r)
	}
	wantAWS(t, encrypt(c, k1), "ThrottlingException", 400)
	wantAWS(t, encrypt(c, arn), "ThrottlingException", 400)
	if err := encrypt(c, k2); err != nil {
		t.Fatalf("another key: %v", err)
	}
	// Aliases are not resolved: the alias of k1 is another name as written.
	if err := encrypt(c, "alias/one"); err != nil {
		t.Fatalf("k1 by its alias: %v", err)
	}
	if _, err := c.DescribeKey(context.Background(), &awskms.DescribeKeyInput{KeyId: aws.String(k1)}); err != nil {
		t.Fatalf("another operation: %v", err)
	}
	if l := e.set.List(); len(l) != 1 || l[0].Hits != 2 {
		t.Fatalf("list %+v, want one rule with 2 hits", l)
	}
	// Faults and their default statuses, as the KMS answers them.
	for typ, st := range map[string]int{"KMSInternalException": 500, "DependencyTimeoutException": 503, "KeyUnavailableException": 500,
		"CustomKeyStoreInvalidStateException": 400} {
		e.set.Clear()
		e.add(t, fault.Rule{Error: typ, Keys: []string{"alias/one"}})
		wantAWS(t, encrypt(c, "alias/one"), typ, st)
	}
}

func TestRegionAndCaller(t *testing.T) {
	e := newEnv(t)
	east := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 10*time.Second)
	west := e.kmsClient("eu-west-1", "AKIAFAULTTEST0000001", 10*time.Second)
	other := e.kmsClient("us-east-1", "AKIAFAULTTEST0000002", 10*time.Second)
	list := func(c *awskms.Client) error {
		_, err := c.ListKeys(context.Background(), &awskms.ListKeysInput{})
		return err
	}
	e.add(t, fault.Rule{Error: "KMSInternalException", Regions: []string{"eu-west-1"}})
	wantAWS(t, list(west), "KMSInternalException", 500)
	if err := list(east); err != nil {
		t.Fatal(err)
	}
	e.set.Clear()
	// An unknown access key acts as the account's root: its ARN matches too.
	e.add(t, fault.Rule{Error: "KMSInternalException", Callers: []string{"AKIAFAULTTEST0000002"}})
	wantAWS(t, list(other), "KMSInternalException", 500)
	if err := list(east); err != nil {
		t.Fatal(err)
	}
	e.set.Clear()
	e.add(t, fault.Rule{Error: "KMSInternalException", Callers: []string{"arn:aws:iam::111122223333:root"}})
	wantAWS(t, list(east), "KMSInternalException", 500)
}

// TestEveryFace: the same rules reach CloudHSM V2 (JSON) and IAM (Query).
func TestEveryFace(t *testing.T) {
	e := newEnv(t)
	creds := credentials.NewStaticCredentialsProvider("AKIAFAULTTEST0000001", "secret", "")
	hsm := cloudhsmv2.New(cloudhsmv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), Retryer: aws.NopRetryer{}, Credentials: creds})
	iam := awsiam.New(awsiam.Options{Region: "us-east-1", BaseEndpoint: aws.String(e.url), Retryer: aws.NopRetryer{}, Credentials: creds})
	e.add(t, fault.Rule{Services: []string{"cloudhsmv2"}, Error: "CloudHsmInternalFailureException"})
	e.add(t, fault.Rule{Services: []string{"iam"}, Operations: []string{"ListUsers"}, Error: "ServiceFailure", Status: 500})
	_, err := hsm.DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{})
	wantAWS(t, err, "CloudHsmInternalFailureException", 500)
	_, err = iam.ListUsers(context.Background(), &awsiam.ListUsersInput{})
	wantAWS(t, err, "ServiceFailure", 500)
	if _, err := iam.CreateUser(context.Background(), &awsiam.CreateUserInput{UserName: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
}

func TestProbabilityIsSeeded(t *testing.T) {
	run := func() []bool {
		e := newEnv(t)
		c := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 10*time.Second)
		half := 0.5
		e.add(t, fault.Rule{Error: "ThrottlingException", Operations: []string{"ListKeys"}, Probability: &half, Seed: 7})
		var out []bool
		for range 100 {
			_, err := c.ListKeys(context.Background(), &awskms.ListKeysInput{})
			out = append(out, err != nil)
		}
		return out
	}
	a, b := run(), run()
	n := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: one seed, two outcomes", i)
		}
		if a[i] {
			n++
		}
	}
	if n < 30 || n > 70 {
		t.Fatalf("%d of 100 requests failed at p=0.5", n)
	}
}

func TestLatency(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 10*time.Second)
	lat, err := fault.ParseLatency("150ms")
	if err != nil {
		t.Fatal(err)
	}
	e.add(t, fault.Rule{Latency: lat, Operations: []string{"ListKeys"}})
	start := time.Now()
	if _, err := c.ListKeys(context.Background(), &awskms.ListKeysInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered in %s, want at least 150ms", d)
	}
	// A latency rule lets later rules act: delayed, then refused.
	e.add(t, fault.Rule{Error: "DependencyTimeoutException", Operations: []string{"ListKeys"}})
	start = time.Now()
	_, err = c.ListKeys(context.Background(), &awskms.ListKeysInput{})
	wantAWS(t, err, "DependencyTimeoutException", 503)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("refused in %s, want at least 150ms", d)
	}
}

func TestLatencyDistributions(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		text     string
		lo, hi   time.Duration // every draw
		mlo, mhi time.Duration // the mean of 2000
	}{
		{"200ms", 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond},
		{"uniform:100ms,300ms", 100 * time.Millisecond, 300 * time.Millisecond, 190 * time.Millisecond, 210 * time.Millisecond},
		{"normal:200ms,20ms", 100 * time.Millisecond, 300 * time.Millisecond, 195 * time.Millisecond, 205 * time.Millisecond},
		{"exponential:100ms", 0, 2 * time.Second, 90 * time.Millisecond, 110 * time.Millisecond},
	} {
		l, err := fault.ParseLatency(tc.text)
		if err != nil || l.String() != tc.text {
			t.Fatalf("%s: %v, %v", tc.text, l, err)
		}
		var sum time.Duration
		for range 2000 {
			d := l.Draw(rng)
			if d < tc.lo || d > tc.hi {
				t.Fatalf("%s: drew %s", tc.text, d)
			}
			sum += d
		}
		if m := sum / 2000; m < tc.mlo || m > tc.mhi {
			t.Fatalf("%s: mean %s", tc.text, m)
		}
	}
	for _, bad := range []string{"", "fast", "uniform:300ms,100ms", "normal:1s", "poisson:1s", "-1s"} {
		if _, err := fault.ParseLatency(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNoBodyAndReset(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 10*time.Second)
	r := e.add(t, fault.Rule{Action: fault.ActNoBody, Status: 503, Operations: []string{"ListKeys"}})
	_, err := c.ListKeys(context.Background(), &awskms.ListKeysInput{})
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Fatalf("want an HTTP 503, got %v", err)
	}
	e.set.Remove(r.ID)
	e.add(t, fault.Rule{Action: fault.ActReset, Operations: []string{"ListKeys"}})
	_, err = c.ListKeys(context.Background(), &awskms.ListKeysInput{})
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("want a connection reset, got %v", err)
	}
}

func TestTimeout(t *testing.T) {
	e := newEnv(t)
	impatient := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 300*time.Millisecond)
	r := e.add(t, fault.Rule{Action: fault.ActTimeout, Operations: []string{"ListKeys"}, Hold: fault.Duration(time.Minute)})
	start := time.Now()
	_, err := impatient.ListKeys(context.Background(), &awskms.ListKeysInput{})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("want the client's timeout, got %v after %s", err, time.Since(start))
	}
	// A patient client sees the connection dropped at the cap.
	e.set.Remove(r.ID)
	e.add(t, fault.Rule{Action: fault.ActTimeout, Operations: []string{"ListKeys"}, Hold: fault.Duration(200 * time.Millisecond)})
	patient := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 30*time.Second)
	start = time.Now()
	_, err = patient.ListKeys(context.Background(), &awskms.ListKeysInput{})
	if err == nil || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("want the connection dropped after the 200ms cap, got %v after %s", err, time.Since(start))
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.kmsClient("us-east-1", "AKIAFAULTTEST0000001", 10*time.Second)
	e.add(t, fault.Rule{Error: "ThrottlingException", For: fault.Duration(300 * time.Millisecond)})
	_, err := c.ListKeys(context.Background(), &awskms.ListKeysInput{})
	wantAWS(t, err, "ThrottlingException", 400)
	time.Sleep(400 * time.Millisecond)
	if _, err := c.ListKeys(context.Background(), &awskms.ListKeysInput{}); err != nil {
		t.Fatalf("after the expiry: %v", err)
	}
	if l := e.set.List(); len(l) != 0 {
		t.Fatalf("expired rules still listed: %+v", l)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	two := 2.0
	for _, r := range []fault.Rule{
		{},
		{Services: []string{"kms"}},
		{Action: "explode"},
		{Error: "KMSInternalException", Services: []string{"s3"}},
		{Error: "KMSInternalException", Probability: &two},
		{Action: fault.ActLatency},
		{Action: fault.ActFailKeyStore},
		{Action: fault.ActFailKeyStore, Store: "cks-1", Code: "BROKEN"},
		{Action: fault.ActFailKeyStore, Store: "cks-1", Operations: []string{"Encrypt"}},
		{Error: "KMSInternalException", Status: 200},
	} {
		if err := r.Normalize(); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}

// BenchmarkNoRules is the endpoint's cost of a Set with no rule in force.
func BenchmarkNoRules(b *testing.B) {
	s := fault.New(fault.Config{})
	r := httptest.NewRequest("POST", "/", nil)
	for b.Loop() {
		_, _ = s.Intercept(nil, r, nil)
	}
}
