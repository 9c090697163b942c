package kms

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestAsymmetricSignVerify signs with RSA and ECC default-store keys through the SDK, checks the
// signatures with KMS's Verify and with Go's crypto over the key GetPublicKey returns, and checks
// the refusals: a tampered signature, a wrong algorithm, a digest of the wrong length, a
// symmetric key.
func TestAsymmetricSignVerify(t *testing.T) {
	e := newEnv(t, Config{})
	msg := []byte("signed by hsmsim's KMS")
	digest := sha256.Sum256(msg)
	for _, tc := range []struct {
		spec types.KeySpec
		alg  types.SigningAlgorithmSpec
	}{
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPssSha256},
		{types.KeySpecRsa2048, types.SigningAlgorithmSpecRsassaPkcs1V15Sha256},
		{types.KeySpecEccNistP256, types.SigningAlgorithmSpecEcdsaSha256},
	} {
		k, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: tc.spec, KeyUsage: types.KeyUsageTypeSignVerify})
		check(t, err)
		id := k.KeyMetadata.KeyId
		pk, err := e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: id})
		check(t, err)
		if pk.KeySpec != tc.spec || pk.KeyUsage != types.KeyUsageTypeSignVerify {
			t.Fatalf("GetPublicKey %s: %s %s", tc.spec, pk.KeySpec, pk.KeyUsage)
		}
		pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
		check(t, err)
		for _, mt := range []types.MessageType{types.MessageTypeRaw, types.MessageTypeDigest} {
			in := msg
			if mt == types.MessageTypeDigest {
				in = digest[:]
			}
			sig, err := e.kms.Sign(ctx(), &awskms.SignInput{KeyId: id, Message: in, MessageType: mt, SigningAlgorithm: tc.alg})
			check(t, err)
			v, err := e.kms.Verify(ctx(), &awskms.VerifyInput{KeyId: id, Message: in, MessageType: mt, Signature: sig.Signature, SigningAlgorithm: tc.alg})
			check(t, err)
			if !v.SignatureValid {
				t.Fatalf("%s %s: KMS rejects its own signature", tc.alg, mt)
			}
			// Go's crypto agrees, with the public key KMS gave out.
			var ok bool
			switch p := pub.(type) {
			case *rsa.PublicKey:
				if tc.alg == types.SigningAlgorithmSpecRsassaPssSha256 {
					ok = rsa.VerifyPSS(p, crypto.SHA256, digest[:], sig.Signature, &rsa.PSSOptions{SaltLength: 32}) == nil
				} else {
					ok = rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], sig.Signature) == nil
				}
			case *ecdsa.PublicKey:
				ok = ecdsa.VerifyASN1(p, digest[:], sig.Signature)
			}
			if !ok {
				t.Fatalf("%s %s: the standard library rejects KMS's signature", tc.alg, mt)
			}
			sig.Signature[len(sig.Signature)/2] ^= 1
			_, err = e.kms.Verify(ctx(), &awskms.VerifyInput{KeyId: id, Message: in, MessageType: mt, Signature: sig.Signature, SigningAlgorithm: tc.alg})
			var bad *types.KMSInvalidSignatureException
			if !errors.As(err, &bad) {
				t.Fatalf("tampered signature: %v", err)
			}
		}
		_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: id, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha384})
		var iku *types.InvalidKeyUsageException
		if !errors.As(err, &iku) {
			t.Fatalf("%s with ECDSA_SHA_384: %v", tc.spec, err)
		}
		_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: id, Message: digest[:20], MessageType: types.MessageTypeDigest, SigningAlgorithm: tc.alg})
		wantErr(t, err, "ValidationException")
	}
	sym, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: sym.KeyMetadata.KeyId, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	var iku *types.InvalidKeyUsageException
	if !errors.As(err, &iku) {
		t.Fatalf("Sign with a symmetric key: %v", err)
	}
	_, err = e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: aws.String(*sym.KeyMetadata.KeyId)})
	var uoe *types.UnsupportedOperationException
	if !errors.As(err, &uoe) {
		t.Fatalf("GetPublicKey of a symmetric key: %v", err)
	}
}
