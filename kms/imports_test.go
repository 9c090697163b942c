package kms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/hsmsim/hsmsim/kms/keyimport"
)

// Imported key material (Origin EXTERNAL), tested against AWS's guide "Importing key material"
// (https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html) and its steps:
// "Create a KMS key with no key material", "Download the wrapping public key and import token",
// "Encrypt the key material", "Import key material", "Deleting imported key material", and the
// key state table (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html).

// createExternal makes a KMS key with no key material.
func (e *testEnv) createExternal(t *testing.T, spec types.KeySpec, usage types.KeyUsageType) *types.KeyMetadata {
	t.Helper()
	out, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: spec, KeyUsage: usage})
	check(t, err)
	return out.KeyMetadata
}

// importWith downloads a wrapping key and token for alg and wspec, wraps material under it as a
// client does, and imports it; opts set the rest of the request (expiration by default never).
func (e *testEnv) importWith(keyID string, alg types.AlgorithmSpec, wspec types.WrappingKeySpec, material []byte, opts ...func(*awskms.ImportKeyMaterialInput)) (*awskms.ImportKeyMaterialOutput, error) {
	p, err := e.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: aws.String(keyID), WrappingAlgorithm: alg, WrappingKeySpec: wspec})
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil {
		return nil, err
	}
	wrapped, err := keyimport.Wrap(pub.(*rsa.PublicKey), string(alg), material)
	if err != nil {
		return nil, err
	}
	in := &awskms.ImportKeyMaterialInput{KeyId: aws.String(keyID), ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped,
		ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}
	for _, o := range opts {
		o(in)
	}
	return e.kms.ImportKeyMaterial(ctx(), in)
}

func (e *testEnv) importOAEP(keyID string, material []byte, opts ...func(*awskms.ImportKeyMaterialInput)) (*awskms.ImportKeyMaterialOutput, error) {
	return e.importWith(keyID, types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048, material, opts...)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (e *testEnv) describe(t *testing.T, id string) *types.KeyMetadata {
	t.Helper()
	d, err := e.kms.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: aws.String(id)})
	check(t, err)
	return d.KeyMetadata
}

