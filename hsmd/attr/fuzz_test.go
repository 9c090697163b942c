package attr

import (
	"bytes"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// fuzzTypes are the attribute types the decoder picks from; most bytes select one of these so the
// fuzzer spends its time in the rules rather than on unknown types.
var fuzzTypes = func() []uint32 {
	seen := map[uint32]bool{}
	var ts []uint32
	for _, r := range table {
		if !seen[r.t] {
			seen[r.t] = true
			ts = append(ts, r.t)
		}
	}
	// Types the table lacks, so the decoder reaches CKR_ATTRIBUTE_TYPE_INVALID too.
	for _, t := range []uint32{p11.CKA_CHECK_VALUE, p11.CKA_ALLOWED_MECHANISMS, p11.CKA_VENDOR_DEFINED} {
		if !seen[t] {
			ts = append(ts, t)
		}
	}
	return ts
}()

var fuzzImplied = []Set{nil, impliedAES, impliedGeneric, impliedRSAPub, impliedRSAPriv, impliedECPub, impliedECPriv}

// decodeTemplate turns fuzz bytes into a call of NewObject:
//
//	byte 0: op (mod 4); byte 1: implied set (mod len(fuzzImplied))
//	then per attribute: a selector byte (< 0xF0 picks fuzzTypes[sel % n], otherwise the next
//	4 bytes are a raw big-endian type), a length byte, and up to that many value bytes; a
//	length of 0xFF means nil. Values that are 1 or 8 bytes often hit the bool and ulong rows.
func decodeTemplate(b []byte) (Op, Set, []Attribute) {
	if len(b) < 2 {
		return OpCreate, nil, nil
	}
	op := Op(b[0] % 4)
	implied := fuzzImplied[int(b[1])%len(fuzzImplied)]
	b = b[2:]
	var tmpl []Attribute
	for len(b) >= 2 {
		sel := b[0]
		b = b[1:]
		var t uint32
		if sel < 0xF0 {
			t = fuzzTypes[int(sel)%len(fuzzTypes)]
		} else {
			if len(b) < 4 {
				break
			}
			t = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
			b = b[4:]
		}
		if len(b) == 0 {
			break
		}
		n := int(b[0])
		b = b[1:]
		var v []byte
		if n != 0xFF {
			if n > len(b) {
				n = len(b)
			}
			v = b[:n:n]
			b = b[n:]
		}
		tmpl = append(tmpl, Attribute{Type: t, Value: v})
	}
	return op, implied, tmpl
}

// encodeTemplate is decodeTemplate's inverse for types in fuzzTypes, used to seed the corpus with
// the test templates.
func encodeTemplate(op Op, impliedIdx int, tmpl []Attribute) []byte {
	b := []byte{byte(op), byte(impliedIdx)}
	for _, a := range tmpl {
		idx := -1
		for i, t := range fuzzTypes {
			if t == a.Type {
				idx = i
			}
		}
		if idx < 0 || len(a.Value) > 0xFE {
			continue
		}
		b = append(b, byte(idx), byte(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}

// documented is every code NewObject may return.
var documented = map[uint32]bool{
	p11.CKR_ATTRIBUTE_TYPE_INVALID:  true,
	p11.CKR_ATTRIBUTE_VALUE_INVALID: true,
	p11.CKR_ATTRIBUTE_READ_ONLY:     true,
	p11.CKR_TEMPLATE_INCONSISTENT:   true,
	p11.CKR_TEMPLATE_INCOMPLETE:     true,
}

func cloneList(l []Attribute) []Attribute {
	c := make([]Attribute, len(l))
	for i, a := range l {
		c[i] = Attribute{Type: a.Type}
		if a.Value != nil {
			c[i].Value = append([]byte{}, a.Value...)
		}
	}
	return c
}

func FuzzNewObject(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeTemplate(OpCreate, 0, aesCreate()))
	f.Add(encodeTemplate(OpCreate, 0, genericCreate()))
	f.Add(encodeTemplate(OpCreate, 0, rsaPubCreate()))
	f.Add(encodeTemplate(OpCreate, 0, rsaPrivCreate()))
	f.Add(encodeTemplate(OpCreate, 0, ecPubCreate()))
	f.Add(encodeTemplate(OpCreate, 0, ecPrivCreate()))
	f.Add(encodeTemplate(OpCreate, 0, dataCreate()))
	f.Add(encodeTemplate(OpCreate, 0, certCreate()))
	f.Add(encodeTemplate(OpCreate, 0, with(certCreate(), at(p11.CKA_ID, []byte{1}), at(p11.CKA_CHECK_VALUE, sha1KCV(testCert)))))
	f.Add(encodeTemplate(OpCreate, 0, with(aesCreate(), at(p11.CKA_CHECK_VALUE, aesKCV(rep(0xA1, 16))))))
	f.Add(encodeTemplate(OpCreate, 0, with(genericCreate(), at(p11.CKA_CHECK_VALUE, sha1KCV(rep(0xB2, 48))))))
	f.Add(encodeTemplate(OpUnwrap, 0, []Attribute{class(p11.CKO_SECRET_KEY), keyType(p11.CKK_AES), at(p11.CKA_CHECK_VALUE, []byte{1, 2, 3})}))
	f.Add(encodeTemplate(OpCreate, 0, with(ecPrivCreate(), ab(p11.CKA_ALWAYS_AUTHENTICATE, false))))
	f.Add(encodeTemplate(OpGenerate, 1, []Attribute{au(p11.CKA_VALUE_LEN, 32), ab(p11.CKA_SENSITIVE, true)}))
	f.Add(encodeTemplate(OpGenerate, 3, []Attribute{au(p11.CKA_MODULUS_BITS, 2048)}))
	f.Add(encodeTemplate(OpGenerate, 5, []Attribute{at(p11.CKA_EC_PARAMS, p256)}))
	f.Add(encodeTemplate(OpDerive, 1, []Attribute{au(p11.CKA_VALUE_LEN, 16)}))
	f.Add(encodeTemplate(OpUnwrap, 4, nil))

	f.Fuzz(func(t *testing.T, data []byte) {
		op, implied, tmpl := decodeTemplate(data)
		tmplBefore := cloneList(tmpl)
		impliedBefore := implied.Clone()

		obj, err := NewObject(op, tmpl, implied)

		for i := range tmpl {
			if tmpl[i].Type != tmplBefore[i].Type || !bytes.Equal(tmpl[i].Value, tmplBefore[i].Value) ||
				(tmpl[i].Value == nil) != (tmplBefore[i].Value == nil) {
				t.Fatalf("NewObject changed template entry %d", i)
			}
		}
		if !equalSets(implied, impliedBefore) {
			t.Fatal("NewObject changed implied")
		}
		if err != nil {
			if obj != nil {
				t.Fatal("an error came with a Set")
			}
			if code := p11.Code(err); !documented[code] {
				t.Fatalf("undocumented code %s: %v", p11.RVName(code), err)
			}
			return
		}
		if obj == nil {
			t.Fatal("no error and no Set")
		}
		if _, err := resolveShape(obj); err != nil {
			t.Fatalf("NewObject accepted an object of no shape: %v", err)
		}
		// The result must not alias the caller's bytes.
		for _, a := range tmpl {
			if v := obj[a.Type]; len(v) > 0 && len(a.Value) > 0 && &v[0] == &a.Value[0] {
				t.Fatalf("%s aliases the template", p11.AttrName(a.Type))
			}
		}
		// Whatever NewObject accepts for create must complete with no material.
		if op == OpCreate {
			whole, err := Complete(op, obj, nil, 0)
			if err != nil {
				t.Fatalf("Complete of an accepted create template: %v", err)
			}
			pub, mat := Split(whole)
			if len(pub)+len(mat) != len(whole) {
				t.Fatal("Split lost or duplicated attributes")
			}
			// A stored object is read in its packed form (token.Object): the rules must not
			// answer it differently.
			checkPackedReadsAsSet(t, whole, Pack(whole))
			checkRulesAgree(t, whole)
		}
	})
}
