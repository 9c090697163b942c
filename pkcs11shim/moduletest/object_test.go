package moduletest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestFindPaging(t *testing.T) {
	start(t, standard)
	s := session(t)
	var made []pkcs11.ObjectHandle
	for i := range 25 {
		h, err := p.CreateObject(s, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, i%2 == 0),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, "page"),
			pkcs11.NewAttribute(pkcs11.CKA_VALUE, []byte(fmt.Sprint(i))),
		})
		must(t, err)
		made = append(made, h)
	}
	_, err := p.CreateObject(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "other")})
	must(t, err)

	_, _, err = p.FindObjects(s, 10)
	wantRV(t, "C_FindObjects without init", err, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	must(t, p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "page")}))
	wantRV(t, "second C_FindObjectsInit", p.FindObjectsInit(s, nil), pkcs11.CKR_OPERATION_ACTIVE)
	wantCode(t, "NULL handle array", FindObjectsNullOut(uint(s)), pkcs11.CKR_ARGUMENTS_BAD)
	var pages []int
	seen := map[pkcs11.ObjectHandle]bool{}
	for {
		hs, _, err := p.FindObjects(s, 10)
		must(t, err)
		pages = append(pages, len(hs))
		if len(hs) == 0 {
			break
		}
		for _, h := range hs {
			seen[h] = true
		}
	}
	must(t, p.FindObjectsFinal(s))
	wantRV(t, "second C_FindObjectsFinal", p.FindObjectsFinal(s), pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	if fmt.Sprint(pages) != "[10 10 5 0]" || len(seen) != 25 {
		t.Fatalf("pages %v, %d distinct", pages, len(seen))
	}
	for _, h := range made {
		if !seen[h] {
			t.Fatalf("object %d not found", h)
		}
	}
	// Find by class and ulong-valued attributes (C layout converted to the canonical one).
	must(t, p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true)}))
	hs, _, err := p.FindObjects(s, 100)
	must(t, err)
	must(t, p.FindObjectsFinal(s))
	if len(hs) != 13 {
		t.Fatalf("%d token data objects, want 13", len(hs))
	}
}

func TestAttributes(t *testing.T) {
	start(t, standard)
	s := session(t)
	k, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, "secret-key"), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true)})
	must(t, err)

	// Length queries: every attribute is answered, the call returns a per-attribute code.
	q := []Attr{{Type: pkcs11.CKA_VALUE, Len: -1}, {Type: pkcs11.CKA_LABEL, Len: -1}, {Type: pkcs11.CKA_CLASS, Len: -1},
		{Type: 0x7FFF1234, Len: -1}, {Type: pkcs11.CKA_SENSITIVE, Len: -1}}
	rv := GetAttributes(uint(s), uint(k), q)
	if rv != pkcs11.CKR_ATTRIBUTE_SENSITIVE && rv != pkcs11.CKR_ATTRIBUTE_TYPE_INVALID {
		t.Fatalf("length query: %v", pkcs11.Error(rv))
	}
	if q[0].Len != -1 || q[1].Len != len("secret-key") || q[2].Len != 8 || q[3].Len != -1 || q[4].Len != 1 {
		t.Fatalf("lengths %+v", q)
	}
	// With buffers: one too small, the others filled.
	q = []Attr{{Type: pkcs11.CKA_LABEL, Len: 3}, {Type: pkcs11.CKA_CLASS, Len: 8}, {Type: pkcs11.CKA_TOKEN, Len: 1}, {Type: pkcs11.CKA_ID, Len: 0}}
	wantCode(t, "small buffer", GetAttributes(uint(s), uint(k), q), pkcs11.CKR_BUFFER_TOO_SMALL)
	if q[0].Len != -1 || binary.NativeEndian.Uint64(q[1].Value) != pkcs11.CKO_SECRET_KEY || !bytes.Equal(q[2].Value, []byte{1}) || q[3].Len != 0 {
		t.Fatalf("partial fill %+v", q)
	}
	q = []Attr{{Type: pkcs11.CKA_VALUE, Len: 32}}
	wantCode(t, "sensitive value", GetAttributes(uint(s), uint(k), q), pkcs11.CKR_ATTRIBUTE_SENSITIVE)
	if q[0].Len != -1 {
		t.Fatalf("sensitive value length %d", q[0].Len)
	}
	_, err = p.GetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
	wantRV(t, "miekg: sensitive", err, pkcs11.CKR_ATTRIBUTE_SENSITIVE)
	_, err = p.GetAttributeValue(s, 999999, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	wantRV(t, "unknown object", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)

	// C_SetAttributeValue, C_GetObjectSize and C_CopyObject (profile standard).
	must(t, p.SetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "renamed"), pkcs11.NewAttribute(pkcs11.CKA_ID, []byte{1, 2})}))
	if got := string(attr(t, s, k, pkcs11.CKA_LABEL)); got != "renamed" {
		t.Fatalf("label %q", got)
	}
	wantRV(t, "CKA_SENSITIVE back to false",
		p.SetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, false)}), pkcs11.CKR_ATTRIBUTE_READ_ONLY)
	wantRV(t, "a CK_ULONG of 4 bytes",
		p.SetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, []byte{4, 0, 0, 0})}), pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)
	size, err := p.GetObjectSize(s, k)
	must(t, err)
	if size == 0 {
		t.Fatal("C_GetObjectSize 0")
	}
	cp, err := p.CopyObject(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "copy"), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
	must(t, err)
	if got := string(attr(t, s, cp, pkcs11.CKA_LABEL)); got != "copy" {
		t.Fatalf("copy label %q", got)
	}
	must(t, p.DestroyObject(s, k))
	_, err = p.GetObjectSize(s, k)
	wantRV(t, "destroyed object", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
}

