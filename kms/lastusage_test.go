package kms

import (
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go/middleware"
	bolt "go.etcd.io/bbolt"

	"github.com/hsmsim/hsmsim/kms/lastuse"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// GetKeyLastUsage reports each key's last successful cryptographic operation with its time,
// CloudTrail event id and KMS request id; TrackingStartDate is the later of the key's creation and
// the start of tracking (https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html).
func TestGetKeyLastUsage(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.kms
	key, arn := e.newKey("")
	other, _ := e.newKey("")
	lastUsage := func(key string) *awskms.GetKeyLastUsageOutput {
		t.Helper()
		out, err := e.kms.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String(key)})
		check(t, err)
		return out
	}
	want := func(key, op string, md middleware.Metadata) {
		t.Helper()
		u := lastUsage(key).KeyLastUsage
		if u == nil || u.Operation != types.KeyLastUsageTrackingOperation(op) || !u.Timestamp.Equal(e.clock.Now().Truncate(time.Millisecond)) ||
			!uuidPattern.MatchString(aws.ToString(u.CloudTrailEventId)) {
			t.Fatalf("%s: last usage %+v, want %s at %v", key, u, op, e.clock.Now())
		}
		if rid, _ := awsmiddleware.GetRequestIDMetadata(md); aws.ToString(u.KmsRequestId) != rid {
			t.Fatalf("KmsRequestId %s, want the request's %s", aws.ToString(u.KmsRequestId), rid)
		}
	}

	out := lastUsage(arn)
	d, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(key)})
	check(t, err)
	if out.KeyLastUsage != nil || aws.ToString(out.KeyId) != key || !out.KeyCreationDate.Equal(*d.KeyMetadata.CreationDate) ||
		!out.TrackingStartDate.Equal(*out.KeyCreationDate) {
		t.Fatalf("unused key: %+v", out)
	}

	e.clock.Advance(time.Minute)
	enc, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
	check(t, err)
	want(key, "Encrypt", enc.ResultMetadata)
	// Failures and dry runs are not uses.
	e.clock.Advance(time.Minute)
	_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	wantErr(t, err, "InvalidCiphertextException")
	if u := lastUsage(key).KeyLastUsage; u.Operation != "Encrypt" {
		t.Fatalf("a failure was recorded: %+v", u)
	}
	dec, err := c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	want(key, "Decrypt", dec.ResultMetadata)
	e.clock.Advance(time.Minute)
	re, err := c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: aws.String(other)})
	check(t, err)
	want(key, "ReEncrypt", re.ResultMetadata)
	want(other, "ReEncrypt", re.ResultMetadata)
	dk, err := c.GenerateDataKeyWithoutPlaintext(ctx(), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String("alias/none-yet"), KeySpec: types.DataKeySpecAes256})
	wantErr(t, err, "NotFoundException")
	check(t, tryOp(c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/data"), TargetKeyId: aws.String(other)})))
	dk, err = c.GenerateDataKeyWithoutPlaintext(ctx(), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String("alias/data"), KeySpec: types.DataKeySpecAes256})
	check(t, err)
	want(other, "GenerateDataKeyWithoutPlaintext", dk.ResultMetadata)

	mac, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	check(t, err)
	gm, err := c.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: mac.KeyMetadata.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	check(t, err)
	want(*mac.KeyMetadata.KeyId, "GenerateMac", gm.ResultMetadata)
	signer, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)
	sg, err := c.Sign(ctx(), &awskms.SignInput{KeyId: signer.KeyMetadata.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	check(t, err)
	want(*signer.KeyMetadata.KeyId, "Sign", sg.ResultMetadata)
	// GetPublicKey is not a cryptographic operation.
	check(t, tryOp(c.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: signer.KeyMetadata.KeyId})))
	want(*signer.KeyMetadata.KeyId, "Sign", sg.ResultMetadata)

	// Only key ids and key ARNs; errors from the model's list.
	_, err = c.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String("alias/data")})
	wantErr(t, err, "NotFoundException")
	_, err = c.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String("arn:aws:kms:us-east-1:" + acct + ":thing/x")})
	wantErr(t, err, "InvalidArnException")
	_, err = c.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab")})
	wantErr(t, err, "NotFoundException")
	bob := e.newUser("bob", nil)
	_, err = bob.kms.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String(key)})
	wantDenied(t, err, bob.arn, "kms:GetKeyLastUsage", arn, noIdentityPolicy("kms:GetKeyLastUsage"))

	// The records survive a restart (Close writes what the lazy flush has not yet).
	before := lastUsage(key).KeyLastUsage
	e.restart()
	after := lastUsage(key).KeyLastUsage
	if after == nil || aws.ToString(after.KmsRequestId) != aws.ToString(before.KmsRequestId) || !after.Timestamp.Equal(*before.Timestamp) {
		t.Fatalf("after restart %+v, before %+v", after, before)
	}
	// A key older than the tracking (a data directory from before it): TrackingStartDate is
	// the tracking's start, after the key's creation.
	e.close()
	db, err := bolt.Open(filepath.Join(e.dir, "kms.db"), 0o600, nil)
	check(t, err)
	check(t, db.Update(func(tx *bolt.Tx) error {
		v, _ := e.clock.Now().Add(time.Hour).MarshalText()
		return tx.Bucket([]byte("usage")).Put([]byte("tracking-start"), v)
	}))
	check(t, db.Close())
	e.open()
	if out := lastUsage(key); !out.TrackingStartDate.After(*out.KeyCreationDate) {
		t.Fatalf("tracking start %v, creation %v", out.TrackingStartDate, out.KeyCreationDate)
	}
}