// TestImportedKeyLifecycle: a symmetric key created without material is PendingImport until its
// material is imported; the token is single-use; only the same material can come back after
// DeleteImportedKeyMaterial, and then ciphertexts made before the delete decrypt again.
func TestImportedKeyLifecycle(t *testing.T) {
	e := newEnv(t, Config{})
	md := e.createExternal(t, "", "")
	id := aws.ToString(md.KeyId)
	if md.KeyState != types.KeyStatePendingImport || md.Origin != types.OriginTypeExternal || md.Enabled ||
		md.ExpirationModel != "" || md.ValidTo != nil || md.KeySpec != types.KeySpecSymmetricDefault {
		t.Fatalf("CreateKey EXTERNAL: %+v", md)
	}
	_, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException")

	p, err := e.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: aws.String(id),
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa4096})
	check(t, err)
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	check(t, err)
	if pub.(*rsa.PublicKey).N.BitLen() != 4096 || aws.ToString(p.KeyId) != aws.ToString(md.Arn) {
		t.Fatalf("GetParametersForImport: %d bits, key %s", pub.(*rsa.PublicKey).N.BitLen(), aws.ToString(p.KeyId))
	}
	if want := e.clock.Now().Add(24 * time.Hour); p.ParametersValidTo == nil || p.ParametersValidTo.Sub(want).Abs() > time.Second {
		t.Fatalf("ParametersValidTo %v, want %v", p.ParametersValidTo, want)
	}
	material := randomBytes(32)
	wrapped, err := keyimport.Wrap(pub.(*rsa.PublicKey), keyimport.RSAESOAEPSHA256, material)
	check(t, err)
	imp := &awskms.ImportKeyMaterialInput{KeyId: aws.String(id), ImportToken: p.ImportToken, EncryptedKeyMaterial: wrapped,
		ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}
	out, err := e.kms.ImportKeyMaterial(ctx(), imp)
	check(t, err)
	matID := aws.ToString(out.KeyMaterialId)
	if len(matID) != 64 || aws.ToString(out.KeyId) != aws.ToString(md.Arn) {
		t.Fatalf("ImportKeyMaterial: %+v", out)
	}
	md = e.describe(t, id)
	if md.KeyState != types.KeyStateEnabled || !md.Enabled || md.ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire ||
		md.ValidTo != nil || aws.ToString(md.CurrentKeyMaterialId) != matID {
		t.Fatalf("after import: %+v", md)
	}
	enc, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("imported")})
	check(t, err)
	dec, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	if string(dec.Plaintext) != "imported" || aws.ToString(dec.KeyMaterialId) != matID {
		t.Fatalf("Decrypt: %+v", dec)
	}

	// A token serves one import: the same request again is refused.
	_, err = e.kms.ImportKeyMaterial(ctx(), imp)
	wantErr(t, err, "InvalidImportTokenException")
	// Only the same material may be imported again.
	_, err = e.importOAEP(id, randomBytes(32))
	wantErr(t, err, "IncorrectKeyMaterialException")

	// Delete: PendingImport, and nothing decrypts until the same material is back.
	del, err := e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id)})
	check(t, err)
	if aws.ToString(del.KeyMaterialId) != matID || aws.ToString(del.KeyId) != aws.ToString(md.Arn) {
		t.Fatalf("DeleteImportedKeyMaterial: %+v", del)
	}
	if st := e.describe(t, id).KeyState; st != types.KeyStatePendingImport {
		t.Fatalf("after delete: %s", st)
	}
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantErr(t, err, "KMSInvalidStateException")
	_, err = e.importOAEP(id, randomBytes(32))
	wantErr(t, err, "IncorrectKeyMaterialException")

	// A token survives a restart: it is sealed under the master key, not kept in memory.
	p, err = e.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: aws.String(id),
		WrappingAlgorithm: types.AlgorithmSpecRsaAesKeyWrapSha1, WrappingKeySpec: types.WrappingKeySpecRsa3072})
	check(t, err)
	e.restart()
	_, err = e.kms.ImportKeyMaterial(ctx(), imp) // still used after the restart
	wantErr(t, err, "InvalidImportTokenException")
	pub, err = x509.ParsePKIXPublicKey(p.PublicKey)
	check(t, err)
	wrapped, err = keyimport.Wrap(pub.(*rsa.PublicKey), keyimport.RSAAESKeyWrapSHA1, material)
	check(t, err)
	out, err = e.kms.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: aws.String(id), ImportToken: p.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	check(t, err)
	if aws.ToString(out.KeyMaterialId) != matID {
		t.Fatalf("re-import gave material id %s, want %s", aws.ToString(out.KeyMaterialId), matID)
	}
	dec, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	check(t, err)
	if string(dec.Plaintext) != "imported" {
		t.Fatalf("old ciphertext after re-import: %q", dec.Plaintext)
	}
	// Deleting the material of a key pending deletion leaves it PendingDeletion.
	check(t, tryOp(e.kms.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: aws.String(id), PendingWindowInDays: aws.Int32(7)})))
	check(t, tryOp(e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id)})))
	if st := e.describe(t, id).KeyState; st != types.KeyStatePendingDeletion {
		t.Fatalf("delete while pending deletion: %s", st)
	}
	_, err = e.importOAEP(id, material)
	wantErr(t, err, "KMSInvalidStateException")
}