// The output convention: NULL asks the length and keeps the operation; a small buffer is
// CKR_BUFFER_TOO_SMALL and keeps it too; the call that fits ends it.
func TestOutputConvention(t *testing.T) {
	start(t, standard)
	s := session(t)
	pub, priv := ecKeyPair(t, s, false)
	h := digest("convention")
	must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA, nil), priv))
	rv, n, _ := Sign(uint(s), h, -1)
	if rv != pkcs11.CKR_OK || n != 64 {
		t.Fatalf("length query: %v, %d", pkcs11.Error(rv), n)
	}
	rv, n, _ = Sign(uint(s), h, 10)
	if rv != pkcs11.CKR_BUFFER_TOO_SMALL || n != 64 {
		t.Fatalf("small buffer: %v, %d", pkcs11.Error(rv), n)
	}
	rv, n, sig := Sign(uint(s), h, 100)
	if rv != pkcs11.CKR_OK || n != 64 || len(sig) != 64 {
		t.Fatalf("sign: %v, %d", pkcs11.Error(rv), n)
	}
	if !ecdsaOK(ecPublic(t, s, pub), h, sig) {
		t.Fatal("signature after a length query does not verify")
	}
	rv, _, _ = Sign(uint(s), h, 100)
	wantCode(t, "after the operation ended", rv, pkcs11.CKR_OPERATION_NOT_INITIALIZED)

	// C_EncryptUpdate with a block mode outputs the whole blocks it has: a NULL output reports
	// their length and consumes nothing, a buffer too small answers CKR_BUFFER_TOO_SMALL with the
	// length and keeps the operation (v2.40 §5.2, §5.8), and C_EncryptFinal has nothing left.
	k := aesKey(t, s, bytes.Repeat([]byte{1}, 16))
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
	if rv, n := EncryptUpdate(uint(s), make([]byte, 16), -1); rv != pkcs11.CKR_OK || n != 16 {
		t.Fatalf("update length query: %v, %d", pkcs11.Error(rv), n)
	}
	if rv, n := EncryptUpdate(uint(s), make([]byte, 16), 8); rv != pkcs11.CKR_BUFFER_TOO_SMALL || n != 16 {
		t.Fatalf("update into 8 bytes: %v, %d", pkcs11.Error(rv), n)
	}
	if rv, n := EncryptUpdate(uint(s), make([]byte, 16), 16); rv != pkcs11.CKR_OK || n != 16 {
		t.Fatalf("update: %v, %d", pkcs11.Error(rv), n)
	}
	ct, err := p.EncryptFinal(s)
	must(t, err)
	if len(ct) != 0 {
		t.Fatalf("C_EncryptFinal gave %d bytes, want none (the block came out of the update)", len(ct))
	}
	// A single-part call cannot end a multi-part operation.
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
	_, err = p.EncryptUpdate(s, make([]byte, 16))
	must(t, err)
	_, err = p.Encrypt(s, make([]byte, 16))
	wantRV(t, "C_Encrypt after C_EncryptUpdate", err, pkcs11.CKR_OPERATION_ACTIVE)
}

// A session that is not logged in sees the token's public objects (CKA_PRIVATE false) and reads
// their attributes, as the spec's public sessions do; private objects stay invisible, and their
// handles are invalid once the application logs out. The cloudhsm profile keeps CloudHSM's rule:
// nothing is visible before a login.
func TestPublicObjectsInPublicSessions(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			id := []byte("public-" + profile)
			pub, priv, err := p.GenerateKeyPair(s, mechs(pkcs11.CKM_EC_KEY_PAIR_GEN, nil),
				[]*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, p256OID),
					pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
					pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
					pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
					pkcs11.NewAttribute(pkcs11.CKA_ID, id),
				},
				[]*pkcs11.Attribute{
					pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
					pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
					pkcs11.NewAttribute(pkcs11.CKA_ID, id),
				})
			must(t, err)
			point := attr(t, s, pub, pkcs11.CKA_EC_POINT)
			must(t, p.Logout(s))

			must(t, p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, id)}))
			hs, _, err := p.FindObjects(s, 10)
			must(t, err)
			must(t, p.FindObjectsFinal(s))
			if profile == cloudhsm {
				if len(hs) != 0 {
					t.Fatalf("profile cloudhsm: a public session sees %v", hs)
				}
				_, err = p.GetAttributeValue(s, pub, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
				wantRV(t, "profile cloudhsm: a public key's attributes without a login", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
				return
			}
			if len(hs) != 1 || hs[0] != pub {
				t.Fatalf("a public session finds %v for CKA_ID %q, want only the public key %d", hs, id, pub)
			}
			if got := attr(t, s, pub, pkcs11.CKA_EC_POINT); !bytes.Equal(got, point) {
				t.Fatalf("CKA_EC_POINT without a login: %x, want %x", got, point)
			}
			_, err = p.GetAttributeValue(s, priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
			wantRV(t, "a private key's attributes after logout", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
			_, err = p.GetObjectSize(s, priv)
			wantRV(t, "a private key's size after logout", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
			must(t, p.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)}))
			hs, _, err = p.FindObjects(s, 10)
			must(t, err)
			must(t, p.FindObjectsFinal(s))
			if len(hs) != 0 {
				t.Fatalf("a public session finds private keys %v", hs)
			}
		})
	}
}
