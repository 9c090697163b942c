package kms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/kms/customstore"
)

// testEnv is a server on a loopback port and the AWS SDK's KMS client pointed at it.
type testEnv struct {
	t     testing.TB
	dir   string
	cfg   Config
	srv   *Server
	hs    *httptest.Server
	kms   *awskms.Client
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	testAccessKey = "AKIAHSMSIMTEST000001"
	testSecret    = "hsmsim/test/secret/key/0000000000000000"
)

func newEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	e := &testEnv{t: t, dir: t.TempDir(), clock: &fakeClock{t: time.Now().UTC()}}
	cfg.DataDir = e.dir
	cfg.NoSync = true
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	cfg.SweepEvery = time.Hour // tests sweep by hand
	e.cfg = cfg
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *testEnv) open() {
	e.t.Helper()
	s, err := Open(e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv = s
	e.hs = httptest.NewServer(s)
	e.kms = sdkClient(e.hs.URL, testAccessKey, testSecret)
}

func (e *testEnv) close() {
	if e.srv == nil {
		return
	}
	e.hs.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Error(err)
	}
	e.srv = nil
}

// restart closes the server and opens the same data directory again.
func (e *testEnv) restart() {
	e.close()
	e.open()
}

func sdkClient(url, ak, secret string) *awskms.Client {
	return awskms.New(awskms.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider(ak, secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Timeout: 30 * time.Second},
	})
}

func ctx() context.Context { return context.Background() }

// wantErr checks that err is the AWS exception code (as the SDK decodes it: a typed exception or
// a smithy.GenericAPIError for the front end's own exceptions).
func wantErr(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("want %s, got %v", code, err)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("want %s, got %s: %s", code, ae.ErrorCode(), ae.ErrorMessage())
	}
}

// check fails the test on err.
func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// crash stops the server the way a killed process stops: its HSM connections drop without a
// logout, so the cluster still holds its kmsuser login.
func (e *testEnv) crash() {
	e.hs.Close()
	s := e.srv
	s.stop()
	s.wg.Wait()
	s.hsm.DropAll(func(cl *client.Client) { _ = cl.Close() })
	if err := s.db.Close(); err != nil {
		e.t.Error(err)
	}
	e.srv = nil
}

// kmsUser is the crypto user a custom key store logs in as.
const kmsUser = customstore.KMSUser
