package kms

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"hash"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestRSAEncryption encrypts with RSA ENCRYPT_DECRYPT keys both ways: offline with the public
// key GetPublicKey gives out (Go's crypto/rsa, RSAES-OAEP) and then KMS's Decrypt, and KMS's
// Encrypt then Decrypt; at each key size and algorithm the largest plaintext AWS's table allows
// passes and one byte more is ValidationException.
func TestRSAEncryption(t *testing.T) {
	e := newEnv(t, Config{})
	algs := []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecRsaesOaepSha1, types.EncryptionAlgorithmSpecRsaesOaepSha256}
	// The Encrypt operation's table (KMS API Reference): the most bytes each size and algorithm encrypts.
	limits := map[types.KeySpec][2]int{types.KeySpecRsa2048: {214, 190}, types.KeySpecRsa3072: {342, 318}, types.KeySpecRsa4096: {470, 446}}
	for _, spec := range []types.KeySpec{types.KeySpecRsa2048, types.KeySpecRsa3072, types.KeySpecRsa4096} {
		ck, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: spec, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
		check(t, err)
		id := ck.KeyMetadata.KeyId
		if !slices.Equal(ck.KeyMetadata.EncryptionAlgorithms, algs) || ck.KeyMetadata.SigningAlgorithms != nil {
			t.Fatalf("%s metadata algorithms: %v %v", spec, ck.KeyMetadata.EncryptionAlgorithms, ck.KeyMetadata.SigningAlgorithms)
		}
		pk, err := e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: id})
		check(t, err)
		if !slices.Equal(pk.EncryptionAlgorithms, algs) || pk.KeyUsage != types.KeyUsageTypeEncryptDecrypt || pk.SigningAlgorithms != nil {
			t.Fatalf("GetPublicKey %s: %+v", spec, pk)
		}
		pubAny, err := x509.ParsePKIXPublicKey(pk.PublicKey)
		check(t, err)
		pub := pubAny.(*rsa.PublicKey)
		for i, alg := range algs {
			var h hash.Hash = sha1.New()
			if alg == types.EncryptionAlgorithmSpecRsaesOaepSha256 {
				h = sha256.New()
			}
			max := limits[spec][i]
			plain := bytes.Repeat([]byte{0xa5}, max)

			// Offline encryption, KMS decryption.
			ct, err := rsa.EncryptOAEP(h, rand.Reader, pub, plain, nil)
			check(t, err)
			dec, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: ct, KeyId: id, EncryptionAlgorithm: alg})
			check(t, err)
			if !bytes.Equal(dec.Plaintext, plain) || dec.EncryptionAlgorithm != alg || aws.ToString(dec.KeyId) != aws.ToString(ck.KeyMetadata.Arn) {
				t.Fatalf("%s %s: Decrypt of an offline ciphertext: %+v", spec, alg, dec)
			}

			// KMS encryption: the raw OAEP ciphertext, as long as the modulus.
			enc, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: id, Plaintext: plain, EncryptionAlgorithm: alg})
			check(t, err)
			if len(enc.CiphertextBlob) != pub.Size() || enc.EncryptionAlgorithm != alg {
				t.Fatalf("%s %s: Encrypt: %d bytes, %s", spec, alg, len(enc.CiphertextBlob), enc.EncryptionAlgorithm)
			}
			dec, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: id, EncryptionAlgorithm: alg})
			check(t, err)
			if !bytes.Equal(dec.Plaintext, plain) {
				t.Fatalf("%s %s: KMS round trip", spec, alg)
			}

			_, err = e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: id, Plaintext: append(plain, 0), EncryptionAlgorithm: alg})
			wantErr(t, err, "ValidationException")
		}
	}
}

