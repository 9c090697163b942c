package kms

import (
	"context"
	"crypto/rand"
	"strconv"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/grant"
	"github.com/hsmsim/hsmsim/kms/keyspec"
)

// Encryption: Encrypt, Decrypt and ReEncrypt under the ciphertext format (ciphertext.go) for
// symmetric keys and as raw RSAES-OAEP for RSA keys, GenerateDataKey and GenerateRandom. The
// symmetric cryptography runs in the key's store (keystore.go): in this process for the default
// store, in the HSM for a custom key store; RSA keys are the default store's alone.

// cryptoKey is what an operation needs of a key, taken under s.mu: the key, the version of its
// material the operation uses, that version as the key's store runs it (nil for an RSA key,
// whose default-store material the operation unseals itself), and the encryption algorithm.
type cryptoKey struct {
	k   *keyRec
	v   matVersion
	mat keyMaterial
	alg string
}

// materialID is the KeyMaterialId an operation reports: symmetric keys' only.
func (ck *cryptoKey) materialID() string {
	if ck.mat == nil {
		return ""
	}
	return ck.v.ID
}

// forEncrypt resolves KeyId for an encrypting operation with algorithm alg ("" for
// SYMMETRIC_DEFAULT): an enabled encryption key whose spec offers alg.
func (s *Server) forEncrypt(c *caller, id, alg string) (*cryptoKey, *awsapi.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.usableKeyLocked(c, id, usageEncrypt)
	if err != nil {
		return nil, err
	}
	alg = orDefault(alg, specSymmetric)
	if err := keyspec.CheckAlgorithm(k.Spec, usageEncrypt, alg); err != nil {
		return nil, err
	}
	ck := &cryptoKey{k: k, v: k.Versions[len(k.Versions)-1], alg: alg}
	if k.Spec != specSymmetric {
		return ck, nil
	}
	if ck.mat, err = s.keyStoreOf(k).material(k, ck.v); err != nil {
		return nil, err
	}
	return ck, nil
}

// encryptingKey is forEncrypt for an operation that may be a dry run, which stops once the key
// resolved.
func encryptingKey(s *Server, c *caller, id, alg string, dry bool) (*cryptoKey, error) {
	ck, err := s.forEncrypt(c, id, alg)
	if err != nil {
		return nil, err
	}
	if err := dryRun(dry); err != nil {
		return nil, err
	}
	return ck, nil
}

// encrypt makes a ciphertext blob (CIPHERTEXT.md), or for an RSA key the OAEP ciphertext.
func encrypt(ctx context.Context, ck *cryptoKey, ec map[string]string, plain []byte) ([]byte, error) {
	if ck.mat == nil {
		if err := checkNoContext(ec); err != nil {
			return nil, err
		}
		return keyspec.Encrypt(ck.k.PublicKey, ck.k.Spec, ck.alg, plain)
	}
	header := blobHeader(ck.k.ID, ck.v.N)
	nonce, sealed, err := ck.mat.Seal(ctx, blobAAD(header, ec), plain)
	if err != nil {
		return nil, err
	}
	return assembleBlob(header, nonce, sealed), nil
}

// checkNoContext refuses an encryption context with an asymmetric key: "You cannot specify an
// encryption context in a cryptographic operation with an asymmetric KMS key"
// (https://docs.aws.amazon.com/kms/latest/developerguide/encrypt_context.html). The developer
// guide names no exception; hsmsim answers ValidationException, the one for a parameter a
// request may not carry.
func checkNoContext(ec map[string]string) *awsapi.Error {
	if len(ec) > 0 {
		return awsapi.NewError(awsapi.ValidationException, "EncryptionContext is not supported with asymmetric KMS keys.")
	}
	return nil
}

