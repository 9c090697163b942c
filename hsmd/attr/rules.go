package attr

// CONTRACT STUB: the functions below are the API the rest of hsmsim codes against; the rule
// table that implements them replaces these bodies.

import "github.com/hsmsim/hsmsim/hsmd/p11"

// NewObject validates tmpl for op and returns the new object's attributes with the spec's
// defaults applied (CKA_TOKEN false, CKA_PRIVATE true, CKA_MODIFIABLE true, CKA_SENSITIVE false,
// CKA_EXTRACTABLE true for... as the table says). implied holds what the call itself fixes: for
// OpGenerate the class and key type the mechanism makes (CKO_SECRET_KEY + CKK_AES for
// CKM_AES_KEY_GEN); a template value that contradicts it is CKR_TEMPLATE_INCONSISTENT.
// Errors: CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID, CKR_ATTRIBUTE_READ_ONLY,
// CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCOMPLETE, with the offending attribute named.
func NewObject(op Op, tmpl []Attribute, implied Set) (Set, error) {
	return nil, p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED)
}

// Complete adds the key material (for OpGenerate, OpUnwrap, OpDerive) and the attributes the
// token derives (CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_KEY_GEN_MECHANISM
// = genMech, or CK_UNAVAILABLE_INFORMATION), and checks the object is whole.
func Complete(op Op, obj Set, material Set, genMech uint64) (Set, error) {
	return nil, p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED)
}

// Copy is C_CopyObject: a copy of src changed by tmpl, within what the spec lets a copy change.
func Copy(src Set, tmpl []Attribute) (Set, error) {
	return nil, p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED)
}

// Modify is C_SetAttributeValue: obj changed by tmpl, or the error (CKR_ACTION_PROHIBITED when
// CKA_MODIFIABLE is false, CKR_ATTRIBUTE_READ_ONLY for attributes that cannot change or sticky
// ones moved the wrong way, ...). obj is not modified.
func Modify(obj Set, tmpl []Attribute) (Set, error) {
	return nil, p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED)
}

// Read is one attribute of C_GetAttributeValue: the value, or CKR_ATTRIBUTE_SENSITIVE (key
// material of a sensitive or non-extractable key) or CKR_ATTRIBUTE_TYPE_INVALID.
func Read(obj Set, t uint32) ([]byte, error) {
	return nil, p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED)
}

// Match reports whether obj has every attribute of tmpl with an equal value (C_FindObjects).
func Match(obj Set, tmpl []Attribute) bool { return false }

// Split separates key material (CKA_VALUE of secret and private keys, the RSA private
// components) from the rest, so the material can be wrapped in commands and sealed at rest.
func Split(obj Set) (public, material Set) { return obj, Set{} }

// Permits returns CKR_KEY_FUNCTION_NOT_PERMITTED unless obj has usage (CKA_SIGN, CKA_ENCRYPT,
// CKA_WRAP, ...) set to true, and CKR_KEY_TYPE_INCONSISTENT if obj is not a key at all.
func Permits(obj Set, usage uint32) error { return p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED) }
