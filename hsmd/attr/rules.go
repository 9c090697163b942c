package attr

// The exported functions below are the API the rest of hsmsim codes against. They hold no rules
// of their own about particular attributes (beyond CKA_CLASS / CKA_KEY_TYPE, which choose the
// rows, and the token-derived attributes Complete computes): they walk the table in table.go.

import (
	"bytes"
	"encoding/binary"
	"maps"
	"slices"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// NewObject validates tmpl for op and returns the new object's attributes with the spec's
// defaults applied (CKA_TOKEN false, CKA_PRIVATE true for keys and data objects and false for
// certificates, CKA_MODIFIABLE true, CKA_SENSITIVE false for secret keys, ... as the table says). Data objects and
// certificates come from OpCreate only. A value the token derives that the template states (a
// CKA_CHECK_VALUE beside its CKA_VALUE) must agree. implied holds what the call itself fixes: for
// OpGenerate the class and key type the mechanism makes (CKO_SECRET_KEY + CKK_AES for
// CKM_AES_KEY_GEN); a template value that contradicts it is CKR_TEMPLATE_INCONSISTENT.
// Errors: CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_VALUE_INVALID, CKR_ATTRIBUTE_READ_ONLY,
// CKR_TEMPLATE_INCONSISTENT, CKR_TEMPLATE_INCOMPLETE, with the offending attribute named.
//
// The result is not yet a whole object: key material and the attributes the token derives are
// added by Complete. CKR_ARGUMENTS_BAD means op is OpCopy or unknown (use Copy).
func NewObject(op Op, tmpl []Attribute, implied Set) (Set, error) {
	bit := opBit(op)
	if bit == 0 {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "NewObject does not take op %d", op)
	}
	given, err := parseTemplate(tmpl)
	if err != nil {
		return nil, err
	}
	obj := make(Set, len(given)+len(implied))
	for t, v := range given {
		obj[t] = v
	}
	// implied is the call's own word; it is checked for encoding like a template but may hold
	// attributes a template may not (a mechanism may fix a length on derive, say).
	for _, t := range slices.Sorted(maps.Keys(implied)) {
		v, err := canonical(t, implied[t])
		if err != nil {
			return nil, err
		}
		if g, ok := given[t]; ok && !bytes.Equal(g, v) {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "%s contradicts what the call implies", p11.AttrName(t))
		}
		obj[t] = v
	}

	sh, err := resolveShape(obj)
	if err != nil {
		return nil, err
	}
	if sh&(shData|shCert) != 0 && op != OpCreate {
		return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_CLASS: only C_CreateObject makes data objects and certificates")
	}

	// Template attributes in the order the application gave them, so the first bad one is named.
	for _, a := range tmpl {
		r := lookup(a.Type, sh)
		if r == nil {
			return nil, notForShape(a.Type)
		}
		if r.deny&bit != 0 {
			return nil, p11.Errorf(p11.CKR_ATTRIBUTE_READ_ONLY, "%s is set by the token, not by this call's template", p11.AttrName(a.Type))
		}
		if err := checkValue(r, obj[a.Type]); err != nil {
			return nil, err
		}
	}
	for _, t := range slices.Sorted(maps.Keys(implied)) {
		r := lookup(t, sh)
		if r == nil {
			return nil, notForShape(t)
		}
		if err := checkValue(r, obj[t]); err != nil {
			return nil, err
		}
	}
	// A value the token derives that the template states must already agree with its source
	// when the template holds that too (a create template's CKA_CHECK_VALUE and CKA_VALUE).
	if err := derive(obj, sh, false); err != nil {
		return nil, err
	}

	for i := range table {
		r := &table[i]
		if r.shapes&sh == 0 {
			continue
		}
		if _, ok := obj[r.t]; ok {
			continue
		}
		if r.req&bit != 0 {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "%s is required", p11.AttrName(r.t))
		}
		if d := r.defaultFor(sh); d != nil {
			obj[r.t] = append([]byte{}, d...)
		}
	}
	if err := checkCross(obj, sh); err != nil {
		return nil, err
	}
	return obj, nil
}

