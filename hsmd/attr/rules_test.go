package attr

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Template builders: each returns one attribute in canonical encoding.

func at(t uint32, v []byte) Attribute { return Attribute{Type: t, Value: v} }
func ab(t uint32, v bool) Attribute   { return at(t, Bool(v)) }
func au(t uint32, v uint64) Attribute { return at(t, Ulong(v)) }
func class(c uint64) Attribute        { return au(p11.CKA_CLASS, c) }
func keyType(k uint64) Attribute      { return au(p11.CKA_KEY_TYPE, k) }

func rep(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// modulus2048 has its top bit set, so CKA_MODULUS_BITS is 2048.
var modulus2048 = append([]byte{0xC5}, rep(0x11, 255)...)

// Complete templates for C_CreateObject, one per shape.
func aesCreate() []Attribute {
	return []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), at(p11.CKA_VALUE, rep(0xA1, 16))}
}
func genericCreate() []Attribute {
	return []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_GENERIC_SECRET), at(p11.CKA_VALUE, rep(0xB2, 48))}
}
func rsaPubCreate() []Attribute {
	return []Attribute{class(p11.CKO_PUBLIC_KEY), keyType(p11.CKK_RSA),
		at(p11.CKA_MODULUS, modulus2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})}
}

var rsaPrivComponents = []uint32{p11.CKA_PRIVATE_EXPONENT, p11.CKA_PRIME_1, p11.CKA_PRIME_2,
	p11.CKA_EXPONENT_1, p11.CKA_EXPONENT_2, p11.CKA_COEFFICIENT}

func rsaPrivCreate() []Attribute {
	l := []Attribute{class(p11.CKO_PRIVATE_KEY), keyType(p11.CKK_RSA),
		at(p11.CKA_MODULUS, modulus2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})}
	for i, t := range rsaPrivComponents {
		l = append(l, at(t, rep(byte(0x30+i), 128)))
	}
	return l
}

var p256 = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func ecPubCreate() []Attribute {
	return []Attribute{class(p11.CKO_PUBLIC_KEY), keyType(p11.CKK_EC),
		at(p11.CKA_EC_PARAMS, p256), at(p11.CKA_EC_POINT, append([]byte{0x04, 0x41, 0x04}, rep(0x22, 64)...))}
}
func ecPrivCreate() []Attribute {
	return []Attribute{class(p11.CKO_PRIVATE_KEY), keyType(p11.CKK_EC),
		at(p11.CKA_EC_PARAMS, p256), at(p11.CKA_VALUE, rep(0x33, 32))}
}
func dataCreate() []Attribute {
	return []Attribute{class(p11.CKO_DATA), at(p11.CKA_LABEL, []byte("note"))}
}

// with returns l plus extra; without returns l minus every attribute of type t.
func with(l []Attribute, extra ...Attribute) []Attribute {
	return append(append([]Attribute{}, l...), extra...)
}
func without(l []Attribute, t uint32) []Attribute {
	var out []Attribute
	for _, a := range l {
		if a.Type != t {
			out = append(out, a)
		}
	}
	return out
}

func set(l ...Attribute) Set {
	s := Set{}
	for _, a := range l {
		s[a.Type] = a.Value
	}
	return s
}

var (
	impliedAES     = set(class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES))
	impliedGeneric = set(class(p11.CKO_SECRET_KEY), keyType(p11.CKK_GENERIC_SECRET))
	impliedRSAPub  = set(class(p11.CKO_PUBLIC_KEY), keyType(p11.CKK_RSA))
	impliedRSAPriv = set(class(p11.CKO_PRIVATE_KEY), keyType(p11.CKK_RSA))
	impliedECPub   = set(class(p11.CKO_PUBLIC_KEY), keyType(p11.CKK_EC))
	impliedECPriv  = set(class(p11.CKO_PRIVATE_KEY), keyType(p11.CKK_EC))
)

func wantCode(t *testing.T, err error, want uint32) {
	t.Helper()
	if got := p11.Code(err); got != want {
		t.Fatalf("code = %s (%v), want %s", p11.RVName(got), err, p11.RVName(want))
	}
}

type newObjectCase struct {
	name    string
	op      Op
	tmpl    []Attribute
	implied Set
	code    uint32            // CKR_OK for success
	want    map[uint32][]byte // on success: attributes that must hold exactly these values
	absent  []uint32          // on success: attributes that must not be there
}

