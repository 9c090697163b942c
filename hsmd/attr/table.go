package attr

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// This file is the attribute table: what PKCS#11 v2.40 says about each attribute of each object
// class and key type in scope, as data. The functions in rules.go only walk it. Section numbers
// are those of the v2.40 base specification (pkcs11-base-v2.40); the key types' own attributes
// are in the v2.40 Current Mechanisms specification, cited by section title.
//
// The spec marks attributes with footnotes (v2.40 base spec, "Common footnotes for object
// attribute tables"). They map onto the row fields like this:
//
//	1  required in a C_CreateObject template           → req  has onCreate
//	2  not allowed in a C_CreateObject template        → deny has onCreate
//	3  required in a C_GenerateKey(Pair) template      → req  has onGenerate
//	4  not allowed in a C_GenerateKey(Pair) template   → deny has onGenerate
//	5  required in a C_UnwrapKey template              → req  has onUnwrap
//	6  not allowed in a C_UnwrapKey template           → deny has onUnwrap
//	7  not revealed when the key is sensitive or not   → secret
//	   extractable
//	8  may change in C_SetAttributeValue / C_CopyObject → change: chFree
//	10 only the SO may set it to true                  → not checkable here (no session role);
//	                                                      the token layer gates it
//	11 once true, read-only                            → change: chToTrue
//	12 once false, read-only                           → change: chToFalse
//
// The spec says nothing about C_DeriveKey templates; the derivation makes the key material the
// same way generation does, so every attribute denied on generate (4) is denied on derive, except
// CKA_VALUE_LEN, which a derive template may use to ask for a length.
//
// Attributes the spec leaves unmarked cannot be changed after creation (chNever), except those
// C_CopyObject explicitly lets a copy change (CKA_TOKEN, CKA_PRIVATE, and the PKCS#11 v3
// footnote 17 set: CKA_MODIFIABLE, CKA_DESTROYABLE), which are chCopy.

// shape is the kind of object an attribute belongs to: a class, and for keys a key type. A row
// applies to a set of shapes.
type shape uint16

const (
	shData    shape = 1 << iota // CKO_DATA
	shAES                       // CKO_SECRET_KEY, CKK_AES
	shGeneric                   // CKO_SECRET_KEY, CKK_GENERIC_SECRET
	shRSAPub                    // CKO_PUBLIC_KEY, CKK_RSA
	shRSAPriv                   // CKO_PRIVATE_KEY, CKK_RSA
	shECPub                     // CKO_PUBLIC_KEY, CKK_EC
	shECPriv                    // CKO_PRIVATE_KEY, CKK_EC
	shCert                      // CKO_CERTIFICATE, CKC_X_509
	shDES3                      // CKO_SECRET_KEY, CKK_DES3
	shEdPub                     // CKO_PUBLIC_KEY, CKK_EC_EDWARDS (PKCS #11 v3.0)
	shEdPriv                    // CKO_PRIVATE_KEY, CKK_EC_EDWARDS
	shDES                       // CKO_SECRET_KEY, CKK_DES (single DES, profile standard only)

	shSecret = shAES | shGeneric | shDES3 | shDES
	shPub    = shRSAPub | shECPub | shEdPub
	shPriv   = shRSAPriv | shECPriv | shEdPriv
	shKey    = shSecret | shPub | shPriv
	shAll    = shData | shKey | shCert
	shNone   = shape(0)
)

// ops is a set of the calls that create objects.
type ops uint8

const (
	onCreate ops = 1 << iota
	onGenerate
	onUnwrap
	onDerive

	// made is what the token itself fills in: never in any template (footnotes 2,4,6 and derive).
	made = onCreate | onGenerate | onUnwrap | onDerive
	// material is key data that comes from the call rather than the template when the token makes
	// the key (footnotes 4,6 and derive).
	material = onGenerate | onUnwrap | onDerive
	noOps    = ops(0)
)

func opBit(op Op) ops {
	switch op {
	case OpCreate:
		return onCreate
	case OpGenerate:
		return onGenerate
	case OpUnwrap:
		return onUnwrap
	case OpDerive:
		return onDerive
	}
	return 0
}