// namedAsymmetric resolves the KeyId of a Decrypt (or a ReEncrypt's source) when it names an
// asymmetric key, whose ciphertexts carry nothing to find the key by: ok false when it does not,
// and the symmetric path answers in its own order. For an asymmetric key it checks what a
// decryption needs: authorization, state, usage, and an algorithm of the key's spec (the
// default, SYMMETRIC_DEFAULT, is InvalidKeyUsageException).
func (s *Server) namedAsymmetric(c *caller, id, alg string) (ck *cryptoKey, ok bool, err *awsapi.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ferr := s.find(c, id)
	if ferr != nil || k.Spec == specSymmetric {
		return nil, false, nil
	}
	if err := s.authorize(c, k, id); err != nil {
		return nil, true, err
	}
	if err := s.checkUsable(k); err != nil {
		return nil, true, err
	}
	if k.Usage != usageEncrypt {
		return nil, true, wrongUsage(k)
	}
	alg = orDefault(alg, specSymmetric)
	if err := keyspec.CheckAlgorithm(k.Spec, usageEncrypt, alg); err != nil {
		return nil, true, err
	}
	return &cryptoKey{k: k, v: k.Versions[len(k.Versions)-1], alg: alg}, true, nil
}

// decrypt opens a ciphertext: with an asymmetric key named by keyID, the raw OAEP ciphertext of
// algorithm alg; otherwise a ciphertext blob, whose key keyID, when given, must name.
func (s *Server) decrypt(ctx context.Context, c *caller, keyID *string, alg string, ec map[string]string, ciphertext []byte) (*cryptoKey, []byte, error) {
	if keyID != nil {
		ck, ok, err := s.namedAsymmetric(c, *keyID, alg)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			plain, err := s.openAsymmetric(ck, ec, ciphertext)
			return ck, plain, err
		}
	}
	b, perr := parseBlob(ciphertext)
	if perr != nil {
		return nil, nil, perr
	}
	ck, err := func() (*cryptoKey, *awsapi.Error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		var k *keyRec
		if keyID != nil {
			named, err := s.resolve(c, *keyID)
			if err != nil {
				return nil, err
			}
			if named.ID != b.KeyID {
				return nil, awsapi.NewError(errIncorrectKey, "The key ID in the request does not identify a KMS key that can perform this operation.")
			}
			k = named
		} else {
			found, err := s.resolveID(c, b.KeyID)
			if err != nil {
				return nil, err
			}
			if err := s.authorize(c, found, ""); err != nil {
				return nil, err
			}
			k = found
		}
		if err := s.checkUsable(k); err != nil {
			return nil, err
		}
		if k.Usage != usageEncrypt || k.Spec != specSymmetric {
			return nil, wrongUsage(k)
		}
		if err := keyspec.CheckAlgorithm(k.Spec, usageEncrypt, orDefault(alg, specSymmetric)); err != nil {
			return nil, err
		}
		if b.Version > uint32(len(k.Versions)) {
			return nil, awsapi.NewError(errInvalidCiphertext, "")
		}
		v := k.Versions[b.Version-1]
		mat, err := s.keyStoreOf(k).material(k, v)
		if err != nil {
			return nil, err
		}
		return &cryptoKey{k: k, v: v, mat: mat, alg: specSymmetric}, nil
	}()
	if err != nil {
		return nil, nil, err
	}
	plain, oerr := ck.mat.Open(ctx, b.Nonce, blobAAD(b.header, ec), b.Sealed)
	if oerr != nil {
		return nil, nil, oerr
	}
	return ck, plain, nil
}

// openAsymmetric decrypts an RSA key's OAEP ciphertext with its private key.
func (s *Server) openAsymmetric(ck *cryptoKey, ec map[string]string, ciphertext []byte) ([]byte, error) {
	if err := checkNoContext(ec); err != nil {
		return nil, err
	}
	der, err := s.privateKey(ck.k)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	return keyspec.Decrypt(der, ck.alg, ciphertext)
}

// checkNoRecipient refuses a Recipient. hsmsim has no Nitro Enclaves or NitroTPM, so no
// attestation document is signed by a root it trusts: each is invalid input, the common
// ValidationException (not UnsupportedOperationException, which Decrypt's and GenerateDataKey's
// model error lists do not have).
func checkNoRecipient(r *struct{}) *awsapi.Error {
	if r != nil {
		return awsapi.NewError(awsapi.ValidationException, "The attestation document in Recipient is not valid: hsmsim verifies no Nitro attestation documents.")
	}
	return nil
}

func dryRun(on bool) error {
	if on {
		return awsapi.NewError(errDryRun, "The request would have succeeded, but the DryRun option is set.")
	}
	return nil
}