// TestRSAEncryptionRefusals: what Encrypt, Decrypt, ReEncrypt and GenerateDataKey answer when an
// RSA key, its algorithm or its ciphertext is missing or wrong; and ReEncrypt between a
// symmetric and an RSA key both ways.
func TestRSAEncryptionRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	ck, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	check(t, err)
	id := ck.KeyMetadata.KeyId
	sha256Alg := types.EncryptionAlgorithmSpecRsaesOaepSha256
	// An RSA ciphertext is random bytes; about 2 in 256 begin like an hsmsim symmetric blob
	// (kms/ciphertext) and then name a key that does not exist, which a Decrypt without KeyId
	// answers NotFoundException. The checks below are of a ciphertext that does not, so draw
	// until one does not (the test failed about once in 128 runs before).
	var enc *awskms.EncryptOutput
	for range 50 {
		enc, err = e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: id, Plaintext: []byte("pin 1234"), EncryptionAlgorithm: sha256Alg})
		check(t, err)
		if _, perr := parseBlob(enc.CiphertextBlob); perr != nil {
			break
		}
	}

	// An RSA key needs its algorithm: SYMMETRIC_DEFAULT (the default) is incompatible.
	_, err = e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: id, Plaintext: []byte("x")})
	wantErr(t, err, "InvalidKeyUsageException")
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: id})
	wantErr(t, err, "InvalidKeyUsageException")
	// Without the KeyId there is nothing in an RSA ciphertext to find the key by.
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: sha256Alg})
	wantErr(t, err, "InvalidCiphertextException")
	// The other OAEP hash, or an altered ciphertext, does not decrypt.
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: id, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
	wantErr(t, err, "InvalidCiphertextException")
	bad := slices.Clone(enc.CiphertextBlob)
	bad[10] ^= 1
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: bad, KeyId: id, EncryptionAlgorithm: sha256Alg})
	wantErr(t, err, "InvalidCiphertextException")
	// Asymmetric algorithms take no encryption context.
	_, err = e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: sha256Alg, EncryptionContext: map[string]string{"a": "b"}})
	wantErr(t, err, "ValidationException")
	// Data keys come from symmetric encryption keys only.
	_, err = e.kms.GenerateDataKey(ctx(), &awskms.GenerateDataKeyInput{KeyId: id, KeySpec: types.DataKeySpecAes256})
	wantErr(t, err, "InvalidKeyUsageException")
	// A symmetric key refuses an RSA algorithm, and an RSA signing key encryption.
	sym, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	_, err = e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: sym.KeyMetadata.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: sha256Alg})
	wantErr(t, err, "InvalidKeyUsageException")
	sg, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)
	_, err = e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: sg.KeyMetadata.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: sha256Alg})
	wantErr(t, err, "InvalidKeyUsageException")
	// The KeyId names another key than the ciphertext's: it does not decrypt.
	other, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	check(t, err)
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: other.KeyMetadata.KeyId, EncryptionAlgorithm: sha256Alg})
	wantErr(t, err, "InvalidCiphertextException")
	// DryRun stops once the key and algorithm check out.
	_, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyId: id, EncryptionAlgorithm: sha256Alg, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")

	// ReEncrypt from the RSA key to the symmetric key and back.
	re, err := e.kms.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: id, SourceEncryptionAlgorithm: sha256Alg,
		DestinationKeyId: sym.KeyMetadata.KeyId, DestinationEncryptionContext: map[string]string{"t": "1"}})
	check(t, err)
	if re.SourceEncryptionAlgorithm != sha256Alg || re.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("ReEncrypt RSA → symmetric: %+v", re)
	}
	back, err := e.kms.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: re.CiphertextBlob, SourceEncryptionContext: map[string]string{"t": "1"},
		DestinationKeyId: id, DestinationEncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
	check(t, err)
	if back.DestinationEncryptionAlgorithm != types.EncryptionAlgorithmSpecRsaesOaepSha1 || len(back.CiphertextBlob) != 256 {
		t.Fatalf("ReEncrypt symmetric → RSA: %+v", back)
	}
	dec, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: back.CiphertextBlob, KeyId: id, EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha1})
	check(t, err)
	if string(dec.Plaintext) != "pin 1234" {
		t.Fatalf("after two ReEncrypts: %q", dec.Plaintext)
	}
	_, err = e.kms.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: id, DestinationKeyId: sym.KeyMetadata.KeyId})
	wantErr(t, err, "InvalidKeyUsageException")
}

// TestRSAReEncryptOnSameKey: kms:ReEncryptOnSameKey is true for an RSA ciphertext re-encrypted
// under its own key (named by SourceKeyId, since the ciphertext names no key), so a key policy
// that denies re-encryption on the same key refuses it and allows another destination.
func TestRSAReEncryptOnSameKey(t *testing.T) {
	e := newEnv(t, Config{})
	pol := keyPolicy(`{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ReEncrypt*","Resource":"*","Condition":{"Bool":{"kms:ReEncryptOnSameKey":"true"}}}`)
	ck, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt, Policy: aws.String(pol)})
	check(t, err)
	alg := types.EncryptionAlgorithmSpecRsaesOaepSha256
	enc, err := e.kms.Encrypt(ctx(), &awskms.EncryptInput{KeyId: ck.KeyMetadata.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: alg})
	check(t, err)
	_, err = e.kms.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: ck.KeyMetadata.KeyId, SourceEncryptionAlgorithm: alg,
		DestinationKeyId: ck.KeyMetadata.Arn, DestinationEncryptionAlgorithm: alg})
	wantErr(t, err, "AccessDeniedException")
	sym, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	_, err = e.kms.ReEncrypt(ctx(), &awskms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceKeyId: ck.KeyMetadata.KeyId, SourceEncryptionAlgorithm: alg,
		DestinationKeyId: sym.KeyMetadata.KeyId})
	check(t, err)
}
