package kms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/pki"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

// fakeDirectory is a ClusterDirectory over nodetest nodes. A real hsmsim cluster has one node per
// HSM in different AZs; a nodetest node is a single node, so an entry may list the same node
// twice with two AZ labels to stand for "two active HSMs in two AZs". The KMS logic that counts
// AZs sees two; the cryptography runs on the one node.
type fakeDirectory struct {
	mu       sync.Mutex
	clusters map[string]*cloudhsm.Cluster
	tls      map[string][]byte // cluster id → CA PEM to dial with
}

func (d *fakeDirectory) Cluster(_ context.Context, _, _, id string) (*cloudhsm.Cluster, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.clusters[id]
	if c == nil {
		return nil, cloudhsm.ErrClusterNotFound
	}
	cp := *c
	cp.HSMs = append([]cloudhsm.ClusterHSM(nil), c.HSMs...)
	return &cp, nil
}

func (d *fakeDirectory) Dial(_ context.Context, c *cloudhsm.Cluster) (*client.Client, error) {
	d.mu.Lock()
	ca := d.tls[c.ID]
	d.mu.Unlock()
	var nodes []client.Node
	seen := map[string]bool{}
	for _, h := range c.HSMs {
		if h.State == "ACTIVE" && !seen[h.Addr] {
			seen[h.Addr] = true
			nodes = append(nodes, client.Node{ID: h.ID, AZ: h.AZ, Addr: h.Addr})
		}
	}
	return client.Dial(client.Config{Nodes: nodes, CAPEM: ca, AttemptTimeout: 2 * time.Second, Retries: 1})
}

func (d *fakeDirectory) set(c *cloudhsm.Cluster, ca []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clusters[c.ID] = c
	d.tls[c.ID] = ca
}

func (d *fakeDirectory) update(id string, f func(c *cloudhsm.Cluster)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d.clusters[id])
}

const kmsUserPass = "kmsPassword1"

// testClusterID names the nodetest node in the directory. (nodetest.ClusterID, "cluster-testtesttest1",
// has a 1, outside the AWS id alphabet [2-7a-zA-Z], so the CloudHSM id pattern refuses it.)
const testClusterID = "cluster-hsmsimtestaaa"

// waitConnection polls DescribeCustomKeyStores until the store leaves CONNECTING.
func waitConnection(t testing.TB, c *awskms.Client, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(id)})
		check(t, err)
		st := out.CustomKeyStores[0]
		if st.ConnectionState != types.ConnectionStateTypeConnecting {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatal("store still CONNECTING after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func connectAndWait(t testing.TB, c *awskms.Client, id string) types.CustomKeyStoresListEntry {
	t.Helper()
	check(t, tryOp(c.ConnectCustomKeyStore(ctx(), &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})))
	return waitConnection(t, c, id)
}

func wantFailed(t *testing.T, st types.CustomKeyStoresListEntry, code types.ConnectionErrorCodeType) {
	t.Helper()
	if st.ConnectionState != types.ConnectionStateTypeFailed || st.ConnectionErrorCode != code {
		t.Fatalf("want FAILED/%s, got %s/%s", code, st.ConnectionState, st.ConnectionErrorCode)
	}
}

func disconnect(t *testing.T, c *awskms.Client, id string) {
	t.Helper()
	check(t, tryOp(c.DisconnectCustomKeyStore(ctx(), &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})))
}