// TestImportTokensAndWrapping: the wrapping parameters AWS accepts, fresh wrapping keys per call,
// tokens bound to their key, their expiry after 24 hours, and undecryptable or ill-fitting material.
func TestImportTokensAndWrapping(t *testing.T) {
	e := newEnv(t, Config{})
	a := aws.ToString(e.createExternal(t, "", "").KeyId)
	b := aws.ToString(e.createExternal(t, "", "").KeyId)
	params := func(id string, alg types.AlgorithmSpec, spec types.WrappingKeySpec) (*awskms.GetParametersForImportOutput, error) {
		return e.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: aws.String(id), WrappingAlgorithm: alg, WrappingKeySpec: spec})
	}
	// RSAES_PKCS1_V1_5 is deprecated since October 10, 2023; SM2 is for the China Regions.
	_, err := params(a, types.AlgorithmSpecRsaesPkcs1V15, types.WrappingKeySpecRsa2048)
	wantErr(t, err, "UnsupportedOperationException")
	_, err = params(a, types.AlgorithmSpecSm2pke, types.WrappingKeySpecSm2)
	wantErr(t, err, "UnsupportedOperationException")
	_, err = params(a, types.AlgorithmSpecRsaesOaepSha1, types.WrappingKeySpecSm2)
	wantErr(t, err, "UnsupportedOperationException")
	_, err = params(a, "RSAES_OAEP_SHA_512", types.WrappingKeySpecRsa2048)
	wantErr(t, err, "ValidationException")

	p1, err := params(a, types.AlgorithmSpecRsaesOaepSha1, types.WrappingKeySpecRsa2048)
	check(t, err)
	p2, err := params(a, types.AlgorithmSpecRsaesOaepSha1, types.WrappingKeySpecRsa2048)
	check(t, err)
	if bytes.Equal(p1.PublicKey, p2.PublicKey) || bytes.Equal(p1.ImportToken, p2.ImportToken) {
		t.Fatal("two GetParametersForImport calls shared a wrapping key")
	}
	wrap := func(p *awskms.GetParametersForImportOutput, alg string, m []byte) []byte {
		pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
		check(t, err)
		w, err := keyimport.Wrap(pub.(*rsa.PublicKey), alg, m)
		check(t, err)
		return w
	}
	imp := func(id string, token, wrapped []byte) error {
		return tryOp(e.kms.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: aws.String(id), ImportToken: token,
			EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}))
	}
	material := randomBytes(32)
	// A token names its key: key b refuses a's.
	wantErr(t, imp(b, p1.ImportToken, wrap(p1, keyimport.RSAESOAEPSHA1, material)), "InvalidImportTokenException")
	wantErr(t, imp(a, []byte("not a token"), wrap(p1, keyimport.RSAESOAEPSHA1, material)), "InvalidImportTokenException")
	// Material wrapped under another wrapping key, or with another algorithm, does not decrypt.
	wantErr(t, imp(a, p1.ImportToken, wrap(p2, keyimport.RSAESOAEPSHA1, material)), "InvalidCiphertextException")
	wantErr(t, imp(a, p1.ImportToken, wrap(p1, keyimport.RSAESOAEPSHA256, material)), "InvalidCiphertextException")
	// Material that is not 256 bits does not fit a symmetric key.
	wantErr(t, imp(a, p1.ImportToken, wrap(p1, keyimport.RSAESOAEPSHA1, randomBytes(16))), "IncorrectKeyMaterialException")
	// 24 hours later the token has expired.
	e.clock.Advance(24*time.Hour + time.Second)
	wantErr(t, imp(a, p2.ImportToken, wrap(p2, keyimport.RSAESOAEPSHA1, material)), "ExpiredImportTokenException")
	check(t, tryOp(e.importWith(a, types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048, material)))

	// Keys whose material KMS made cannot import (key state table, footnote: "If the KMS key
	// cannot or does not have imported key material: UnsupportedOperationException").
	k, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	_, err = params(aws.ToString(k.KeyMetadata.KeyId), types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	wantErr(t, err, "UnsupportedOperationException")
	wantErr(t, imp(aws.ToString(k.KeyMetadata.KeyId), p1.ImportToken, []byte("x")), "UnsupportedOperationException")
	_, err = e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: k.KeyMetadata.KeyId})
	wantErr(t, err, "UnsupportedOperationException")
	_, err = params("11111111-2222-3333-4444-555555555555", types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	wantErr(t, err, "NotFoundException")
}