// kind is the canonical encoding of a value.
type kind uint8

const (
	kBool  kind = iota // CK_BBOOL, 1 byte
	kUlong             // CK_ULONG, 8 bytes little-endian
	kBytes             // raw bytes, any length (strings, DER, big-endian integers)
	kDate              // CK_DATE: 8 bytes (YYYYMMDD) or empty
	kBig               // big-endian unsigned integer: equal when equal as numbers (leading zeros)
)

// change says how an attribute may change after the object exists.
type change uint8

const (
	chNever   change = iota // read-only once the object exists
	chFree                  // footnote 8: C_SetAttributeValue and C_CopyObject may change it
	chCopy                  // only a copy may change it (C_CopyObject's own list)
	chToTrue                // may change only from false to true (footnotes 8+11, or 11)
	chToFalse               // may change only from true to false (footnotes 8+12, CKA_COPYABLE)
)

// rule is one row of the table. A type may have several rows as long as their shapes do not
// overlap (CKA_VALUE means different things for data objects, secret keys and EC private keys).
type rule struct {
	t      uint32
	shapes shape
	kind   kind
	req    ops    // must be in the template for these calls (after `implied` is merged)
	deny   ops    // must not be in the template for these calls: CKR_ATTRIBUTE_READ_ONLY
	change change // what C_SetAttributeValue / C_CopyObject may do
	// def is the value NewObject fills in when the template has none; nil means no default (the
	// attribute is required, or the token computes it in Complete).
	def []byte
	// defTrue, for usage flags, is the shapes whose default is true (the rest default false).
	defTrue shape
	// keyData marks values the key-making call supplies (Complete's material argument).
	keyData bool
	// secret is footnote 7: key material, hidden when the key is sensitive or unextractable and
	// kept apart by Split.
	secret bool
	// check validates a value beyond its encoding (CKR_ATTRIBUTE_VALUE_INVALID).
	check func(v []byte) error
	// derived, when set, is how the token computes the value from another attribute of the
	// object (Complete); a value the template gave must agree.
	derived *derivation
}

// derivation is a value the token computes from another attribute of the same object.
type derivation struct {
	from     uint32
	compute  func(src []byte) ([]byte, error)
	mismatch uint32 // the code when the template said something else
}

var (
	// CKA_VALUE_LEN of a secret key and CKA_MODULUS_BITS of an RSA public key describe the
	// material; a template that asked for another size gets a key that is not what it asked for.
	lengthOfValue = &derivation{from: p11.CKA_VALUE, mismatch: p11.CKR_TEMPLATE_INCONSISTENT,
		compute: func(v []byte) ([]byte, error) { return Ulong(uint64(len(v))), nil }}
	bitsOfModulus = &derivation{from: p11.CKA_MODULUS, mismatch: p11.CKR_TEMPLATE_INCONSISTENT,
		compute: func(m []byte) ([]byte, error) { return Ulong(uint64(new(big.Int).SetBytes(m).BitLen())), nil }}
	// CKA_CHECK_VALUE: a template states one to have the token confirm the key (or certificate)
	// is the one meant; a wrong one is a wrong value of that attribute.
	aesCheckValue  = &derivation{from: p11.CKA_VALUE, mismatch: p11.CKR_ATTRIBUTE_VALUE_INVALID, compute: kcvAES}
	des3CheckValue = &derivation{from: p11.CKA_VALUE, mismatch: p11.CKR_ATTRIBUTE_VALUE_INVALID, compute: kcvDES3}
	desCheckValue  = &derivation{from: p11.CKA_VALUE, mismatch: p11.CKR_ATTRIBUTE_VALUE_INVALID, compute: kcvDES}
	sha1CheckValue = &derivation{from: p11.CKA_VALUE, mismatch: p11.CKR_ATTRIBUTE_VALUE_INVALID, compute: kcvSHA1}
)

var (
	vFalse = []byte{0}
	vTrue  = []byte{1}
	vEmpty = []byte{}
)

