package kms

import (
	"context"
	"crypto/rand"
	"strconv"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Symmetric encryption: Encrypt, Decrypt and ReEncrypt under the ciphertext format
// (ciphertext.go), GenerateDataKey and GenerateRandom. The cryptography runs in the key's store
// (keystore.go): in this process for the default store, in the HSM for a custom key store.

// cryptoKey is what an operation needs of a key, taken under s.mu: the key, the version of its
// material the operation uses, and that version as the key's store runs it.
type cryptoKey struct {
	k   *keyRec
	v   matVersion
	mat keyMaterial
}

// forEncrypt resolves KeyId for an encrypting operation: an enabled symmetric encryption key.
func (s *Server) forEncrypt(c *caller, id string) (*cryptoKey, *awsapi.Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.usableKeyLocked(c, id, usageEncrypt)
	if err != nil {
		return nil, err
	}
	if k.Spec != specSymmetric {
		return nil, wrongUsage(k)
	}
	v := k.Versions[len(k.Versions)-1]
	mat, err := s.keyStoreOf(k).material(k, v)
	if err != nil {
		return nil, err
	}
	return &cryptoKey{k: k, v: v, mat: mat}, nil
}

// encryptingKey is forEncrypt for an operation that may be a dry run, which stops once the key
// resolved.
func encryptingKey(s *Server, c *caller, id string, dry bool) (*cryptoKey, error) {
	ck, err := s.forEncrypt(c, id)
	if err != nil {
		return nil, err
	}
	if err := dryRun(dry); err != nil {
		return nil, err
	}
	return ck, nil
}

// encrypt makes a ciphertext blob (CIPHERTEXT.md).
func encrypt(ctx context.Context, ck *cryptoKey, ec map[string]string, plain []byte) ([]byte, error) {
	header := blobHeader(ck.k.ID, ck.v.N)
	nonce, sealed, err := ck.mat.Seal(ctx, blobAAD(header, ec), plain)
	if err != nil {
		return nil, err
	}
	return assembleBlob(header, nonce, sealed), nil
}

// decrypt opens a ciphertext blob. keyID, when given, must name the key the blob names.
func (s *Server) decrypt(ctx context.Context, c *caller, keyID *string, ec map[string]string, ciphertext []byte) (*cryptoKey, []byte, error) {
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
		if b.Version > uint32(len(k.Versions)) {
			return nil, awsapi.NewError(errInvalidCiphertext, "")
		}
		v := k.Versions[b.Version-1]
		mat, err := s.keyStoreOf(k).material(k, v)
		if err != nil {
			return nil, err
		}
		return &cryptoKey{k: k, v: v, mat: mat}, nil
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

func checkAlgorithm(alg string) *awsapi.Error {
	if alg != "" && alg != specSymmetric {
		return awsapi.NewError(errInvalidKeyUsage, "The encryption algorithm %s is not valid for a symmetric encryption KMS key.", alg)
	}
	return nil
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
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	ck, err := encryptingKey(s, c, in.KeyId, in.DryRun)
	if err != nil {
		return nil, err
	}
	blob, err := encrypt(ctx, ck, in.EncryptionContext, in.Plaintext)
	if err != nil {
		return nil, err
	}
	return &encryptOutput{CiphertextBlob: blob, KeyId: keyARN(ck.k), EncryptionAlgorithm: specSymmetric}, nil
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
	KeyMaterialId       string
}

func decryptOp(s *Server, ctx context.Context, c *caller, in *decryptInput) (*decryptOutput, error) {
	if in.CiphertextBlob == nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	if err := checkNoRecipient(in.Recipient); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if ignoresCiphertext(in.DryRun, in.DryRunModifiers) {
		return nil, s.dryRunKeyOnly(c, in.KeyId, "KeyId")
	}
	ck, plain, err := s.decrypt(ctx, c, in.KeyId, in.EncryptionContext, in.CiphertextBlob)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		clear(plain)
		return nil, dryRun(true)
	}
	return &decryptOutput{KeyId: keyARN(ck.k), Plaintext: plain, EncryptionAlgorithm: specSymmetric, KeyMaterialId: ck.v.ID}, nil
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
	SourceKeyMaterialId            string
	DestinationKeyMaterialId       string
}

func reEncryptOp(s *Server, ctx context.Context, c *caller, in *reEncryptInput) (*reEncryptOutput, error) {
	if in.CiphertextBlob == nil {
		return nil, awsapi.NewError(awsapi.ValidationException, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(in.SourceEncryptionAlgorithm); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(in.DestinationEncryptionAlgorithm); err != nil {
		return nil, err
	}
	// ReEncrypt is two permissions: kms:ReEncryptFrom on the source key and kms:ReEncryptTo on
	// the destination, each with its own encryption context.
	to := c.withAction("kms:ReEncryptTo")
	to.req.Context = policy.Context{}
	s.baseContext(to)
	to.setEC(in.DestinationEncryptionContext)
	to.req.Context.Set("kms:EncryptionAlgorithm", orDefault(in.DestinationEncryptionAlgorithm, specSymmetric))
	same := strconv.FormatBool(s.sameKey(c, in.DestinationKeyId, in.CiphertextBlob))
	to.req.Context.Set("kms:ReEncryptOnSameKey", same)
	c.req.Context.Set("kms:ReEncryptOnSameKey", same)
	dst, rerr := s.forEncrypt(to, in.DestinationKeyId)
	if rerr != nil {
		return nil, rerr
	}
	if ignoresCiphertext(in.DryRun, in.DryRunModifiers) {
		return nil, s.dryRunKeyOnly(c.withAction("kms:ReEncryptFrom"), in.SourceKeyId, "SourceKeyId")
	}
	src, plain, err := s.decrypt(ctx, c.withAction("kms:ReEncryptFrom"), in.SourceKeyId, in.SourceEncryptionContext, in.CiphertextBlob)
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
		SourceEncryptionAlgorithm: specSymmetric, DestinationEncryptionAlgorithm: specSymmetric,
		SourceKeyMaterialId: src.v.ID, DestinationKeyMaterialId: dst.v.ID}, nil
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
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	ck, err := encryptingKey(s, c, in.KeyId, in.DryRun)
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

func generateDataKeyWithoutPlaintext(s *Server, ctx context.Context, c *caller, in *dataKeyInput) (*dataKeyOutput, error) {
	out, err := generateDataKey(s, ctx, c, in)
	if err != nil {
		return nil, err
	}
	clear(out.Plaintext)
	out.Plaintext = nil
	return out, nil
}

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
// (kms:ReEncryptOnSameKey).
func (s *Server) sameKey(c *caller, dst string, blob []byte) bool {
	b, err := parseBlob(blob)
	if err != nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ferr := s.find(c, dst)
	return ferr == nil && k.ID == b.KeyID
}
