package kms

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// A connected custom key store whose cluster stops answering: CreateKey answers
// DependencyTimeoutException, the retryable exception its model list has (it has no
// KMSInvalidStateException), while the cryptographic operations keep AWS's documented
// "KMS cannot communicate with your CloudHSM cluster" KMSInvalidStateException
// (https://docs.aws.amazon.com/kms/latest/developerguide/fix-keystore.html).
func TestCreateKeyWhenClusterUnreachable(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	check(t, n.Admin(t).CreateUser(ctx(), kmsUser, hsmpb.Role_ROLE_CRYPTO_USER, kmsUserPass))
	twoAZs := []cloudhsm.ClusterHSM{{ID: "hsm-aaaaaaaaaaa", AZ: "us-east-1a", State: "ACTIVE", Addr: n.Addr}, {ID: "hsm-bbbbbbbbbbb", AZ: "us-east-1b", State: "ACTIVE", Addr: n.Addr}}
	dir := &fakeDirectory{clusters: map[string]*cloudhsm.Cluster{}, tls: map[string][]byte{}}
	dir.set(&cloudhsm.Cluster{ID: testClusterID, State: "ACTIVE", TrustAnchorPEM: n.CA.CertPEM, ClusterCertificatePEM: n.CA.CertPEM, HSMs: twoAZs}, n.CA.CertPEM)
	e := newEnv(t, Config{Clusters: dir})
	c := e.kms
	st, err := c.CreateCustomKeyStore(ctx(), &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("s"), CloudHsmClusterId: aws.String(testClusterID),
		TrustAnchorCertificate: aws.String(string(n.CA.CertPEM)), KeyStorePassword: aws.String(kmsUserPass)})
	check(t, err)
	if s := connectAndWait(t, c, *st.CustomKeyStoreId); s.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("connect: %s/%s", s.ConnectionState, s.ConnectionErrorCode)
	}
	k, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: st.CustomKeyStoreId})
	check(t, err)
	n.Stop()
	_, err = c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: st.CustomKeyStoreId})
	wantErr(t, err, "DependencyTimeoutException")
	_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException")
}
