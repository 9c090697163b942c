package kms

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// k1Public reads a secp256k1 SubjectPublicKeyInfo by hand (the standard library has no
// secp256k1): the algorithm must be id-ecPublicKey on secp256k1 (SEC 2, 1.3.132.0.10).
func k1Public(t *testing.T, der []byte) *secp256k1.PublicKey {
	t.Helper()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	_, err := asn1.Unmarshal(der, &spki)
	check(t, err)
	var curve asn1.ObjectIdentifier
	_, err = asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &curve)
	check(t, err)
	if !spki.Algorithm.Algorithm.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}) || !curve.Equal(asn1.ObjectIdentifier{1, 3, 132, 0, 10}) {
		t.Fatalf("not a secp256k1 public key: %v %v", spki.Algorithm.Algorithm, curve)
	}
	pub, err := secp256k1.ParsePubKey(spki.PublicKey.Bytes)
	check(t, err)
	return pub
}

// k1Private reads a secp256k1 PKCS#8 PrivateKeyInfo by hand: RFC 5915's ECPrivateKey inside.
func k1Private(t *testing.T, der []byte) *secp256k1.PrivateKey {
	t.Helper()
	var info struct {
		Version    int
		Algorithm  pkix.AlgorithmIdentifier
		PrivateKey []byte
	}
	_, err := asn1.Unmarshal(der, &info)
	check(t, err)
	var ec struct {
		Version    int
		PrivateKey []byte
		PublicKey  asn1.BitString `asn1:"optional,explicit,tag:1"`
	}
	_, err = asn1.Unmarshal(info.PrivateKey, &ec)
	check(t, err)
	if ec.Version != 1 || len(ec.PrivateKey) != 32 {
		t.Fatalf("ECPrivateKey: version %d, %d bytes", ec.Version, len(ec.PrivateKey))
	}
	return secp256k1.PrivKeyFromBytes(ec.PrivateKey)
}

// TestGenerateDataKeyPair makes a data key pair of every DataKeyPairSpec AWS offers outside
// China, with and without the plaintext: the private key is PKCS#8, the public key DER SPKI and
// its half, the encrypted private key decrypts with Decrypt under the encryption context given;
// SM2 and the keys that cannot encrypt a data key pair are refused as AWS refuses them.
func TestGenerateDataKeyPair(t *testing.T) {
	e := newEnv(t, Config{})
	sym, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{})
	check(t, err)
	id, arn := sym.KeyMetadata.KeyId, aws.ToString(sym.KeyMetadata.Arn)
	ec := map[string]string{"purpose": "device-42"}
	for _, spec := range []types.DataKeyPairSpec{types.DataKeyPairSpecRsa2048, types.DataKeyPairSpecRsa3072, types.DataKeyPairSpecRsa4096,
		types.DataKeyPairSpecEccNistP256, types.DataKeyPairSpecEccNistP384, types.DataKeyPairSpecEccNistP521,
		types.DataKeyPairSpecEccSecgP256k1, types.DataKeyPairSpecEccNistEdwards25519} {
		out, err := e.kms.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: id, KeyPairSpec: spec, EncryptionContext: ec})
		check(t, err)
		if out.KeyPairSpec != spec || aws.ToString(out.KeyId) != arn || aws.ToString(out.KeyMaterialId) == "" {
			t.Fatalf("%s: %+v", spec, out)
		}
		// The public key is the private key's half.
		var match bool
		if spec == types.DataKeyPairSpecEccSecgP256k1 {
			match = k1Private(t, out.PrivateKeyPlaintext).PubKey().IsEqual(k1Public(t, out.PublicKey))
		} else {
			priv, err := x509.ParsePKCS8PrivateKey(out.PrivateKeyPlaintext)
			check(t, err)
			pub, err := x509.ParsePKIXPublicKey(out.PublicKey)
			check(t, err)
			match = priv.(interface{ Public() crypto.PublicKey }).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub)
		}
		if !match {
			t.Fatalf("%s: the public key is not the private key's", spec)
		}
		dec, err := e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob, EncryptionContext: ec})
		check(t, err)
		if !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) {
			t.Fatalf("%s: the encrypted private key decrypts to another key", spec)
		}

		wp, err := e.kms.GenerateDataKeyPairWithoutPlaintext(ctx(), &awskms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: id, KeyPairSpec: spec})
		check(t, err)
		if wp.KeyPairSpec != spec || len(wp.PublicKey) == 0 || len(wp.PrivateKeyCiphertextBlob) == 0 {
			t.Fatalf("%s without plaintext: %+v", spec, wp)
		}
		dec, err = e.kms.Decrypt(ctx(), &awskms.DecryptInput{CiphertextBlob: wp.PrivateKeyCiphertextBlob})
		check(t, err)
		if spec != types.DataKeyPairSpecEccSecgP256k1 {
			priv, err := x509.ParsePKCS8PrivateKey(dec.Plaintext)
			check(t, err)
			pub, _ := x509.ParsePKIXPublicKey(wp.PublicKey)
			if !priv.(interface{ Public() crypto.PublicKey }).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatalf("%s without plaintext: the decrypted private key is not the public key's", spec)
			}
		}
	}

	// SM2 is a China Regions spec.
	_, err = e.kms.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: id, KeyPairSpec: types.DataKeyPairSpecSm2})
	wantErr(t, err, "UnsupportedOperationException")
	// Only a symmetric encryption key encrypts the private key.
	rsaKey, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	check(t, err)
	_, err = e.kms.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: rsaKey.KeyMetadata.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	wantErr(t, err, "InvalidKeyUsageException")
	_, err = e.kms.GenerateDataKeyPairWithoutPlaintext(ctx(), &awskms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: rsaKey.KeyMetadata.KeyId, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	wantErr(t, err, "InvalidKeyUsageException")
	// DryRun, a malformed grant token, a disabled key.
	_, err = e.kms.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: id, KeyPairSpec: types.DataKeyPairSpecEccNistP256, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	_, err = e.kms.GenerateDataKeyPair(ctx(), &awskms.GenerateDataKeyPairInput{KeyId: id, KeyPairSpec: types.DataKeyPairSpecEccNistP256, GrantTokens: []string{"not-a-token"}})
	wantErr(t, err, "InvalidGrantTokenException")
	_, err = e.kms.DisableKey(ctx(), &awskms.DisableKeyInput{KeyId: id})
	check(t, err)
	_, err = e.kms.GenerateDataKeyPairWithoutPlaintext(ctx(), &awskms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: id, KeyPairSpec: types.DataKeyPairSpecEccNistP256})
	wantErr(t, err, "DisabledException")
}