// Complete adds the key material (for OpGenerate, OpUnwrap, OpDerive) and the attributes the
// token derives (CKA_LOCAL, CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_KEY_GEN_MECHANISM
// = genMech, or CK_UNAVAILABLE_INFORMATION), and checks the object is whole.
//
// Contract details:
//   - material may hold only key data (CKA_VALUE, CKA_VALUE_LEN, CKA_MODULUS,
//     CKA_PUBLIC_EXPONENT, the RSA private components, CKA_EC_PARAMS, CKA_EC_POINT); a value
//     that obj already holds must be equal (CKR_TEMPLATE_INCONSISTENT). A private key's half of a
//     generated pair must carry the public values it shares (RSA modulus and exponent, EC params).
//   - For OpDerive, material may also carry the base key's CKA_ALWAYS_SENSITIVE and
//     CKA_NEVER_EXTRACTABLE: C_DeriveKey makes the derived key's values false when the base
//     key's are. Absent, they count as false: the token never claims a history it cannot vouch for.
//   - CKA_LOCAL is true only for OpGenerate; OpCopy keeps obj's values of all four derived
//     attributes. CKA_KEY_GEN_MECHANISM is genMech for OpGenerate and OpDerive.
//   - CKA_VALUE_LEN of a secret key and CKA_MODULUS_BITS of an RSA public key are computed from
//     the material (CKR_TEMPLATE_INCONSISTENT if the template asked for something else), and
//     CKA_CHECK_VALUE of a secret key or certificate from CKA_VALUE
//     (CKR_ATTRIBUTE_VALUE_INVALID if the template stated another).
//
// obj and material are not modified.
func Complete(op Op, obj Set, material Set, genMech uint64) (Set, error) {
	if op != OpCopy && opBit(op) == 0 {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "Complete does not take op %d", op)
	}
	out := obj.Clone()
	sh, err := resolveShape(out)
	if err != nil {
		return nil, err
	}

	baseSensitive, baseNeverExtractable := false, false
	for _, t := range slices.Sorted(maps.Keys(material)) {
		v, err := canonical(t, material[t])
		if err != nil {
			return nil, err
		}
		if op == OpDerive && sh&(shSecret|shPriv) != 0 {
			switch t {
			case p11.CKA_ALWAYS_SENSITIVE:
				baseSensitive = v[0] == 1
				continue
			case p11.CKA_NEVER_EXTRACTABLE:
				baseNeverExtractable = v[0] == 1
				continue
			}
		}
		r := lookup(t, sh)
		if r == nil {
			return nil, notForShape(t)
		}
		if !r.keyData {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "%s is not key material", p11.AttrName(t))
		}
		if err := checkValue(r, v); err != nil {
			return nil, err
		}
		if cur, ok := out[t]; ok && !sameValue(r.kind, cur, v) {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "%s: the template asked for a value the key does not have", p11.AttrName(t))
		}
		out[t] = v
	}

	if sh&shKey != 0 {
		switch op {
		case OpCopy:
			// A copy inherits the source's history (a copy of a local key is local).
			setIfAbsent(out, p11.CKA_LOCAL, Bool(false))
			setIfAbsent(out, p11.CKA_KEY_GEN_MECHANISM, Ulong(p11.CK_UNAVAILABLE_INFORMATION))
		case OpGenerate, OpDerive:
			out[p11.CKA_LOCAL] = Bool(op == OpGenerate)
			out[p11.CKA_KEY_GEN_MECHANISM] = Ulong(genMech)
		default:
			out[p11.CKA_LOCAL] = Bool(false)
			out[p11.CKA_KEY_GEN_MECHANISM] = Ulong(p11.CK_UNAVAILABLE_INFORMATION)
		}
	}
	if sh&(shSecret|shPriv) != 0 {
		sensitive, _ := out.Bool(p11.CKA_SENSITIVE)
		extractable, ok := out.Bool(p11.CKA_EXTRACTABLE)
		if !ok {
			extractable = true // the table's default; only a hand-built obj lacks it
		}
		switch op {
		case OpGenerate:
			out[p11.CKA_ALWAYS_SENSITIVE] = Bool(sensitive)
			out[p11.CKA_NEVER_EXTRACTABLE] = Bool(!extractable)
		case OpDerive:
			out[p11.CKA_ALWAYS_SENSITIVE] = Bool(sensitive && baseSensitive)
			out[p11.CKA_NEVER_EXTRACTABLE] = Bool(!extractable && baseNeverExtractable)
		case OpCopy:
			setIfAbsent(out, p11.CKA_ALWAYS_SENSITIVE, Bool(false))
			setIfAbsent(out, p11.CKA_NEVER_EXTRACTABLE, Bool(false))
		default:
			// Created or unwrapped material has been outside the token: no history to claim.
			out[p11.CKA_ALWAYS_SENSITIVE] = Bool(false)
			out[p11.CKA_NEVER_EXTRACTABLE] = Bool(false)
		}
	}
	if err := derive(out, sh, true); err != nil {
		return nil, err
	}
	if err := checkCross(out, sh); err != nil {
		return nil, err
	}

	// Whole: an object has every attribute its class and key type define.
	for i := range table {
		r := &table[i]
		if r.shapes&sh == 0 {
			continue
		}
		if _, ok := out[r.t]; !ok {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "%s is missing", p11.AttrName(r.t))
		}
	}
	return out, nil
}

