package kms

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestDefaultStoreLifecycle drives a default-store key through its life with the AWS SDK: create,
// describe, encrypt/decrypt with an encryption context, aliases, data keys, disable, schedule and
// cancel deletion, tags, policy, rotation, grants, and deletion when the window has passed.
func TestDefaultStoreLifecycle(t *testing.T) {
	e := newEnv(t, Config{})
	c := e.kms

	ck, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{Description: aws.String("orders"),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("payments")}}})
	check(t, err)
	md := ck.KeyMetadata
	keyID := aws.ToString(md.KeyId)
	wantARN := "arn:aws:kms:us-east-1:111122223333:key/" + keyID
	if aws.ToString(md.Arn) != wantARN || md.KeyState != types.KeyStateEnabled || md.KeySpec != types.KeySpecSymmetricDefault ||
		md.KeyUsage != types.KeyUsageTypeEncryptDecrypt || md.Origin != types.OriginTypeAwsKms || !md.Enabled ||
		aws.ToString(md.AWSAccountId) != "111122223333" || md.KeyManager != types.KeyManagerTypeCustomer {
		t.Fatalf("CreateKey metadata: %+v", md)
	}

	// Encrypt and decrypt with an encryption context; the key id may be omitted on Decrypt.
	ec := map[string]string{"order": "42", "tenant": "acme"}
	enc, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("card 4111"), EncryptionContext: ec})
	check(t, err)
	if aws.ToString(enc.KeyId) != wantARN || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("Encrypt: %+v", enc)
	}
	dec, err := c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	check(t, err)
	if string(dec.Plaintext) != "card 4111" || aws.ToString(dec.KeyId) != wantARN {
		t.Fatalf("Decrypt: %+v", dec)
	}
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"order": "43", "tenant": "acme"}})
	var ice *types.InvalidCiphertextException
	if !errors.As(err, &ice) {
		t.Fatalf("wrong context: want InvalidCiphertextException, got %v", err)
	}
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if !errors.As(err, &ice) {
		t.Fatalf("missing context: want InvalidCiphertextException, got %v", err)
	}

	// Aliases: the alias names the key everywhere a KeyId goes.
	check(t, tryOp(c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: aws.String(keyID)})))
	_, err = c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: aws.String(keyID)})
	var aee *types.AlreadyExistsException
	if !errors.As(err, &aee) {
		t.Fatalf("duplicate alias: %v", err)
	}
	_, err = c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/aws/s3"), TargetKeyId: aws.String(keyID)})
	var iane *types.InvalidAliasNameException
	if !errors.As(err, &iane) {
		t.Fatalf("alias/aws/: %v", err)
	}
	_, err = c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("orders"), TargetKeyId: aws.String(keyID)})
	wantErr(t, err, "ValidationException")
	byAlias, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String("alias/orders"), Plaintext: []byte("x")})
	check(t, err)
	byAliasARN, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:111122223333:alias/orders")})
	check(t, err)
	if aws.ToString(byAliasARN.KeyMetadata.KeyId) != keyID {
		t.Fatalf("alias ARN resolves to %s", aws.ToString(byAliasARN.KeyMetadata.KeyId))
	}
	la, err := c.ListAliases(ctx(), &awskms.ListAliasesInput{KeyId: aws.String(keyID)})
	check(t, err)
	if len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].AliasArn) != "arn:aws:kms:us-east-1:111122223333:alias/orders" || aws.ToString(la.Aliases[0].TargetKeyId) != keyID {
		t.Fatalf("ListAliases: %+v", la.Aliases)
	}

	// Decrypt with the wrong KeyId: IncorrectKeyException.
	other, err := c.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	otherID := aws.ToString(other.KeyMetadata.KeyId)
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: byAlias.CiphertextBlob, KeyId: aws.String(otherID)})
	var ike *types.IncorrectKeyException
	if !errors.As(err, &ike) {
		t.Fatalf("wrong KeyId: %v", err)
	}
	check(t, tryOp(c.UpdateAlias(ctx(), &awskms.UpdateAliasInput{AliasName: aws.String("alias/orders"), TargetKeyId: aws.String(otherID)})))
	d, err := c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String("alias/orders")})
	check(t, err)
	if aws.ToString(d.KeyMetadata.KeyId) != otherID {
		t.Fatal("UpdateAlias did not move the alias")
	}
	check(t, tryOp(c.DeleteAlias(ctx(), &awskms.DeleteAliasInput{AliasName: aws.String("alias/orders")})))
	_, err = c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String("alias/orders")})
	var nfe *types.NotFoundException
	if !errors.As(err, &nfe) {
		t.Fatalf("deleted alias: %v", err)
	}

	// Data keys and ReEncrypt.
	dk, err := c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec})
	check(t, err)
	if len(dk.Plaintext) != 32 {
		t.Fatalf("data key of %d bytes", len(dk.Plaintext))
	}
	dkd, err := c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
	check(t, err)
	if !bytes.Equal(dkd.Plaintext, dk.Plaintext) {
		t.Fatal("data key does not decrypt to its plaintext")
	}
	dkw, err := c.GenerateDataKeyWithoutPlaintext(ctx(), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(20)})
	check(t, err)
	if dkw.CiphertextBlob == nil || len(dkw.CiphertextBlob) != 49+20 {
		t.Fatalf("GenerateDataKeyWithoutPlaintext blob of %d bytes", len(dkw.CiphertextBlob))
	}
	_, err = c.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: aws.String(keyID)})
	wantErr(t, err, "ValidationException")
	re, err := c.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: aws.String(otherID)})
	check(t, err)
	if aws.ToString(re.SourceKeyId) != wantARN || !strings.HasSuffix(aws.ToString(re.KeyId), otherID) {
		t.Fatalf("ReEncrypt: %+v", re)
	}
	red, err := c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	check(t, err)
	if string(red.Plaintext) != "card 4111" {
		t.Fatal("ReEncrypt changed the plaintext")
	}
	rnd, err := c.GenerateRandom(ctx(), &awskms.GenerateRandomInput{NumberOfBytes: aws.Int32(1024)})
	check(t, err)
	if len(rnd.Plaintext) != 1024 {
		t.Fatalf("GenerateRandom: %d bytes", len(rnd.Plaintext))
	}

	// Disabled: cryptography refuses with DisabledException; metadata still answers.
	check(t, tryOp(c.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(keyID)})))
	_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	var de *types.DisabledException
	if !errors.As(err, &de) {
		t.Fatalf("Encrypt on a disabled key: %v", err)
	}
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if !errors.As(err, &de) {
		t.Fatalf("Decrypt on a disabled key: %v", err)
	}
	check(t, tryOp(c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(keyID)})))

	// Scheduled deletion: 7..30 days, KMSInvalidStateException while pending, cancel → Disabled.
	_, err = c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID), PendingWindowInDays: aws.Int32(5)})
	wantErr(t, err, "ValidationException")
	sd, err := c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(keyID)})
	check(t, err)
	if sd.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(sd.PendingWindowInDays) != 30 ||
		sd.DeletionDate.Sub(e.clock.Now()) < 30*24*time.Hour-time.Second {
		t.Fatalf("ScheduleKeyDeletion: %+v", sd)
	}
	_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	var ise *types.KMSInvalidStateException
	if !errors.As(err, &ise) {
		t.Fatalf("Encrypt on a key pending deletion: %v", err)
	}
	_, err = c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(keyID)})
	if !errors.As(err, &ise) {
		t.Fatalf("EnableKey on a key pending deletion: %v", err)
	}
	check(t, tryOp(c.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: aws.String(keyID)})))
	d, err = c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(keyID)})
	check(t, err)
	if d.KeyMetadata.KeyState != types.KeyStateDisabled || d.KeyMetadata.DeletionDate != nil {
		t.Fatalf("after CancelKeyDeletion: %s", d.KeyMetadata.KeyState)
	}
	_, err = c.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: aws.String(keyID)})
	if !errors.As(err, &ise) {
		t.Fatalf("CancelKeyDeletion of a key not pending: %v", err)
	}
	check(t, tryOp(c.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(keyID)})))

	// Description, tags, policy.
	check(t, tryOp(c.UpdateKeyDescription(ctx(), &awskms.UpdateKeyDescriptionInput{KeyId: aws.String(keyID), Description: aws.String("orders v2")})))
	check(t, tryOp(c.TagResource(ctx(), &awskms.TagResourceInput{KeyId: aws.String(keyID), Tags: []types.Tag{
		{TagKey: aws.String("team"), TagValue: aws.String("billing")}, {TagKey: aws.String("env"), TagValue: aws.String("prod")}}})))
	check(t, tryOp(c.UntagResource(ctx(), &awskms.UntagResourceInput{KeyId: aws.String(keyID), TagKeys: []string{"env"}})))
	tags, err := c.ListResourceTags(ctx(), &awskms.ListResourceTagsInput{KeyId: aws.String(keyID)})
	check(t, err)
	if len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].TagValue) != "billing" {
		t.Fatalf("tags: %+v", tags.Tags)
	}
	_, err = c.TagResource(ctx(), &awskms.TagResourceInput{KeyId: aws.String(keyID), Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("y")}}})
	var te *types.TagException
	if !errors.As(err, &te) {
		t.Fatalf("aws: tag: %v", err)
	}
	pol, err := c.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: aws.String(keyID), PolicyName: aws.String("default")})
	check(t, err)
	if !strings.Contains(aws.ToString(pol.Policy), "arn:aws:iam::111122223333:root") {
		t.Fatalf("default policy: %s", aws.ToString(pol.Policy))
	}
	newPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}`
	check(t, tryOp(c.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String(newPolicy)})))
	pol, err = c.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: aws.String(keyID)})
	check(t, err)
	if aws.ToString(pol.Policy) != newPolicy {
		t.Fatal("PutKeyPolicy not stored")
	}
	_, err = c.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: aws.String(keyID), Policy: aws.String("not json")})
	var mpe *types.MalformedPolicyDocumentException
	if !errors.As(err, &mpe) {
		t.Fatalf("malformed policy: %v", err)
	}
	lp, err := c.ListKeyPolicies(ctx(), &awskms.ListKeyPoliciesInput{KeyId: aws.String(keyID)})
	check(t, err)
	if len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "default" {
		t.Fatalf("ListKeyPolicies: %v", lp.PolicyNames)
	}

	// Rotation: on demand and automatic; old ciphertexts keep decrypting.
	check(t, tryOp(c.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: aws.String(keyID), RotationPeriodInDays: aws.Int32(90)})))
	rs, err := c.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: aws.String(keyID)})
	check(t, err)
	if !rs.KeyRotationEnabled || aws.ToInt32(rs.RotationPeriodInDays) != 90 || rs.NextRotationDate == nil {
		t.Fatalf("GetKeyRotationStatus: %+v", rs)
	}
	check(t, tryOp(c.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(keyID)})))
	e.clock.Advance(91 * 24 * time.Hour)
	e.srv.sweep(ctx())
	rots, err := c.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: aws.String(keyID)})
	check(t, err)
	if len(rots.Rotations) != 2 || rots.Rotations[0].RotationType != types.RotationTypeOnDemand || rots.Rotations[1].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("ListKeyRotations: %+v", rots.Rotations)
	}
	enc3, err := c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("after rotation")})
	check(t, err)
	if enc3.CiphertextBlob[20] != 3 {
		t.Fatalf("new ciphertexts use material version %d, want 3", enc3.CiphertextBlob[20])
	}
	dec, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	check(t, err)
	if string(dec.Plaintext) != "card 4111" {
		t.Fatal("a ciphertext from before the rotation no longer decrypts")
	}
	check(t, tryOp(c.DisableKeyRotation(ctx(), &awskms.DisableKeyRotationInput{KeyId: aws.String(keyID)})))

	// Grants.
	g, err := c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		RetiringPrincipal: aws.String("arn:aws:iam::111122223333:role/admin"), Name: aws.String("app-decrypt"),
		Operations:  []types.GrantOperation{types.GrantOperationDecrypt, types.GrantOperationEncrypt},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme"}}})
	check(t, err)
	g2, err := c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		RetiringPrincipal: aws.String("arn:aws:iam::111122223333:role/admin"), Name: aws.String("app-decrypt"),
		Operations:  []types.GrantOperation{types.GrantOperationEncrypt, types.GrantOperationDecrypt},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme"}}})
	check(t, err)
	if aws.ToString(g2.GrantId) != aws.ToString(g.GrantId) {
		t.Fatal("a named grant created twice with the same parameters is not the same grant")
	}
	_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x"), GrantTokens: []string{aws.ToString(g.GrantToken)}})
	check(t, err)
	_, err = c.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x"), GrantTokens: []string{"bogus"}})
	var igt *types.InvalidGrantTokenException
	if !errors.As(err, &igt) {
		t.Fatalf("bogus grant token: %v", err)
	}
	lg, err := c.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: aws.String(keyID)})
	check(t, err)
	if len(lg.Grants) != 1 || lg.Grants[0].Constraints == nil || lg.Grants[0].Constraints.EncryptionContextSubset["tenant"] != "acme" ||
		aws.ToString(lg.Grants[0].IssuingAccount) != "arn:aws:iam::111122223333:root" || len(lg.Grants[0].Operations) != 2 {
		t.Fatalf("ListGrants: %+v", lg.Grants)
	}
	lr, err := c.ListRetirableGrants(ctx(), &awskms.ListRetirableGrantsInput{RetiringPrincipal: aws.String("arn:aws:iam::111122223333:role/admin")})
	check(t, err)
	if len(lr.Grants) != 1 {
		t.Fatalf("ListRetirableGrants: %d", len(lr.Grants))
	}
	check(t, tryOp(c.RetireGrant(ctx(), &awskms.RetireGrantInput{GrantToken: g.GrantToken})))
	g3, err := c.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: aws.String(keyID), GranteePrincipal: aws.String("arn:aws:iam::111122223333:role/app"),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	check(t, err)
	check(t, tryOp(c.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: aws.String(keyID), GrantId: g3.GrantId})))
	_, err = c.RevokeGrant(ctx(), &awskms.RevokeGrantInput{KeyId: aws.String(keyID), GrantId: g3.GrantId})
	if !errors.As(err, &nfe) {
		t.Fatalf("revoking a revoked grant: %v", err)
	}
	lg, err = c.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: aws.String(keyID)})
	check(t, err)
	if len(lg.Grants) != 0 {
		t.Fatalf("grants left: %d", len(lg.Grants))
	}

	// Not found, in every form a KeyId takes.
	for _, id := range []string{"00000000-0000-4000-8000-000000000000", "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000",
		"alias/none", "arn:aws:kms:us-west-2:111122223333:key/" + keyID, "not-a-key"} {
		_, err = c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(id)})
		if !errors.As(err, &nfe) {
			t.Fatalf("DescribeKey %s: %v", id, err)
		}
	}

	// The waiting period ends: the key is gone, with its alias.
	check(t, tryOp(c.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: aws.String(otherID)})))
	check(t, tryOp(c.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(otherID), PendingWindowInDays: aws.Int32(7)})))
	e.clock.Advance(7*24*time.Hour + time.Minute)
	e.srv.sweep(ctx())
	_, err = c.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(otherID)})
	if !errors.As(err, &nfe) {
		t.Fatalf("deleted key: %v", err)
	}
	_, err = c.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if !errors.As(err, &nfe) {
		t.Fatalf("ciphertext of a deleted key: %v", err)
	}
	la, err = c.ListAliases(ctx(), &awskms.ListAliasesInput{})
	check(t, err)
	if len(la.Aliases) != 0 {
		t.Fatalf("aliases of a deleted key remain: %+v", la.Aliases)
	}
}

// tryOp keeps the error of a call whose output does not matter.
func tryOp[T any](_ T, err error) error { return err }

// TestListKeysPaging pages through keys with Limit/Marker and checks InvalidMarkerException.
func TestListKeysPaging(t *testing.T) {
	e := newEnv(t, Config{})
	want := map[string]bool{}
	for i := 0; i < 5; i++ {
		k, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{Description: aws.String(fmt.Sprint(i))})
		check(t, err)
		want[aws.ToString(k.KeyMetadata.KeyId)] = true
	}
	got := map[string]bool{}
	var marker *string
	pages := 0
	for {
		out, err := e.kms.ListKeys(ctx(), &awskms.ListKeysInput{Limit: aws.Int32(2), Marker: marker})
		check(t, err)
		pages++
		for _, k := range out.Keys {
			if got[aws.ToString(k.KeyId)] {
				t.Fatalf("key %s listed twice", aws.ToString(k.KeyId))
			}
			got[aws.ToString(k.KeyId)] = true
			if aws.ToString(k.KeyArn) != "arn:aws:kms:us-east-1:111122223333:key/"+aws.ToString(k.KeyId) {
				t.Fatalf("KeyArn %s", aws.ToString(k.KeyArn))
			}
		}
		if !out.Truncated {
			if out.NextMarker != nil {
				t.Fatal("NextMarker on the last page")
			}
			break
		}
		marker = out.NextMarker
	}
	if pages != 3 || len(got) != 5 {
		t.Fatalf("%d pages, %d keys", pages, len(got))
	}
	// The paginator of the SDK walks the same pages.
	p := awskms.NewListKeysPaginator(e.kms, &awskms.ListKeysInput{Limit: aws.Int32(2)})
	n := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx())
		check(t, err)
		n += len(out.Keys)
	}
	if n != 5 {
		t.Fatalf("paginator saw %d keys", n)
	}
	_, err := e.kms.ListKeys(ctx(), &awskms.ListKeysInput{Marker: aws.String("!!!")})
	var ime *types.InvalidMarkerException
	if !errors.As(err, &ime) {
		t.Fatalf("bad marker: %v", err)
	}
}

// TestRestartPersistence: keys, aliases, material versions and grants survive a restart, and old
// ciphertexts decrypt afterwards.
func TestRestartPersistence(t *testing.T) {
	e := newEnv(t, Config{})
	k, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	id := aws.ToString(k.KeyMetadata.KeyId)
	check(t, tryOp(e.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/keep"), TargetKeyId: aws.String(id)})))
	enc1, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("before rotation")})
	check(t, err)
	check(t, tryOp(e.kms.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: aws.String(id)})))
	enc2, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String("alias/keep"), Plaintext: []byte("after rotation"), EncryptionContext: map[string]string{"a": "b"}})
	check(t, err)
	check(t, tryOp(e.kms.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: aws.String(id)})))

	e.restart()

	d, err := e.kms.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String("alias/keep")})
	check(t, err)
	if aws.ToString(d.KeyMetadata.KeyId) != id || d.KeyMetadata.KeyState != types.KeyStateDisabled {
		t.Fatalf("after restart: %+v", d.KeyMetadata)
	}
	check(t, tryOp(e.kms.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: aws.String(id)})))
	p1, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc1.CiphertextBlob})
	check(t, err)
	p2, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc2.CiphertextBlob, EncryptionContext: map[string]string{"a": "b"}})
	check(t, err)
	if string(p1.Plaintext) != "before rotation" || string(p2.Plaintext) != "after rotation" {
		t.Fatal("plaintexts changed across the restart")
	}
}

// TestKeySpecs: HMAC keys make and verify MACs; specs hsmsim does not offer answer
// UnsupportedOperationException; incompatible usages are ValidationException.
func TestKeySpecs(t *testing.T) {
	e := newEnv(t, Config{})
	h, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecHmac256, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	check(t, err)
	if len(h.KeyMetadata.MacAlgorithms) != 1 || h.KeyMetadata.MacAlgorithms[0] != types.MacAlgorithmSpecHmacSha256 {
		t.Fatalf("HMAC key metadata: %+v", h.KeyMetadata)
	}
	m, err := e.kms.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: h.KeyMetadata.KeyId, Message: []byte("msg"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	check(t, err)
	v, err := e.kms.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: h.KeyMetadata.KeyId, Message: []byte("msg"), Mac: m.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	check(t, err)
	if !v.MacValid {
		t.Fatal("MAC not valid")
	}
	_, err = e.kms.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: h.KeyMetadata.KeyId, Message: []byte("msh"), Mac: m.Mac, MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	var ime *types.KMSInvalidMacException
	if !errors.As(err, &ime) {
		t.Fatalf("wrong MAC: %v", err)
	}
	_, err = e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: h.KeyMetadata.KeyId, Plaintext: []byte("x")})
	var iku *types.InvalidKeyUsageException
	if !errors.As(err, &iku) {
		t.Fatalf("Encrypt with an HMAC key: %v", err)
	}
	_, err = e.kms.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: h.KeyMetadata.KeyId})
	var uoe *types.UnsupportedOperationException
	if !errors.As(err, &uoe) {
		t.Fatalf("rotating an HMAC key: %v", err)
	}
	_, err = e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecMlDsa44, KeyUsage: types.KeyUsageTypeSignVerify})
	if !errors.As(err, &uoe) {
		t.Fatalf("ML_DSA key: %v", err)
	}
	_, err = e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeyUsage: types.KeyUsageTypeSignVerify})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: h.KeyMetadata.KeyId, ImportToken: []byte("t"), EncryptedKeyMaterial: []byte("m")})
	if !errors.As(err, &uoe) {
		t.Fatalf("ImportKeyMaterial: %v", err)
	}
}