// TestPendingImportKeyStates: every operation's row of the key state table for a key in
// PendingImport ("KMSInvalidStateException: <key ARN> is pending import.").
func TestPendingImportKeyStates(t *testing.T) {
	e := newEnv(t, Config{})
	id := aws.ToString(e.createExternal(t, "", "").KeyId)
	material := randomBytes(32)
	check(t, tryOp(e.importOAEP(id, material)))
	enc, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	check(t, err)
	check(t, tryOp(e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: aws.String(id)})))
	k := aws.String(id)
	fails := map[string]func() error{
		"Encrypt": func() error {
			return tryOp(e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: k, Plaintext: []byte("x")}))
		},
		"Decrypt": func() error {
			return tryOp(e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}))
		},
		"ReEncrypt": func() error {
			return tryOp(e.kms.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: k}))
		},
		"GenerateDataKey": func() error {
			return tryOp(e.kms.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: k, NumberOfBytes: aws.Int32(32)}))
		},
		"GenerateDataKeyWithoutPlaintext": func() error {
			return tryOp(e.kms.GenerateDataKeyWithoutPlaintext(ctx(), &awskms.GenerateDataKeyWithoutPlaintextInput{KeyId: k, KeySpec: types.DataKeySpecAes256}))
		},
		"CreateGrant": func() error {
			return tryOp(e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: k, GranteePrincipal: aws.String("arn:aws:iam::111122223333:root"), Operations: []types.GrantOperation{types.GrantOperationEncrypt}}))
		},
		"EnableKey":  func() error { return tryOp(e.kms.EnableKey(ctx(), &awskms.EnableKeyInput{KeyId: k})) },
		"DisableKey": func() error { return tryOp(e.kms.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: k})) },
		"CancelKeyDeletion": func() error {
			return tryOp(e.kms.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: k})) // not pending deletion
		},
	}
	for op, f := range fails {
		t.Run(op, func(t *testing.T) { wantErr(t, f(), "KMSInvalidStateException") })
	}
	// "<key ARN> origin is EXTERNAL which is not valid for this operation": automatic rotation.
	unsupported := map[string]func() error{
		"EnableKeyRotation":  func() error { return tryOp(e.kms.EnableKeyRotation(ctx(), &awskms.EnableKeyRotationInput{KeyId: k})) },
		"DisableKeyRotation": func() error { return tryOp(e.kms.DisableKeyRotation(ctx(), &awskms.DisableKeyRotationInput{KeyId: k})) },
		"GetKeyRotationStatus": func() error {
			return tryOp(e.kms.GetKeyRotationStatus(ctx(), &awskms.GetKeyRotationStatusInput{KeyId: k}))
		},
	}
	for op, f := range unsupported {
		t.Run(op, func(t *testing.T) { wantErr(t, f(), "UnsupportedOperationException") })
	}
	succeeds := map[string]func() error{
		"DescribeKey": func() error { return tryOp(e.kms.DescribeKey(ctx(), &awskms.DescribeKeyInput{KeyId: k})) },
		"CreateAlias": func() error {
			return tryOp(e.kms.CreateAlias(ctx(), &awskms.CreateAliasInput{AliasName: aws.String("alias/imp"), TargetKeyId: k}))
		},
		"UpdateKeyDescription": func() error {
			return tryOp(e.kms.UpdateKeyDescription(ctx(), &awskms.UpdateKeyDescriptionInput{KeyId: k, Description: aws.String("d")}))
		},
		"TagResource": func() error {
			return tryOp(e.kms.TagResource(ctx(), &awskms.TagResourceInput{KeyId: k, Tags: []types.Tag{{TagKey: aws.String("a"), TagValue: aws.String("b")}}}))
		},
		"GetKeyPolicy": func() error { return tryOp(e.kms.GetKeyPolicy(ctx(), &awskms.GetKeyPolicyInput{KeyId: k})) },
		"PutKeyPolicy": func() error {
			return tryOp(e.kms.PutKeyPolicy(ctx(), &awskms.PutKeyPolicyInput{KeyId: k, Policy: aws.String(keyPolicy())}))
		},
		"ListKeyPolicies": func() error { return tryOp(e.kms.ListKeyPolicies(ctx(), &awskms.ListKeyPoliciesInput{KeyId: k})) },
		"UntagResource": func() error {
			return tryOp(e.kms.UntagResource(ctx(), &awskms.UntagResourceInput{KeyId: k, TagKeys: []string{"x"}}))
		},
		"ListAliases":      func() error { return tryOp(e.kms.ListAliases(ctx(), &awskms.ListAliasesInput{KeyId: k})) },
		"ListGrants":       func() error { return tryOp(e.kms.ListGrants(ctx(), &awskms.ListGrantsInput{KeyId: k})) },
		"ListResourceTags": func() error { return tryOp(e.kms.ListResourceTags(ctx(), &awskms.ListResourceTagsInput{KeyId: k})) },
		"ListKeyRotations": func() error { return tryOp(e.kms.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: k})) },
		"DeleteImportedKeyMaterial": func() error { // no effect
			return tryOp(e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: k}))
		},
		"GetParametersForImport": func() error {
			return tryOp(e.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: k, WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha1, WrappingKeySpec: types.WrappingKeySpecRsa2048}))
		},
	}
	for op, f := range succeeds {
		t.Run(op, func(t *testing.T) { check(t, f()) })
	}
	if st := e.describe(t, id).KeyState; st != types.KeyStatePendingImport {
		t.Fatalf("state %s", st)
	}
	check(t, tryOp(e.kms.ScheduleKeyDeletion(ctx(), &awskms.ScheduleKeyDeletionInput{KeyId: k, PendingWindowInDays: aws.Int32(7)})))
	_, err = e.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: k, WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha1, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	wantErr(t, err, "KMSInvalidStateException")
	// Canceling the deletion brings the key back to PendingImport (its material is still gone).
	check(t, tryOp(e.kms.CancelKeyDeletion(ctx(), &awskms.CancelKeyDeletionInput{KeyId: k})))
	if st := e.describe(t, id).KeyState; st != types.KeyStatePendingImport {
		t.Fatalf("after CancelKeyDeletion: %s", st)
	}
	// A disabled key whose material is deleted is PendingImport, and Enabled once it is back.
	check(t, tryOp(e.importOAEP(id, material)))
	check(t, tryOp(e.kms.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: k})))
	check(t, tryOp(e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: k})))
	if st := e.describe(t, id).KeyState; st != types.KeyStatePendingImport {
		t.Fatalf("disabled key after delete: %s", st)
	}
	check(t, tryOp(e.importOAEP(id, material)))
	if st := e.describe(t, id).KeyState; st != types.KeyStateEnabled {
		t.Fatalf("after import: %s", st)
	}
}