// Copy is C_CopyObject: a copy of src changed by tmpl, within what the spec lets a copy change.
//
// A copy may change what C_SetAttributeValue may change (footnote 8, sticky ones only in their
// allowed direction) plus CKA_TOKEN, CKA_PRIVATE, CKA_MODIFIABLE and CKA_DESTROYABLE; anything
// else is CKR_ATTRIBUTE_READ_ONLY. CKA_COPYABLE false on src is CKR_ACTION_PROHIBITED.
// CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL and CKA_KEY_GEN_MECHANISM are the
// source's: raising SENSITIVE or lowering EXTRACTABLE on a copy does not rewrite its history.
// src is not modified.
func Copy(src Set, tmpl []Attribute) (Set, error) {
	if c, ok := src.Bool(p11.CKA_COPYABLE); ok && !c {
		return nil, p11.Errorf(p11.CKR_ACTION_PROHIBITED, "CKA_COPYABLE is false")
	}
	return applyChange(src, tmpl, true)
}

// Modify is C_SetAttributeValue: obj changed by tmpl, or the error (CKR_ACTION_PROHIBITED when
// CKA_MODIFIABLE is false, CKR_ATTRIBUTE_READ_ONLY for attributes that cannot change or sticky
// ones moved the wrong way, ...). obj is not modified.
func Modify(obj Set, tmpl []Attribute) (Set, error) {
	if m, ok := obj.Bool(p11.CKA_MODIFIABLE); ok && !m {
		return nil, p11.Errorf(p11.CKR_ACTION_PROHIBITED, "CKA_MODIFIABLE is false")
	}
	return applyChange(obj, tmpl, false)
}

// applyChange is Copy and Modify: the table's change column decides.
func applyChange(obj Set, tmpl []Attribute, copying bool) (Set, error) {
	given, err := parseTemplate(tmpl)
	if err != nil {
		return nil, err
	}
	sh, err := resolveShape(obj)
	if err != nil {
		return nil, err
	}
	out := obj.Clone()
	for _, a := range tmpl {
		r := lookup(a.Type, sh)
		if r == nil {
			return nil, notForShape(a.Type)
		}
		v := given[a.Type]
		if err := checkValue(r, v); err != nil {
			return nil, err
		}
		cur, ok := obj[a.Type]
		if !ok {
			cur = r.defaultFor(sh)
		}
		if err := allowed(r, cur, v, copying); err != nil {
			return nil, err
		}
		out[a.Type] = v
	}
	return out, nil
}