// Usage-flag defaults. The spec leaves them token-specific (footnote 9). CloudHSM and SoftHSM
// make a new key usable for every operation its type supports, so the flags an application is
// likely to rely on default to true where the key type can do the operation: AES encrypts,
// decrypts, MACs, wraps and unwraps; DES3 and DES encrypt and decrypt; a generic secret only MACs
// (HMAC); RSA does all four public-key operations; EC and Edwards keys sign and verify. SIGN_RECOVER, VERIFY_RECOVER, DERIVE,
// TRUSTED and WRAP_WITH_TRUSTED grant something unusual and default to false.
const (
	canEncrypt = shAES | shDES3 | shDES | shRSAPub
	canDecrypt = shAES | shDES3 | shDES | shRSAPriv
	canSign    = shAES | shGeneric | shRSAPriv | shECPriv | shEdPriv
	canVerify  = shAES | shGeneric | shRSAPub | shECPub | shEdPub
	canWrap    = shAES | shRSAPub
	canUnwrap  = shAES | shRSAPriv
)

// table is every attribute of every object in scope. Order matters only for which missing
// attribute CKR_TEMPLATE_INCOMPLETE names first.
var table = []rule{
	// Common to all objects. CKA_CLASS and CKA_KEY_TYPE pick the object's shape and are checked
	// before the rest (resolveShape); their rows make them known, valid and unchangeable.
	{t: p11.CKA_CLASS, shapes: shAll, kind: kUlong},

	// Storage objects.
	{t: p11.CKA_TOKEN, shapes: shAll, kind: kBool, def: vFalse, change: chCopy},
	// §4.4 leaves CKA_PRIVATE's default to the token, "and may depend on the values of other
	// attributes": keys and data stay private unless asked; a certificate is public information
	// (CloudHSM's certificates are never private), so it is public unless asked.
	{t: p11.CKA_PRIVATE, shapes: shAll, kind: kBool, defTrue: shData | shKey, change: chCopy},
	{t: p11.CKA_MODIFIABLE, shapes: shAll, kind: kBool, def: vTrue, change: chCopy},
	{t: p11.CKA_LABEL, shapes: shAll, kind: kBytes, def: vEmpty, change: chFree},
	// "Cannot be set to true once false": a copy may be made uncopyable, never the reverse.
	{t: p11.CKA_COPYABLE, shapes: shAll, kind: kBool, def: vTrue, change: chToFalse},
	{t: p11.CKA_DESTROYABLE, shapes: shAll, kind: kBool, def: vTrue, change: chCopy},

	// Data objects. The spec gives none of them footnote 8, so they are fixed at creation.
	{t: p11.CKA_APPLICATION, shapes: shData, kind: kBytes, def: vEmpty},
	{t: p11.CKA_OBJECT_ID, shapes: shData, kind: kBytes, def: vEmpty},
	{t: p11.CKA_VALUE, shapes: shData, kind: kBytes, def: vEmpty},

	// Common key attributes. KEY_TYPE is footnotes 1,5; generation implies it from the mechanism.
	// CKA_ID is also an X.509 certificate's (§4.6.3), where it may change too.
	{t: p11.CKA_KEY_TYPE, shapes: shKey, kind: kUlong},
	{t: p11.CKA_ID, shapes: shKey | shCert, kind: kBytes, def: vEmpty, change: chFree},
	{t: p11.CKA_START_DATE, shapes: shKey, kind: kDate, def: vEmpty, change: chFree},
	{t: p11.CKA_END_DATE, shapes: shKey, kind: kDate, def: vEmpty, change: chFree},
	{t: p11.CKA_DERIVE, shapes: shKey, kind: kBool, def: vFalse, change: chFree},
	{t: p11.CKA_LOCAL, shapes: shKey, kind: kBool, deny: made},
	{t: p11.CKA_KEY_GEN_MECHANISM, shapes: shKey, kind: kUlong, deny: made},

	// Usage flags (footnotes 8,9), each on the classes the spec lists it for.
	{t: p11.CKA_ENCRYPT, shapes: shSecret | shPub, kind: kBool, defTrue: canEncrypt, change: chFree},
	{t: p11.CKA_DECRYPT, shapes: shSecret | shPriv, kind: kBool, defTrue: canDecrypt, change: chFree},
	{t: p11.CKA_SIGN, shapes: shSecret | shPriv, kind: kBool, defTrue: canSign, change: chFree},
	{t: p11.CKA_VERIFY, shapes: shSecret | shPub, kind: kBool, defTrue: canVerify, change: chFree},
	{t: p11.CKA_WRAP, shapes: shSecret | shPub, kind: kBool, defTrue: canWrap, change: chFree},
	{t: p11.CKA_UNWRAP, shapes: shSecret | shPriv, kind: kBool, defTrue: canUnwrap, change: chFree},
	{t: p11.CKA_SIGN_RECOVER, shapes: shPriv, kind: kBool, def: vFalse, change: chFree},
	{t: p11.CKA_VERIFY_RECOVER, shapes: shPub, kind: kBool, def: vFalse, change: chFree},

	// Protection of secret and private keys.
	// CKA_SENSITIVE: the v2.40 base spec's secret key table (§4.10) says "CK_TRUE if object is
	// sensitive (default CK_FALSE)"; for private keys (§4.9, footnote 9) the default is the
	// token's, and an HSM keeps them sensitive unless asked otherwise. Profile cloudhsm's module
	// asks CloudHSM's default (true) for secret keys too (AWS's attribute table).
	{t: p11.CKA_SENSITIVE, shapes: shSecret | shPriv, kind: kBool, defTrue: shPriv, change: chToTrue},
	{t: p11.CKA_EXTRACTABLE, shapes: shSecret | shPriv, kind: kBool, def: vTrue, change: chToFalse},
	{t: p11.CKA_ALWAYS_SENSITIVE, shapes: shSecret | shPriv, kind: kBool, deny: made},
	{t: p11.CKA_NEVER_EXTRACTABLE, shapes: shSecret | shPriv, kind: kBool, deny: made},
	// Footnote 11 without 8: it may still be raised from false, never lowered.
	{t: p11.CKA_WRAP_WITH_TRUSTED, shapes: shSecret | shPriv, kind: kBool, def: vFalse, change: chToTrue},
	// Footnote 10 (SO only) needs the session's role, which this package does not see: the token
	// layer must refuse true from anyone else. CloudHSM lets its CO set and clear it after
	// creation, so it is changeable here.
	// A certificate has it too (§4.6.2, footnote 10), under the same rule.
	{t: p11.CKA_TRUSTED, shapes: shSecret | shPub | shCert, kind: kBool, def: vFalse, change: chFree},
	{t: p11.CKA_SUBJECT, shapes: shPub | shPriv, kind: kBytes, def: vEmpty, change: chFree},

	// Private keys (§4.9): CKA_ALWAYS_AUTHENTICATE, default CK_FALSE, no footnote (fixed at
	// creation). True asks for a login before every use of the key (C_Login with
	// CKU_CONTEXT_SPECIFIC after each C_SignInit or C_DecryptInit); the token has no such login,
	// so it refuses true rather than store a protection it would not enforce.
	{t: p11.CKA_ALWAYS_AUTHENTICATE, shapes: shPriv, kind: kBool, def: vFalse, check: noReauthentication},

	// Secret keys: CKA_VALUE is 1,4,6,7; CKA_VALUE_LEN is 2,3,6 (and may be asked for on derive).
	{t: p11.CKA_VALUE, shapes: shAES, kind: kBytes, req: onCreate, deny: material, keyData: true, secret: true, check: aesLen},
	{t: p11.CKA_VALUE, shapes: shGeneric, kind: kBytes, req: onCreate, deny: material, keyData: true, secret: true, check: genericLen},
	// DES3 ("DES3 secret key objects"): CKA_VALUE 1,4,6,7, 24 bytes with odd parity; the key
	// type has no CKA_VALUE_LEN.
	{t: p11.CKA_VALUE, shapes: shDES3, kind: kBytes, req: onCreate, deny: material, keyData: true, secret: true, check: des3Value},
	// DES (v2.40 Historical Mechanisms, "DES secret key objects"): CKA_VALUE 1,4,6,7, 8 bytes
	// with odd parity; no CKA_VALUE_LEN either.
	{t: p11.CKA_VALUE, shapes: shDES, kind: kBytes, req: onCreate, deny: material, keyData: true, secret: true, check: desValue},
	{t: p11.CKA_VALUE_LEN, shapes: shAES, kind: kUlong, req: onGenerate, deny: onCreate | onUnwrap, keyData: true, check: aesLenUlong, derived: lengthOfValue},
	{t: p11.CKA_VALUE_LEN, shapes: shGeneric, kind: kUlong, req: onGenerate, deny: onCreate | onUnwrap, keyData: true, check: genericLenUlong, derived: lengthOfValue},
	// CKA_CHECK_VALUE (§4.10, "key checksum"), computed by the token from CKA_VALUE as the key
	// type defines: for AES and DES3 (Current Mechanisms, "AES secret key objects", "DES3 secret
	// key objects") the first three bytes of the ECB encryption of one block of zero bytes under
	// the key; for a generic secret
	// ("Generic secret key objects") the first three bytes of the SHA-1 hash of CKA_VALUE. It
	// says nothing of the key, so it is not material: it reads back from a sensitive key. A
	// C_CreateObject or C_UnwrapKey template may state it (it must match: a key ceremony's way
	// to confirm the right key arrived); a generated or derived key is unknown until made.
	{t: p11.CKA_CHECK_VALUE, shapes: shAES, kind: kBytes, deny: onGenerate | onDerive, check: checkValueLen, derived: aesCheckValue},
	{t: p11.CKA_CHECK_VALUE, shapes: shGeneric, kind: kBytes, deny: onGenerate | onDerive, check: checkValueLen, derived: sha1CheckValue},
	{t: p11.CKA_CHECK_VALUE, shapes: shDES3, kind: kBytes, deny: onGenerate | onDerive, check: checkValueLen, derived: des3CheckValue},
	{t: p11.CKA_CHECK_VALUE, shapes: shDES, kind: kBytes, deny: onGenerate | onDerive, check: checkValueLen, derived: desCheckValue},

	// RSA public keys: MODULUS 1,4; MODULUS_BITS 2,3 (the token computes it on create);
	// PUBLIC_EXPONENT 1 (optional on generate, where the mechanism picks 65537).
	{t: p11.CKA_MODULUS, shapes: shRSAPub, kind: kBig, req: onCreate, deny: onGenerate | onDerive, keyData: true, check: nonEmpty},
	{t: p11.CKA_MODULUS_BITS, shapes: shRSAPub, kind: kUlong, req: onGenerate, deny: onCreate, check: nonZero, derived: bitsOfModulus},
	{t: p11.CKA_PUBLIC_EXPONENT, shapes: shRSAPub, kind: kBig, req: onCreate, keyData: true, check: nonEmpty},

	// RSA private keys. The spec requires only MODULUS and PRIVATE_EXPONENT on create (1); the
	// crypto here (crypto/rsa) needs the primes and CRT values, and CloudHSM imports whole keys,
	// so every component is required on create.
	{t: p11.CKA_MODULUS, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, check: nonEmpty},
	{t: p11.CKA_PUBLIC_EXPONENT, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, check: nonEmpty},
	{t: p11.CKA_PRIVATE_EXPONENT, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},
	{t: p11.CKA_PRIME_1, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},
	{t: p11.CKA_PRIME_2, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},
	{t: p11.CKA_EXPONENT_1, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},
	{t: p11.CKA_EXPONENT_2, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},
	{t: p11.CKA_COEFFICIENT, shapes: shRSAPriv, kind: kBig, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},

	// EC public keys: EC_PARAMS 1,3 (the curve is chosen in the public template); EC_POINT 1,4.
	{t: p11.CKA_EC_PARAMS, shapes: shECPub, kind: kBytes, req: onCreate | onGenerate, keyData: true, check: nonEmpty},
	{t: p11.CKA_EC_POINT, shapes: shECPub, kind: kBytes, req: onCreate, deny: onGenerate | onDerive, keyData: true, check: nonEmpty},
	// EC private keys: EC_PARAMS 1,4,6 (generation copies it from the public half); VALUE 1,4,6,7.
	{t: p11.CKA_EC_PARAMS, shapes: shECPriv, kind: kBytes, req: onCreate, deny: material, keyData: true, check: nonEmpty},
	{t: p11.CKA_VALUE, shapes: shECPriv, kind: kBytes, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},

	// Edwards curve keys (Current Mechanisms v3.0, "Edwards Elliptic curve public/private key
	// objects"), footnotes as for EC keys:
	// EC_PARAMS the curve name or OID, EC_POINT the DER OCTET STRING of the public key, VALUE the
	// RFC 8032 private key.
	{t: p11.CKA_EC_PARAMS, shapes: shEdPub, kind: kBytes, req: onCreate | onGenerate, keyData: true, check: nonEmpty},
	{t: p11.CKA_EC_POINT, shapes: shEdPub, kind: kBytes, req: onCreate, deny: onGenerate | onDerive, keyData: true, check: nonEmpty},
	{t: p11.CKA_EC_PARAMS, shapes: shEdPriv, kind: kBytes, req: onCreate, deny: material, keyData: true, check: nonEmpty},
	{t: p11.CKA_VALUE, shapes: shEdPriv, kind: kBytes, req: onCreate, deny: material, keyData: true, secret: true, check: nonEmpty},

	// Certificates (§4.6.2, common certificate attributes). Only C_CreateObject makes one
	// (NewObject). CKA_CERTIFICATE_TYPE is footnote 1 and picks the shape (resolveShape): only
	// CKC_X_509 is in scope. Nothing of a certificate is secret, and by the spec only CKA_ID,
	// CKA_ISSUER and CKA_SERIAL_NUMBER (§4.6.3), besides the storage attributes and
	// CKA_TRUSTED, may change once it exists.
	{t: p11.CKA_CERTIFICATE_TYPE, shapes: shCert, kind: kUlong, req: onCreate},
	// 0 unspecified, 1 token user, 2 authority, 3 other entity.
	{t: p11.CKA_CERTIFICATE_CATEGORY, shapes: shCert, kind: kUlong, def: Ulong(0), check: atMost(3)},
	// "The first three bytes of the SHA-1 hash of the certificate object's CKA_VALUE."
	{t: p11.CKA_CHECK_VALUE, shapes: shCert, kind: kBytes, check: checkValueLen, derived: sha1CheckValue},
	{t: p11.CKA_START_DATE, shapes: shCert, kind: kDate, def: vEmpty},
	{t: p11.CKA_END_DATE, shapes: shCert, kind: kDate, def: vEmpty},
	{t: p11.CKA_PUBLIC_KEY_INFO, shapes: shCert, kind: kBytes, def: vEmpty},

	// X.509 public key certificates (§4.6.3). CKA_SUBJECT is footnote 1. CKA_VALUE is footnote
	// 2 (required; may be empty only with a CKA_URL): this token keeps the certificate itself,
	// so it must be there and be one. Footnote 3 (CKA_URL non-empty if CKA_VALUE is empty) thus
	// always holds; footnote 4 (the hashes can only be empty if CKA_URL is) is crossRules'.
	{t: p11.CKA_SUBJECT, shapes: shCert, kind: kBytes, req: onCreate},
	{t: p11.CKA_ISSUER, shapes: shCert, kind: kBytes, def: vEmpty, change: chFree},
	{t: p11.CKA_SERIAL_NUMBER, shapes: shCert, kind: kBytes, def: vEmpty, change: chFree},
	{t: p11.CKA_VALUE, shapes: shCert, kind: kBytes, req: onCreate, check: x509Certificate},
	{t: p11.CKA_URL, shapes: shCert, kind: kBytes, def: vEmpty},
	{t: p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, shapes: shCert, kind: kBytes, def: vEmpty},
	{t: p11.CKA_HASH_OF_ISSUER_PUBLIC_KEY, shapes: shCert, kind: kBytes, def: vEmpty},
	// 0 unspecified, 1 manufacturer, 2 operator, 3 third party.
	{t: p11.CKA_JAVA_MIDP_SECURITY_DOMAIN, shapes: shCert, kind: kUlong, def: Ulong(0), check: atMost(3)},
	// The digest of the two hashes; "if the attribute is not present then the type defaults to
	// SHA-1", which is what an object without one holds here.
	{t: p11.CKA_NAME_HASH_ALGORITHM, shapes: shCert, kind: kUlong, def: Ulong(p11.CKM_SHA_1), check: digestMechanism},
}

