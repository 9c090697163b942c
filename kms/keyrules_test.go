package kms

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// The rules of issue 12's "wrong today" list, each as AWS documents it.

func rotations(t *testing.T, c *awskms.Client, key string) int {
	t.Helper()
	out, err := c.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: aws.String(key)})
	check(t, err)
	return len(out.Rotations)
}

// A disabled key is not rotated; re-enabled, a key whose rotation came due while it was disabled
// rotates at once, and one whose date has not come keeps its schedule (GetKeyRotationStatus in
// the KMS API Reference: "Disabled").
func TestAutomaticRotationSkipsDisabledKeys(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.kms
	key, _ := e.newKey("")
	check(t, tryOp(c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: aws.String(key), RotationPeriodInDays: aws.Int32(90)})))
	check(t, tryOp(c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(key)})))
	e.clock.Advance(91 * 24 * time.Hour)
	e.srv.sweep(ctx())
	if n := rotations(t, c, key); n != 0 {
		t.Fatalf("a disabled key was rotated %d times", n)
	}
	st, err := c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: aws.String(key)})
	check(t, err)
	if !st.KeyRotationEnabled {
		t.Fatal("disabling the key changed its rotation status")
	}
	check(t, tryOp(c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(key)})))
	if n := rotations(t, c, key); n != 1 {
		t.Fatalf("re-enabled after its rotation date: %d rotations, want 1 at once", n)
	}
	st, err = c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: aws.String(key)})
	check(t, err)
	if want := e.clock.Now().Add(90 * 24 * time.Hour); !st.NextRotationDate.Equal(want.Truncate(time.Millisecond)) && st.NextRotationDate.Sub(want).Abs() > time.Second {
		t.Fatalf("next rotation %v, want %v", st.NextRotationDate, want)
	}

	// Disabled and enabled again before the date: the schedule stays.
	check(t, tryOp(c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(key)})))
	e.clock.Advance(10 * 24 * time.Hour)
	check(t, tryOp(c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(key)})))
	e.srv.sweep(ctx())
	if n := rotations(t, c, key); n != 1 {
		t.Fatalf("re-enabled before its rotation date: %d rotations, want 1", n)
	}
	e.clock.Advance(81 * 24 * time.Hour)
	e.srv.sweep(ctx())
	if n := rotations(t, c, key); n != 2 {
		t.Fatalf("on schedule: %d rotations, want 2", n)
	}
}

// While a key is pending deletion its rotation status is false; canceling the deletion restores
// it (GetKeyRotationStatus in the KMS API Reference: "Pending deletion").
func TestRotationStatusOfKeyPendingDeletion(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.kms
	key, _ := e.newKey("")
	check(t, tryOp(c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: aws.String(key)})))
	check(t, tryOp(c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(key), PendingWindowInDays: aws.Int32(7)})))
	st, err := c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: aws.String(key)})
	check(t, err)
	if st.KeyRotationEnabled || st.NextRotationDate != nil || st.RotationPeriodInDays != nil {
		t.Fatalf("pending deletion: %+v", st)
	}
	check(t, tryOp(c.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: aws.String(key)})))
	st, err = c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: aws.String(key)})
	check(t, err)
	if !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 365 {
		t.Fatalf("after canceling the deletion: %+v", st)
	}
}

// RotateKeyOnDemand allows 25 rotations per key: the model's documentation and the quota page
// (https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html, "On-demand
// rotations": 25, not adjustable).
func TestOnDemandRotationQuota(t *testing.T) {
	e := newEnv(t, Config{})
	key, _ := e.newKey("")
	for i := range 25 {
		if _, err := e.kms.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(key)}); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	_, err := e.kms.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(key)})
	wantErr(t, err, "LimitExceededException")
}