// allowed applies a row's change rule to a move from cur to v.
func allowed(r *rule, cur, v []byte, copying bool) error {
	name := p11.AttrName(r.t)
	switch r.change {
	case chFree:
		return nil
	case chCopy:
		if copying {
			return nil
		}
		return p11.Errorf(p11.CKR_ATTRIBUTE_READ_ONLY, "%s can change only on a copy", name)
	case chToTrue:
		if isTrue(cur) && !isTrue(v) {
			return p11.Errorf(p11.CKR_ATTRIBUTE_READ_ONLY, "%s cannot go back to false", name)
		}
		return nil
	case chToFalse:
		if cur != nil && !isTrue(cur) && isTrue(v) {
			return p11.Errorf(p11.CKR_ATTRIBUTE_READ_ONLY, "%s cannot go back to true", name)
		}
		return nil
	}
	return p11.Errorf(p11.CKR_ATTRIBUTE_READ_ONLY, "%s cannot change once the object exists", name)
}

// Read is one attribute of C_GetAttributeValue: the value, or CKR_ATTRIBUTE_SENSITIVE (key
// material of a sensitive or non-extractable key) or CKR_ATTRIBUTE_TYPE_INVALID.
// The value returned is a copy.
func Read(obj Reader, t uint32) ([]byte, error) {
	v, ok := obj.Get(t)
	if !ok {
		return nil, p11.Errorf(p11.CKR_ATTRIBUTE_TYPE_INVALID, "the object has no %s", p11.AttrName(t))
	}
	if isMaterial(obj, t) && protected(obj) {
		return nil, p11.Errorf(p11.CKR_ATTRIBUTE_SENSITIVE, "%s of a sensitive or unextractable key", p11.AttrName(t))
	}
	return append([]byte{}, v...), nil
}

// Match reports whether obj has every attribute of tmpl with an equal value (C_FindObjects).
// Key material that Read would refuse never matches: a search must not become an oracle for
// a value the application may not read.
func Match(obj Reader, tmpl []Attribute) bool {
	for _, a := range tmpl {
		v, ok := obj.Get(a.Type)
		if !ok {
			return false
		}
		want := a.Value
		if k, ok := known(a.Type); ok && k == kBool && len(want) == 1 {
			want = Bool(want[0] != 0) // C's CK_BBOOL true is any non-zero byte
		}
		if !bytes.Equal(v, want) {
			return false
		}
		if isMaterial(obj, a.Type) && protected(obj) {
			return false
		}
	}
	return true
}

// Split separates key material (CKA_VALUE of secret and private keys, the RSA private
// components) from the rest, so the material can be wrapped in commands and sealed at rest.
// Both halves are copies; together they are obj, and no type is in both.
func Split(obj Set) (public, material Set) {
	public, material = Set{}, Set{}
	for t, v := range obj {
		c := append([]byte{}, v...)
		if isMaterial(obj, t) {
			material[t] = c
		} else {
			public[t] = c
		}
	}
	return public, material
}

// Permits returns CKR_KEY_FUNCTION_NOT_PERMITTED unless obj has usage (CKA_SIGN, CKA_ENCRYPT,
// CKA_WRAP, ...) set to true, and CKR_KEY_TYPE_INCONSISTENT if obj is not a key at all.
func Permits(obj Reader, usage uint32) error {
	class, ok := obj.Ulong(p11.CKA_CLASS)
	if !ok || (class != p11.CKO_SECRET_KEY && class != p11.CKO_PUBLIC_KEY && class != p11.CKO_PRIVATE_KEY) {
		return p11.Errorf(p11.CKR_KEY_TYPE_INCONSISTENT, "the object is not a key")
	}
	if v, ok := obj.Bool(usage); !ok || !v {
		return p11.Errorf(p11.CKR_KEY_FUNCTION_NOT_PERMITTED, "%s is not true on this key", p11.AttrName(usage))
	}
	return nil
}

// --- helpers ---

// parseTemplate turns a template into canonical values without touching it: unknown types are
// CKR_ATTRIBUTE_TYPE_INVALID, bad encodings CKR_ATTRIBUTE_VALUE_INVALID, and a type given twice
// with different values CKR_TEMPLATE_INCONSISTENT.
func parseTemplate(tmpl []Attribute) (Set, error) {
	s := make(Set, len(tmpl))
	for _, a := range tmpl {
		v, err := canonical(a.Type, a.Value)
		if err != nil {
			return nil, err
		}
		if prev, dup := s[a.Type]; dup && !bytes.Equal(prev, v) {
			return nil, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "%s is given twice with different values", p11.AttrName(a.Type))
		}
		s[a.Type] = v
	}
	return s, nil
}