// crossRules are the footnotes that tie attributes of one object together, checked on the whole
// template (NewObject) and the whole object (Complete). None of their attributes can change
// later, so Modify and Copy need not check them.
var crossRules = []struct {
	shapes shape
	check  func(Set) error
}{
	// §4.6.3 footnote 4: the public key hashes "can only be empty if CKA_URL is empty".
	{shCert, func(s Set) error {
		if len(s[p11.CKA_URL]) == 0 {
			return nil
		}
		for _, t := range []uint32{p11.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, p11.CKA_HASH_OF_ISSUER_PUBLIC_KEY} {
			if len(s[t]) == 0 {
				return p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "%s must not be empty when CKA_URL is given", p11.AttrName(t))
			}
		}
		return nil
	}},
}

// index is table by type, built once; init refuses overlapping rows so a lookup is unambiguous.
var index = func() map[uint32][]*rule {
	m := make(map[uint32][]*rule)
	for i := range table {
		r := &table[i]
		for _, o := range m[r.t] {
			if o.shapes&r.shapes != 0 {
				panic(fmt.Sprintf("attr: rows for %s overlap", p11.AttrName(r.t)))
			}
			if o.kind != r.kind {
				panic(fmt.Sprintf("attr: rows for %s disagree on the encoding", p11.AttrName(r.t)))
			}
		}
		m[r.t] = append(m[r.t], r)
	}
	return m
}()