// UpdateAlias moves an alias between keys of the same type (symmetric, asymmetric or HMAC) and
// key usage; the key spec may differ (UpdateAlias in the KMS API Reference).
func TestUpdateAliasSameTypeAndUsage(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.kms
	mk := func(spec types.KeySpec, usage types.KeyUsageType) *string {
		out, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
		check(t, err)
		return out.KeyMetadata.KeyId
	}
	p256, rsa := mk(types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify), mk(types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	h256, h512 := mk(types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac), mk(types.KeySpecHmac512, types.KeyUsageTypeGenerateVerifyMac)
	sym := mk(types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)
	update := func(alias string, to *string) error {
		_, err := c.UpdateAlias(ctx(), &awskms.UpdateAliasInput{AliasName: aws.String(alias), TargetKeyId: to})
		return err
	}
	check(t, tryOp(c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/signer"), TargetKeyId: p256})))
	check(t, tryOp(c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/mac"), TargetKeyId: h256})))
	check(t, update("alias/signer", rsa))
	check(t, update("alias/mac", h512))
	wantErr(t, update("alias/signer", sym), "ValidationException")
	wantErr(t, update("alias/signer", h256), "ValidationException")
	wantErr(t, update("alias/mac", rsa), "ValidationException")
}

// DryRun with DryRunModifiers IGNORE_CIPHERTEXT checks only authorization (and the key named by
// KeyId), not the ciphertext; a plain DryRun checks everything, authorization included
// (https://docs.aws.amazon.com/kms/latest/developerguide/programming-dryrun.html; DecryptRequest
// DryRunModifiers in the KMS API Reference).
func TestDryRunIgnoreCiphertext(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.kms
	key, arn := e.newKey("")
	other, _ := e.newKey("")
	junk := []byte("not a ciphertext at all, but long enough")
	ignore := []types.DryRunModifierType{types.DryRunModifierTypeIgnoreCiphertext}
	decrypt := func(c *awskms.Client, keyID *string, blob []byte, mods []types.DryRunModifierType) error {
		_, err := c.Decrypt(ctx(), &awskms.DecryptInput{KeyId: keyID, CiphertextBlob: blob, DryRun: aws.Bool(true), DryRunModifiers: mods})
		return err
	}
	wantErr(t, decrypt(c, aws.String(key), junk, nil), "InvalidCiphertextException")
	wantErr(t, decrypt(c, aws.String(key), junk, ignore), "DryRunOperationException")
	wantErr(t, decrypt(c, nil, junk, ignore), "ValidationException") // no key to authorize
	enc, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
	check(t, err)
	wantErr(t, decrypt(c, nil, enc.CiphertextBlob, nil), "DryRunOperationException")
	wantErr(t, decrypt(c, aws.String(other), enc.CiphertextBlob, nil), "IncorrectKeyException")

	// Authorization is what a dry run tests, with or without the modifier.
	bob := e.newUser("bob", nil)
	wantDenied(t, decrypt(bob.kms, aws.String(key), junk, ignore), bob.arn, "kms:Decrypt", arn, noIdentityPolicy("kms:Decrypt"))
	wantDenied(t, decrypt(bob.kms, nil, enc.CiphertextBlob, nil), bob.arn, "kms:Decrypt", arn, noIdentityPolicy("kms:Decrypt"))

	// The key's state still counts.
	check(t, tryOp(c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(key)})))
	wantErr(t, decrypt(c, aws.String(key), junk, ignore), "DisabledException")
	check(t, tryOp(c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(key)})))

	// ReEncrypt: both keys, no ciphertext.
	re := func(src *string, mods []types.DryRunModifierType) error {
		_, err := c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: junk, SourceKeyId: src, DestinationKeyId: aws.String(other),
			DryRun: aws.Bool(true), DryRunModifiers: mods})
		return err
	}
	wantErr(t, re(aws.String(key), nil), "InvalidCiphertextException")
	wantErr(t, re(aws.String(key), ignore), "DryRunOperationException")
}

// A KeyId that is an ARN but not a KMS key's or alias's is InvalidArnException where the model
// lists it (DescribeKey, ScheduleKeyDeletion, ...) and NotFoundException where it does not
// (Encrypt, CreateAlias, ...): InvalidArnException in the KMS API Reference, "the specified ARN
// is not valid".
func TestMalformedKeyARN(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.kms
	for _, bad := range []string{"arn:aws:kms:us-east-1:" + acct, "arn:aws:s3:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-1:" + acct + ":keys/1234abcd-12ab-34cd-56ef-1234567890ab"} {
		_, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(bad)})
		wantErr(t, err, "InvalidArnException")
		_, err = c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(bad)})
		wantErr(t, err, "InvalidArnException")
		_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(bad), Plaintext: []byte("x")})
		wantErr(t, err, "NotFoundException")
	}
	// A well-formed ARN of a key that does not exist is NotFoundException everywhere.
	_, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:" + acct + ":key/1234abcd-12ab-34cd-56ef-1234567890ab")})
	wantErr(t, err, "NotFoundException")
}

// A Recipient (a Nitro Enclaves or NitroTPM attestation document) is one hsmsim cannot verify:
// no document is signed by the AWS Nitro root it would trust, so every one is invalid input,
// ValidationException, rather than an exception the operations' model lists do not have.
func TestRecipientIsInvalidInput(t *testing.T) {
	e := newEnv(t, Config{})
	key, _ := e.newKey("")
	rcpt := &types.RecipientInfo{KeyEncryptionAlgorithm: types.KeyEncryptionMechanismRsaesOaepSha256, AttestationDocument: []byte("not signed by Nitro")}
	_, err := e.kms.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: aws.String(key), NumberOfBytes: aws.Int32(32), Recipient: rcpt})
	wantErr(t, err, "ValidationException")
	enc, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(key), Plaintext: []byte("x")})
	check(t, err)
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, Recipient: rcpt})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(8), Recipient: rcpt})
	wantErr(t, err, "ValidationException")
}
