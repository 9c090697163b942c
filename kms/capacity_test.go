package kms

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"golang.org/x/time/rate"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
	"github.com/hsmsim/hsmsim/kms/quota"
)

// load is what a paced load generator saw: requests sent, and those refused with
// ThrottlingException.
type load struct {
	sent, throttled int64
	took            time.Duration
}

// drive calls op at perSecond (a token bucket with no burst, so the pace is even) from workers
// goroutines for d; every error but ThrottlingException fails the test.
func drive(t *testing.T, perSecond float64, workers int, d time.Duration, op func(context.Context) error) load {
	t.Helper()
	pace := rate.NewLimiter(rate.Limit(perSecond), 1)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var sent, throttled atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pace.Wait(ctx) == nil {
				sent.Add(1)
				err := op(context.Background())
				var ae smithy.APIError
				switch {
				case err == nil:
				case errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException":
					throttled.Add(1)
				default:
					t.Errorf("request: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	l := load{sent: sent.Load(), throttled: throttled.Load(), took: time.Since(start)}
	t.Logf("%.0f/s offered for %v: %d sent (%.0f/s), %d throttled", perSecond, d, l.sent, float64(l.sent)/l.took.Seconds(), l.throttled)
	return l
}

// The capacity profile's KMS quotas on a custom key store: GenerateDataKey takes three of the
// store's units a second, so a third of the quota passes and more is throttled, with AWS's
// error, through the real SDK. Below the quota nothing is throttled; above it, what passes is
// what the quota allows: one second's worth at the start (the bucket's burst) and the rate
// after. The test runs AWS's limits with the key store's quota at a quarter of AWS's 1,800
// units (quota.AWS has the figure and its source): what is tested is the accounting, and at
// 1,800 it needs over 600 GenerateDataKey a second through the SDK, more than a 2-core CI
// machine gives beside other packages' tests (695/s was seen, and the run could not judge).
func TestCustomKeyStoreQuotaThrottlesAboveAndNeverBelow(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	check(t, n.Admin(t).CreateUser(ctx(), kmsUser, hsmpb.Role_ROLE_CRYPTO_USER, kmsUserPass))
	dir := &fakeDirectory{clusters: map[string]*cloudhsm.Cluster{}, tls: map[string][]byte{}}
	dir.set(&cloudhsm.Cluster{ID: testClusterID, State: "ACTIVE", TrustAnchorPEM: n.CA.CertPEM, ClusterCertificatePEM: n.CA.CertPEM,
		HSMs: []cloudhsm.ClusterHSM{{ID: "hsm-aaaaaaaaaaa", AZ: "us-east-1a", State: "ACTIVE", Addr: n.Addr}, {ID: "hsm-bbbbbbbbbbb", AZ: "us-east-1b", State: "ACTIVE", Addr: n.Addr}}},
		n.CA.CertPEM)
	lim := quota.AWS
	lim.CustomKeyStore = quota.AWS.CustomKeyStore / 4 // 450 units: 150 GenerateDataKey a second
	q := quota.New(lim, nil)
	e := newEnv(t, Config{Clusters: dir, Faults: q})
	q.UseKeys(e.srv)
	c := benchClient(e.hs.URL) // no retries, a pool for many callers
	st, err := c.CreateCustomKeyStore(ctx(), &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("quota"),
		CloudHsmClusterId: aws.String(testClusterID), TrustAnchorCertificate: aws.String(string(n.CA.CertPEM)), KeyStorePassword: aws.String(kmsUserPass)})
	check(t, err)
	if s := connectAndWait(t, c, *st.CustomKeyStoreId); s.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("custom key store: %s/%s", s.ConnectionState, s.ConnectionErrorCode)
	}
	k, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: st.CustomKeyStoreId})
	check(t, err)
	gdk := func(ctx context.Context) error {
		_, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: k.KeyMetadata.KeyId, KeySpec: types.DataKeySpecAes256})
		return err
	}
	const window = 2 * time.Second

	perSecond := lim.CustomKeyStore / 3 // GenerateDataKey costs three units

	// Below: three quarters of the quota.
	below := drive(t, 0.75*perSecond, 8, window, gdk)
	if below.throttled != 0 {
		t.Fatalf("%d of %d requests throttled at three quarters of the key store's quota", below.throttled, below.sent)
	}
	if float64(below.sent) < 0.8*0.75*perSecond*window.Seconds() {
		t.Fatalf("only %d requests went out in %v: the load generator did not reach its rate", below.sent, window)
	}

	time.Sleep(time.Second) // the bucket fills again
	// Above: twice the quota.
	above := drive(t, 2*perSecond, 32, window, gdk)
	passed := above.sent - above.throttled
	// What the quota allows in the run: a second's worth at once, then the rate (plus one for timing).
	allowed := int64(perSecond + perSecond*above.took.Seconds() + 1)
	if above.sent <= allowed {
		t.Fatalf("only %d requests went out in %v, no more than the quota allows (%d): the load generator did not exceed it", above.sent, above.took, allowed)
	}
	if above.throttled == 0 || passed > allowed {
		t.Fatalf("at twice the quota %d of %d passed and %d were throttled, want some throttled and at most %d passed",
			passed, above.sent, above.throttled, allowed)
	}
	// The same SDK call sees AWS's exact error: ThrottlingException with KMS's message.
	var last error
	for range int(perSecond) + 100 {
		if last = gdk(ctx()); last != nil {
			break
		}
	}
	var ae smithy.APIError
	if !errors.As(last, &ae) || ae.ErrorCode() != "ThrottlingException" ||
		ae.ErrorMessage() != "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls." {
		t.Fatalf("over the quota: %v, want ThrottlingException with KMS's message", last)
	}
}