// canonical checks v's encoding for t and returns a fresh canonical copy (bools become 0 or 1).
func canonical(t uint32, v []byte) ([]byte, error) {
	k, ok := known(t)
	if !ok {
		return nil, p11.Errorf(p11.CKR_ATTRIBUTE_TYPE_INVALID, "%s is not an attribute this token knows", p11.AttrName(t))
	}
	name := p11.AttrName(t)
	switch k {
	case kBool:
		if len(v) != 1 {
			return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s is a CK_BBOOL (1 byte), got %d bytes", name, len(v))
		}
		return Bool(v[0] != 0), nil
	case kUlong:
		if len(v) != 8 {
			return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s is a CK_ULONG (8 bytes), got %d bytes", name, len(v))
		}
	case kDate:
		if len(v) != 0 && len(v) != 8 {
			return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s is a CK_DATE (8 bytes or empty), got %d bytes", name, len(v))
		}
	}
	return append([]byte{}, v...), nil
}

// checkValue runs the row's own value check on a canonical value.
func checkValue(r *rule, v []byte) error {
	if r.check == nil {
		return nil
	}
	if err := r.check(v); err != nil {
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s: %v", p11.AttrName(r.t), err)
	}
	return nil
}

// resolveShape reads CKA_CLASS and CKA_KEY_TYPE of a (canonical) set.
func resolveShape(s Reader) (shape, error) {
	if _, ok := s.Get(p11.CKA_CLASS); !ok {
		return shNone, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_CLASS is required")
	}
	class, ok := s.Ulong(p11.CKA_CLASS)
	if !ok {
		return shNone, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_CLASS is not a CK_ULONG")
	}
	switch class {
	case p11.CKO_DATA:
		if _, has := s.Get(p11.CKA_KEY_TYPE); has {
			return shNone, notForShape(p11.CKA_KEY_TYPE)
		}
		return shData, nil
	case p11.CKO_CERTIFICATE:
		return certShape(s)
	case p11.CKO_SECRET_KEY, p11.CKO_PUBLIC_KEY, p11.CKO_PRIVATE_KEY:
	default:
		return shNone, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_CLASS %#x is not an object class this token stores", class)
	}
	if _, has := s.Get(p11.CKA_KEY_TYPE); !has {
		return shNone, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_KEY_TYPE is required for a key")
	}
	kt, ok := s.Ulong(p11.CKA_KEY_TYPE)
	if !ok {
		return shNone, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_KEY_TYPE is not a CK_ULONG")
	}
	switch kt {
	case p11.CKK_AES, p11.CKK_GENERIC_SECRET, p11.CKK_DES3, p11.CKK_DES, p11.CKK_RSA, p11.CKK_EC, p11.CKK_EC_EDWARDS:
	default:
		return shNone, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_KEY_TYPE %#x is not a key type this token supports", kt)
	}
	sh := shapeOf(class, kt, true)
	if sh == shNone {
		return shNone, p11.Errorf(p11.CKR_TEMPLATE_INCONSISTENT, "CKA_KEY_TYPE %#x does not go with CKA_CLASS %#x", kt, class)
	}
	return sh, nil
}

// certShape reads CKA_CERTIFICATE_TYPE (§4.6.2 footnote 1) of a certificate: only X.509 public
// key certificates are in scope.
func certShape(s Reader) (shape, error) {
	if _, has := s.Get(p11.CKA_KEY_TYPE); has {
		return shNone, notForShape(p11.CKA_KEY_TYPE)
	}
	if _, has := s.Get(p11.CKA_CERTIFICATE_TYPE); !has {
		return shNone, p11.Errorf(p11.CKR_TEMPLATE_INCOMPLETE, "CKA_CERTIFICATE_TYPE is required for a certificate")
	}
	ct, ok := s.Ulong(p11.CKA_CERTIFICATE_TYPE)
	if !ok {
		return shNone, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_CERTIFICATE_TYPE is not a CK_ULONG")
	}
	if ct != p11.CKC_X_509 {
		return shNone, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_CERTIFICATE_TYPE %#x: this token stores X.509 public key certificates (CKC_X_509) only", ct)
	}
	return shCert, nil
}