func TestNewObject(t *testing.T) {
	empty := []byte{}
	cases := []newObjectCase{
		// Defaults, per shape.
		{name: "aes create defaults", op: OpCreate, tmpl: aesCreate(), want: map[uint32][]byte{
			p11.CKA_TOKEN: Bool(false), p11.CKA_PRIVATE: Bool(true), p11.CKA_MODIFIABLE: Bool(true),
			p11.CKA_COPYABLE: Bool(true), p11.CKA_DESTROYABLE: Bool(true), p11.CKA_LABEL: empty,
			p11.CKA_ID: empty, p11.CKA_START_DATE: empty, p11.CKA_END_DATE: empty,
			p11.CKA_SENSITIVE: Bool(false), p11.CKA_EXTRACTABLE: Bool(true), p11.CKA_DERIVE: Bool(false),
			p11.CKA_ENCRYPT: Bool(true), p11.CKA_DECRYPT: Bool(true), p11.CKA_SIGN: Bool(true),
			p11.CKA_VERIFY: Bool(true), p11.CKA_WRAP: Bool(true), p11.CKA_UNWRAP: Bool(true),
			p11.CKA_WRAP_WITH_TRUSTED: Bool(false), p11.CKA_TRUSTED: Bool(false),
			p11.CKA_VALUE: rep(0xA1, 16)},
			absent: []uint32{p11.CKA_LOCAL, p11.CKA_ALWAYS_SENSITIVE, p11.CKA_NEVER_EXTRACTABLE,
				p11.CKA_KEY_GEN_MECHANISM, p11.CKA_VALUE_LEN, p11.CKA_SIGN_RECOVER, p11.CKA_SUBJECT, p11.CKA_CHECK_VALUE,
				p11.CKA_ALWAYS_AUTHENTICATE}},
		{name: "generic create: only MAC usage defaults true", op: OpCreate, tmpl: genericCreate(), want: map[uint32][]byte{
			p11.CKA_ENCRYPT: Bool(false), p11.CKA_DECRYPT: Bool(false), p11.CKA_SIGN: Bool(true),
			p11.CKA_VERIFY: Bool(true), p11.CKA_WRAP: Bool(false), p11.CKA_UNWRAP: Bool(false)}},
		{name: "rsa public create defaults", op: OpCreate, tmpl: rsaPubCreate(), want: map[uint32][]byte{
			p11.CKA_ENCRYPT: Bool(true), p11.CKA_VERIFY: Bool(true), p11.CKA_WRAP: Bool(true),
			p11.CKA_VERIFY_RECOVER: Bool(false), p11.CKA_TRUSTED: Bool(false), p11.CKA_SUBJECT: empty},
			absent: []uint32{p11.CKA_SENSITIVE, p11.CKA_EXTRACTABLE, p11.CKA_SIGN, p11.CKA_MODULUS_BITS, p11.CKA_WRAP_WITH_TRUSTED}},
		{name: "ec public create defaults", op: OpCreate, tmpl: ecPubCreate(), want: map[uint32][]byte{
			p11.CKA_ENCRYPT: Bool(false), p11.CKA_VERIFY: Bool(true), p11.CKA_WRAP: Bool(false)}},
		{name: "rsa private create defaults", op: OpCreate, tmpl: rsaPrivCreate(), want: map[uint32][]byte{
			p11.CKA_DECRYPT: Bool(true), p11.CKA_SIGN: Bool(true), p11.CKA_UNWRAP: Bool(true),
			p11.CKA_SIGN_RECOVER: Bool(false), p11.CKA_SENSITIVE: Bool(true), p11.CKA_EXTRACTABLE: Bool(true)},
			absent: []uint32{p11.CKA_ENCRYPT, p11.CKA_TRUSTED}},
		{name: "ec private create defaults", op: OpCreate, tmpl: ecPrivCreate(), want: map[uint32][]byte{
			p11.CKA_DECRYPT: Bool(false), p11.CKA_SIGN: Bool(true), p11.CKA_UNWRAP: Bool(false)}},
		{name: "data create defaults", op: OpCreate, tmpl: dataCreate(), want: map[uint32][]byte{
			p11.CKA_APPLICATION: empty, p11.CKA_OBJECT_ID: empty, p11.CKA_VALUE: empty,
			p11.CKA_LABEL: []byte("note"), p11.CKA_PRIVATE: Bool(true)},
			absent: []uint32{p11.CKA_KEY_TYPE, p11.CKA_ID, p11.CKA_SENSITIVE}},
		{name: "template overrides defaults", op: OpCreate,
			tmpl: with(aesCreate(), ab(p11.CKA_TOKEN, true), ab(p11.CKA_PRIVATE, false), ab(p11.CKA_SENSITIVE, true),
				ab(p11.CKA_EXTRACTABLE, false), ab(p11.CKA_ENCRYPT, false), at(p11.CKA_START_DATE, []byte("20250101"))),
			want: map[uint32][]byte{p11.CKA_TOKEN: Bool(true), p11.CKA_PRIVATE: Bool(false), p11.CKA_SENSITIVE: Bool(true),
				p11.CKA_EXTRACTABLE: Bool(false), p11.CKA_ENCRYPT: Bool(false), p11.CKA_START_DATE: []byte("20250101")}},
		{name: "a non-zero CK_BBOOL byte is stored as 1", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_ENCRYPT, []byte{7})),
			want: map[uint32][]byte{p11.CKA_ENCRYPT: {1}}},
		{name: "data object with application and value", op: OpCreate,
			tmpl: with(dataCreate(), at(p11.CKA_APPLICATION, []byte("app")), at(p11.CKA_VALUE, []byte("x"))),
			want: map[uint32][]byte{p11.CKA_APPLICATION: []byte("app"), p11.CKA_VALUE: []byte("x")}},

		// Generation, unwrap, derive.
		{name: "aes generate", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 32)}, implied: impliedAES,
			want:   map[uint32][]byte{p11.CKA_CLASS: Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: Ulong(p11.CKK_AES), p11.CKA_VALUE_LEN: Ulong(32)},
			absent: []uint32{p11.CKA_VALUE}},
		{name: "aes generate, template repeats implied class", op: OpGenerate,
			tmpl: []Attribute{class(p11.CKO_SECRET_KEY), au(p11.CKA_VALUE_LEN, 16)}, implied: impliedAES},
		{name: "generic generate 800 bytes", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 800)}, implied: impliedGeneric},
		{name: "generic generate 1 byte", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 1)}, implied: impliedGeneric},
		{name: "rsa public generate", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_MODULUS_BITS, 2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})}, implied: impliedRSAPub},
		{name: "rsa private generate", op: OpGenerate, tmpl: []Attribute{ab(p11.CKA_SENSITIVE, true)}, implied: impliedRSAPriv},
		{name: "ec public generate", op: OpGenerate, tmpl: []Attribute{at(p11.CKA_EC_PARAMS, p256)}, implied: impliedECPub},
		{name: "ec private generate", op: OpGenerate, tmpl: nil, implied: impliedECPriv},
		{name: "aes unwrap", op: OpUnwrap, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES)}},
		{name: "aes derive without length", op: OpDerive, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES)}},
		{name: "aes derive with length", op: OpDerive, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), au(p11.CKA_VALUE_LEN, 24)},
			want: map[uint32][]byte{p11.CKA_VALUE_LEN: Ulong(24)}},
		{name: "same attribute twice with one value", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_LABEL, []byte("a")), at(p11.CKA_LABEL, []byte("a"))),
			want: map[uint32][]byte{p11.CKA_LABEL: []byte("a")}},
		{name: "empty dates", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_END_DATE, nil))},

		// CKR_TEMPLATE_INCOMPLETE.
		{name: "no class", op: OpCreate, tmpl: without(aesCreate(), p11.CKA_CLASS), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "generate with nothing implied", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 16)}, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "key without key type", op: OpCreate, tmpl: without(aesCreate(), p11.CKA_KEY_TYPE), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "unwrap without key type", op: OpUnwrap, tmpl: []Attribute{class(p11.CKO_SECRET_KEY)}, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "aes create without value", op: OpCreate, tmpl: without(aesCreate(), p11.CKA_VALUE), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "generic create without value", op: OpCreate, tmpl: without(genericCreate(), p11.CKA_VALUE), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "aes generate without length", op: OpGenerate, implied: impliedAES, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "generic generate without length", op: OpGenerate, implied: impliedGeneric, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "rsa public without modulus", op: OpCreate, tmpl: without(rsaPubCreate(), p11.CKA_MODULUS), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "rsa public without exponent", op: OpCreate, tmpl: without(rsaPubCreate(), p11.CKA_PUBLIC_EXPONENT), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "rsa public generate without modulus bits", op: OpGenerate, implied: impliedRSAPub, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "rsa private without modulus", op: OpCreate, tmpl: without(rsaPrivCreate(), p11.CKA_MODULUS), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "rsa private without public exponent", op: OpCreate, tmpl: without(rsaPrivCreate(), p11.CKA_PUBLIC_EXPONENT), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "ec public without params", op: OpCreate, tmpl: without(ecPubCreate(), p11.CKA_EC_PARAMS), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "ec public without point", op: OpCreate, tmpl: without(ecPubCreate(), p11.CKA_EC_POINT), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "ec public generate without params", op: OpGenerate, implied: impliedECPub, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "ec private without params", op: OpCreate, tmpl: without(ecPrivCreate(), p11.CKA_EC_PARAMS), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "ec private without value", op: OpCreate, tmpl: without(ecPrivCreate(), p11.CKA_VALUE), code: p11.CKR_TEMPLATE_INCOMPLETE},

		// CKR_TEMPLATE_INCONSISTENT.
		{name: "class contradicts implied", op: OpGenerate, tmpl: []Attribute{class(p11.CKO_PUBLIC_KEY), au(p11.CKA_VALUE_LEN, 16)}, implied: impliedAES, code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "key type contradicts implied", op: OpGenerate, tmpl: []Attribute{keyType(p11.CKK_GENERIC_SECRET), au(p11.CKA_VALUE_LEN, 16)}, implied: impliedAES, code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "same attribute twice, two values", op: OpCreate, tmpl: with(aesCreate(), ab(p11.CKA_TOKEN, true), ab(p11.CKA_TOKEN, false)), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "aes public key", op: OpCreate, tmpl: []Attribute{class(p11.CKO_PUBLIC_KEY), keyType(p11.CKK_AES)}, code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "ec secret key", op: OpCreate, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_EC)}, code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "data object by generate", op: OpGenerate, tmpl: []Attribute{class(p11.CKO_DATA)}, code: p11.CKR_TEMPLATE_INCONSISTENT},

		// CKR_ATTRIBUTE_TYPE_INVALID.
		{name: "unknown type", op: OpCreate, tmpl: with(aesCreate(), at(0x7FFFFF00, nil)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "vendor type", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_VENDOR_DEFINED|1, nil)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "spec type the token lacks", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_ALLOWED_MECHANISMS, Ulong(p11.CKM_AES_GCM))), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "sensitive on a public key", op: OpCreate, tmpl: with(rsaPubCreate(), ab(p11.CKA_SENSITIVE, true)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "encrypt on a private key", op: OpCreate, tmpl: with(rsaPrivCreate(), ab(p11.CKA_ENCRYPT, true)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "modulus on an aes key", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_MODULUS, modulus2048)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "ec point on an rsa key", op: OpCreate, tmpl: with(rsaPubCreate(), at(p11.CKA_EC_POINT, []byte{4})), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "modulus bits on a private key", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_MODULUS_BITS, 2048)}, implied: impliedRSAPriv, code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "application on a key", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_APPLICATION, []byte("a"))), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "key type on a data object", op: OpCreate, tmpl: with(dataCreate(), keyType(p11.CKK_AES)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "key id on a data object", op: OpCreate, tmpl: with(dataCreate(), at(p11.CKA_ID, []byte{1})), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "value len on an rsa key", op: OpCreate, tmpl: with(rsaPubCreate(), au(p11.CKA_VALUE_LEN, 16)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "verify recover on a secret key", op: OpCreate, tmpl: with(aesCreate(), ab(p11.CKA_VERIFY_RECOVER, false)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},

		// CKR_ATTRIBUTE_VALUE_INVALID.
		{name: "class out of scope", op: OpCreate, tmpl: []Attribute{class(p11.CKO_HW_FEATURE)}, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "class not a CK_ULONG", op: OpCreate, tmpl: []Attribute{at(p11.CKA_CLASS, []byte{4, 0, 0, 0})}, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "key type out of scope", op: OpCreate, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_DES2)}, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "bool of two bytes", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_TOKEN, []byte{1, 0})), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "empty bool", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_SIGN, nil)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "ulong of four bytes", op: OpGenerate, tmpl: []Attribute{at(p11.CKA_VALUE_LEN, []byte{16, 0, 0, 0})}, implied: impliedAES, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "date of seven bytes", op: OpCreate, tmpl: with(aesCreate(), at(p11.CKA_START_DATE, []byte("2025010"))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "aes value 15 bytes", op: OpCreate, tmpl: with(without(aesCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, rep(1, 15))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "aes value 33 bytes", op: OpCreate, tmpl: with(without(aesCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, rep(1, 33))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "aes value len 20", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 20)}, implied: impliedAES, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "aes value len 0", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 0)}, implied: impliedAES, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "aes derive value len 8", op: OpDerive, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 8)}, implied: impliedAES, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "generic value len 0", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 0)}, implied: impliedGeneric, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "generic value len 801", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 801)}, implied: impliedGeneric, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "generic value 801 bytes", op: OpCreate, tmpl: with(without(genericCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, rep(1, 801))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "generic value empty", op: OpCreate, tmpl: with(without(genericCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, nil)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "empty modulus", op: OpCreate, tmpl: with(without(rsaPubCreate(), p11.CKA_MODULUS), at(p11.CKA_MODULUS, nil)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "empty ec params", op: OpGenerate, tmpl: []Attribute{at(p11.CKA_EC_PARAMS, nil)}, implied: impliedECPub, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "zero modulus bits", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_MODULUS_BITS, 0)}, implied: impliedRSAPub, code: p11.CKR_ATTRIBUTE_VALUE_INVALID},

		// CKR_ARGUMENTS_BAD: NewObject is not the copy path.
		{name: "copy op", op: OpCopy, tmpl: aesCreate(), code: p11.CKR_ARGUMENTS_BAD},
	}

	// CKR_ATTRIBUTE_READ_ONLY: what the token sets, per op.
	tokenSet := []Attribute{ab(p11.CKA_LOCAL, true), ab(p11.CKA_ALWAYS_SENSITIVE, true),
		ab(p11.CKA_NEVER_EXTRACTABLE, true), au(p11.CKA_KEY_GEN_MECHANISM, p11.CKM_AES_KEY_GEN)}
	for _, a := range tokenSet {
		for _, op := range []Op{OpCreate, OpGenerate, OpUnwrap, OpDerive} {
			tmpl := []Attribute{au(p11.CKA_VALUE_LEN, 16), a}
			if op == OpCreate {
				tmpl = with(aesCreate(), a)
			} else if op == OpUnwrap {
				tmpl = []Attribute{a}
			}
			cases = append(cases, newObjectCase{name: fmt.Sprintf("%s on op %d", p11.AttrName(a.Type), op),
				op: op, tmpl: tmpl, implied: impliedAES, code: p11.CKR_ATTRIBUTE_READ_ONLY})
		}
	}
	readOnly := []struct {
		name    string
		op      Op
		a       Attribute
		implied Set
	}{
		{"aes value on generate", OpGenerate, at(p11.CKA_VALUE, rep(1, 16)), impliedAES},
		{"aes value on unwrap", OpUnwrap, at(p11.CKA_VALUE, rep(1, 16)), impliedAES},
		{"aes value on derive", OpDerive, at(p11.CKA_VALUE, rep(1, 16)), impliedAES},
		{"generic value on generate", OpGenerate, at(p11.CKA_VALUE, rep(1, 16)), impliedGeneric},
		{"aes value len on unwrap", OpUnwrap, au(p11.CKA_VALUE_LEN, 16), impliedAES},
		{"generic value len on unwrap", OpUnwrap, au(p11.CKA_VALUE_LEN, 16), impliedGeneric},
		{"rsa modulus on public generate", OpGenerate, at(p11.CKA_MODULUS, modulus2048), impliedRSAPub},
		{"rsa modulus on private generate", OpGenerate, at(p11.CKA_MODULUS, modulus2048), impliedRSAPriv},
		{"rsa public exponent on private generate", OpGenerate, at(p11.CKA_PUBLIC_EXPONENT, []byte{3}), impliedRSAPriv},
		{"rsa private exponent on unwrap", OpUnwrap, at(p11.CKA_PRIVATE_EXPONENT, rep(1, 8)), impliedRSAPriv},
		{"ec point on generate", OpGenerate, at(p11.CKA_EC_POINT, []byte{4, 1}), impliedECPub},
		{"ec params on private generate", OpGenerate, at(p11.CKA_EC_PARAMS, p256), impliedECPriv},
		{"ec params on private unwrap", OpUnwrap, at(p11.CKA_EC_PARAMS, p256), impliedECPriv},
		{"ec private value on generate", OpGenerate, at(p11.CKA_VALUE, rep(1, 32)), impliedECPriv},
	}
	for _, c := range readOnly {
		tmpl := []Attribute{c.a}
		if c.implied[p11.CKA_KEY_TYPE] != nil && bytes.Equal(c.implied[p11.CKA_CLASS], Ulong(p11.CKO_SECRET_KEY)) && c.op == OpGenerate {
			tmpl = append(tmpl, au(p11.CKA_VALUE_LEN, 16))
		}
		cases = append(cases, newObjectCase{name: c.name, op: c.op, tmpl: tmpl, implied: c.implied, code: p11.CKR_ATTRIBUTE_READ_ONLY})
	}
	cases = append(cases,
		newObjectCase{name: "aes value len on create", op: OpCreate, tmpl: with(aesCreate(), au(p11.CKA_VALUE_LEN, 16)), code: p11.CKR_ATTRIBUTE_READ_ONLY},
		newObjectCase{name: "rsa modulus bits on create", op: OpCreate, tmpl: with(rsaPubCreate(), au(p11.CKA_MODULUS_BITS, 2048)), code: p11.CKR_ATTRIBUTE_READ_ONLY},
	)
	// Every RSA private component is required on create, and refused on generate.
	for _, ct := range rsaPrivComponents {
		cases = append(cases,
			newObjectCase{name: "rsa private create without " + p11.AttrName(ct), op: OpCreate,
				tmpl: without(rsaPrivCreate(), ct), code: p11.CKR_TEMPLATE_INCOMPLETE},
			newObjectCase{name: "rsa private generate with " + p11.AttrName(ct), op: OpGenerate,
				tmpl: []Attribute{at(ct, rep(1, 8))}, implied: impliedRSAPriv, code: p11.CKR_ATTRIBUTE_READ_ONLY},
			newObjectCase{name: "rsa private create with empty " + p11.AttrName(ct), op: OpCreate,
				tmpl: with(without(rsaPrivCreate(), ct), at(ct, nil)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID})
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := NewObject(c.op, c.tmpl, c.implied)
			wantCode(t, err, c.code)
			if c.code != p11.CKR_OK {
				if got != nil {
					t.Fatalf("an error came with a Set: %v", got)
				}
				return
			}
			for typ, v := range c.want {
				if !bytes.Equal(got[typ], v) {
					t.Errorf("%s = %x, want %x", p11.AttrName(typ), got[typ], v)
				}
				if _, ok := got[typ]; !ok {
					t.Errorf("%s missing", p11.AttrName(typ))
				}
			}
			for _, typ := range c.absent {
				if _, ok := got[typ]; ok {
					t.Errorf("%s present, want absent", p11.AttrName(typ))
				}
			}
		})
	}
}