// TestDeriveSharedSecret: NIST-curve KEY_AGREEMENT keys derive the raw ECDH secret that Go's
// crypto/ecdh derives on the other side, and two KMS keys agree with each other; a peer on
// another curve, a key of another usage, and the specs that cannot agree are refused.
func TestDeriveSharedSecret(t *testing.T) {
	e := newEnv(t, Config{})
	curves := map[types.KeySpec]ecdh.Curve{types.KeySpecEccNistP256: ecdh.P256(), types.KeySpecEccNistP384: ecdh.P384(), types.KeySpecEccNistP521: ecdh.P521()}
	ids := map[types.KeySpec]*string{}
	for _, spec := range []types.KeySpec{types.KeySpecEccNistP256, types.KeySpecEccNistP384, types.KeySpecEccNistP521} {
		ck, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: spec, KeyUsage: types.KeyUsageTypeKeyAgreement})
		check(t, err)
		id := ck.KeyMetadata.KeyId
		ids[spec] = id
		if len(ck.KeyMetadata.KeyAgreementAlgorithms) != 1 || ck.KeyMetadata.KeyAgreementAlgorithms[0] != types.KeyAgreementAlgorithmSpecEcdh || ck.KeyMetadata.SigningAlgorithms != nil {
			t.Fatalf("%s metadata: %+v", spec, ck.KeyMetadata)
		}
		pk, err := e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: id})
		check(t, err)
		if len(pk.KeyAgreementAlgorithms) != 1 || pk.KeyAgreementAlgorithms[0] != types.KeyAgreementAlgorithmSpecEcdh || pk.KeyUsage != types.KeyUsageTypeKeyAgreement {
			t.Fatalf("GetPublicKey %s: %+v", spec, pk)
		}
		kmsPub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
		check(t, err)
		kmsECDH, err := kmsPub.(*ecdsa.PublicKey).ECDH()
		check(t, err)

		peer, err := curves[spec].GenerateKey(rand.Reader)
		check(t, err)
		peerDER, err := x509.MarshalPKIXPublicKey(peer.PublicKey())
		check(t, err)
		out, err := e.kms.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: id, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER})
		check(t, err)
		want, err := peer.ECDH(kmsECDH)
		check(t, err)
		if !bytes.Equal(out.SharedSecret, want) || out.KeyAgreementAlgorithm != types.KeyAgreementAlgorithmSpecEcdh ||
			out.KeyOrigin != types.OriginTypeAwsKms || aws.ToString(out.KeyId) != aws.ToString(ck.KeyMetadata.Arn) {
			t.Fatalf("%s: DeriveSharedSecret %+v, crypto/ecdh %x", spec, out, want)
		}
	}

	// Two KMS keys on one curve agree.
	second, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeKeyAgreement})
	check(t, err)
	pa, err := e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: ids[types.KeySpecEccNistP256]})
	check(t, err)
	pb, err := e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: second.KeyMetadata.KeyId})
	check(t, err)
	ab, err := e.kms.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: ids[types.KeySpecEccNistP256], KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: pb.PublicKey})
	check(t, err)
	ba, err := e.kms.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: second.KeyMetadata.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: pa.PublicKey})
	check(t, err)
	if !bytes.Equal(ab.SharedSecret, ba.SharedSecret) || len(ab.SharedSecret) != 32 {
		t.Fatal("two KMS keys derive different secrets")
	}

	// A peer on another curve, or not a public key at all.
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	_, err = e.kms.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: ids[types.KeySpecEccNistP256], KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: p384DER})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: ids[types.KeySpecEccNistP256], KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: []byte("not DER")})
	wantErr(t, err, "ValidationException")
	// DryRun stops before the derivation.
	_, err = e.kms.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: ids[types.KeySpecEccNistP256], KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: pb.PublicKey, DryRun: aws.Bool(true)})
	wantErr(t, err, "DryRunOperationException")
	// A signing key does not agree, and a key agreement key does not sign.
	sg, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)
	_, err = e.kms.DeriveSharedSecret(ctx(), &awskms.DeriveSharedSecretInput{KeyId: sg.KeyMetadata.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: pb.PublicKey})
	wantErr(t, err, "InvalidKeyUsageException")
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: second.KeyMetadata.KeyId, Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantErr(t, err, "InvalidKeyUsageException")
	// KEY_AGREEMENT is for the NIST curves (and SM2 in China): not secp256k1, Ed25519 or RSA.
	for _, spec := range []types.KeySpec{types.KeySpecEccSecgP256k1, types.KeySpecEccNistEdwards25519, types.KeySpecRsa2048} {
		_, err = e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: spec, KeyUsage: types.KeyUsageTypeKeyAgreement})
		wantErr(t, err, "ValidationException")
	}
}