// ---- Encrypt, Decrypt, ReEncrypt ----

type encryptInput struct {
	KeyId               string
	Plaintext           []byte
	EncryptionContext   map[string]string
	GrantTokens         []string
	EncryptionAlgorithm string
	DryRun              bool
}

type encryptOutput struct {
	CiphertextBlob      []byte
	KeyId               string
	EncryptionAlgorithm string
}

func encryptOp(s *Server, ctx context.Context, c *caller, in *encryptInput) (*encryptOutput, error) {
	if err := grant.CheckTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	ck, err := encryptingKey(s, c, in.KeyId, in.EncryptionAlgorithm, in.DryRun)
	if err != nil {
		return nil, err
	}
	blob, err := encrypt(ctx, ck, in.EncryptionContext, in.Plaintext)
	if err != nil {
		return nil, err
	}
	return &encryptOutput{CiphertextBlob: blob, KeyId: keyARN(ck.k), EncryptionAlgorithm: ck.alg}, nil
}

type decryptInput struct {
	CiphertextBlob      []byte
	EncryptionContext   map[string]string
	GrantTokens         []string
	KeyId               *string
	EncryptionAlgorithm string
	DryRun              bool
	DryRunModifiers     []string
	Recipient           *struct{}
}

type decryptOutput struct {
	KeyId               string
	Plaintext           []byte
	EncryptionAlgorithm string
	KeyMaterialId       string `json:",omitempty"`
}

func decryptOp(s *Server, ctx context.Context, c *caller, in *decryptInput) (*decryptOutput, error) {
	if in.CiphertextBlob == nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	if err := checkNoRecipient(in.Recipient); err != nil {
		return nil, err
	}
	if err := grant.CheckTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if ignoresCiphertext(in.DryRun, in.DryRunModifiers) {
		return nil, s.dryRunKeyOnly(c, in.KeyId, "KeyId")
	}
	ck, plain, err := s.decrypt(ctx, c, in.KeyId, in.EncryptionAlgorithm, in.EncryptionContext, in.CiphertextBlob)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		clear(plain)
		return nil, dryRun(true)
	}
	return &decryptOutput{KeyId: keyARN(ck.k), Plaintext: plain, EncryptionAlgorithm: ck.alg, KeyMaterialId: ck.materialID()}, nil
}

type reEncryptInput struct {
	CiphertextBlob                 []byte
	SourceEncryptionContext        map[string]string
	SourceKeyId                    *string
	DestinationKeyId               string
	DestinationEncryptionContext   map[string]string
	SourceEncryptionAlgorithm      string
	DestinationEncryptionAlgorithm string
	GrantTokens                    []string
	DryRun                         bool
	DryRunModifiers                []string
}

type reEncryptOutput struct {
	CiphertextBlob                 []byte
	SourceKeyId                    string
	KeyId                          string
	SourceEncryptionAlgorithm      string
	DestinationEncryptionAlgorithm string
	SourceKeyMaterialId            string `json:",omitempty"`
	DestinationKeyMaterialId       string `json:",omitempty"`
}

func reEncryptOp(s *Server, ctx context.Context, c *caller, in *reEncryptInput) (*reEncryptOutput, error) {
	if in.CiphertextBlob == nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	if err := grant.CheckTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	// ReEncrypt is two permissions: kms:ReEncryptFrom on the source key and kms:ReEncryptTo on
	// the destination, each with its own encryption context.
	to := s.newCaller(c.Caller, "kms:ReEncryptTo")
	to.SetEC(in.DestinationEncryptionContext)
	to.Req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.DestinationEncryptionAlgorithm, specSymmetric))
	same := strconv.FormatBool(s.sameKey(c, in.DestinationKeyId, in.SourceKeyId, in.CiphertextBlob))
	to.Req.Context.Set("kms:ReEncryptOnSameKey", same)
	c.Req.Context.Set("kms:ReEncryptOnSameKey", same)
	dst, rerr := s.forEncrypt(to, in.DestinationKeyId, in.DestinationEncryptionAlgorithm)
	if rerr != nil {
		return nil, rerr
	}
	if ignoresCiphertext(in.DryRun, in.DryRunModifiers) {
		return nil, s.dryRunKeyOnly(c.WithAction("kms:ReEncryptFrom"), in.SourceKeyId, "SourceKeyId")
	}
	src, plain, err := s.decrypt(ctx, c.WithAction("kms:ReEncryptFrom"), in.SourceKeyId, in.SourceEncryptionAlgorithm, in.SourceEncryptionContext, in.CiphertextBlob)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	blob, err := encrypt(ctx, dst, in.DestinationEncryptionContext, plain)
	if err != nil {
		return nil, err
	}
	return &reEncryptOutput{CiphertextBlob: blob, SourceKeyId: keyARN(src.k), KeyId: keyARN(dst.k),
		SourceEncryptionAlgorithm: src.alg, DestinationEncryptionAlgorithm: dst.alg,
		SourceKeyMaterialId: src.materialID(), DestinationKeyMaterialId: dst.materialID()}, nil
}