// TestImportExpiration: KEY_MATERIAL_EXPIRES needs a ValidTo within 365 days; when it passes the
// sweeper deletes the material and the key is PendingImport again.
func TestImportExpiration(t *testing.T) {
	e := newEnv(t, Config{})
	id := aws.ToString(e.createExternal(t, "", "").KeyId)
	material := randomBytes(32)
	now := e.clock.Now()
	expires := func(validTo *time.Time) func(*awskms.ImportKeyMaterialInput) {
		return func(in *awskms.ImportKeyMaterialInput) { in.ExpirationModel, in.ValidTo = "", validTo }
	}
	for name, o := range map[string]func(*awskms.ImportKeyMaterialInput){
		"default model without ValidTo": expires(nil),
		"ValidTo in the past":           expires(aws.Time(now.Add(-time.Minute))),
		"ValidTo beyond 365 days":       expires(aws.Time(now.Add(366 * 24 * time.Hour))),
		"ValidTo that never expires": func(in *awskms.ImportKeyMaterialInput) {
			in.ValidTo = aws.Time(now.Add(time.Hour))
		},
	} {
		_, err := e.importOAEP(id, material, o)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		wantErr(t, err, "ValidationException")
	}
	validTo := now.Add(2 * time.Hour).Truncate(time.Second)
	check(t, tryOp(e.importOAEP(id, material, expires(&validTo))))
	md := e.describe(t, id)
	if md.KeyState != types.KeyStateEnabled || md.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires || md.ValidTo == nil || !md.ValidTo.Equal(validTo) {
		t.Fatalf("after an expiring import: %+v", md)
	}
	e.restart()
	e.clock.Advance(time.Hour)
	e.srv.sweep(ctx())
	if st := e.describe(t, id).KeyState; st != types.KeyStateEnabled {
		t.Fatalf("an hour before expiry: %s", st)
	}
	e.clock.Advance(time.Hour)
	e.srv.sweep(ctx())
	md = e.describe(t, id)
	if md.KeyState != types.KeyStatePendingImport || md.ValidTo != nil {
		t.Fatalf("after expiry: %+v", md)
	}
	_, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
	wantErr(t, err, "KMSInvalidStateException")
	check(t, tryOp(e.importOAEP(id, material)))
	if md = e.describe(t, id); md.KeyState != types.KeyStateEnabled || md.ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire {
		t.Fatalf("after re-import: %+v", md)
	}
}

