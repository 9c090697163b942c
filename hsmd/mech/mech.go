// Package mech is the mechanism registry of an hsmsim node: key generation, sign/verify,
// encrypt/decrypt, wrap/unwrap, derive and digest. Each mechanism implements only the functions
// it supports; asking any other mechanism, or a supported one for a function it lacks, answers
// CKR_MECHANISM_INVALID, as the spec requires.
//
// The registry is a table from mechanism type to an entry holding one function per operation,
// filled by the init functions of this package's files (a duplicate stops the program). The
// CKF_* flags of Lookup are computed from which functions an entry has, so they cannot drift.
// Key usage attributes (CKA_SIGN, ...) are the caller's to check; this package checks the
// key's type and size, the parameter and the data.
//
// A mechanism and its parameter arrive as hsmd/ckm values, the vocabulary the clients speak too;
// only the node (hsmd/server, and hsmd/token for its parsed-key cache) imports this package.
//
// Error choices beyond the obvious: CKR_CURVE_NOT_SUPPORTED (v3.0) for a well-formed OID of an
// unsupported curve; the wrap-specific codes of C_WrapKey/C_UnwrapKey at the wrap boundary;
// mechanisms without a parameter ignore one.
package mech

import (
	"maps"
	"slices"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
)

// Info is CK_MECHANISM_INFO: key sizes in the unit the spec gives (bits for RSA/EC, bytes for
// AES and generic secrets) and the CKF_* flags.
type Info struct {
	MinKeySize, MaxKeySize uint64
	Flags                  uint64
}

// Key is a key object parsed once into the form the crypto needs; the node caches it per object.
// Attrs is a Reader, not a Set, so that a token can hand the Key the attributes it already
// holds (packed) instead of keeping a second copy as a map for every key in use (issue 17).
type Key struct {
	Attrs attr.Reader
	impl  any
}

// NewKey parses a key object's attributes (class, key type, material or public values).
//
// Missing material is CKR_TEMPLATE_INCOMPLETE, malformed material CKR_ATTRIBUTE_VALUE_INVALID,
// an EC curve other than P-224/256/384/521 and secp256k1 CKR_CURVE_NOT_SUPPORTED, and a class or key type no
// mechanism here uses CKR_KEY_TYPE_INCONSISTENT. Any secret key type is accepted and kept as
// bytes; the mechanisms check the type at use. The Key keeps obj (not a copy) in Attrs and
// never changes it; the caller may replace Attrs by another Reader of the same attributes.
func NewKey(obj attr.Set) (*Key, error) { return newKey(obj) }

// Types lists every supported mechanism type, sorted.
func Types() []uint32 { return slices.Sorted(maps.Keys(registry)) }

// Lookup returns the mechanism's info or CKR_MECHANISM_INVALID.
func Lookup(m uint32) (Info, error) {
	e, err := lookup(m)
	if err != nil {
		return Info{}, err
	}
	return e.info(), nil
}

// Implied returns the class and key type a key-generation mechanism makes (for attr.NewObject).
// For a key-pair mechanism it is the private half's (CKO_PRIVATE_KEY and the key type); the
// caller sets the class of each half. Other mechanisms are CKR_MECHANISM_INVALID.
func Implied(m uint32) (attr.Set, error) {
	e, err := lookup(m)
	if err != nil {
		return nil, err
	}
	if e.implied == nil {
		return nil, errMechanismInvalid
	}
	return e.implied.Clone(), nil
}

// GenerateKey makes secret key material for tmpl (an object validated by attr.NewObject) and
// returns the material attributes (CKA_VALUE, CKA_VALUE_LEN).
func GenerateKey(m ckm.Mechanism, tmpl attr.Set) (attr.Set, error) {
	e, err := lookup(m.Type)
	if err != nil || e.genKey == nil {
		return nil, errMechanismInvalid
	}
	return e.genKey(m, tmpl)
}

