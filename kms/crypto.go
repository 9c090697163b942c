package kms

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// algorithms a key spec offers, by key usage.
type algorithms struct {
	encrypt, sign, mac []string
}

var rsaSign = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}

// specAlgorithms lists the key specs hsmsim offers besides SYMMETRIC_DEFAULT.
var specAlgorithms = map[string]algorithms{
	"RSA_2048":      {sign: rsaSign},
	"RSA_3072":      {sign: rsaSign},
	"RSA_4096":      {sign: rsaSign},
	"ECC_NIST_P256": {sign: []string{"ECDSA_SHA_256"}},
	"ECC_NIST_P384": {sign: []string{"ECDSA_SHA_384"}},
	"ECC_NIST_P521": {sign: []string{"ECDSA_SHA_512"}},
	"HMAC_224":      {mac: []string{"HMAC_SHA_224"}},
	"HMAC_256":      {mac: []string{"HMAC_SHA_256"}},
	"HMAC_384":      {mac: []string{"HMAC_SHA_384"}},
	"HMAC_512":      {mac: []string{"HMAC_SHA_512"}},
}

// checkSpecUsage accepts the (KeySpec, KeyUsage) pairs hsmsim offers.
func checkSpecUsage(spec, usage string) *Error {
	if spec == specSymmetric {
		if usage != usageEncrypt {
			return newError(errValidation, "KeyUsage %s is not compatible with KeySpec %s", usage, spec)
		}
		return nil
	}
	a, ok := specAlgorithms[spec]
	if !ok {
		return newError(errUnsupported, "hsmsim does not support KeySpec %s.", spec)
	}
	if (usage == usageSign && a.sign == nil) || (usage == usageMac && a.mac == nil) || (usage == usageEncrypt && a.encrypt == nil) ||
		(usage != usageSign && usage != usageMac && usage != usageEncrypt) {
		if usage == usageEncrypt && strings.HasPrefix(spec, "RSA_") {
			return newError(errUnsupported, "hsmsim does not support RSA keys for ENCRYPT_DECRYPT.")
		}
		return newError(errValidation, "KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	return nil
}

func materialAAD(keyID string, n uint32) string {
	return "kms-material:" + keyID + ":" + strconv.FormatUint(uint64(n), 10)
}

// newMaterial makes version n of a default-store key's material, sealed; for an asymmetric key it
// also returns the public key (DER SubjectPublicKeyInfo).
func (s *Server) newMaterial(k *keyRec, n uint32, rotation string) (matVersion, []byte, error) {
	var secret, pub []byte
	switch {
	case k.Spec == specSymmetric:
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	case strings.HasPrefix(k.Spec, "HMAC_"):
		bits, _ := strconv.Atoi(strings.TrimPrefix(k.Spec, "HMAC_"))
		secret = make([]byte, bits/8)
		_, _ = rand.Read(secret)
	default:
		var priv crypto.Signer
		var err error
		switch k.Spec {
		case "RSA_2048", "RSA_3072", "RSA_4096":
			bits, _ := strconv.Atoi(strings.TrimPrefix(k.Spec, "RSA_"))
			priv, err = rsa.GenerateKey(rand.Reader, bits)
		case "ECC_NIST_P256":
			priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case "ECC_NIST_P384":
			priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		case "ECC_NIST_P521":
			priv, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
		default:
			return matVersion{}, nil, newError(errUnsupported, "hsmsim does not support KeySpec %s.", k.Spec)
		}
		if err != nil {
			return matVersion{}, nil, err
		}
		if secret, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
			return matVersion{}, nil, err
		}
		if pub, err = x509.MarshalPKIXPublicKey(priv.Public()); err != nil {
			return matVersion{}, nil, err
		}
	}
	v := matVersion{N: n, ID: randomHex(32), Created: s.now().UTC(), Rotation: rotation, Sealed: s.sealBytes(secret, materialAAD(k.ID, n))}
	clear(secret)
	return v, pub, nil
}

// secret unseals a default-store material version.
func (s *Server) secret(k *keyRec, v matVersion) ([]byte, error) {
	return s.unsealBytes(v.Sealed, materialAAD(k.ID, v.N))
}

// aead returns the AES-256-GCM of a symmetric default-store material version, unsealed once.
func (s *Server) aead(k *keyRec, v matVersion) (cipher.AEAD, error) {
	ref := materialAAD(k.ID, v.N)
	if a, ok := s.aeads.Load(ref); ok {
		return a.(cipher.AEAD), nil
	}
	key, err := s.secret(k, v)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, err
	}
	a, _ := cipher.NewGCM(blk)
	s.aeads.Store(ref, a)
	return a, nil
}

