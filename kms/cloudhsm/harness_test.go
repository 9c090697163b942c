package cloudhsm_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// The accounts of apiEnv's two access keys: the owner of the clusters, and another account that
// backups are shared with.
const (
	ownerAccount    = "111122223333"
	consumerAccount = "444455556666"
	ownerKey        = "AKIAHSMSIMOWNER00001"
	consumerKey     = "AKIAHSMSIMCONSUMER01"
)

// testClock is the service's clock in tests that must not wait days: the wall clock at the
// start, moved on by the test.
type testClock struct {
	start  time.Time
	offset atomic.Int64 // nanoseconds the test moved the clock on
}

func (c *testClock) Now() time.Time { return c.start.Add(time.Duration(c.offset.Load())) }

func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// apiEnv is the CloudHSM service alone behind its own endpoint (no KMS), with a clock the test
// moves, and SDK clients for two accounts in any region: one hsmsim serves every region, the
// region of a request is its SigV4 credential scope's.
type apiEnv struct {
	t     *testing.T
	svc   *cloudhsm.Service
	url   string
	clock *testClock
}

func newAPIEnv(t *testing.T) *apiEnv { return newAPIEnvWith(t, cloudhsm.Config{}) }

// newAPIEnvWith is newAPIEnv with cfg's HsmReplaceTime.
func newAPIEnvWith(t *testing.T, cfg cloudhsm.Config) *apiEnv {
	t.Helper()
	clock := &testClock{start: time.Now().UTC()}
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: t.TempDir(), NoSync: true, Now: clock.Now,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts(),
		MaintenanceInterval: 20 * time.Millisecond, HsmReplaceTime: cfg.HsmReplaceTime})
	check(t, err)
	hs := httptest.NewServer(awsapi.NewEndpoint(awsapi.Config{Credentials: []awsapi.Credential{
		{AccessKeyID: ownerKey, SecretAccessKey: "owner/secret", AccountID: ownerAccount},
		{AccessKeyID: consumerKey, SecretAccessKey: "consumer/secret", AccountID: consumerAccount},
	}}, cloudhsm.NewAPI(svc)))
	t.Cleanup(func() {
		hs.Close()
		_ = svc.Close()
	})
	return &apiEnv{t: t, svc: svc, url: hs.URL, clock: clock}
}

// client is an SDK client of the owner's account (key ownerKey) or another's, in region.
func (e *apiEnv) client(key, region string) *hsm.Client {
	return hsm.New(hsm.Options{Region: region, BaseEndpoint: aws.String(e.url), RetryMaxAttempts: 1,
		HTTPClient:  &http.Client{Timeout: 90 * time.Second},
		Credentials: credentials.NewStaticCredentialsProvider(key, "secret", "")})
}

// provision makes an ACTIVE cluster of the owner's in region with HSMs in the given AZs.
func (e *apiEnv) provision(region string, hsmType string, azs ...string) *cloudhsm.Provisioned {
	e.t.Helper()
	p, err := e.svc.Provision(ctx(), cloudhsm.ProvisionOptions{Account: ownerAccount, Region: region, AZs: azs, HSMs: azs,
		HsmType: hsmType, Tag: "test", AdminPassword: adminPass, CryptoUsers: []cloudhsm.User{{Name: "alice", Password: "alicepass1"}}})
	check(e.t, err)
	return p
}

// eventually polls f until it holds or the deadline passes.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", waitDeadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantAWSErr checks the exception's type and the HTTP status it came with.
func wantAWSErr(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("%s: want HTTP %d, got %v", code, status, err)
	}
}