// TestSigningSpecs signs with ECC_SECG_P256K1 (ECDSA_SHA_256, checked by hand with decred's
// secp256k1) and ECC_NIST_EDWARDS25519 (ED25519_SHA_512 over RAW messages, ED25519_PH_SHA_512
// over SHA-512 digests that KMS prehashes once more, checked with crypto/ed25519), and the
// MessageType each algorithm refuses.
func TestSigningSpecs(t *testing.T) {
	e := newEnv(t, Config{})
	msg := []byte("a transaction to sign")

	k1, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccSecgP256k1, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)
	if len(k1.KeyMetadata.SigningAlgorithms) != 1 || k1.KeyMetadata.SigningAlgorithms[0] != types.SigningAlgorithmSpecEcdsaSha256 {
		t.Fatalf("secp256k1 metadata: %v", k1.KeyMetadata.SigningAlgorithms)
	}
	pk, err := e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: k1.KeyMetadata.KeyId})
	check(t, err)
	k1pub := k1Public(t, pk.PublicKey)
	digest := sha256.Sum256(msg)
	for _, mt := range []types.MessageType{types.MessageTypeRaw, types.MessageTypeDigest} {
		in := msg
		if mt == types.MessageTypeDigest {
			in = digest[:]
		}
		sig, err := e.kms.Sign(ctx(), &awskms.SignInput{KeyId: k1.KeyMetadata.KeyId, Message: in, MessageType: mt, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		check(t, err)
		parsed, err := k1ecdsa.ParseDERSignature(sig.Signature)
		check(t, err)
		if !parsed.Verify(digest[:], k1pub) {
			t.Fatalf("secp256k1 %s: decred rejects KMS's signature", mt)
		}
		v, err := e.kms.Verify(ctx(), &awskms.VerifyInput{KeyId: k1.KeyMetadata.KeyId, Message: in, MessageType: mt, Signature: sig.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		check(t, err)
		if !v.SignatureValid {
			t.Fatalf("secp256k1 %s: KMS rejects its own signature", mt)
		}
	}
	// A signature by another secp256k1 key does not verify.
	outside := k1ecdsa.Sign(secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{7}, 32)), digest[:]).Serialize()
	_, err = e.kms.Verify(ctx(), &awskms.VerifyInput{KeyId: k1.KeyMetadata.KeyId, Message: msg, Signature: outside, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantErr(t, err, "KMSInvalidSignatureException")

	ed, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistEdwards25519, KeyUsage: types.KeyUsageTypeSignVerify})
	check(t, err)
	edID := ed.KeyMetadata.KeyId
	if len(ed.KeyMetadata.SigningAlgorithms) != 2 {
		t.Fatalf("Ed25519 metadata: %v", ed.KeyMetadata.SigningAlgorithms)
	}
	pk, err = e.kms.GetPublicKey(ctx(), &awskms.GetPublicKeyInput{KeyId: edID})
	check(t, err)
	pubAny, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	check(t, err)
	edPub := pubAny.(ed25519.PublicKey)

	pure, err := e.kms.Sign(ctx(), &awskms.SignInput{KeyId: edID, Message: msg, MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})
	check(t, err)
	if !ed25519.Verify(edPub, msg, pure.Signature) {
		t.Fatal("ED25519_SHA_512: crypto/ed25519 rejects KMS's signature")
	}
	d512 := sha512.Sum512(msg)
	ph, err := e.kms.Sign(ctx(), &awskms.SignInput{KeyId: edID, Message: d512[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEd25519PhSha512})
	check(t, err)
	twice := sha512.Sum512(d512[:])
	if ed25519.VerifyWithOptions(edPub, twice[:], ph.Signature, &ed25519.Options{Hash: crypto.SHA512}) != nil {
		t.Fatal("ED25519_PH_SHA_512: crypto/ed25519 rejects KMS's signature over the digest hashed once more")
	}
	_, err = e.kms.Verify(ctx(), &awskms.VerifyInput{KeyId: edID, Message: d512[:], MessageType: types.MessageTypeDigest, Signature: ph.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEd25519PhSha512})
	check(t, err)
	_, err = e.kms.Verify(ctx(), &awskms.VerifyInput{KeyId: edID, Message: msg, Signature: pure.Signature, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})
	check(t, err)

	// ED25519_SHA_512 takes RAW only, ED25519_PH_SHA_512 DIGEST only (of 64 bytes); EXTERNAL_MU is ML-DSA's.
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: edID, Message: d512[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: edID, Message: msg, MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEd25519PhSha512})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: edID, Message: digest[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEd25519PhSha512})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: k1.KeyMetadata.KeyId, Message: bytes.Repeat([]byte{1}, 64), MessageType: types.MessageTypeExternalMu, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.Sign(ctx(), &awskms.SignInput{KeyId: edID, Message: msg, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	wantErr(t, err, "InvalidKeyUsageException")
	// Ed25519 and secp256k1 keys only sign.
	_, err = e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccSecgP256k1, KeyUsage: types.KeyUsageTypeEncryptDecrypt})
	wantErr(t, err, "ValidationException")
	_, err = e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecSm2, KeyUsage: types.KeyUsageTypeSignVerify})
	wantErr(t, err, "UnsupportedOperationException")
}

