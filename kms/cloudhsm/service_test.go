package cloudhsm_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	hsm "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	hsmtypes "github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/kms"
	"github.com/hsmsim/hsmsim/kms/cloudhsm"
)

const (
	region       = "us-east-1"
	kmsUserPass  = "kmsPassword1"
	adminPass    = "adminpass1"
	waitDeadline = 60 * time.Second
)

// env is the CloudHSM service and the KMS on one loopback endpoint, and the SDK clients of both.
type env struct {
	t   *testing.T
	svc *cloudhsm.Service
	srv *kms.Server
	hsm *hsm.Client
	kms *awskms.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	svc, err := cloudhsm.Open(cloudhsm.Config{DataDir: dir + "/cloudhsm", NoSync: true,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := kms.Open(kms.Config{DataDir: dir + "/kms", Region: region, Clusters: svc, ControlPlane: svc, NoSync: true})
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	url, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = srv.Close()
		_ = svc.Close()
	})
	creds := credentials.NewStaticCredentialsProvider("AKIAHSMSIMTEST000001", "secret", "")
	hc := &http.Client{Timeout: 90 * time.Second}
	return &env{t: t, svc: svc, srv: srv,
		hsm: hsm.New(hsm.Options{Region: region, BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: hc}),
		kms: awskms.New(awskms.Options{Region: region, BaseEndpoint: aws.String(url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: hc}),
	}
}

func ctx() context.Context { return context.Background() }

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("want %s, got %v", code, err)
	}
}

// customerCA is the customer's own issuing CA, outside hsmsim.
type customerCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
}

func newCustomerCA(t *testing.T) *customerCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Corp root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	check(t, err)
	cert, _ := x509.ParseCertificate(der)
	return &customerCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// sign signs a CSR as `openssl x509 -req -CA customerCA.crt` would.