// mustNew is NewObject + Complete, for tests that need a whole object.
func mustNew(t *testing.T, op Op, tmpl []Attribute, implied, material Set, mech uint64) Set {
	t.Helper()
	o, err := NewObject(op, tmpl, implied)
	if err != nil {
		t.Fatalf("NewObject: %v", err)
	}
	w, err := Complete(op, o, material, mech)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return w
}

func rsaPrivMaterial() Set {
	m := set(at(p11.CKA_MODULUS, modulus2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
	for i, ct := range rsaPrivComponents {
		m[ct] = rep(byte(0x30+i), 128)
	}
	return m
}

func TestComplete(t *testing.T) {
	unavailable := Ulong(p11.CK_UNAVAILABLE_INFORMATION)
	aes := rep(0x5A, 32)
	cases := []struct {
		name     string
		op       Op
		tmpl     []Attribute
		implied  Set
		material Set
		mech     uint64
		code     uint32
		want     map[uint32][]byte
	}{
		{name: "aes generate: local, history from the flags", op: OpGenerate,
			tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 32), ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, aes), au(p11.CKA_VALUE_LEN, 32)), mech: p11.CKM_AES_KEY_GEN,
			want: map[uint32][]byte{p11.CKA_LOCAL: Bool(true), p11.CKA_KEY_GEN_MECHANISM: Ulong(p11.CKM_AES_KEY_GEN),
				p11.CKA_ALWAYS_SENSITIVE: Bool(true), p11.CKA_NEVER_EXTRACTABLE: Bool(true), p11.CKA_VALUE: aes, p11.CKA_VALUE_LEN: Ulong(32)}},
		{name: "aes generate, not sensitive and extractable", op: OpGenerate,
			tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 32), ab(p11.CKA_SENSITIVE, false)}, implied: impliedAES, material: set(at(p11.CKA_VALUE, aes)), mech: p11.CKM_AES_KEY_GEN,
			want: map[uint32][]byte{p11.CKA_ALWAYS_SENSITIVE: Bool(false), p11.CKA_NEVER_EXTRACTABLE: Bool(false)}},
		{name: "aes create: no history, length computed", op: OpCreate,
			tmpl: with(aesCreate(), ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)), mech: p11.CKM_AES_KEY_GEN,
			want: map[uint32][]byte{p11.CKA_LOCAL: Bool(false), p11.CKA_KEY_GEN_MECHANISM: unavailable,
				p11.CKA_ALWAYS_SENSITIVE: Bool(false), p11.CKA_NEVER_EXTRACTABLE: Bool(false), p11.CKA_VALUE_LEN: Ulong(16)}},
		{name: "aes unwrap: not local, no history", op: OpUnwrap,
			tmpl: []Attribute{ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, aes)), mech: p11.CKM_AES_KEY_GEN,
			want: map[uint32][]byte{p11.CKA_LOCAL: Bool(false), p11.CKA_KEY_GEN_MECHANISM: unavailable,
				p11.CKA_ALWAYS_SENSITIVE: Bool(false), p11.CKA_NEVER_EXTRACTABLE: Bool(false), p11.CKA_VALUE_LEN: Ulong(32)}},
		{name: "derive from a protected base", op: OpDerive,
			tmpl: []Attribute{ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, aes), ab(p11.CKA_ALWAYS_SENSITIVE, true), ab(p11.CKA_NEVER_EXTRACTABLE, true)), mech: p11.CKM_ECDH1_DERIVE,
			want: map[uint32][]byte{p11.CKA_LOCAL: Bool(false), p11.CKA_KEY_GEN_MECHANISM: Ulong(p11.CKM_ECDH1_DERIVE),
				p11.CKA_ALWAYS_SENSITIVE: Bool(true), p11.CKA_NEVER_EXTRACTABLE: Bool(true)}},
		{name: "derive from an unprotected base", op: OpDerive,
			tmpl: []Attribute{ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, aes), ab(p11.CKA_ALWAYS_SENSITIVE, false), ab(p11.CKA_NEVER_EXTRACTABLE, false)), mech: p11.CKM_ECDH1_DERIVE,
			want: map[uint32][]byte{p11.CKA_ALWAYS_SENSITIVE: Bool(false), p11.CKA_NEVER_EXTRACTABLE: Bool(false)}},
		{name: "derive, base unknown", op: OpDerive,
			tmpl: []Attribute{ab(p11.CKA_SENSITIVE, true)}, implied: impliedAES, material: set(at(p11.CKA_VALUE, aes)), mech: p11.CKM_ECDH1_DERIVE,
			want: map[uint32][]byte{p11.CKA_ALWAYS_SENSITIVE: Bool(false), p11.CKA_NEVER_EXTRACTABLE: Bool(false)}},
		{name: "rsa public create: modulus bits computed", op: OpCreate, tmpl: rsaPubCreate(),
			want: map[uint32][]byte{p11.CKA_MODULUS_BITS: Ulong(2048), p11.CKA_LOCAL: Bool(false)}},
		{name: "rsa public generate", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_MODULUS_BITS, 2048)}, implied: impliedRSAPub,
			material: set(at(p11.CKA_MODULUS, modulus2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})), mech: p11.CKM_RSA_PKCS_KEY_PAIR_GEN,
			want: map[uint32][]byte{p11.CKA_LOCAL: Bool(true), p11.CKA_MODULUS: modulus2048, p11.CKA_KEY_GEN_MECHANISM: Ulong(p11.CKM_RSA_PKCS_KEY_PAIR_GEN)}},
		{name: "exponent with a leading zero agrees with the generator's", op: OpGenerate,
			tmpl: []Attribute{au(p11.CKA_MODULUS_BITS, 2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{0, 1, 0, 1})}, implied: impliedRSAPub,
			material: set(at(p11.CKA_MODULUS, modulus2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})), mech: p11.CKM_RSA_PKCS_KEY_PAIR_GEN,
			want: map[uint32][]byte{p11.CKA_PUBLIC_EXPONENT: {1, 0, 1}}},
		{name: "rsa private generate", op: OpGenerate, tmpl: []Attribute{ab(p11.CKA_SENSITIVE, true)}, implied: impliedRSAPriv,
			material: rsaPrivMaterial(), mech: p11.CKM_RSA_PKCS_KEY_PAIR_GEN,
			want: map[uint32][]byte{p11.CKA_LOCAL: Bool(true), p11.CKA_ALWAYS_SENSITIVE: Bool(true), p11.CKA_MODULUS: modulus2048}},
		{name: "ec pair, private half", op: OpGenerate, implied: impliedECPriv,
			material: set(at(p11.CKA_EC_PARAMS, p256), at(p11.CKA_VALUE, rep(7, 32))), mech: p11.CKM_EC_KEY_PAIR_GEN,
			want: map[uint32][]byte{p11.CKA_EC_PARAMS: p256, p11.CKA_LOCAL: Bool(true)}},
		{name: "data object", op: OpCreate, tmpl: dataCreate(), want: map[uint32][]byte{p11.CKA_LABEL: []byte("note")}},

		{name: "rsa private without public values", op: OpGenerate, implied: impliedRSAPriv,
			material: func() Set { m := rsaPrivMaterial(); delete(m, p11.CKA_MODULUS); return m }(), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "aes generate without material", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 16)}, implied: impliedAES, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "ec private without params", op: OpGenerate, implied: impliedECPriv, material: set(at(p11.CKA_VALUE, rep(7, 32))), code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "ec public without point", op: OpGenerate, tmpl: []Attribute{at(p11.CKA_EC_PARAMS, p256)}, implied: impliedECPub, code: p11.CKR_TEMPLATE_INCOMPLETE},
		{name: "material disagrees with the template", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_MODULUS_BITS, 2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{3})},
			implied: impliedRSAPub, material: set(at(p11.CKA_MODULUS, modulus2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "modulus shorter than asked", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_MODULUS_BITS, 4096)}, implied: impliedRSAPub,
			material: set(at(p11.CKA_MODULUS, modulus2048), at(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "value shorter than asked", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 32)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, rep(1, 16))), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "material that is not key data", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 16)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, rep(1, 16)), at(p11.CKA_LABEL, []byte("x"))), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "history in material outside derive", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 16)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, rep(1, 16)), ab(p11.CKA_ALWAYS_SENSITIVE, true)), code: p11.CKR_TEMPLATE_INCONSISTENT},
		{name: "material of another key type", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 16)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, rep(1, 16)), at(p11.CKA_MODULUS, modulus2048)), code: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "bad aes material", op: OpUnwrap, implied: impliedAES, material: set(at(p11.CKA_VALUE, rep(1, 17))), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj, err := NewObject(c.op, c.tmpl, c.implied)
			if err != nil {
				t.Fatalf("NewObject: %v", err)
			}
			objBefore, matBefore := obj.Clone(), c.material.Clone()
			got, err := Complete(c.op, obj, c.material, c.mech)
			wantCode(t, err, c.code)
			if !equalSets(obj, objBefore) || !equalSets(c.material, matBefore) {
				t.Fatal("Complete changed its arguments")
			}
			if err != nil {
				return
			}
			for typ, v := range c.want {
				if g, ok := got[typ]; !ok || !bytes.Equal(g, v) {
					t.Errorf("%s = %x (present %v), want %x", p11.AttrName(typ), g, ok, v)
				}
			}
			// Whole: every attribute the table gives this shape is there.
			sh, err := resolveShape(got)
			if err != nil {
				t.Fatal(err)
			}
			for i := range table {
				if r := &table[i]; r.shapes&sh != 0 {
					if _, ok := got[r.t]; !ok {
						t.Errorf("%s missing from a completed object", p11.AttrName(r.t))
					}
				}
			}
		})
	}
}