// notForShape is the error for a known attribute that the object's class or key type lacks.
func notForShape(t uint32) error {
	if _, ok := known(t); !ok {
		return p11.Errorf(p11.CKR_ATTRIBUTE_TYPE_INVALID, "%s is not an attribute this token knows", p11.AttrName(t))
	}
	return p11.Errorf(p11.CKR_ATTRIBUTE_TYPE_INVALID, "%s is not an attribute of this class or key type", p11.AttrName(t))
}

// isMaterial reports whether t is key material (footnote 7) on obj. When obj's shape cannot be
// told, any type that is material for some key counts, unless obj is plainly a data object or a
// certificate, which hold none.
func isMaterial(obj Reader, t uint32) bool {
	// A type that is material for no shape is not material here either, whatever obj's shape:
	// deciding that first spares reading the shape (four lookups) for the attributes a find
	// names (CKA_LABEL, CKA_CLASS, ...), which run on every candidate object.
	if !secretAnywhere(t) {
		return false
	}
	sh, err := resolveShape(obj)
	if err != nil {
		if c, ok := obj.Ulong(p11.CKA_CLASS); ok && (c == p11.CKO_DATA || c == p11.CKO_CERTIFICATE) {
			return false
		}
		return secretAnywhere(t)
	}
	r := lookup(t, sh)
	return r != nil && r.secret
}

// protected reports whether obj's material must not be revealed: SENSITIVE true or EXTRACTABLE
// false. A missing EXTRACTABLE counts as false, so a damaged object hides rather than leaks.
func protected(obj Reader) bool {
	if s, _ := obj.Bool(p11.CKA_SENSITIVE); s {
		return true
	}
	e, ok := obj.Bool(p11.CKA_EXTRACTABLE)
	return !ok || !e
}

// derive computes, for every row of shape sh the token derives (table's derived), the value
// from its source attribute when s holds that source. A value s already holds must agree (the
// row's mismatch code); fill adds the ones s lacks.
func derive(s Set, sh shape, fill bool) error {
	for i := range table {
		r := &table[i]
		if r.shapes&sh == 0 || r.derived == nil {
			continue
		}
		src, ok := s[r.derived.from]
		if !ok {
			continue
		}
		v, err := r.derived.compute(src)
		if err != nil {
			return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s: %v", p11.AttrName(r.derived.from), err)
		}
		if cur, ok := s[r.t]; ok {
			if !sameValue(r.kind, cur, v) {
				return p11.Errorf(r.derived.mismatch, "%s does not agree with %s", p11.AttrName(r.t), p11.AttrName(r.derived.from))
			}
			continue
		}
		if fill {
			s[r.t] = v
		}
	}
	return nil
}

// checkCross applies the table's crossRules for shape sh.
func checkCross(s Set, sh shape) error {
	for _, c := range crossRules {
		if c.shapes&sh == 0 {
			continue
		}
		if err := c.check(s); err != nil {
			return err
		}
	}
	return nil
}

func setIfAbsent(s Set, t uint32, v []byte) {
	if _, ok := s[t]; !ok {
		s[t] = v
	}
}

// sameValue compares two canonical values of one kind. Big integers compare as numbers, so a
// template's 0x00010001 agrees with the generator's 0x010001.
func sameValue(k kind, a, b []byte) bool {
	if k == kBig {
		return bytes.Equal(bytes.TrimLeft(a, "\x00"), bytes.TrimLeft(b, "\x00"))
	}
	return bytes.Equal(a, b)
}

func isTrue(v []byte) bool { return len(v) == 1 && v[0] != 0 }

func ulong(v []byte) uint64 {
	if len(v) != 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(v)
}
