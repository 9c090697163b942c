// Package mech is the mechanism registry of an hsmsim node: key generation, sign/verify,
// encrypt/decrypt, wrap/unwrap, derive and digest. Each mechanism implements only the functions
// it supports; asking any other mechanism, or a supported one for a function it lacks, answers
// CKR_MECHANISM_INVALID, as the spec requires.
//
// CONTRACT STUB: the signatures below are the API the node codes against.
package mech

import (
	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Mechanism is a CK_MECHANISM: a type and its decoded parameter, one of nil, IV ([]byte, for
// CBC/CBC_PAD and the AES key-wrap IV), *GCMParams, *CTRParams, *PSSParams, *OAEPParams,
// *ECDH1DeriveParams. A parameter of the wrong kind is CKR_MECHANISM_PARAM_INVALID.
type Mechanism struct {
	Type  uint32
	Param any
}

// IV is the parameter of CKM_AES_CBC, CKM_AES_CBC_PAD and the AES key wraps.
type IV []byte

// GCMParams is CK_GCM_PARAMS. An empty IV on encrypt asks the HSM to generate one (12 bytes),
// which Encrypt returns in its result mechanism, as CloudHSM writes it back to the caller.
type GCMParams struct {
	IV      []byte
	AAD     []byte
	TagBits uint32
}

// CTRParams is CK_AES_CTR_PARAMS.
type CTRParams struct {
	CounterBits uint32
	CB          []byte // 16-byte initial counter block
}

// PSSParams is CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct {
	Hash    uint32 // CKM_SHA256, ...
	MGF     uint32 // CKG_MGF1_SHA256, ...
	SaltLen uint32
}

// OAEPParams is CK_RSA_PKCS_OAEP_PARAMS.
type OAEPParams struct {
	Hash   uint32
	MGF    uint32
	Source []byte // CKZ_DATA_SPECIFIED label, may be empty
}

// ECDH1DeriveParams is CK_ECDH1_DERIVE_PARAMS.
type ECDH1DeriveParams struct {
	KDF        uint32 // CKD_NULL, CKD_SHA256_KDF, ...
	SharedData []byte
	PublicData []byte // the peer's EC point (DER OCTET STRING or raw uncompressed point)
}

// Info is CK_MECHANISM_INFO: key sizes in the unit the spec gives (bits for RSA/EC, bytes for
// AES and generic secrets) and the CKF_* flags.
type Info struct {
	MinKeySize, MaxKeySize uint64
	Flags                  uint64
}

// Key is a key object parsed once into the form the crypto needs; the node caches it per object.
type Key struct {
	Attrs attr.Set
	impl  any
}

// NewKey parses a key object's attributes (class, key type, material or public values).
func NewKey(obj attr.Set) (*Key, error) { return nil, p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED) }

// Types lists every supported mechanism type, sorted.
func Types() []uint32 { return nil }

// Lookup returns the mechanism's info or CKR_MECHANISM_INVALID.
func Lookup(m uint32) (Info, error) { return Info{}, p11.Error(p11.CKR_MECHANISM_INVALID) }

// Implied returns the class and key type a key-generation mechanism makes (for attr.NewObject).
func Implied(m uint32) (attr.Set, error) { return nil, p11.Error(p11.CKR_MECHANISM_INVALID) }

// GenerateKey makes secret key material for tmpl (an object validated by attr.NewObject) and
// returns the material attributes (CKA_VALUE, CKA_VALUE_LEN).
func GenerateKey(m Mechanism, tmpl attr.Set) (attr.Set, error) {
	return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// GenerateKeyPair makes a key pair; it returns the attributes to add to each half
// (RSA: CKA_MODULUS, CKA_PUBLIC_EXPONENT, private components; EC: CKA_EC_POINT, CKA_VALUE).
func GenerateKeyPair(m Mechanism, pub, priv attr.Set) (pubAdd, privAdd attr.Set, err error) {
	return nil, nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Sign signs (or MACs) data.
func Sign(m Mechanism, k *Key, data []byte) ([]byte, error) {
	return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Verify checks a signature or MAC: nil, CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE.
func Verify(m Mechanism, k *Key, data, sig []byte) error {
	return p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Encrypt encrypts; used is m with any HSM-generated parameter (the GCM IV) filled in.
func Encrypt(m Mechanism, k *Key, plain []byte) (out []byte, used Mechanism, err error) {
	return nil, m, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Decrypt decrypts.
func Decrypt(m Mechanism, k *Key, ct []byte) ([]byte, error) {
	return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Digest hashes data.
func Digest(m Mechanism, data []byte) ([]byte, error) {
	return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Wrap wraps target (a secret key's CKA_VALUE, or a private key as PKCS#8) under wrapping.
func Wrap(m Mechanism, wrapping *Key, target attr.Set) ([]byte, error) {
	return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Unwrap recovers key material for an object described by tmpl (class, key type already
// validated) and returns the material attributes to complete it with.
func Unwrap(m Mechanism, unwrapping *Key, wrapped []byte, tmpl attr.Set) (attr.Set, error) {
	return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}

// Derive derives key material for tmpl from base (ECDH).
func Derive(m Mechanism, base *Key, tmpl attr.Set) (attr.Set, error) {
	return nil, p11.Error(p11.CKR_MECHANISM_INVALID)
}