// GenerateKeyPair makes a key pair; it returns the attributes to add to each half
// (RSA: CKA_MODULUS, CKA_PUBLIC_EXPONENT, private components; EC: CKA_EC_POINT, CKA_VALUE).
func GenerateKeyPair(m ckm.Mechanism, pub, priv attr.Set) (pubAdd, privAdd attr.Set, err error) {
	e, err := lookup(m.Type)
	if err != nil || e.genPair == nil {
		return nil, nil, errMechanismInvalid
	}
	return e.genPair(m, pub, priv)
}

// Sign signs (or MACs) data.
func Sign(m ckm.Mechanism, k *Key, data []byte) ([]byte, error) {
	e, err := lookup(m.Type)
	if err != nil || e.sign == nil {
		return nil, errMechanismInvalid
	}
	km, err := k.mat()
	if err != nil {
		return nil, err
	}
	return e.sign(m, km, data)
}

// Verify checks a signature or MAC: nil, CKR_SIGNATURE_INVALID or CKR_SIGNATURE_LEN_RANGE.
func Verify(m ckm.Mechanism, k *Key, data, sig []byte) error {
	e, err := lookup(m.Type)
	if err != nil || e.verify == nil {
		return errMechanismInvalid
	}
	km, err := k.mat()
	if err != nil {
		return err
	}
	return e.verify(m, km, data, sig)
}

// Encrypt encrypts; used is m with any HSM-generated parameter (the GCM IV) filled in.
func Encrypt(m ckm.Mechanism, k *Key, plain []byte) (out []byte, used ckm.Mechanism, err error) {
	e, err := lookup(m.Type)
	if err != nil || e.encrypt == nil {
		return nil, m, errMechanismInvalid
	}
	km, err := k.mat()
	if err != nil {
		return nil, m, err
	}
	return e.encrypt(m, km, plain)
}

// Decrypt decrypts.
func Decrypt(m ckm.Mechanism, k *Key, ct []byte) ([]byte, error) {
	e, err := lookup(m.Type)
	if err != nil || e.decrypt == nil {
		return nil, errMechanismInvalid
	}
	km, err := k.mat()
	if err != nil {
		return nil, err
	}
	return e.decrypt(m, km, ct)
}

// Digest hashes data.
func Digest(m ckm.Mechanism, data []byte) ([]byte, error) {
	e, err := lookup(m.Type)
	if err != nil || e.digest == nil {
		return nil, errMechanismInvalid
	}
	return e.digest(m, data)
}

// Wrap wraps target (a secret key's CKA_VALUE, or a private key as PKCS#8) under wrapping.
//
// Problems of the wrapping key are CKR_WRAPPING_KEY_*, a target that cannot be wrapped is
// CKR_KEY_NOT_WRAPPABLE (RSA mechanisms wrap secret keys only) or CKR_KEY_SIZE_RANGE (a length
// the mechanism cannot take). For CKM_AES_GCM an empty IV is generated and written into the
// caller's *GCMParams, since Wrap returns no mechanism (CloudHSM writes pIV back the same way).
func Wrap(m ckm.Mechanism, wrapping *Key, target attr.Set) ([]byte, error) {
	return wrapKey(m, wrapping, target)
}

// Unwrap recovers key material for an object described by tmpl (class, key type already
// validated) and returns the material attributes to complete it with.
//
// Secret keys yield CKA_VALUE; RSA and EC private keys are parsed from PKCS#8 and yield their
// PKCS#11 components (RSA: modulus, exponents, primes, CRT values; EC: CKA_VALUE and
// CKA_EC_PARAMS). Problems of the unwrapping key are CKR_UNWRAPPING_KEY_*, of the blob
// CKR_WRAPPED_KEY_LEN_RANGE or CKR_WRAPPED_KEY_INVALID.
func Unwrap(m ckm.Mechanism, unwrapping *Key, wrapped []byte, tmpl attr.Set) (attr.Set, error) {
	return unwrapKey(m, unwrapping, wrapped, tmpl)
}

// Derive derives key material for tmpl from base (ECDH).
func Derive(m ckm.Mechanism, base *Key, tmpl attr.Set) (attr.Set, error) {
	e, err := lookup(m.Type)
	if err != nil || e.derive == nil {
		return nil, errMechanismInvalid
	}
	km, err := base.mat()
	if err != nil {
		return nil, err
	}
	return e.derive(m, km, tmpl)
}