func equalSets(a, b Set) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

// fixtures returns one whole object of every shape, named.
func fixtures(t *testing.T) map[string]Set {
	// The key fixtures are "open" (not sensitive) on purpose: the tests move them to sensitive.
	open := ab(p11.CKA_SENSITIVE, false)
	return map[string]Set{
		"aes":     mustNew(t, OpCreate, with(aesCreate(), open), nil, nil, 0),
		"generic": mustNew(t, OpCreate, with(genericCreate(), open), nil, nil, 0),
		"rsaPub":  mustNew(t, OpCreate, rsaPubCreate(), nil, nil, 0),
		"rsaPriv": mustNew(t, OpCreate, with(rsaPrivCreate(), open), nil, nil, 0),
		"ecPub":   mustNew(t, OpCreate, ecPubCreate(), nil, nil, 0),
		"ecPriv":  mustNew(t, OpCreate, with(ecPrivCreate(), open), nil, nil, 0),
		"data":    mustNew(t, OpCreate, dataCreate(), nil, nil, 0),
		"cert":    mustNew(t, OpCreate, certCreate(), nil, nil, 0),
	}
}

func TestModify(t *testing.T) {
	fx := fixtures(t)
	aes := fx["aes"]
	// A protected AES key, and one whose sticky flags are at their final values.
	locked, err := Modify(aes, []Attribute{ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false),
		ab(p11.CKA_WRAP_WITH_TRUSTED, true), ab(p11.CKA_COPYABLE, false)})
	if err != nil {
		t.Fatal(err)
	}
	frozen := aes.Clone()
	frozen[p11.CKA_MODIFIABLE] = Bool(false)

	cases := []struct {
		name string
		obj  Set
		tmpl []Attribute
		code uint32
		want map[uint32][]byte
	}{
		{"label", aes, []Attribute{at(p11.CKA_LABEL, []byte("new"))}, p11.CKR_OK, map[uint32][]byte{p11.CKA_LABEL: []byte("new")}},
		{"usage flags, id, dates, derive", aes, []Attribute{ab(p11.CKA_ENCRYPT, false), ab(p11.CKA_SIGN, false), at(p11.CKA_ID, []byte{9}),
			at(p11.CKA_END_DATE, []byte("20301231")), ab(p11.CKA_DERIVE, true)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_ENCRYPT: Bool(false), p11.CKA_ID: {9}, p11.CKA_DERIVE: Bool(true)}},
		{"trusted", fx["rsaPub"], []Attribute{ab(p11.CKA_TRUSTED, true)}, p11.CKR_OK, map[uint32][]byte{p11.CKA_TRUSTED: Bool(true)}},
		{"subject of a private key", fx["rsaPriv"], []Attribute{at(p11.CKA_SUBJECT, []byte("cn"))}, p11.CKR_OK, nil},
		{"empty template", aes, nil, p11.CKR_OK, nil},

		// Sticky flags.
		{"sensitive false to true", aes, []Attribute{ab(p11.CKA_SENSITIVE, true)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_SENSITIVE: Bool(true), p11.CKA_ALWAYS_SENSITIVE: Bool(false)}},
		{"sensitive true to false", locked, []Attribute{ab(p11.CKA_SENSITIVE, false)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"sensitive true to true", locked, []Attribute{ab(p11.CKA_SENSITIVE, true)}, p11.CKR_OK, nil},
		{"extractable true to false", aes, []Attribute{ab(p11.CKA_EXTRACTABLE, false)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_EXTRACTABLE: Bool(false), p11.CKA_NEVER_EXTRACTABLE: Bool(false)}},
		{"extractable false to true", locked, []Attribute{ab(p11.CKA_EXTRACTABLE, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"wrap with trusted false to true", aes, []Attribute{ab(p11.CKA_WRAP_WITH_TRUSTED, true)}, p11.CKR_OK, nil},
		{"wrap with trusted true to false", locked, []Attribute{ab(p11.CKA_WRAP_WITH_TRUSTED, false)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"copyable true to false", aes, []Attribute{ab(p11.CKA_COPYABLE, false)}, p11.CKR_OK, nil},
		{"copyable false to true", locked, []Attribute{ab(p11.CKA_COPYABLE, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},

		// Never after creation (even to the same value).
		{"class", aes, []Attribute{class(p11.CKO_SECRET_KEY)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"key type", aes, []Attribute{keyType(p11.CKK_GENERIC_SECRET)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"value", aes, []Attribute{at(p11.CKA_VALUE, rep(2, 16))}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"value len", aes, []Attribute{au(p11.CKA_VALUE_LEN, 16)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"modulus", fx["rsaPub"], []Attribute{at(p11.CKA_MODULUS, modulus2048)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"private exponent", fx["rsaPriv"], []Attribute{at(p11.CKA_PRIVATE_EXPONENT, rep(1, 8))}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"ec point", fx["ecPub"], []Attribute{at(p11.CKA_EC_POINT, []byte{4})}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"local", aes, []Attribute{ab(p11.CKA_LOCAL, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"key gen mechanism", aes, []Attribute{au(p11.CKA_KEY_GEN_MECHANISM, 1)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"always sensitive", aes, []Attribute{ab(p11.CKA_ALWAYS_SENSITIVE, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"never extractable", aes, []Attribute{ab(p11.CKA_NEVER_EXTRACTABLE, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"token", aes, []Attribute{ab(p11.CKA_TOKEN, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"private", aes, []Attribute{ab(p11.CKA_PRIVATE, false)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"modifiable", aes, []Attribute{ab(p11.CKA_MODIFIABLE, false)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"destroyable", aes, []Attribute{ab(p11.CKA_DESTROYABLE, false)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"data value", fx["data"], []Attribute{at(p11.CKA_VALUE, []byte("x"))}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"data application", fx["data"], []Attribute{at(p11.CKA_APPLICATION, []byte("x"))}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"one bad attribute spoils the call", aes, []Attribute{at(p11.CKA_LABEL, []byte("x")), ab(p11.CKA_LOCAL, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},

		// Other errors.
		{"not modifiable", frozen, []Attribute{at(p11.CKA_LABEL, []byte("x"))}, p11.CKR_ACTION_PROHIBITED, nil},
		{"sensitive on a public key", fx["rsaPub"], []Attribute{ab(p11.CKA_SENSITIVE, true)}, p11.CKR_ATTRIBUTE_TYPE_INVALID, nil},
		{"unknown type", aes, []Attribute{at(0x7FFFFF00, nil)}, p11.CKR_ATTRIBUTE_TYPE_INVALID, nil},
		{"bad bool", aes, []Attribute{at(p11.CKA_SIGN, []byte{1, 1})}, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
		{"bad date", aes, []Attribute{at(p11.CKA_START_DATE, []byte("2030"))}, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
		{"conflicting duplicate", aes, []Attribute{ab(p11.CKA_SIGN, true), ab(p11.CKA_SIGN, false)}, p11.CKR_TEMPLATE_INCONSISTENT, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.obj.Clone()
			got, err := Modify(c.obj, c.tmpl)
			wantCode(t, err, c.code)
			if !equalSets(c.obj, before) {
				t.Fatal("Modify changed obj")
			}
			if err != nil {
				return
			}
			for typ, v := range c.want {
				if !bytes.Equal(got[typ], v) {
					t.Errorf("%s = %x, want %x", p11.AttrName(typ), got[typ], v)
				}
			}
			for typ, v := range c.obj {
				if _, changed := c.want[typ]; !changed && !inTemplate(c.tmpl, typ) && !bytes.Equal(got[typ], v) {
					t.Errorf("%s changed without being asked", p11.AttrName(typ))
				}
			}
		})
	}
}

func inTemplate(l []Attribute, t uint32) bool {
	for _, a := range l {
		if a.Type == t {
			return true
		}
	}
	return false
}

func TestCopy(t *testing.T) {
	fx := fixtures(t)
	gen := mustNew(t, OpGenerate, []Attribute{au(p11.CKA_VALUE_LEN, 16), ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)},
		impliedAES, set(at(p11.CKA_VALUE, rep(3, 16))), p11.CKM_AES_KEY_GEN)
	aes := fx["aes"]
	noCopy := aes.Clone()
	noCopy[p11.CKA_COPYABLE] = Bool(false)
	frozen := aes.Clone()
	frozen[p11.CKA_MODIFIABLE] = Bool(false)

	cases := []struct {
		name string
		src  Set
		tmpl []Attribute
		code uint32
		want map[uint32][]byte
	}{
		{"plain copy", aes, nil, p11.CKR_OK, map[uint32][]byte{p11.CKA_VALUE: rep(0xA1, 16)}},
		{"session to token, public", aes, []Attribute{ab(p11.CKA_TOKEN, true), ab(p11.CKA_PRIVATE, false)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_TOKEN: Bool(true), p11.CKA_PRIVATE: Bool(false)}},
		{"modifiable and destroyable", aes, []Attribute{ab(p11.CKA_MODIFIABLE, false), ab(p11.CKA_DESTROYABLE, false)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_MODIFIABLE: Bool(false), p11.CKA_DESTROYABLE: Bool(false)}},
		{"label and id", aes, []Attribute{at(p11.CKA_LABEL, []byte("copy")), at(p11.CKA_ID, []byte{1})}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_LABEL: []byte("copy"), p11.CKA_ID: {1}}},
		{"copy of an unmodifiable object may still change what copies may", frozen, []Attribute{at(p11.CKA_LABEL, []byte("c"))}, p11.CKR_OK, nil},
		{"copy made uncopyable", aes, []Attribute{ab(p11.CKA_COPYABLE, false)}, p11.CKR_OK, map[uint32][]byte{p11.CKA_COPYABLE: Bool(false)}},
		{"sensitive raised: history kept", aes, []Attribute{ab(p11.CKA_SENSITIVE, true)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_SENSITIVE: Bool(true), p11.CKA_ALWAYS_SENSITIVE: Bool(false)}},
		{"extractable lowered: history kept", aes, []Attribute{ab(p11.CKA_EXTRACTABLE, false)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_EXTRACTABLE: Bool(false), p11.CKA_NEVER_EXTRACTABLE: Bool(false)}},
		{"copy of a generated key stays local", gen, []Attribute{ab(p11.CKA_TOKEN, true)}, p11.CKR_OK,
			map[uint32][]byte{p11.CKA_LOCAL: Bool(true), p11.CKA_ALWAYS_SENSITIVE: Bool(true), p11.CKA_NEVER_EXTRACTABLE: Bool(true),
				p11.CKA_KEY_GEN_MECHANISM: Ulong(p11.CKM_AES_KEY_GEN)}},
		{"sensitive lowered", gen, []Attribute{ab(p11.CKA_SENSITIVE, false)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"extractable raised", gen, []Attribute{ab(p11.CKA_EXTRACTABLE, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"not copyable", noCopy, []Attribute{at(p11.CKA_LABEL, []byte("c"))}, p11.CKR_ACTION_PROHIBITED, nil},
		{"not copyable, empty template", noCopy, nil, p11.CKR_ACTION_PROHIBITED, nil},
		{"class", aes, []Attribute{class(p11.CKO_DATA)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"value", aes, []Attribute{at(p11.CKA_VALUE, rep(1, 16))}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"local", aes, []Attribute{ab(p11.CKA_LOCAL, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"always sensitive", aes, []Attribute{ab(p11.CKA_ALWAYS_SENSITIVE, true)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"modulus", fx["rsaPriv"], []Attribute{at(p11.CKA_MODULUS, modulus2048)}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"data value", fx["data"], []Attribute{at(p11.CKA_VALUE, []byte("v"))}, p11.CKR_ATTRIBUTE_READ_ONLY, nil},
		{"attribute of another class", aes, []Attribute{at(p11.CKA_MODULUS, modulus2048)}, p11.CKR_ATTRIBUTE_TYPE_INVALID, nil},
		{"bad value", aes, []Attribute{at(p11.CKA_TOKEN, nil)}, p11.CKR_ATTRIBUTE_VALUE_INVALID, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.src.Clone()
			got, err := Copy(c.src, c.tmpl)
			wantCode(t, err, c.code)
			if !equalSets(c.src, before) {
				t.Fatal("Copy changed src")
			}
			if err != nil {
				return
			}
			for typ, v := range c.want {
				if !bytes.Equal(got[typ], v) {
					t.Errorf("%s = %x, want %x", p11.AttrName(typ), got[typ], v)
				}
			}
			got[p11.CKA_LABEL] = []byte("mutated")
			if bytes.Equal(c.src[p11.CKA_LABEL], []byte("mutated")) {
				t.Fatal("the copy shares storage with src")
			}
		})
	}
}

// materialOf lists, per fixture, exactly the attributes that are key material.
var materialOf = map[string][]uint32{
	"aes":     {p11.CKA_VALUE},
	"generic": {p11.CKA_VALUE},
	"rsaPub":  nil,
	"rsaPriv": rsaPrivComponents,
	"ecPub":   nil,
	"ecPriv":  {p11.CKA_VALUE},
	"data":    nil,
	"cert":    nil,
}

func TestReadSensitivity(t *testing.T) {
	for name, obj := range fixtures(t) {
		mat := materialOf[name]
		for _, prot := range []struct {
			name  string
			tmpl  []Attribute
			hides bool
		}{
			{"open", nil, false},
			{"sensitive", []Attribute{ab(p11.CKA_SENSITIVE, true)}, true},
			{"unextractable", []Attribute{ab(p11.CKA_EXTRACTABLE, false)}, true},
		} {
			o := obj
			if prot.tmpl != nil {
				if len(mat) == 0 {
					continue // public keys and data objects have no such flags
				}
				var err error
				if o, err = Modify(obj, prot.tmpl); err != nil {
					t.Fatal(err)
				}
			}
			for typ := range o {
				t.Run(fmt.Sprintf("%s/%s/%s", name, prot.name, p11.AttrName(typ)), func(t *testing.T) {
					v, err := Read(o, typ)
					isMat := inList(mat, typ)
					if isMat && prot.hides {
						wantCode(t, err, p11.CKR_ATTRIBUTE_SENSITIVE)
						if v != nil {
							t.Fatal("a refused read returned bytes")
						}
						return
					}
					wantCode(t, err, p11.CKR_OK)
					if !bytes.Equal(v, o[typ]) {
						t.Fatalf("read %x, stored %x", v, o[typ])
					}
					if len(v) > 0 {
						v[0] ^= 0xFF
						if bytes.Equal(v, o[typ]) {
							t.Fatal("Read returned the object's own storage")
						}
					}
				})
			}
		}
		_, err := Read(obj, p11.CKA_MODULUS_BITS+0x7000)
		wantCode(t, err, p11.CKR_ATTRIBUTE_TYPE_INVALID)
	}
	// A type the object lacks, though valid elsewhere.
	_, err := Read(fixtures(t)["aes"], p11.CKA_MODULUS)
	wantCode(t, err, p11.CKR_ATTRIBUTE_TYPE_INVALID)
}

func inList(l []uint32, t uint32) bool {
	for _, x := range l {
		if x == t {
			return true
		}
	}
	return false
}

func TestSplit(t *testing.T) {
	for name, obj := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			pub, mat := Split(obj)
			if len(pub)+len(mat) != len(obj) {
				t.Fatalf("%d public + %d material != %d attributes", len(pub), len(mat), len(obj))
			}
			for typ, v := range obj {
				p, inPub := pub[typ]
				m, inMat := mat[typ]
				if inPub == inMat {
					t.Fatalf("%s: public %v, material %v; want exactly one", p11.AttrName(typ), inPub, inMat)
				}
				if inMat != inList(materialOf[name], typ) {
					t.Errorf("%s: material = %v", p11.AttrName(typ), inMat)
				}
				got := p
				if inMat {
					got = m
				}
				if !bytes.Equal(got, v) {
					t.Errorf("%s: value changed by Split", p11.AttrName(typ))
				}
				if len(got) > 0 {
					got[0] ^= 0xFF
					if bytes.Equal(got, v) {
						t.Errorf("%s: Split shares storage with obj", p11.AttrName(typ))
					}
				}
			}
		})
	}
	// A damaged key (no class) still keeps its secret-looking values apart.
	_, mat := Split(Set{p11.CKA_VALUE: rep(1, 16), p11.CKA_PRIME_1: rep(1, 8), p11.CKA_LABEL: nil})
	if len(mat) != 2 {
		t.Errorf("damaged object: material %v", mat)
	}
}

func TestMatch(t *testing.T) {
	fx := fixtures(t)
	aes := fx["aes"]
	secret, err := Modify(aes, []Attribute{ab(p11.CKA_SENSITIVE, true)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		obj  Set
		tmpl []Attribute
		want bool
	}{
		{"empty template", aes, nil, true},
		{"class and key type", aes, []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES)}, true},
		{"wrong class", aes, []Attribute{class(p11.CKO_PUBLIC_KEY)}, false},
		{"label", fx["data"], []Attribute{at(p11.CKA_LABEL, []byte("note"))}, true},
		{"label prefix is not a match", fx["data"], []Attribute{at(p11.CKA_LABEL, []byte("no"))}, false},
		{"absent attribute", aes, []Attribute{at(p11.CKA_MODULUS, modulus2048)}, false},
		{"unknown attribute", aes, []Attribute{at(0x7FFFFF00, nil)}, false},
		{"C true as 0xFF", aes, []Attribute{at(p11.CKA_ENCRYPT, []byte{0xFF})}, true},
		{"open key value", aes, []Attribute{at(p11.CKA_VALUE, rep(0xA1, 16))}, true},
		{"sensitive key value never matches", secret, []Attribute{at(p11.CKA_VALUE, rep(0xA1, 16))}, false},
		{"one of two wrong", aes, []Attribute{class(p11.CKO_SECRET_KEY), ab(p11.CKA_TOKEN, true)}, false},
	}
	for _, c := range cases {
		if got := Match(c.obj, c.tmpl); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPermits(t *testing.T) {
	fx := fixtures(t)
	noSign, err := Modify(fx["rsaPriv"], []Attribute{ab(p11.CKA_SIGN, false)})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		obj   Set
		usage uint32
		code  uint32
	}{
		{"aes encrypt", fx["aes"], p11.CKA_ENCRYPT, p11.CKR_OK},
		{"rsa private sign", fx["rsaPriv"], p11.CKA_SIGN, p11.CKR_OK},
		{"rsa private sign turned off", noSign, p11.CKA_SIGN, p11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"aes derive defaults off", fx["aes"], p11.CKA_DERIVE, p11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"generic encrypt defaults off", fx["generic"], p11.CKA_ENCRYPT, p11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"ec public has no sign attribute", fx["ecPub"], p11.CKA_SIGN, p11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"data object", fx["data"], p11.CKA_SIGN, p11.CKR_KEY_TYPE_INCONSISTENT},
		{"no class", Set{p11.CKA_SIGN: Bool(true)}, p11.CKA_SIGN, p11.CKR_KEY_TYPE_INCONSISTENT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantCode(t, Permits(c.obj, c.usage), c.code) })
	}
}

// TestTableShape guards the table against edits that would make the functions misbehave.
func TestTableShape(t *testing.T) {
	for i := range table {
		r := &table[i]
		name := p11.AttrName(r.t)
		if r.req&r.deny != 0 {
			t.Errorf("%s: both required and refused for the same call", name)
		}
		if r.req&onCreate != 0 && (r.def != nil || r.defTrue != shNone) {
			t.Errorf("%s: required on create yet has a default", name)
		}
		if r.secret && r.change != chNever {
			t.Errorf("%s: key material must not be changeable", name)
		}
		if r.secret && r.deny&onGenerate == 0 {
			t.Errorf("%s: key material must come from generation, not the template", name)
		}
		if r.defTrue != shNone && r.kind != kBool {
			t.Errorf("%s: defTrue on a non-bool", name)
		}
		if r.derived != nil && (r.def != nil || r.defTrue != shNone || r.secret) {
			t.Errorf("%s: a derived value has a default or is secret", name)
		}
		if r.shapes&(shCert|shData) != 0 && (r.secret || r.keyData) {
			t.Errorf("%s: certificates and data objects hold no key material", name)
		}
	}
}
