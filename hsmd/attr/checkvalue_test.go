package attr

import (
	"bytes"
	"crypto/aes"
	"crypto/sha1"
	"encoding/hex"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// The check values are computed here independently of the package, with the standard library:
// PKCS#11 v2.40 Current Mechanisms, "AES secret key objects": the first three bytes of the ECB
// encryption of one block of zero bytes under the key; "Generic secret key objects": the first
// three bytes of the SHA-1 hash of CKA_VALUE.
func aesKCV(key []byte) []byte {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	out := make([]byte, aes.BlockSize)
	b.Encrypt(out, make([]byte, aes.BlockSize))
	return out[:3]
}

func sha1KCV(v []byte) []byte {
	h := sha1.Sum(v)
	return h[:3]
}

// Published values: AES-128 and AES-256 of the zero block under the all-zero key (NIST's AES
// known answers: 66e94bd4ef8a2c3b884cfa59ca342b2e and dc95c078a2408989ad48a21492842087), and
// SHA-1("abc") from FIPS 180 (a9993e364706816aba3e25717850c26c9cd0d89d).
func TestCheckValuePublished(t *testing.T) {
	for _, c := range []struct {
		name string
		tmpl []Attribute
		want string
	}{
		{"AES-128 zero key", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), at(p11.CKA_VALUE, make([]byte, 16))}, "66e94b"},
		{"AES-256 zero key", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), at(p11.CKA_VALUE, make([]byte, 32))}, "dc95c0"},
		{"generic secret abc", []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_GENERIC_SECRET), at(p11.CKA_VALUE, []byte("abc"))}, "a9993e"},
	} {
		t.Run(c.name, func(t *testing.T) {
			obj := mustNew(t, OpCreate, c.tmpl, nil, nil, 0)
			if got := hex.EncodeToString(obj[p11.CKA_CHECK_VALUE]); got != c.want {
				t.Fatalf("CKA_CHECK_VALUE = %s, want %s", got, c.want)
			}
		})
	}
}