// lookup returns the row for t on an object of shape s, or nil.
func lookup(t uint32, s shape) *rule {
	for _, r := range index[t] {
		if r.shapes&s != 0 {
			return r
		}
	}
	return nil
}

// known reports whether t is in the table at all, and its encoding.
func known(t uint32) (kind, bool) {
	rs := index[t]
	if len(rs) == 0 {
		return 0, false
	}
	return rs[0].kind, true
}

// secretAnywhere reports whether t is key material for some shape; used when an object's shape
// cannot be told, so that a damaged object errs on the side of hiding.
func secretAnywhere(t uint32) bool {
	for _, r := range index[t] {
		if r.secret {
			return true
		}
	}
	return false
}

// defaultFor is r's default on shape s, or nil.
func (r *rule) defaultFor(s shape) []byte {
	if r.defTrue != shNone {
		return Bool(r.defTrue&s != 0)
	}
	return r.def
}

// shapeOf maps a class and key type onto a shape; shNone when the pair is not in scope.
func shapeOf(class uint64, keyType uint64, hasKeyType bool) shape {
	switch class {
	case p11.CKO_DATA:
		return shData
	case p11.CKO_SECRET_KEY:
		switch {
		case hasKeyType && keyType == p11.CKK_AES:
			return shAES
		case hasKeyType && keyType == p11.CKK_GENERIC_SECRET:
			return shGeneric
		case hasKeyType && keyType == p11.CKK_DES3:
			return shDES3
		case hasKeyType && keyType == p11.CKK_DES:
			return shDES
		}
	case p11.CKO_PUBLIC_KEY:
		switch {
		case hasKeyType && keyType == p11.CKK_RSA:
			return shRSAPub
		case hasKeyType && keyType == p11.CKK_EC:
			return shECPub
		case hasKeyType && keyType == p11.CKK_EC_EDWARDS:
			return shEdPub
		}
	case p11.CKO_PRIVATE_KEY:
		switch {
		case hasKeyType && keyType == p11.CKK_RSA:
			return shRSAPriv
		case hasKeyType && keyType == p11.CKK_EC:
			return shECPriv
		case hasKeyType && keyType == p11.CKK_EC_EDWARDS:
			return shEdPriv
		}
	}
	return shNone
}