// TestCustomKeyStore walks an AWS_CLOUDHSM key store through its life against a real node: every
// CreateCustomKeyStore check, each connection error code the node can produce, keys whose
// material lives in the HSM, the disconnected state, and a restart of the KMS.
func TestCustomKeyStore(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	otherCA, err := pki.NewCA("cluster-otherotherothe")
	check(t, err)
	lineage, err := pki.NewCA("lineage")
	check(t, err)
	twoAZs := []cloudhsm.ClusterHSM{{ID: "hsm-aaaaaaaaaaa", AZ: "us-east-1a", State: "ACTIVE", Addr: n.Addr}, {ID: "hsm-bbbbbbbbbbb", AZ: "us-east-1b", State: "ACTIVE", Addr: n.Addr}}
	dir := &fakeDirectory{clusters: map[string]*cloudhsm.Cluster{}, tls: map[string][]byte{}}
	dir.set(&cloudhsm.Cluster{ID: testClusterID, State: "ACTIVE", TrustAnchorPEM: n.CA.CertPEM, ClusterCertificatePEM: lineage.CertPEM, HSMs: twoAZs}, n.CA.CertPEM)
	// A cluster restored from the same backups: same lineage, another id.
	dir.set(&cloudhsm.Cluster{ID: "cluster-relatedrelated", State: "ACTIVE", TrustAnchorPEM: n.CA.CertPEM, ClusterCertificatePEM: lineage.CertPEM, HSMs: twoAZs}, n.CA.CertPEM)
	dir.set(&cloudhsm.Cluster{ID: "cluster-oneazoneazonea", State: "ACTIVE", TrustAnchorPEM: n.CA.CertPEM, HSMs: twoAZs[:1]}, n.CA.CertPEM)
	dir.set(&cloudhsm.Cluster{ID: "cluster-uninitializedd", State: "UNINITIALIZED", TrustAnchorPEM: n.CA.CertPEM, HSMs: twoAZs}, n.CA.CertPEM)
	e := newEnv(t, Config{Clusters: dir})
	c := e.kms

	create := func(name, cluster string, anchor []byte, pw string) (*awskms.CreateCustomKeyStoreOutput, error) {
		return c.CreateCustomKeyStore(ctx(), &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String(name),
			CloudHsmClusterId: aws.String(cluster), TrustAnchorCertificate: aws.String(string(anchor)), KeyStorePassword: aws.String(pw)})
	}

	// CreateCustomKeyStore checks, in the order a user meets them.
	_, err = create("s", "cluster-nosuchcluster", n.CA.CertPEM, kmsUserPass)
	var cnf *types.CloudHsmClusterNotFoundException
	if !errors.As(err, &cnf) {
		t.Fatalf("missing cluster: %v", err)
	}
	_, err = create("s", "cluster-uninitializedd", n.CA.CertPEM, kmsUserPass)
	var cna *types.CloudHsmClusterNotActiveException
	if !errors.As(err, &cna) {
		t.Fatalf("uninitialized cluster: %v", err)
	}
	_, err = create("s", "cluster-oneazoneazonea", n.CA.CertPEM, kmsUserPass)
	var cic *types.CloudHsmClusterInvalidConfigurationException
	if !errors.As(err, &cic) {
		t.Fatalf("one AZ: %v", err)
	}
	_, err = create("s", testClusterID, otherCA.CertPEM, kmsUserPass)
	var ita *types.IncorrectTrustAnchorException
	if !errors.As(err, &ita) {
		t.Fatalf("wrong trust anchor: %v", err)
	}
	out, err := create("orders-store", testClusterID, n.CA.CertPEM, kmsUserPass)
	check(t, err)
	id := aws.ToString(out.CustomKeyStoreId)
	again, err := create("orders-store", testClusterID, n.CA.CertPEM, kmsUserPass)
	check(t, err)
	if aws.ToString(again.CustomKeyStoreId) != id {
		t.Fatal("creating an identical disconnected store did not return the existing one")
	}
	_, err = create("orders-store", testClusterID, n.CA.CertPEM, "otherPassword")
	var nin *types.CustomKeyStoreNameInUseException
	if !errors.As(err, &nin) {
		t.Fatalf("name in use: %v", err)
	}
	_, err = create("second", testClusterID, n.CA.CertPEM, kmsUserPass)
	var ciu *types.CloudHsmClusterInUseException
	if !errors.As(err, &ciu) {
		t.Fatalf("cluster in use: %v", err)
	}
	_, err = create("second", "cluster-relatedrelated", n.CA.CertPEM, kmsUserPass)
	if !errors.As(err, &ciu) {
		t.Fatalf("related cluster in use: %v", err)
	}
	ds, err := c.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreName: aws.String("orders-store")})
	check(t, err)
	if len(ds.CustomKeyStores) != 1 || ds.CustomKeyStores[0].ConnectionState != types.ConnectionStateTypeDisconnected ||
		aws.ToString(ds.CustomKeyStores[0].CloudHsmClusterId) != testClusterID || ds.CustomKeyStores[0].CustomKeyStoreType != types.CustomKeyStoreTypeAwsCloudhsm {
		t.Fatalf("DescribeCustomKeyStores: %+v", ds.CustomKeyStores)
	}
	_, err = c.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String("cks-00000000000000000")})
	var snf *types.CustomKeyStoreNotFoundException
	if !errors.As(err, &snf) {
		t.Fatalf("unknown store: %v", err)
	}

	// No kmsuser yet: USER_NOT_FOUND. FAILED must be disconnected before connecting again.
	wantFailed(t, connectAndWait(t, c, id), types.ConnectionErrorCodeTypeUserNotFound)
	_, err = c.ConnectCustomKeyStore(ctx(), &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	var sis *types.CustomKeyStoreInvalidStateException
	if !errors.As(err, &sis) {
		t.Fatalf("Connect from FAILED: %v", err)
	}
	disconnect(t, c, id)

	admin := n.Admin(t)
	check(t, admin.CreateUser(ctx(), kmsUser, hsmpb.Role_ROLE_CRYPTO_USER, kmsUserPass))

	// kmsuser is logged in elsewhere: USER_LOGGED_IN, and the password is not rotated under it.
	other := n.Login(t, kmsUser, kmsUserPass)
	wantFailed(t, connectAndWait(t, c, id), types.ConnectionErrorCodeTypeUserLoggedIn)
	check(t, other.Logout(ctx()))
	disconnect(t, c, id)

	// A wrong KeyStorePassword: INVALID_CREDENTIALS (one failed login on the node).
	check(t, tryOp(c.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("wrongPass1")})))
	wantFailed(t, connectAndWait(t, c, id), types.ConnectionErrorCodeTypeInvalidCredentials)
	disconnect(t, c, id)

	// Four more failures lock kmsuser: USER_LOCKED_OUT even with the right password.
	for i := 0; i < token.MaxFailedLogins-1; i++ {
		_, err := n.Client(t).Login(ctx(), kmsUser, "wrongPass1")
		if p11.Code(err) != p11.CKR_PIN_INCORRECT {
			t.Fatalf("failed login %d: %v", i, err)
		}
	}
	check(t, tryOp(c.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String(kmsUserPass)})))
	wantFailed(t, connectAndWait(t, c, id), types.ConnectionErrorCodeTypeUserLockedOut)
	disconnect(t, c, id)
	check(t, admin.ChangePassword(ctx(), kmsUser, "kmsPassword2")) // the admin's reset unlocks
	check(t, tryOp(c.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("kmsPassword2")})))

	// Connected: the password was rotated, so the old one no longer works.
	if st := connectAndWait(t, c, id); st.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("connect: %s/%s", st.ConnectionState, st.ConnectionErrorCode)
	}
	if _, err := n.Client(t).Login(ctx(), kmsUser, "kmsPassword2"); p11.Code(err) != p11.CKR_PIN_INCORRECT {
		t.Fatalf("kmsuser's password was not rotated: %v", err)
	}
	_, err = c.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), KeyStorePassword: aws.String("kmsPassword3")})
	if !errors.As(err, &sis) {
		t.Fatalf("password change while connected: %v", err)
	}
	check(t, tryOp(c.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), NewCustomKeyStoreName: aws.String("orders")})))
	_, err = c.DeleteCustomKeyStore(ctx(), &awskms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	if !errors.As(err, &sis) {
		t.Fatalf("delete while connected: %v", err)
	}

	// A key in the store: its material is an HSM object; cryptography runs in the HSM.
	k, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id)})
	check(t, err)
	md := k.KeyMetadata
	if md.Origin != types.OriginTypeAwsCloudhsm || aws.ToString(md.CustomKeyStoreId) != id || aws.ToString(md.CloudHsmClusterId) != testClusterID || md.KeyState != types.KeyStateEnabled {
		t.Fatalf("custom key store key: %+v", md)
	}
	checkHSMObject(t, e.srv, id, aws.ToString(md.Arn))
	ec := map[string]string{"purpose": "test"}
	enc, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("in the HSM"), EncryptionContext: ec})
	check(t, err)
	dec, err := c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	check(t, err)
	if string(dec.Plaintext) != "in the HSM" {
		t.Fatal("HSM round trip")
	}
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	var ice *types.InvalidCiphertextException
	if !errors.As(err, &ice) {
		t.Fatalf("HSM decrypt with the wrong context: %v", err)
	}
	dk, err := c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: md.KeyId, KeySpec: types.DataKeySpecAes128})
	check(t, err)
	if len(dk.Plaintext) != 16 {
		t.Fatal("data key length")
	}
	rnd, err := c.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(64), CustomKeyStoreId: aws.String(id)})
	check(t, err)
	if len(rnd.Plaintext) != 64 {
		t.Fatal("GenerateRandom in the store")
	}
	_, err = c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: md.KeyId})
	var uoe *types.UnsupportedOperationException
	if !errors.As(err, &uoe) {
		t.Fatalf("rotation of a custom key store key: %v", err)
	}
	_, err = c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id), KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	if !errors.As(err, &uoe) {
		t.Fatalf("HMAC key in a custom key store: %v", err)
	}
	// Asymmetric keys neither live in a custom key store nor are made by one's keys (CreateKey's
	// CustomKeyStoreId and GenerateDataKeyPair's KeyId in the KMS API Reference).
	for _, ks := range []struct {
		spec  types.KeySpec
		usage types.KeyUsageType
	}{{types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt}, {types.KeySpecEccNistP256, types.KeyUsageTypeKeyAgreement}, {types.KeySpecEccSecgP256k1, types.KeyUsageTypeSignVerify}} {
		_, err = c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id), KeySpec: ks.spec, KeyUsage: ks.usage})
		if !errors.As(err, &uoe) {
			t.Fatalf("%s %s key in a custom key store: %v", ks.spec, ks.usage, err)
		}
	}
	_, err = c.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: md.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	if !errors.As(err, &uoe) {
		t.Fatalf("GenerateDataKeyPair under a custom key store key: %v", err)
	}

	// The KMS restarts: the store logs out, logs in again with the rotated password, and the
	// ciphertext still decrypts in the HSM.
	e.restart()
	c = e.kms
	if st := waitConnection(t, c, id); st.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("after restart: %s/%s", st.ConnectionState, st.ConnectionErrorCode)
	}
	dec, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	check(t, err)
	if string(dec.Plaintext) != "in the HSM" {
		t.Fatal("HSM round trip after restart")
	}

	// A crashed KMS never logged out; started again, it ends its own old login rather than
	// taking it for someone else's (USER_LOGGED_IN) and connects.
	e.crash()
	e.open()
	c = e.kms
	if st := waitConnection(t, c, id); st.ConnectionState != types.ConnectionStateTypeConnected {
		t.Fatalf("after a crash: %s/%s", st.ConnectionState, st.ConnectionErrorCode)
	}
	dec, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	check(t, err)
	if string(dec.Plaintext) != "in the HSM" {
		t.Fatal("HSM round trip after a crash")
	}

	// Disconnected: keys Unavailable, cryptography KMSInvalidStateException, CreateKey and
	// GenerateRandom CustomKeyStoreInvalidStateException, Delete refused while keys remain.
	disconnect(t, c, id)
	d, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: md.KeyId})
	check(t, err)
	if d.KeyMetadata.KeyState != types.KeyStateUnavailable {
		t.Fatalf("key state while disconnected: %s", d.KeyMetadata.KeyState)
	}
	_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: md.KeyId, Plaintext: []byte("x")})
	var kis *types.KMSInvalidStateException
	if !errors.As(err, &kis) {
		t.Fatalf("Encrypt while disconnected: %v", err)
	}
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if !errors.As(err, &kis) {
		t.Fatalf("Decrypt while disconnected: %v", err)
	}
	_, err = c.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(id)})
	if !errors.As(err, &sis) {
		t.Fatalf("CreateKey while disconnected: %v", err)
	}
	_, err = c.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(8), CustomKeyStoreId: aws.String(id)})
	if !errors.As(err, &sis) {
		t.Fatalf("GenerateRandom while disconnected: %v", err)
	}
	_, err = c.DisconnectCustomKeyStore(ctx(), &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	if !errors.As(err, &sis) {
		t.Fatalf("Disconnect while disconnected: %v", err)
	}
	_, err = c.DeleteCustomKeyStore(ctx(), &awskms.DeleteCustomKeyStoreInput{CustomKeyStoreId: aws.String(id)})
	var hck *types.CustomKeyStoreHasCMKsException
	if !errors.As(err, &hck) {
		t.Fatalf("delete with keys: %v", err)
	}
	// Moving the store to an unrelated cluster is refused.
	_, err = c.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(id), CloudHsmClusterId: aws.String("cluster-oneazoneazonea")})
	var cnr *types.CloudHsmClusterNotRelatedException
	if !errors.As(err, &cnr) {
		t.Fatalf("unrelated cluster: %v", err)
	}

	// Connection errors that come from the cluster rather than kmsuser.
	dir.update(testClusterID, func(cl *cloudhsm.Cluster) {
		cl.HSMs = append([]cloudhsm.ClusterHSM(nil), cl.HSMs...)
		for i := range cl.HSMs {
			cl.HSMs[i].State = "DEGRADED"
		}
	})
	wantFailed(t, connectAndWait(t, c, id), types.ConnectionErrorCodeTypeInsufficientCloudhsmHsms)
	disconnect(t, c, id)
	dir.update(testClusterID, func(cl *cloudhsm.Cluster) { cl.HSMs = twoAZs })
	n.Stop()
	wantFailed(t, connectAndWait(t, c, id), types.ConnectionErrorCodeTypeNetworkErrors)
	disconnect(t, c, id)
	dir.mu.Lock()
	delete(dir.clusters, testClusterID)
	dir.mu.Unlock()
	wantFailed(t, connectAndWait(t, c, id), types.ConnectionErrorCodeTypeClusterNotFound)
	disconnect(t, c, id)
}

// checkHSMObject finds the key material by its label (the key ARN) through the store's own
// kmsuser session and checks what AWS promises of it.
func checkHSMObject(t *testing.T, s *Server, storeID, arn string) {
	t.Helper()
	s.mu.RLock()
	cl := s.hsm.Client(storeID)
	s.mu.RUnlock()
	hs, err := cl.FindObjects(ctx(), []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte(arn)}})
	check(t, err)
	if len(hs) != 1 {
		t.Fatalf("%d objects labelled %s", len(hs), arn)
	}
	res, err := cl.GetAttributes(ctx(), hs[0], p11.CKA_TOKEN, p11.CKA_SENSITIVE, p11.CKA_EXTRACTABLE, p11.CKA_VALUE_LEN)
	check(t, err)
	want := [][]byte{attr.Bool(true), attr.Bool(true), attr.Bool(false), attr.Ulong(32)}
	for i, r := range res {
		if fmt.Sprint(r.GetValue()) != fmt.Sprint(want[i]) {
			t.Fatalf("attribute %d of the key object: %v, want %v", i, r.GetValue(), want[i])
		}
	}
}