func TestCheckValue(t *testing.T) {
	aes128, aes192, aes256 := rep(0x11, 16), rep(0x22, 24), rep(0x33, 32)
	generic := rep(0xB2, 48)
	kcv := func(v []byte) Attribute { return at(p11.CKA_CHECK_VALUE, v) }
	wrong := []byte{0xDE, 0xAD, 0x00}

	cases := []struct {
		name     string
		op       Op
		tmpl     []Attribute
		implied  Set
		material Set
		newCode  uint32 // NewObject's answer
		code     uint32 // Complete's, when NewObject succeeded
		want     []byte
	}{
		{name: "aes-128 create", op: OpCreate, tmpl: with(without(aesCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, aes128)), want: aesKCV(aes128)},
		{name: "aes-192 create", op: OpCreate, tmpl: with(without(aesCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, aes192)), want: aesKCV(aes192)},
		{name: "aes-256 create", op: OpCreate, tmpl: with(without(aesCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, aes256)), want: aesKCV(aes256)},
		{name: "generic create", op: OpCreate, tmpl: genericCreate(), want: sha1KCV(generic)},
		{name: "generic of one byte", op: OpCreate, tmpl: with(without(genericCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, []byte{7})), want: sha1KCV([]byte{7})},
		{name: "aes generate", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 32)}, implied: impliedAES,
			material: set(at(p11.CKA_VALUE, aes256)), want: aesKCV(aes256)},
		{name: "generic generate", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 48)}, implied: impliedGeneric,
			material: set(at(p11.CKA_VALUE, generic)), want: sha1KCV(generic)},
		{name: "aes unwrap", op: OpUnwrap, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES)},
			material: set(at(p11.CKA_VALUE, aes128)), want: aesKCV(aes128)},
		{name: "aes derive", op: OpDerive, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES)},
			material: set(at(p11.CKA_VALUE, aes192)), want: aesKCV(aes192)},
		{name: "generic derive", op: OpDerive, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_GENERIC_SECRET)},
			material: set(at(p11.CKA_VALUE, generic)), want: sha1KCV(generic)},

		// A template may state the check value it expects on create and unwrap: it must match.
		{name: "create with the right check value", op: OpCreate, tmpl: with(aesCreate(), kcv(aesKCV(rep(0xA1, 16)))), want: aesKCV(rep(0xA1, 16))},
		{name: "generic create with the right check value", op: OpCreate, tmpl: with(genericCreate(), kcv(sha1KCV(generic))), want: sha1KCV(generic)},
		{name: "unwrap with the right check value", op: OpUnwrap, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), kcv(aesKCV(aes256))},
			material: set(at(p11.CKA_VALUE, aes256)), want: aesKCV(aes256)},
		{name: "create with a wrong check value", op: OpCreate, tmpl: with(aesCreate(), kcv(wrong)), newCode: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "generic create with the AES rule's value", op: OpCreate, tmpl: with(without(genericCreate(), p11.CKA_VALUE), at(p11.CKA_VALUE, aes128), kcv(aesKCV(aes128))),
			newCode: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "create with a check value of 4 bytes", op: OpCreate, tmpl: with(aesCreate(), kcv(append(aesKCV(rep(0xA1, 16)), 0))), newCode: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "create with an empty check value", op: OpCreate, tmpl: with(aesCreate(), kcv(nil)), newCode: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "unwrap with a wrong check value", op: OpUnwrap, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), kcv(wrong)},
			material: set(at(p11.CKA_VALUE, aes256)), code: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		{name: "unwrap with a check value of 2 bytes", op: OpUnwrap, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), kcv(wrong[:2])},
			newCode: p11.CKR_ATTRIBUTE_VALUE_INVALID},
		// Generation and derivation make a key nobody knows yet: a check value in their template
		// can only be a guess, and the token sets it.
		{name: "generate with a check value", op: OpGenerate, tmpl: []Attribute{au(p11.CKA_VALUE_LEN, 16), kcv(wrong)}, implied: impliedAES, newCode: p11.CKR_ATTRIBUTE_READ_ONLY},
		{name: "derive with a check value", op: OpDerive, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), kcv(wrong)}, newCode: p11.CKR_ATTRIBUTE_READ_ONLY},
		// Material never carries it: the token computes it.
		{name: "check value as material", op: OpUnwrap, tmpl: []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES)},
			material: set(at(p11.CKA_VALUE, aes128), at(p11.CKA_CHECK_VALUE, aesKCV(aes128))), code: p11.CKR_TEMPLATE_INCONSISTENT},

		// Public and private keys and data objects have none (v2.40 gives CKA_CHECK_VALUE to
		// secret keys and certificates only).
		{name: "rsa public", op: OpCreate, tmpl: with(rsaPubCreate(), kcv(wrong)), newCode: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "rsa private", op: OpCreate, tmpl: with(rsaPrivCreate(), kcv(wrong)), newCode: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "ec private", op: OpCreate, tmpl: with(ecPrivCreate(), kcv(wrong)), newCode: p11.CKR_ATTRIBUTE_TYPE_INVALID},
		{name: "data", op: OpCreate, tmpl: with(dataCreate(), kcv(wrong)), newCode: p11.CKR_ATTRIBUTE_TYPE_INVALID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj, err := NewObject(c.op, c.tmpl, c.implied)
			wantCode(t, err, c.newCode)
			if err != nil {
				return
			}
			if _, has := obj[p11.CKA_CHECK_VALUE]; has && !inTemplate(c.tmpl, p11.CKA_CHECK_VALUE) {
				t.Fatal("NewObject filled in CKA_CHECK_VALUE: it comes with the material, in Complete")
			}
			got, err := Complete(c.op, obj, c.material, p11.CKM_AES_KEY_GEN)
			wantCode(t, err, c.code)
			if err != nil {
				return
			}
			if !bytes.Equal(got[p11.CKA_CHECK_VALUE], c.want) {
				t.Fatalf("CKA_CHECK_VALUE = %x, want %x", got[p11.CKA_CHECK_VALUE], c.want)
			}
		})
	}

	// The check value reveals nothing of the key: it reads back, and matches in a search, even
	// when the key is sensitive and unextractable; it is kept with the public half; it never
	// changes, and a copy keeps it.
	for _, name := range []string{"aes", "generic"} {
		open := fixtures(t)[name]
		want := open[p11.CKA_CHECK_VALUE]
		if len(want) != 3 {
			t.Fatalf("%s: CKA_CHECK_VALUE %x", name, want)
		}
		locked, err := Modify(open, []Attribute{ab(p11.CKA_SENSITIVE, true), ab(p11.CKA_EXTRACTABLE, false)})
		if err != nil {
			t.Fatal(err)
		}
		v, err := Read(locked, p11.CKA_CHECK_VALUE)
		wantCode(t, err, p11.CKR_OK)
		if !bytes.Equal(v, want) {
			t.Fatalf("%s: read %x, want %x", name, v, want)
		}
		if _, err := Read(locked, p11.CKA_VALUE); p11.Code(err) != p11.CKR_ATTRIBUTE_SENSITIVE {
			t.Fatalf("%s: the key value of a locked key reads: %v", name, err)
		}
		if !Match(locked, []Attribute{kcv(want)}) || Match(locked, []Attribute{kcv(wrong)}) {
			t.Fatalf("%s: a search by check value does not find exactly the key", name)
		}
		pub, mat := Split(locked)
		if !bytes.Equal(pub[p11.CKA_CHECK_VALUE], want) || mat[p11.CKA_CHECK_VALUE] != nil {
			t.Fatalf("%s: Split put the check value in the material", name)
		}
		_, err = Modify(open, []Attribute{kcv(want)})
		wantCode(t, err, p11.CKR_ATTRIBUTE_READ_ONLY)
		_, err = Copy(open, []Attribute{kcv(wrong)})
		wantCode(t, err, p11.CKR_ATTRIBUTE_READ_ONLY)
		cp, err := Copy(locked, []Attribute{ab(p11.CKA_TOKEN, true)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(cp[p11.CKA_CHECK_VALUE], want) {
			t.Fatalf("%s: the copy's check value is %x", name, cp[p11.CKA_CHECK_VALUE])
		}
	}
}