// ---- data keys and random ----

type dataKeyInput struct {
	KeyId             string
	EncryptionContext map[string]string
	NumberOfBytes     *int
	KeySpec           string
	GrantTokens       []string
	DryRun            bool
	Recipient         *struct{}
}

type dataKeyOutput struct {
	CiphertextBlob []byte
	Plaintext      []byte `json:",omitempty"`
	KeyId          string
	KeyMaterialId  string
}

// generateDataKey makes a data key from the random source of the key's store.
func generateDataKey(s *Server, ctx context.Context, c *caller, in *dataKeyInput) (*dataKeyOutput, error) {
	if err := checkNoRecipient(in.Recipient); err != nil {
		return nil, err
	}
	var n int
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, awsapi.NewError(awsapi.ValidationException, "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec == "AES_256":
		n = 32
	case in.NumberOfBytes != nil:
		n = *in.NumberOfBytes
	default:
		return nil, awsapi.NewError(awsapi.ValidationException, "Please specify either number of bytes or key spec.")
	}
	if err := grant.CheckTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	ck, err := encryptingKey(s, c, in.KeyId, "", in.DryRun)
	if err != nil {
		return nil, err
	}
	plain, err := ck.mat.Random(ctx, n)
	if err != nil {
		return nil, err
	}
	blob, err := encrypt(ctx, ck, in.EncryptionContext, plain)
	if err != nil {
		return nil, err
	}
	return &dataKeyOutput{CiphertextBlob: blob, Plaintext: plain, KeyId: keyARN(ck.k), KeyMaterialId: ck.v.ID}, nil
}

var generateDataKeyWithoutPlaintext = withoutPlaintext(generateDataKey, func(o *dataKeyOutput) *[]byte { return &o.Plaintext })

type randomInput struct {
	NumberOfBytes    *int
	CustomKeyStoreId string
	Recipient        *struct{}
}

type randomOutput struct {
	Plaintext []byte
}

func generateRandom(s *Server, ctx context.Context, c *caller, in *randomInput) (*randomOutput, error) {
	if in.NumberOfBytes == nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null")
	}
	if err := checkNoRecipient(in.Recipient); err != nil {
		return nil, err
	}
	n := *in.NumberOfBytes
	if in.CustomKeyStoreId != "" {
		r, err := s.hsm.GenerateRandom(ctx, c.Account, c.Region, in.CustomKeyStoreId, int(n))
		if err != nil {
			return nil, err
		}
		return &randomOutput{Plaintext: r}, nil
	}
	out := make([]byte, n)
	_, _ = rand.Read(out)
	return &randomOutput{Plaintext: out}, nil
}

// sameKey reports whether a ReEncrypt's destination is the key its ciphertext is under
// (kms:ReEncryptOnSameKey): the key a ciphertext blob names, or the asymmetric source key
// SourceKeyId names (an RSA ciphertext names none).
func (s *Server) sameKey(c *caller, dst string, src *string, blob []byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ferr := s.find(c, dst)
	if ferr != nil {
		return false
	}
	if src != nil {
		if sk, err := s.find(c, *src); err == nil && sk.Spec != specSymmetric {
			return sk.ID == k.ID
		}
	}
	b, err := parseBlob(blob)
	return err == nil && k.ID == b.KeyID
}