// TestKeyAgreementGrant: a grant passes DeriveSharedSecret and GetPublicKey on a KEY_AGREEMENT
// key to a user without policies, and refuses operations such a key cannot do.
func TestKeyAgreementGrant(t *testing.T) {
	e := newEnv(t, Config{})
	ka, err := e.kms.CreateKey(ctx(), &awskms.CreateKeyInput{KeySpec: types.KeySpecEccNistP384, KeyUsage: types.KeyUsageTypeKeyAgreement})
	check(t, err)
	bob := e.newUser("bob", nil)
	peer, _ := ecdh.P384().GenerateKey(rand.Reader)
	peerDER, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
	in := &awskms.DeriveSharedSecretInput{KeyId: ka.KeyMetadata.Arn, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER}
	_, err = bob.kms.DeriveSharedSecret(ctx(), in)
	wantErr(t, err, "AccessDeniedException")
	_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: ka.KeyMetadata.KeyId, GranteePrincipal: aws.String(bob.arn),
		Operations: []types.GrantOperation{types.GrantOperationDeriveSharedSecret, types.GrantOperationGetPublicKey}})
	check(t, err)
	if _, err = bob.kms.DeriveSharedSecret(ctx(), in); err != nil {
		t.Fatalf("DeriveSharedSecret through the grant: %v", err)
	}
	_, err = e.kms.CreateGrant(ctx(), &awskms.CreateGrantInput{KeyId: ka.KeyMetadata.KeyId, GranteePrincipal: aws.String(bob.arn),
		Operations: []types.GrantOperation{types.GrantOperationSign}})
	wantErr(t, err, "ValidationException")
}