// TestImportHMACAndAsymmetric: HMAC keys take raw material of their hash's sizes, signing keys a
// PKCS#8 private key of their spec; the MACs and signatures match the imported keys'.
func TestImportHMACAndAsymmetric(t *testing.T) {
	e := newEnv(t, Config{})
	h := e.createExternal(t, types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	if h.KeyState != types.KeyStatePendingImport || len(h.MacAlgorithms) != 1 {
		t.Fatalf("HMAC key: %+v", h)
	}
	_, err := e.kms.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: h.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantErr(t, err, "KMSInvalidStateException")
	_, err = e.kms.VerifyMac(ctx(), &awskms.VerifyMacInput{KeyId: h.KeyId, Message: []byte("m"), Mac: []byte("x"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	wantErr(t, err, "KMSInvalidStateException")
	_, err = e.importOAEP(aws.ToString(h.KeyId), randomBytes(16))
	wantErr(t, err, "IncorrectKeyMaterialException")
	_, err = e.importOAEP(aws.ToString(h.KeyId), randomBytes(64), func(in *awskms.ImportKeyMaterialInput) { in.ImportType = types.ImportTypeNewKeyMaterial })
	wantErr(t, err, "UnsupportedOperationException")
	hk := randomBytes(64)
	check(t, tryOp(e.importOAEP(aws.ToString(h.KeyId), hk)))
	mac, err := e.kms.GenerateMac(ctx(), &awskms.GenerateMacInput{KeyId: h.KeyId, Message: []byte("m"), MacAlgorithm: types.MacAlgorithmSpecHmacSha256})
	check(t, err)
	local := hmac.New(sha256.New, hk)
	local.Write([]byte("m"))
	if !hmac.Equal(mac.Mac, local.Sum(nil)) {
		t.Fatal("the MAC is not the imported key's")
	}
	_, err = e.importOAEP(aws.ToString(h.KeyId), randomBytes(64))
	wantErr(t, err, "IncorrectKeyMaterialException")

	s := e.createExternal(t, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	_, err = e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: s.KeyId})
	wantErr(t, err, "KMSInvalidStateException")
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: s.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantErr(t, err, "KMSInvalidStateException")
	_, err = e.kms.Verify(ctx(), &awskms.VerifyInput{KeyId: s.KeyId, Message: []byte("m"), Signature: []byte("x"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantErr(t, err, "KMSInvalidStateException")
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(other)
	_, err = e.importWith(aws.ToString(s.KeyId), types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048, otherDER)
	wantErr(t, err, "IncorrectKeyMaterialException")
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	check(t, tryOp(e.importWith(aws.ToString(s.KeyId), types.AlgorithmSpecRsaAesKeyWrapSha256, types.WrappingKeySpecRsa2048, der)))
	pk, err := e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: s.KeyId})
	check(t, err)
	wantPub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if !bytes.Equal(pk.PublicKey, wantPub) {
		t.Fatal("GetPublicKey is not the imported key's public key")
	}
	sig, err := e.kms.Sign(ctx(), &awskms.SignInput{KeyId: s.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	check(t, err)
	digest := sha256.Sum256([]byte("m"))
	if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig.Signature) {
		t.Fatal("the signature does not verify under the imported key")
	}

	r := e.createExternal(t, types.KeySpecRsa2048, types.KeyUsageTypeSignVerify)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rder, _ := x509.MarshalPKCS8PrivateKey(rk)
	check(t, tryOp(e.importWith(aws.ToString(r.KeyId), types.AlgorithmSpecRsaAesKeyWrapSha1, types.WrappingKeySpecRsa4096, rder)))
	rsig, err := e.kms.Sign(ctx(), &awskms.SignInput{KeyId: r.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecRsassaPkcs1V15Sha256})
	check(t, err)
	if err := rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, digest[:], rsig.Signature); err != nil {
		t.Fatalf("RSA signature: %v", err)
	}
}

// TestImportedKeyOnDemandRotation: a symmetric key with imported material rotates on demand to new
// material imported beforehand (ImportType NEW_KEY_MATERIAL, state PENDING_ROTATION); every
// material can be deleted and re-imported by its KeyMaterialId.
func TestImportedKeyOnDemandRotation(t *testing.T) {
	e := newEnv(t, Config{})
	id := aws.ToString(e.createExternal(t, "", "").KeyId)
	k := aws.String(id)
	m1, m2 := randomBytes(32), randomBytes(32)
	out1, err := e.importOAEP(id, m1, func(in *awskms.ImportKeyMaterialInput) { in.KeyMaterialDescription = aws.String("first") })
	check(t, err)
	id1 := aws.ToString(out1.KeyMaterialId)
	enc1, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: k, Plaintext: []byte("under m1")})
	check(t, err)
	_, err = e.kms.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: k})
	wantErr(t, err, "KMSInvalidStateException") // no material pending rotation

	newType := func(in *awskms.ImportKeyMaterialInput) { in.ImportType = types.ImportTypeNewKeyMaterial }
	_, err = e.importOAEP(id, m1, newType)
	wantErr(t, err, "IncorrectKeyMaterialException") // already this key's
	_, err = e.importOAEP(id, m2, newType, func(in *awskms.ImportKeyMaterialInput) { in.KeyMaterialId = aws.String(id1) })
	wantErr(t, err, "ValidationException")
	_, err = e.importOAEP(id, m2) // EXISTING by default once material was imported
	wantErr(t, err, "IncorrectKeyMaterialException")
	out2, err := e.importOAEP(id, m2, newType, func(in *awskms.ImportKeyMaterialInput) { in.KeyMaterialDescription = aws.String("second") })
	check(t, err)
	id2 := aws.ToString(out2.KeyMaterialId)
	if md := e.describe(t, id); aws.ToString(md.CurrentKeyMaterialId) != id1 || md.KeyState != types.KeyStateEnabled {
		t.Fatalf("pending rotation changed the current material: %+v", md)
	}
	_, err = e.importOAEP(id, randomBytes(32), newType)
	wantErr(t, err, "KMSInvalidStateException") // one material pending rotation at a time

	all, err := e.kms.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: k, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	check(t, err)
	if len(all.Rotations) != 2 {
		t.Fatalf("ALL_KEY_MATERIAL: %+v", all.Rotations)
	}
	first, pending := all.Rotations[0], all.Rotations[1]
	if aws.ToString(first.KeyMaterialId) != id1 || first.KeyMaterialState != types.KeyMaterialStateCurrent || first.ImportState != types.ImportStateImported ||
		aws.ToString(first.KeyMaterialDescription) != "first" || first.RotationDate != nil || first.RotationType != "" ||
		first.ExpirationModel != types.ExpirationModelTypeKeyMaterialDoesNotExpire {
		t.Fatalf("first material: %+v", first)
	}
	if aws.ToString(pending.KeyMaterialId) != id2 || pending.KeyMaterialState != types.KeyMaterialStatePendingRotation ||
		pending.ImportState != types.ImportStateImported || aws.ToString(pending.KeyMaterialDescription) != "second" || pending.RotationDate != nil {
		t.Fatalf("pending material: %+v", pending)
	}
	only, err := e.kms.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: k})
	check(t, err)
	if len(only.Rotations) != 0 {
		t.Fatalf("ROTATIONS_ONLY before a rotation: %+v", only.Rotations)
	}

	check(t, tryOp(e.kms.RotateKeyOnDemand(ctx(), &awskms.RotateKeyOnDemandInput{KeyId: k})))
	if md := e.describe(t, id); aws.ToString(md.CurrentKeyMaterialId) != id2 {
		t.Fatalf("after rotation: current %s, want %s", aws.ToString(md.CurrentKeyMaterialId), id2)
	}
	enc2, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: k, Plaintext: []byte("under m2")})
	check(t, err)
	d2, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc2.CiphertextBlob})
	check(t, err)
	if aws.ToString(d2.KeyMaterialId) != id2 {
		t.Fatalf("new ciphertext under %s", aws.ToString(d2.KeyMaterialId))
	}
	only, err = e.kms.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: k})
	check(t, err)
	if len(only.Rotations) != 1 || aws.ToString(only.Rotations[0].KeyMaterialId) != id2 || only.Rotations[0].RotationType != types.RotationTypeOnDemand ||
		only.Rotations[0].RotationDate == nil || only.Rotations[0].KeyMaterialState != types.KeyMaterialStateCurrent {
		t.Fatalf("ROTATIONS_ONLY after a rotation: %+v", only.Rotations)
	}

	// Deleting the non-current material makes the key PendingImport; it comes back by its id.
	del, err := e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: k, KeyMaterialId: aws.String(id1)})
	check(t, err)
	if aws.ToString(del.KeyMaterialId) != id1 {
		t.Fatalf("deleted %s", aws.ToString(del.KeyMaterialId))
	}
	if st := e.describe(t, id).KeyState; st != types.KeyStatePendingImport {
		t.Fatalf("after deleting the older material: %s", st)
	}
	_, err = e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: k, KeyMaterialId: aws.String(sha256Hex("none"))})
	wantErr(t, err, "NotFoundException")
	existing := func(mid string) func(*awskms.ImportKeyMaterialInput) {
		return func(in *awskms.ImportKeyMaterialInput) {
			in.ImportType, in.KeyMaterialId = types.ImportTypeExistingKeyMaterial, aws.String(mid)
		}
	}
	_, err = e.importOAEP(id, m1, existing(id2))
	wantErr(t, err, "IncorrectKeyMaterialException")
	check(t, tryOp(e.importOAEP(id, m1, existing(id1))))
	d1, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc1.CiphertextBlob})
	check(t, err)
	if string(d1.Plaintext) != "under m1" || aws.ToString(d1.KeyMaterialId) != id1 {
		t.Fatalf("old ciphertext: %+v", d1)
	}
	// Material pending rotation is not yet the key's: deleting it leaves the key Enabled.
	out3, err := e.importOAEP(id, randomBytes(32), newType)
	check(t, err)
	check(t, tryOp(e.kms.DeleteImportedKeyMaterial(ctx(), &awskms.DeleteImportedKeyMaterialInput{KeyId: k, KeyMaterialId: out3.KeyMaterialId})))
	all, err = e.kms.ListKeyRotations(ctx(), &awskms.ListKeyRotationsInput{KeyId: k, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	check(t, err)
	if st := e.describe(t, id).KeyState; st != types.KeyStateEnabled || len(all.Rotations) != 2 {
		t.Fatalf("after deleting pending material: %s, %+v", st, all.Rotations)
	}
}

// TestImportConditionKeys: an IAM policy can limit imports by the condition keys AWS gives them:
// kms:WrappingAlgorithm and kms:WrappingKeySpec (GetParametersForImport), kms:ExpirationModel and
// kms:ValidTo (ImportKeyMaterial).
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
func TestImportConditionKeys(t *testing.T) {
	e := newEnv(t, Config{})
	id := e.createExternal(t, "", "").KeyId
	deadline := e.clock.Now().Add(48 * time.Hour)
	u := e.newUser("importer", identityDoc(
		`{"Effect":"Allow","Action":"kms:GetParametersForImport","Resource":"*","Condition":{"StringEquals":{"kms:WrappingAlgorithm":"RSAES_OAEP_SHA_256","kms:WrappingKeySpec":"RSA_2048"}}}`,
		fmt.Sprintf(`{"Effect":"Allow","Action":"kms:ImportKeyMaterial","Resource":"*","Condition":{"StringEquals":{"kms:ExpirationModel":"KEY_MATERIAL_EXPIRES"},"NumericLessThanEquals":{"kms:ValidTo":"%d"}}}`, deadline.Unix())))
	params := func(alg types.AlgorithmSpec, spec types.WrappingKeySpec) (*awskms.GetParametersForImportOutput, error) {
		return u.kms.GetParametersForImport(ctx(), &awskms.GetParametersForImportInput{KeyId: id, WrappingAlgorithm: alg, WrappingKeySpec: spec})
	}
	_, err := params(types.AlgorithmSpecRsaesOaepSha1, types.WrappingKeySpecRsa2048)
	wantErr(t, err, "AccessDeniedException")
	_, err = params(types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa3072)
	wantErr(t, err, "AccessDeniedException")
	p, err := params(types.AlgorithmSpecRsaesOaepSha256, types.WrappingKeySpecRsa2048)
	check(t, err)
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	check(t, err)
	wrapped, err := keyimport.Wrap(pub.(*rsa.PublicKey), keyimport.RSAESOAEPSHA256, randomBytes(32))
	check(t, err)
	imp := func(model types.ExpirationModelType, validTo *time.Time) error {
		return tryOp(u.kms.ImportKeyMaterial(ctx(), &awskms.ImportKeyMaterialInput{KeyId: id, ImportToken: p.ImportToken,
			EncryptedKeyMaterial: wrapped, ExpirationModel: model, ValidTo: validTo}))
	}
	wantErr(t, imp(types.ExpirationModelTypeKeyMaterialDoesNotExpire, nil), "AccessDeniedException")
	wantErr(t, imp(types.ExpirationModelTypeKeyMaterialExpires, aws.Time(deadline.Add(time.Hour))), "AccessDeniedException")
	check(t, imp(types.ExpirationModelTypeKeyMaterialExpires, aws.Time(deadline.Add(-time.Hour))))
}

// TestImportedMaterialNeverOnDiskInTheClear: imported key material is sealed under the master key
// like generated material; neither it nor the token's wrapping key is in the data directory in
// plain form.
func TestImportedMaterialNeverOnDiskInTheClear(t *testing.T) {
	e := newEnv(t, Config{})
	material := randomBytes(32)
	hk := randomBytes(48)
	check(t, tryOp(e.importOAEP(aws.ToString(e.createExternal(t, "", "").KeyId), material)))
	check(t, tryOp(e.importOAEP(aws.ToString(e.createExternal(t, types.KeySpecHmac384, types.KeyUsageTypeGenerateVerifyMac).KeyId), hk)))
	e.close()
	err := filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, secret := range [][]byte{material, hk, []byte(hex.EncodeToString(material)), []byte(base64.StdEncoding.EncodeToString(material))} {
			if bytes.Contains(b, secret) {
				t.Errorf("%s holds imported key material in the clear", path)
			}
		}
		return nil
	})
	check(t, err)
}
