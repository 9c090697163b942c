package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hsmsim/hsmsim/cluster"
	"github.com/hsmsim/hsmsim/hsmd/token"
	"github.com/hsmsim/hsmsim/internal/metrics"
	"github.com/hsmsim/hsmsim/internal/ports"
	"github.com/hsmsim/hsmsim/kms/trail"
)

// upForTest starts an embedded stack in a temporary directory, with the settings tests use.
func upForTest(t *testing.T) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base, err := ports.FreeBase(3)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Up(ctx, Options{DataDir: t.TempDir(), BasePort: base, KMSListen: "127.0.0.1:0", NoSync: true,
		KDF: token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}, Timeouts: cluster.FastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func kmsClient(c *Cluster) *awskms.Client {
	return awskms.New(awskms.Options{Region: c.State.Region, BaseEndpoint: aws.String(c.State.KMSURL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(c.State.AccessKeyID, c.State.SecretKey, "")})
}

// scrape reads the stack's metrics as Prometheus would.
func scrape(t *testing.T, c *Cluster) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(c.State.KMSURL + metrics.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", metrics.Path, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value sums the samples of family name whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	sum := 0.0
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestMetricsCountWhatTheStackDid: after KMS requests (successes and refusals) and node API
// calls (a good and a bad login), the scraped metrics count exactly those, with the AWS error
// type and the CK_RV as labels, and show the cluster's Raft state: one leader, every HSM
// ACTIVE with the same applied index.
func TestMetricsCountWhatTheStackDid(t *testing.T) {
	c := upForTest(t)
	ctx := context.Background()
	k := kmsClient(c)
	key, err := k.CreateKey(ctx, &awskms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	const encrypts = 7
	for i := 0; i < encrypts; i++ {
		if _, err := k.Encrypt(ctx, &awskms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("m")}); err != nil {
			t.Fatal(err)
		}
	}
	var nf *types.NotFoundException
	for i := 0; i < 2; i++ {
		_, err := k.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: []byte("m")})
		if !errors.As(err, &nf) {
			t.Fatalf("Encrypt with an unknown alias: %v, want NotFoundException", err)
		}
	}
	// Provisioning logged in already: node calls are counted from here.
	before := scrape(t, c)
	logins := func(fams map[string]*dto.MetricFamily, code string) float64 {
		return value(fams, "hsmsim_node_rpcs_total", map[string]string{"method": "Login", "code": code})
	}
	cl, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Login(ctx, c.State.CryptoUser, "wrong-password"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if _, err := cl.Login(ctx, c.State.CryptoUser, c.State.CryptoPass); err != nil {
		t.Fatal(err)
	}

	fams := scrape(t, c)
	for _, x := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"hsmsim_aws_requests_total", map[string]string{"service": "kms", "operation": "Encrypt", "outcome": "ok"}, encrypts},
		{"hsmsim_aws_requests_total", map[string]string{"service": "kms", "operation": "Encrypt", "outcome": "NotFoundException"}, 2},
		{"hsmsim_aws_requests_total", map[string]string{"service": "kms", "operation": "CreateKey", "outcome": "ok"}, 1},
		{"hsmsim_aws_request_duration_seconds", map[string]string{"service": "kms", "operation": "Encrypt"}, encrypts + 2},
		{"hsmsim_raft_leader", nil, 1},
		{"hsmsim_hsm_state", map[string]string{"state": "ACTIVE"}, 3},
		{"hsmsim_kms_custom_key_stores", map[string]string{"state": "CONNECTED"}, 0},
		{"hsmsim_fault_rules_active", map[string]string{"kind": "api"}, 0},
	} {
		if got := value(fams, x.name, x.labels); got != x.want {
			t.Errorf("%s%v = %v, want %v", x.name, x.labels, got, x.want)
		}
	}
	for code, want := range map[string]float64{"CKR_PIN_INCORRECT": 1, "CKR_OK": 1} {
		if got := logins(fams, code) - max(0, logins(before, code)); got != want {
			t.Errorf("Login calls answered %s: %v, want %v", code, got, want)
		}
	}
	if f := fams["hsmsim_raft_term"]; f == nil || len(f.Metric) != 3 {
		t.Errorf("hsmsim_raft_term: want one sample per HSM, got %v", f)
	}
	if value(fams, "hsmsim_store_size_bytes", nil) <= 0 {
		t.Error("no store size")
	}
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), *key.KeyMetadata.KeyId) {
					t.Errorf("%s has a key id as a label: %s=%s", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

// TestKMSTrailNeverHoldsSecrets: plaintexts, data keys, private keys and a key store password
// go through the KMS; the trail records every call, and no file of the trail directory holds any
// of them, raw or in base64. The Encrypt record has CloudTrail's fields (the record contents of
// https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html,
// as KMS's entries show them in
// https://docs.aws.amazon.com/kms/latest/developerguide/understanding-kms-entries.html: the key
// as a resource, responseElements null for a cryptographic operation).
func TestKMSTrailNeverHoldsSecrets(t *testing.T) {
	c := upForTest(t)
	ctx := context.Background()
	k := kmsClient(c)
	key, err := k.CreateKey(ctx, &awskms.CreateKeyInput{Description: aws.String("trail test")})
	if err != nil {
		t.Fatal(err)
	}
	keyID := *key.KeyMetadata.KeyId
	var secrets [][]byte
	for _, p := range []string{"correct horse battery staple", "plaintext-number-two: 0123456789"} {
		secrets = append(secrets, []byte(p))
		ct, err := k.Encrypt(ctx, &awskms.EncryptInput{KeyId: &keyID, Plaintext: []byte(p),
			EncryptionContext: map[string]string{"purpose": "trail-test"}})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, ct.CiphertextBlob)
		if _, err := k.Decrypt(ctx, &awskms.DecryptInput{CiphertextBlob: ct.CiphertextBlob,
			EncryptionContext: map[string]string{"purpose": "trail-test"}}); err != nil {
			t.Fatal(err)
		}
	}
	dk, err := k.GenerateDataKey(ctx, &awskms.GenerateDataKeyInput{KeyId: &keyID, KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, dk.Plaintext, dk.CiphertextBlob)
	pair, err := k.GenerateDataKeyPair(ctx, &awskms.GenerateDataKeyPairInput{KeyId: &keyID, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, pair.PrivateKeyPlaintext, pair.PrivateKeyCiphertextBlob)
	rnd, err := k.GenerateRandom(ctx, &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rnd.Plaintext)
	ca, err := os.ReadFile(c.CustomerCAPath())
	if err != nil {
		t.Fatal(err)
	}
	const password = "trail-Secret-Pw9"
	secrets = append(secrets, []byte(password))
	if _, err := k.CreateCustomKeyStore(ctx, &awskms.CreateCustomKeyStoreInput{CustomKeyStoreName: aws.String("trail"),
		CloudHsmClusterId: &c.State.ClusterID, TrustAnchorCertificate: aws.String(string(ca)), KeyStorePassword: aws.String(password)}); err != nil {
		t.Fatal(err)
	}
	// A refused request is recorded with its error.
	if _, err := k.Encrypt(ctx, &awskms.EncryptInput{KeyId: aws.String("alias/missing"), Plaintext: []byte("refused plaintext")}); err == nil {
		t.Fatal("Encrypt with a missing alias succeeded")
	}
	secrets = append(secrets, []byte("refused plaintext"))
	// GetKeyLastUsage names the event of the key's last use: its record's eventID.
	usage, err := k.GetKeyLastUsage(ctx, &awskms.GetKeyLastUsageInput{KeyId: &keyID})
	if err != nil || usage.KeyLastUsage == nil {
		t.Fatalf("GetKeyLastUsage: %+v %v", usage, err)
	}

	c.Trail.Sync()
	files, err := trail.Files(TrailDir(c.Dir))
	if err != nil || len(files) == 0 {
		t.Fatalf("trail files %v %v", files, err)
	}
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	for _, s := range secrets {
		for _, form := range [][]byte{s, []byte(base64.StdEncoding.EncodeToString(s)), []byte(base64.RawStdEncoding.EncodeToString(s)),
			[]byte(base64.URLEncoding.EncodeToString(s))} {
			if bytes.Contains(all, form) {
				t.Errorf("the trail holds a secret: %q", form)
			}
		}
	}

	var recs []trail.Record
	for _, line := range bytes.Split(bytes.TrimSpace(all), []byte("\n")) {
		var r trail.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("a trail line is not a record: %v: %s", err, line)
		}
		recs = append(recs, r)
	}
	// CreateKey, 2 x (Encrypt, Decrypt), GenerateDataKey, GenerateDataKeyPair, GenerateRandom,
	// CreateCustomKeyStore, the refused Encrypt, GetKeyLastUsage.
	if len(recs) != 11 {
		t.Fatalf("%d records, want 11", len(recs))
	}
	if pair := recs[6]; pair.EventName != "GenerateDataKeyPair" || pair.EventID != *usage.KeyLastUsage.CloudTrailEventId ||
		pair.RequestID != *usage.KeyLastUsage.KmsRequestId {
		t.Errorf("GetKeyLastUsage names event %s (request %s); the key's last use is %+v", *usage.KeyLastUsage.CloudTrailEventId,
			*usage.KeyLastUsage.KmsRequestId, pair)
	}
	enc := recs[1]
	keyARN := *key.KeyMetadata.Arn
	var params map[string]any
	_ = json.Unmarshal(enc.RequestParameters, &params)
	if enc.EventName != "Encrypt" || enc.EventVersion != "1.08" || enc.EventSource != "kms.amazonaws.com" || enc.AWSRegion != c.State.Region ||
		enc.UserIdentity.AccessKeyID != c.State.AccessKeyID || enc.UserIdentity.Type != "Root" ||
		enc.UserIdentity.ARN != "arn:aws:iam::"+c.State.AccountID+":root" || enc.UserIdentity.AccountID != c.State.AccountID ||
		string(enc.ResponseElements) != "null" || !enc.ReadOnly || enc.ErrorCode != "" || len(enc.RequestID) != 36 || len(enc.EventID) != 36 ||
		enc.EventType != "AwsApiCall" || !enc.ManagementEvent || enc.EventCategory != "Management" || enc.SourceIPAddress != "127.0.0.1" ||
		!strings.Contains(enc.UserAgent, "aws-sdk-go-v2") || time.Since(enc.EventTime) > time.Minute ||
		len(enc.Resources) != 1 || enc.Resources[0].ARN != keyARN || enc.Resources[0].Type != "AWS::KMS::Key" {
		t.Errorf("Encrypt record: %+v", enc)
	}
	if params["keyId"] != keyID || params["encryptionContext"].(map[string]any)["purpose"] != "trail-test" || params["plaintext"] != nil {
		t.Errorf("Encrypt requestParameters: %s", enc.RequestParameters)
	}
	if ck := recs[0]; ck.EventName != "CreateKey" || ck.ReadOnly || !bytes.Contains(ck.ResponseElements, []byte(`"keyMetadata"`)) ||
		len(ck.Resources) != 1 || ck.Resources[0].ARN != keyARN {
		t.Errorf("CreateKey record: %+v (responseElements %s)", ck, ck.ResponseElements)
	}
	if last := recs[9]; last.ErrorCode != "NotFoundException" || last.ErrorMessage == "" || len(last.Resources) != 0 {
		t.Errorf("refused Encrypt record: %+v", last)
	}
	recent := c.Trail.Recent(3)
	if len(recent) != 3 || recent[1].RequestID != recs[9].RequestID || recent[0].EventName != "CreateCustomKeyStore" {
		t.Errorf("Recent(3): %+v", recent)
	}
	if w, d := c.Trail.Counts(); w != 11 || d != 0 {
		t.Errorf("written %d dropped %d, want 11 and 0", w, d)
	}
}