// Value checks. Each names the attribute through the caller (checkValue wraps them).

func aesLen(v []byte) error {
	switch len(v) {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("an AES key is 16, 24 or 32 bytes, not %d", len(v))
}

// genericMax is CloudHSM's limit on generic secret keys (1 to 800 bytes).
const genericMax = 800

func genericLen(v []byte) error {
	if len(v) < 1 || len(v) > genericMax {
		return fmt.Errorf("a generic secret is 1 to %d bytes, not %d", genericMax, len(v))
	}
	return nil
}

// des3Value: three DES keys, each byte of odd parity (FIPS 46-3: the low bit of each byte is
// set so the byte has an odd number of ones).
func des3Value(v []byte) error { return desKeyValue("DES3", 24, v) }

// desValue: one DES key, 8 bytes of odd parity.
func desValue(v []byte) error { return desKeyValue("DES", 8, v) }

func desKeyValue(name string, n int, v []byte) error {
	if len(v) != n {
		return fmt.Errorf("a %s key is %d bytes, not %d", name, n, len(v))
	}
	for i, b := range v {
		if bits.OnesCount8(b)%2 == 0 {
			return fmt.Errorf("byte %d of the %s key has even parity", i, name)
		}
	}
	return nil
}

func aesLenUlong(v []byte) error {
	switch n := ulong(v); n {
	case 16, 24, 32:
		return nil
	default:
		return fmt.Errorf("an AES key is 16, 24 or 32 bytes, not %d", n)
	}
}

func genericLenUlong(v []byte) error {
	if n := ulong(v); n < 1 || n > genericMax {
		return fmt.Errorf("a generic secret is 1 to %d bytes, not %d", genericMax, n)
	}
	return nil
}

func nonEmpty(v []byte) error {
	if len(v) == 0 {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

// checkValueSize is the length of every CKA_CHECK_VALUE the spec defines.
const checkValueSize = 3

func checkValueLen(v []byte) error {
	if len(v) != checkValueSize {
		return fmt.Errorf("a check value is %d bytes, not %d", checkValueSize, len(v))
	}
	return nil
}

func kcvAES(key []byte) ([]byte, error) { return kcvBlock(aes.NewCipher(key)) }

func kcvDES3(key []byte) ([]byte, error) { return kcvBlock(des.NewTripleDESCipher(key)) }

func kcvDES(key []byte) ([]byte, error) { return kcvBlock(des.NewCipher(key)) }

// kcvBlock is a block cipher key's check value: its encryption of a zero block, cut.
func kcvBlock(b cipher.Block, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	out := make([]byte, b.BlockSize())
	b.Encrypt(out, out)
	return out[:checkValueSize], nil
}

func kcvSHA1(v []byte) ([]byte, error) {
	h := sha1.Sum(v)
	return h[:checkValueSize], nil
}

func noReauthentication(v []byte) error {
	if isTrue(v) {
		return fmt.Errorf("this token does not implement per-use re-authentication (C_Login with CKU_CONTEXT_SPECIFIC), so no key can require it")
	}
	return nil
}

// x509Certificate accepts what crypto/x509 parses as one DER certificate, nothing after it.
func x509Certificate(v []byte) error {
	if len(v) == 0 {
		return fmt.Errorf("this token stores the certificate itself: the value must not be empty")
	}
	if _, err := x509.ParseCertificate(v); err != nil {
		return fmt.Errorf("not an X.509 certificate: %v", err)
	}
	return nil
}

func atMost(n uint64) func([]byte) error {
	return func(v []byte) error {
		if x := ulong(v); x > n {
			return fmt.Errorf("%d is not one of the values 0 to %d the spec defines", x, n)
		}
		return nil
	}
}

func digestMechanism(v []byte) error {
	switch ulong(v) {
	case p11.CKM_SHA_1, p11.CKM_SHA224, p11.CKM_SHA256, p11.CKM_SHA384, p11.CKM_SHA512:
		return nil
	}
	return fmt.Errorf("mechanism %#x is not a digest this token knows", ulong(v))
}

func nonZero(v []byte) error {
	if ulong(v) == 0 {
		return fmt.Errorf("must not be zero")
	}
	return nil
}
