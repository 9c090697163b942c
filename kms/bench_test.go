package kms

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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
	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// benchClient is an SDK client with a connection pool big enough for 64 concurrent callers
// (the SDK's default transport keeps few idle connections per host).
func benchClient(url string) *awskms.Client { return benchClientAs(url, testAccessKey, testSecret) }

// benchClientAs is benchClient signing with another access key.
func benchClientAs(url, ak, secret string) *awskms.Client {
	tr := &http.Transport{MaxIdleConns: 128, MaxIdleConnsPerHost: 128, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	return awskms.New(awskms.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(ak, secret, ""),
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

// twentyStatements is a key policy as a careful administrator writes one: 20 statements with
// conditions (network fence, admins, tenants with encryption context conditions, grants only for
// AWS resources, rotation bounds), the last of which allows user alice to Encrypt with
// tenant=42. Every statement before it is tried and fails on its principal or its condition.
func twentyStatements(userARN string) string {
	var s []string
	s = append(s, `{"Sid":"deny-outside","Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":["127.0.0.0/8","10.0.0.0/8","::1/128"]}}}`)
	s = append(s, `{"Sid":"deny-delete","Effect":"Deny","Principal":"*","Action":["kms:ScheduleKeyDeletion","kms:DeleteImportedKeyMaterial"],"Resource":"*","Condition":{"StringNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/admin/*"}}}`)
	s = append(s, `{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalType":"Account"}}}`)
	for i := 0; i < 8; i++ {
		s = append(s, fmt.Sprintf(`{"Sid":"admins-%d","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/admin/a%d"},"Action":["kms:Create*","kms:Describe*","kms:Enable*","kms:List*","kms:Put*","kms:Update*","kms:Revoke*","kms:Disable*","kms:Get*","kms:Delete*","kms:TagResource","kms:UntagResource","kms:ScheduleKeyDeletion","kms:CancelKeyDeletion"],"Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2999-01-01T00:00:00Z"}}}`, i, i))
	}
	for i := 0; i < 6; i++ {
		s = append(s, fmt.Sprintf(`{"Sid":"tenant-%d","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:role/app/t%d","arn:aws:iam::444455556666:user/t%d"]},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"%d","kms:CallerAccount":"444455556666"},"ForAllValues:StringLike":{"kms:EncryptionContextKeys":["tenant","purpose*"]},"StringEqualsIfExists":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}}`, i, i, i, i))
	}
	s = append(s, `{"Sid":"grants","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["kms:CreateGrant","kms:ListGrants","kms:RevokeGrant"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}}`)
	s = append(s, `{"Sid":"rotation","Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:EnableKeyRotation","Resource":"*","Condition":{"NumericLessThanEquals":{"kms:RotationPeriodInDays":365}}}`)
	s = append(s, `{"Sid":"app-users","Effect":"Allow","Principal":{"AWS":"`+userARN+`"},"Action":["kms:Encrypt","kms:Decrypt","kms:GenerateDataKey*"],"Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"42"},"ForAllValues:StringLike":{"kms:EncryptionContextKeys":["tenant","purpose*"]},"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}}`)
	return `{"Version":"2012-10-17","Id":"bench","Statement":[` + strings.Join(s, ",\n") + `]}`
}

// BenchmarkKMSAuthorization measures what authorization costs Encrypt (256 B) through
// aws-sdk-go-v2 at 16 clients: the administrator under the default key policy, an IAM user
// allowed by the last of a 20-statement policy with conditions, and an IAM user with no policy
// at all allowed through a grant.
func BenchmarkKMSAuthorization(b *testing.B) {
	e := newEnv(b, Config{})
	ctx := context.Background()
	c := benchClient(e.hs.URL)
	alice := e.newUser("alice", nil)
	grantee := e.newUser("grantee", nil)
	def, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	big, err := c.CreateKey(ctx, &awskms.CreateKeyInput{Policy: aws.String(twentyStatements(alice.arn))})
	if err != nil {
		b.Fatal(err)
	}
	granted, err := c.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateGrant(ctx, &awskms.CreateGrantInput{KeyId: granted.KeyMetadata.KeyId, GranteePrincipal: aws.String(grantee.arn),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt}}); err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, 256)
	tenant := map[string]string{"tenant": "42", "purpose-x": "bench"}
	for _, tc := range []struct {
		name string
		c    *awskms.Client
		key  *string
		ec   map[string]string
	}{
		{"default-policy/admin", c, def.KeyMetadata.KeyId, tenant},
		{"20-statement-policy/iam-user", benchClientAs(e.hs.URL, alice.ak, alice.secret), big.KeyMetadata.KeyId, tenant},
		{"grant/iam-user", benchClientAs(e.hs.URL, grantee.ak, grantee.secret), granted.KeyMetadata.KeyId, tenant},
	} {
		b.Run("Encrypt-256B/"+tc.name+"/clients=16", func(b *testing.B) {
			runConcurrent(b, 16, func() error {
				_, err := tc.c.Encrypt(ctx, &awskms.EncryptInput{KeyId: tc.key, Plaintext: plain, EncryptionContext: tc.ec})
				return err
			})
		})
	}
}

// BenchmarkAuthorize is the in-process part of BenchmarkKMSAuthorization: what deciding one
// Encrypt costs (the caller's request with its condition keys, then the key policy, identity
// policies and grants), without HTTP, SigV4 or cryptography, whose noise hides it on a shared
// machine.
func BenchmarkAuthorize(b *testing.B) {
	e := newEnv(b, Config{})
	alice := e.newUser("alice", nil)
	grantee := e.newUser("grantee", nil)
	def, _ := e.newKey("")
	big, _ := e.newKey(twentyStatements(alice.arn))
	granted, _ := e.newKey("")
	if _, err := e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(granted), GranteePrincipal: aws.String(grantee.arn),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt}}); err != nil {
		b.Fatal(err)
	}
	s := e.srv
	in := &encryptInput{EncryptionContext: map[string]string{"tenant": "42", "purpose-x": "bench"}}
	for _, tc := range []struct{ name, ak, key string }{
		{"default-policy/admin", testAccessKey, def},
		{"20-statement-policy/iam-user", alice.ak, big},
		{"grant/iam-user", grantee.ak, granted},
	} {
		cred, _ := s.iam.Credential(tc.ak)
		ac := &awsapi.Caller{AccessKey: tc.ak, Region: "us-east-1", Account: "111122223333", Principal: cred.Principal, SourceIP: "127.0.0.1"}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c := s.newCaller(ac, "kms:Encrypt")
				in.conditions(c)
				s.mu.RLock()
				_, err := s.resolve(c, tc.key)
				s.mu.RUnlock()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