// cryptoKey is what an operation needs of a key, taken under s.mu.
type cryptoKey struct {
	k   *keyRec
	v   matVersion
	hsm hsmSession // nil for the default store
}

// forEncrypt resolves KeyId for an encrypting operation: an enabled symmetric encryption key.
func (s *Server) forEncrypt(c *caller, id string) (*cryptoKey, *Error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.usableKeyLocked(c, id, usageEncrypt)
	if err != nil {
		return nil, err
	}
	if k.Spec != specSymmetric {
		return nil, wrongUsage(k)
	}
	ck := &cryptoKey{k: k, v: k.Versions[len(k.Versions)-1]}
	if k.StoreID != "" {
		if ck.hsm = s.session(k.StoreID); ck.hsm == nil {
			return nil, errCannotReachCluster()
		}
	}
	return ck, nil
}

// encrypt makes a ciphertext blob (CIPHERTEXT.md).
func (s *Server) encrypt(ctx context.Context, ck *cryptoKey, ec map[string]string, plain []byte) ([]byte, error) {
	header := blobHeader(ck.k.ID, ck.v.N)
	aad := blobAAD(header, ec)
	if ck.hsm != nil {
		out, used, err := ck.hsm.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{AAD: aad, TagBits: 128}}, ck.v.Handle, plain)
		if err != nil {
			return nil, err
		}
		p, _ := used.Param.(*ckm.GCMParams)
		if p == nil || len(p.IV) != blobNonceLen || len(out) != len(plain)+blobTagLen {
			return nil, fmt.Errorf("the HSM answered an AES-GCM result of an unexpected form")
		}
		return assembleBlob(header, p.IV, out), nil
	}
	a, err := s.aead(ck.k, ck.v)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, blobNonceLen)
	_, _ = rand.Read(nonce)
	return assembleBlob(header, nonce, a.Seal(nil, nonce, plain, aad)), nil
}

// decrypt opens a ciphertext blob. keyID, when given, must name the key the blob names.
func (s *Server) decrypt(ctx context.Context, c *caller, keyID *string, ec map[string]string, ciphertext []byte) (*cryptoKey, []byte, error) {
	b, perr := parseBlob(ciphertext)
	if perr != nil {
		return nil, nil, perr
	}
	ck, err := func() (*cryptoKey, *Error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		if keyID != nil {
			named, err := s.resolve(c, *keyID)
			if err != nil {
				return nil, err
			}
			if named.ID != b.KeyID {
				return nil, newError(errIncorrectKey, "The key ID in the request does not identify a KMS key that can perform this operation.")
			}
		}
		k, err := s.resolveID(c, b.KeyID)
		if err != nil {
			return nil, err
		}
		if err := s.checkUsable(k); err != nil {
			return nil, err
		}
		if k.Usage != usageEncrypt || k.Spec != specSymmetric {
			return nil, wrongUsage(k)
		}
		if b.Version > uint32(len(k.Versions)) {
			return nil, newError(errInvalidCiphertext, "")
		}
		ck := &cryptoKey{k: k, v: k.Versions[b.Version-1]}
		if k.StoreID != "" {
			if ck.hsm = s.session(k.StoreID); ck.hsm == nil {
				return nil, errCannotReachCluster()
			}
		}
		return ck, nil
	}()
	if err != nil {
		return nil, nil, err
	}
	aad := blobAAD(b.header, ec)
	if ck.hsm != nil {
		iv := append([]byte(nil), b.Nonce...)
		plain, err := ck.hsm.Decrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: iv, AAD: aad, TagBits: 128}}, ck.v.Handle, b.Sealed)
		if err != nil {
			return nil, nil, err
		}
		return ck, plain, nil
	}
	a, aerr := s.aead(ck.k, ck.v)
	if aerr != nil {
		return nil, nil, aerr
	}
	plain, oerr := a.Open(nil, b.Nonce, b.Sealed, aad)
	if oerr != nil {
		return nil, nil, newError(errInvalidCiphertext, "")
	}
	return ck, plain, nil
}