func (ca *customerCA) sign(t *testing.T, csrPEM string) string {
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil {
		t.Fatal("no CSR")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	check(t, err)
	check(t, csr.CheckSignature())
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: csr.Subject,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}, ca.cert, csr.PublicKey, ca.key)
	check(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func (e *env) describe(id string) hsmtypes.Cluster {
	e.t.Helper()
	out, err := e.hsm.DescribeClusters(ctx(), &hsm.DescribeClustersInput{Filters: map[string][]string{"clusterIds": {id}}})
	check(e.t, err)
	if len(out.Clusters) != 1 {
		e.t.Fatalf("DescribeClusters %s: %d clusters", id, len(out.Clusters))
	}
	return out.Clusters[0]
}

func (e *env) waitState(id string, want hsmtypes.ClusterState) hsmtypes.Cluster {
	e.t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		c := e.describe(id)
		if c.State == want {
			return c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("cluster %s is %s, want %s", id, c.State, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *env) createHsm(id, az string) {
	e.t.Helper()
	out, err := e.hsm.CreateHsm(ctx(), &hsm.CreateHsmInput{ClusterId: aws.String(id), AvailabilityZone: aws.String(az)})
	check(e.t, err)
	if aws.ToString(out.Hsm.AvailabilityZone) != az {
		e.t.Fatalf("HSM in %s, want %s", aws.ToString(out.Hsm.AvailabilityZone), az)
	}
}

func (e *env) waitConnected(storeID string) {
	e.t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		out, err := e.kms.DescribeCustomKeyStores(ctx(), &awskms.DescribeCustomKeyStoresInput{CustomKeyStoreId: aws.String(storeID)})
		check(e.t, err)
		st := out.CustomKeyStores[0]
		switch st.ConnectionState {
		case kmstypes.ConnectionStateTypeConnected:
			return
		case kmstypes.ConnectionStateTypeFailed:
			e.t.Fatalf("key store FAILED: %s", st.ConnectionErrorCode)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("key store %s after %v", st.ConnectionState, waitDeadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// retry runs f until it succeeds or the deadline passes (the KMS reads HSM states the health
// check refreshes, so a change takes a moment to show).
func retry(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCustomKeyStoreOnAClusterMadeThroughTheAPI is what a CloudHSM user does, with the AWS SDK
// against hsmsim's endpoint: make a cluster and two HSMs, sign its CSR with their own CA,
// initialize it, activate the admin, create kmsuser; make a KMS custom key store on it, a key
// whose material is in the HSM (labelled with the key ARN), encrypt and decrypt; shrink the
// cluster to one HSM (new keys refused, existing ones go on) and grow it back. Then a backup
// becomes a new, related cluster; the key store moves to it and old ciphertexts decrypt there.
func TestCustomKeyStoreOnAClusterMadeThroughTheAPI(t *testing.T) {
	e := newEnv(t)
	ca := newCustomerCA(t)

	// The cluster: UNINITIALIZED, then two HSMs in two AZs, then the CSR is there to sign.
	cc, err := e.hsm.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"),
		SubnetIds: []string{cloudhsm.SubnetID("us-east-1a"), cloudhsm.SubnetID("us-east-1b")}})
	check(t, err)
	id := aws.ToString(cc.Cluster.ClusterId)
	if cc.Cluster.State != hsmtypes.ClusterStateCreateInProgress {
		t.Fatalf("CreateCluster answered %s", cc.Cluster.State)
	}
	e.waitState(id, hsmtypes.ClusterStateUninitialized)
	_, err = e.hsm.CreateHsm(ctx(), &hsm.CreateHsmInput{ClusterId: aws.String(id), AvailabilityZone: aws.String("us-east-1c")})
	wantErr(t, err, "CloudHsmInvalidRequestException") // no subnet there
	e.createHsm(id, "us-east-1a")
	e.createHsm(id, "us-east-1b")
	c := e.describe(id)
	if len(c.Hsms) != 2 || c.Certificates == nil || aws.ToString(c.Certificates.ClusterCsr) == "" {
		t.Fatalf("after two CreateHsm: %d HSMs, certificates %+v", len(c.Hsms), c.Certificates)
	}
	csr := aws.ToString(c.Certificates.ClusterCsr)

	// InitializeCluster checks the signed certificate: another CA's signature is refused.
	other := newCustomerCA(t)
	_, err = e.hsm.InitializeCluster(ctx(), &hsm.InitializeClusterInput{ClusterId: aws.String(id), SignedCert: aws.String(other.sign(t, csr)), TrustAnchor: aws.String(ca.pem)})
	wantErr(t, err, "CloudHsmInvalidRequestException")
	_, err = e.hsm.InitializeCluster(ctx(), &hsm.InitializeClusterInput{ClusterId: aws.String(id), SignedCert: aws.String(ca.sign(t, csr)), TrustAnchor: aws.String(ca.pem)})
	check(t, err)
	e.waitState(id, hsmtypes.ClusterStateInitialized)

	// The admin activates the cluster and creates kmsuser, through the HSM client.
	cl, err := e.svc.DialCluster(id)
	check(t, err)
	_, err = cl.Login(ctx(), token.AdminName, token.InitialAdminPassword)
	check(t, err)
	check(t, cl.ChangePassword(ctx(), "", adminPass))
	check(t, cl.CreateUser(ctx(), "kmsuser", hsmpb.Role_ROLE_CRYPTO_USER, kmsUserPass))
	check(t, cl.Logout(ctx()))
	cl.Close()
	e.waitState(id, hsmtypes.ClusterStateActive)

	// The key store: the trust anchor must be the customer's CA.
	wctx, cancel := context.WithTimeout(ctx(), waitDeadline)
	defer cancel()
	check(t, e.svc.WaitActive(wctx, id, 2)) // as the HSMs' health checks see them
	_, err = e.kms.CreateCustomKeyStore(ctx(), &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("wrong"),
		CloudHsmClusterId: aws.String(id), TrustAnchorCertificate: aws.String(other.pem), KeyStorePassword: aws.String(kmsUserPass)})
	wantErr(t, err, "IncorrectTrustAnchorException")
	cks, err := e.kms.CreateCustomKeyStore(ctx(), &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("hsm-store"),
		CloudHsmClusterId: aws.String(id), TrustAnchorCertificate: aws.String(ca.pem), KeyStorePassword: aws.String(kmsUserPass)})
	check(t, err)
	store := aws.ToString(cks.CustomKeyStoreId)
	_, err = e.kms.ConnectCustomKeyStore(ctx(), &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(store)})
	check(t, err)
	e.waitConnected(store)

	key, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: kmstypes.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(store)})
	check(t, err)
	arn := aws.ToString(key.KeyMetadata.Arn)
	plain := []byte("kept in the HSM")
	enc, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plain})
	check(t, err)
	dec, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	if !bytes.Equal(dec.Plaintext, plain) {
		t.Fatalf("Decrypt: %q", dec.Plaintext)
	}

	// On every HSM: a token AES key owned by kmsuser, non-extractable, labelled with the ARN.
	for _, m := range e.svc.Members(id) {
		st := m.Node().State()
		hs := st.Find("kmsuser", []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte(arn)}})
		if len(hs) != 1 {
			t.Fatalf("%s: %d objects labelled %s", m.ID(), len(hs), arn)
		}
		o, _ := st.Object(hs[0])
		if o.Owner != "kmsuser" || !attr.Match(o.Attrs, []attr.Attribute{{Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(false)}, {Type: p11.CKA_TOKEN, Value: attr.Bool(true)}}) {
			t.Fatalf("%s: key object %d owner %s, attributes not as KMS makes them", m.ID(), hs[0], o.Owner)
		}
	}

	// Down to one HSM: no new key (two AZs needed), but the key in the cluster goes on.
	second := c.Hsms[1].HsmId
	_, err = e.hsm.DeleteHsm(ctx(), &hsm.DeleteHsmInput{ClusterId: aws.String(id), HsmId: second})
	check(t, err)
	eventually(t, "one HSM left after DeleteHsm", func() bool { return len(e.describe(id).Hsms) == 1 })
	_, err = e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: kmstypes.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(store)})
	wantErr(t, err, "CloudHsmClusterInvalidConfigurationException")
	retry(t, "Encrypt with one HSM", func() error {
		_, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plain})
		return err
	})
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	e.createHsm(id, "us-east-1b")
	retry(t, "CreateKey after CreateHsm", func() error {
		_, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: kmstypes.OriginTypeAwsCloudhsm, CustomKeyStoreId: aws.String(store)})
		return err
	})

	// Backups were taken on activation and on each HSM added or removed.
	bk, err := e.hsm.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {id}, "states": {"READY"}}})
	check(t, err)
	if len(bk.Backups) < 3 {
		t.Fatalf("%d backups, want at least 3 (activation, remove, add)", len(bk.Backups))
	}
	newest := bk.Backups[0] // newest first
	page, err := e.hsm.DescribeBackups(ctx(), &hsm.DescribeBackupsInput{MaxResults: aws.Int32(1), Filters: map[string][]string{"clusterIds": {id}}})
	check(t, err)
	if len(page.Backups) != 1 || page.NextToken == nil {
		t.Fatalf("paging: %d backups, next %v", len(page.Backups), page.NextToken)
	}
	// DeleteBackup is PENDING_DELETION until RestoreBackup.
	del, err := e.hsm.DeleteBackup(ctx(), &hsm.DeleteBackupInput{BackupId: newest.BackupId})
	check(t, err)
	if del.Backup.BackupState != hsmtypes.BackupStatePendingDeletion || del.Backup.DeleteTimestamp == nil {
		t.Fatalf("DeleteBackup: %s", del.Backup.BackupState)
	}
	_, err = e.hsm.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SourceBackupId: newest.BackupId,
		SubnetIds: []string{cloudhsm.SubnetID("us-east-1a")}})
	wantErr(t, err, "CloudHsmInvalidRequestException")
	_, err = e.hsm.RestoreBackup(ctx(), &hsm.RestoreBackupInput{BackupId: newest.BackupId})
	check(t, err)
	// NeverExpires exempts a backup from retention; the attribute is returned as set.
	mod, err := e.hsm.ModifyBackupAttributes(ctx(), &hsm.ModifyBackupAttributesInput{BackupId: newest.BackupId, NeverExpires: aws.Bool(true)})
	check(t, err)
	if !aws.ToBool(mod.Backup.NeverExpires) {
		t.Fatal("ModifyBackupAttributes did not set NeverExpires")
	}
	_, err = e.hsm.ModifyBackupAttributes(ctx(), &hsm.ModifyBackupAttributesInput{BackupId: aws.String("backup-nosuchbackup2"), NeverExpires: aws.Bool(true)})
	wantErr(t, err, "CloudHsmResourceNotFoundException")

	// A cluster from the backup is related: same cluster certificate, same trust anchor.
	rc, err := e.hsm.CreateCluster(ctx(), &hsm.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SourceBackupId: newest.BackupArn,
		SubnetIds: []string{cloudhsm.SubnetID("us-east-1a"), cloudhsm.SubnetID("us-east-1b")}})
	check(t, err)
	rid := aws.ToString(rc.Cluster.ClusterId)
	e.createHsm(rid, "us-east-1a")
	e.createHsm(rid, "us-east-1b")
	related := e.waitState(rid, hsmtypes.ClusterStateActive)
	if aws.ToString(related.SourceBackupId) != aws.ToString(newest.BackupId) ||
		aws.ToString(related.Certificates.ClusterCertificate) != aws.ToString(e.describe(id).Certificates.ClusterCertificate) {
		t.Fatal("the restored cluster does not share its source's cluster certificate")
	}
	_, err = e.kms.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(store), CloudHsmClusterId: aws.String(rid)})
	wantErr(t, err, "CustomKeyStoreInvalidStateException") // still connected
	_, err = e.kms.DisconnectCustomKeyStore(ctx(), &awskms.DisconnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(store)})
	check(t, err)
	retry(t, "UpdateCustomKeyStore to the related cluster", func() error {
		_, err := e.kms.UpdateCustomKeyStore(ctx(), &awskms.UpdateCustomKeyStoreInput{CustomKeyStoreId: aws.String(store), CloudHsmClusterId: aws.String(rid)})
		return err
	})
	_, err = e.kms.ConnectCustomKeyStore(ctx(), &awskms.ConnectCustomKeyStoreInput{CustomKeyStoreId: aws.String(store)})
	check(t, err)
	e.waitConnected(store)
	dec, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	if !bytes.Equal(dec.Plaintext, plain) {
		t.Fatalf("Decrypt on the related cluster: %q", dec.Plaintext)
	}

	// Process faults through the Go API: a killed HSM is DEGRADED and the key goes on through the
	// other; restarted, it is ACTIVE again; wiped, it rejoins under its id and catches up.
	victim := aws.ToString(related.Hsms[1].HsmId)
	check(t, e.svc.Kill(rid, victim))
	if st := e.describe(rid).Hsms[1].State; st != hsmtypes.HsmStateDegraded {
		t.Fatalf("killed HSM is %s", st)
	}
	retry(t, "Decrypt with an HSM killed", func() error {
		_, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		return err
	})
	check(t, e.svc.Restart(ctx(), rid, victim))
	check(t, e.svc.WaitActive(wctx, rid, 2))
	check(t, e.svc.Wipe(ctx(), rid, victim))
	check(t, e.svc.WaitActive(wctx, rid, 2))
	if n := len(e.svc.Member(rid, victim).Node().State().Find("kmsuser", nil)); n == 0 {
		t.Fatal("the wiped HSM did not catch up")
	}

	// The source cluster can go once its HSMs are gone.
	_, err = e.hsm.DeleteCluster(ctx(), &hsm.DeleteClusterInput{ClusterId: aws.String(id)})
	wantErr(t, err, "CloudHsmInvalidRequestException")
	for _, h := range e.describe(id).Hsms {
		_, err = e.hsm.DeleteHsm(ctx(), &hsm.DeleteHsmInput{ClusterId: aws.String(id), HsmId: h.HsmId})
		check(t, err)
	}
	eventually(t, "the HSMs are deleted", func() bool { return len(e.describe(id).Hsms) == 0 })
	_, err = e.hsm.DeleteCluster(ctx(), &hsm.DeleteClusterInput{ClusterId: aws.String(id)})
	check(t, err)
	_, err = e.hsm.DescribeClusters(ctx(), &hsm.DescribeClustersInput{Filters: map[string][]string{"bogus": {"x"}}})
	wantErr(t, err, "CloudHsmInvalidRequestException")
	_, err = e.hsm.InitializeCluster(ctx(), &hsm.InitializeClusterInput{ClusterId: aws.String(id), SignedCert: aws.String(ca.pem), TrustAnchor: aws.String(ca.pem)})
	wantErr(t, err, "CloudHsmResourceNotFoundException")
}
