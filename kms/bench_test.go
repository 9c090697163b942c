package kms

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// benchClient is an SDK client with a connection pool big enough for 64 concurrent callers
// (the SDK's default transport keeps few idle connections per host).
func benchClient(url string) *awskms.Client {
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return awskms.New(awskms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKey, testSecret, ""),
		HTTPClient:  &http.Client{Transport: tr, Timeout: 30 * time.Second},
	})
}

// runConcurrent splits b.N calls over n goroutines and reports requests/s, p50 and p99.
func runConcurrent(b *testing.B, n int, call func() error) {
	b.Helper()
	lat := make([][]time.Duration, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	b.ResetTimer()
	for g := 0; g < n; g++ {
		count := b.N / n
		if g < b.N%n {
			count++
		}
		wg.Add(1)
		go func(g, count int) {
			defer wg.Done()
			for i := 0; i < count; i++ {
				start := time.Now()
				if err := call(); err != nil {
					errs <- err
					return
				}
				lat[g] = append(lat[g], time.Since(start))
			}
		}(g, count)
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkKMS measures Encrypt (256 B) and GenerateDataKey through aws-sdk-go-v2 against the
// KMS on loopback, at 1, 16 and 64 concurrent callers, for a default-store key and for a key in a
// custom key store backed by a 3-HSM cluster (every operation runs inside an HSM).
func BenchmarkKMS(b *testing.B) {
	dir := &fakeDirectory{clusters: map[string]*cloudhsm.Cluster{}, tls: map[string][]byte{}}
	srv, err := Open(Config{DataDir: b.TempDir(), Clusters: dir})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { hs.Close(); srv.Close() })
	c := benchClient(hs.URL)
	ctx := context.Background()

	def, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}

	// The custom key store: a real cluster, kmsuser created by its admin, connected.
	cl := clustertest.Start(b, clustertest.Options{Nodes: 3})
	adm := cl.Pool(b)
	if err := adm.Login(ctx, "admin", clustertest.AdminPassword); err != nil {
		b.Fatal(err)
	}
	if _, err := adm.Do(ctx, func(ctx context.Context, x *client.Client) error {
		return x.CreateUser(ctx, kmsUser, hsmpb.Role_ROLE_CRYPTO_USER, kmsUserPass)
	}); err != nil {
		b.Fatal(err)
	}
	entry := &cloudhsm.Cluster{ID: cl.ID, State: "ACTIVE", TrustAnchorPEM: cl.CA.CertPEM, ClusterCertificatePEM: cl.CA.CertPEM}
	for _, n := range cl.Nodes() {
		entry.HSMs = append(entry.HSMs, cloudhsm.ClusterHSM{ID: n.ID, AZ: n.AZ, State: "ACTIVE", Addr: n.APIAddr()})
	}
	dir.set(entry, cl.CA.CertPEM)
	st, err := c.CreateCustomKeyStore(ctx, &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("bench"),
		CloudHsmClusterId: aws.String(cl.ID), TrustAnchorCertificate: aws.String(string(cl.CA.CertPEM)), KeyStorePassword: aws.String(kmsUserPass)})
	if err != nil {
		b.Fatal(err)
	}
	if s := connectAndWait(b, c, *st.CustomKeyStoreId); s.ConnectionState != types.ConnectionStateTypeConnected {
		b.Fatalf("custom key store: %s/%s", s.ConnectionState, s.ConnectionErrorCode)
	}
	cks, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: st.CustomKeyStoreId})
	if err != nil {
		b.Fatal(err)
	}

	plain := make([]byte, 256)
	for _, key := range []struct{ store, id string }{{"default", *def.KeyMetadata.KeyId}, {"custom", *cks.KeyMetadata.KeyId}} {
		for _, n := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("Encrypt-256B/%s-store/clients=%d", key.store, n), func(b *testing.B) {
				runConcurrent(b, n, func() error {
					_, err := c.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String(key.id), Plaintext: plain})
					return err
				})
			})
			b.Run(fmt.Sprintf("GenerateDataKey/%s-store/clients=%d", key.store, n), func(b *testing.B) {
				runConcurrent(b, n, func() error {
					_, err := c.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: aws.String(key.id), KeySpec: types.DataKeySpecAes256})
					return err
				})
			})
		}
	}
}