func checkAlgorithm(alg string) *Error {
	if alg != "" && alg != specSymmetric {
		return newError(errInvalidKeyUsage, "The encryption algorithm %s is not valid for a symmetric encryption KMS key.", alg)
	}
	return nil
}

func dryRun(on bool) error {
	if on {
		return newError(errDryRun, "The request would have succeeded, but the DryRun option is set.")
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
	ck, rerr := s.forEncrypt(c, in.KeyId)
	if rerr != nil {
		return nil, rerr
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	blob, err := s.encrypt(ctx, ck, in.EncryptionContext, in.Plaintext)
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
		return nil, newError(errValidation, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	if in.Recipient != nil {
		return nil, newError(errUnsupported, "hsmsim does not support Nitro Enclaves attestation (Recipient).")
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if err := checkAlgorithm(in.EncryptionAlgorithm); err != nil {
		return nil, err
	}
	if in.DryRun {
		if _, err := parseBlob(in.CiphertextBlob); err != nil {
			return nil, err
		}
		return nil, dryRun(true)
	}
	ck, plain, err := s.decrypt(ctx, c, in.KeyId, in.EncryptionContext, in.CiphertextBlob)
	if err != nil {
		return nil, err
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
		return nil, newError(errValidation, "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
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
	dst, rerr := s.forEncrypt(c, in.DestinationKeyId)
	if rerr != nil {
		return nil, rerr
	}
	src, plain, err := s.decrypt(ctx, c, in.SourceKeyId, in.SourceEncryptionContext, in.CiphertextBlob)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	blob, err := s.encrypt(ctx, dst, in.DestinationEncryptionContext, plain)
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

func (s *Server) dataKey(ctx context.Context, c *caller, in *dataKeyInput) (*dataKeyOutput, error) {
	if in.Recipient != nil {
		return nil, newError(errUnsupported, "hsmsim does not support Nitro Enclaves attestation (Recipient).")
	}
	var n int
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, newError(errValidation, "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec == "AES_256":
		n = 32
	case in.NumberOfBytes != nil:
		n = *in.NumberOfBytes
	default:
		return nil, newError(errValidation, "Please specify either number of bytes or key spec.")
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	ck, rerr := s.forEncrypt(c, in.KeyId)
	if rerr != nil {
		return nil, rerr
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, err
	}
	plain := make([]byte, n)
	if ck.hsm != nil {
		r, err := ck.hsm.GenerateRandom(ctx, uint32(n))
		if err != nil {
			return nil, err
		}
		copy(plain, r)
	} else {
		_, _ = rand.Read(plain)
	}
	blob, err := s.encrypt(ctx, ck, in.EncryptionContext, plain)
	if err != nil {
		return nil, err
	}
	return &dataKeyOutput{CiphertextBlob: blob, Plaintext: plain, KeyId: keyARN(ck.k), KeyMaterialId: ck.v.ID}, nil
}

func generateDataKey(s *Server, ctx context.Context, c *caller, in *dataKeyInput) (*dataKeyOutput, error) {
	return s.dataKey(ctx, c, in)
}

func generateDataKeyWithoutPlaintext(s *Server, ctx context.Context, c *caller, in *dataKeyInput) (*dataKeyOutput, error) {
	out, err := s.dataKey(ctx, c, in)
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
		return nil, newError(errValidation, "1 validation error detected: Value null at 'numberOfBytes' failed to satisfy constraint: Member must not be null")
	}
	if in.Recipient != nil {
		return nil, newError(errUnsupported, "hsmsim does not support Nitro Enclaves attestation (Recipient).")
	}
	n := *in.NumberOfBytes
	if in.CustomKeyStoreId != "" {
		sess, err := s.storeSessionForRandom(c, in.CustomKeyStoreId)
		if err != nil {
			return nil, err
		}
		r, herr := sess.GenerateRandom(ctx, uint32(n))
		if herr != nil {
			return nil, herr
		}
		return &randomOutput{Plaintext: r}, nil
	}
	out := make([]byte, n)
	_, _ = rand.Read(out)
	return &randomOutput{Plaintext: out}, nil
}

// ---- HMAC ----

func macHash(alg string) (func() hash.Hash, bool) {
	switch alg {
	case "HMAC_SHA_224":
		return sha256.New224, true
	case "HMAC_SHA_256":
		return sha256.New, true
	case "HMAC_SHA_384":
		return sha512.New384, true
	case "HMAC_SHA_512":
		return sha512.New, true
	}
	return nil, false
}

type macInput struct {
	KeyId        string
	Message      []byte
	MacAlgorithm string
	Mac          []byte
	GrantTokens  []string
	DryRun       bool
}

type macOutput struct {
	Mac          []byte `json:",omitempty"`
	MacValid     bool   `json:",omitempty"`
	MacAlgorithm string
	KeyId        string
}

// usableKey resolves a key for a cryptographic operation: grant tokens well-formed, the key
// found and in a usable state, and of key usage usage ("" for any).
func (s *Server) usableKey(c *caller, keyID string, grantTokens []string, usage string) (*keyRec, error) {
	if err := checkGrantTokens(grantTokens); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, err := s.usableKeyLocked(c, keyID, usage)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// usableKeyLocked is usableKey without the grant tokens, for callers that hold s.mu.
func (s *Server) usableKeyLocked(c *caller, keyID, usage string) (*keyRec, *Error) {
	k, err := s.resolve(c, keyID)
	if err == nil {
		err = s.checkUsable(k)
	}
	if err != nil {
		return nil, err
	}
	if usage != "" && k.Usage != usage {
		return nil, wrongUsage(k)
	}
	return k, nil
}

func wrongUsage(k *keyRec) *Error {
	return newError(errInvalidKeyUsage, "%s key usage is %s which is not valid for this operation.", keyARN(k), k.Usage)
}

func (s *Server) mac(c *caller, in *macInput) (*keyRec, []byte, error) {
	k, err := s.usableKey(c, in.KeyId, in.GrantTokens, usageMac)
	if err != nil {
		return nil, nil, err
	}
	h, ok := macHash(in.MacAlgorithm)
	if !ok || specAlgorithms[k.Spec].mac[0] != in.MacAlgorithm {
		return nil, nil, newError(errInvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", in.MacAlgorithm, k.Spec)
	}
	if err := dryRun(in.DryRun); err != nil {
		return nil, nil, err
	}
	key, err := s.secret(k, k.Versions[len(k.Versions)-1])
	if err != nil {
		return nil, nil, err
	}
	m := hmac.New(h, key)
	clear(key)
	m.Write(in.Message)
	return k, m.Sum(nil), nil
}

func generateMac(s *Server, _ context.Context, c *caller, in *macInput) (*macOutput, error) {
	k, tag, err := s.mac(c, in)
	if err != nil {
		return nil, err
	}
	return &macOutput{Mac: tag, MacAlgorithm: in.MacAlgorithm, KeyId: keyARN(k)}, nil
}

func verifyMac(s *Server, _ context.Context, c *caller, in *macInput) (*macOutput, error) {
	k, tag, err := s.mac(c, in)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(tag, in.Mac) {
		return nil, newError(errInvalidMac, "")
	}
	return &macOutput{MacValid: true, MacAlgorithm: in.MacAlgorithm, KeyId: keyARN(k)}, nil
}