// Usage reaches bbolt lazily: a crash loses what the last flush did not write, and keeps what it
// did.
func TestKeyLastUsageFlushesLazily(t *testing.T) {
	e := newEnv(t, Config{})
	key, _ := e.newKey("")
	check(t, encryptAs(e.kms, key, nil))
	check(t, e.srv.usage.Flush())
	e.clock.Advance(time.Minute)
	_, err := e.kms.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: aws.String(key), NumberOfBytes: aws.Int32(16)})
	check(t, err)
	e.crash()
	e.open()
	out, err := e.kms.GetKeyLastUsage(ctx(), &awskms.GetKeyLastUsageInput{KeyId: aws.String(key)})
	check(t, err)
	if u := out.KeyLastUsage; u == nil || u.Operation != types.KeyLastUsageTrackingOperationEncrypt {
		t.Fatalf("after a crash: %+v, want the flushed Encrypt", u)
	}
}

// BenchmarkTrackUsage is what recording a use adds to every successful cryptographic operation:
// finding the keys its output names and noting the use.
func BenchmarkTrackUsage(b *testing.B) {
	e := newEnv(b, Config{})
	arn := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tc := range []struct {
		op  string
		out any
	}{
		{"Encrypt", &encryptOutput{KeyId: arn}},
		{"ReEncrypt", &reEncryptOutput{KeyId: arn, SourceKeyId: arn}},
	} {
		b.Run(tc.op, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.srv.trackUsage(ctx(), tc.op, tc.out)
			}
		})
	}
}

// Every tracked operation's output names the keys it used: GetKeyLastUsage would miss an
// operation added to lastuse's list whose output is not a keyUser.
func TestTrackedOutputsNameTheirKeys(t *testing.T) {
	outputs := map[string]any{
		"Encrypt": &encryptOutput{}, "Decrypt": &decryptOutput{}, "ReEncrypt": &reEncryptOutput{},
		"GenerateDataKey": &dataKeyOutput{}, "GenerateDataKeyWithoutPlaintext": &dataKeyOutput{},
		"GenerateDataKeyPair": &dataKeyPairOutput{}, "GenerateDataKeyPairWithoutPlaintext": &dataKeyPairOutput{},
		"DeriveSharedSecret": &deriveOutput{}, "Sign": &signOutput{}, "Verify": &signOutput{},
		"GenerateMac": &macOutput{}, "VerifyMac": &macOutput{},
	}
	for name := range kmsHandlers {
		out, listed := outputs[name]
		if lastuse.Tracked(name) != listed {
			t.Errorf("%s: tracked %v, listed here %v", name, lastuse.Tracked(name), listed)
			continue
		}
		if _, ok := out.(keyUser); listed && !ok {
			t.Errorf("%s: its output %T names no key", name, out)
		}
	}
}
