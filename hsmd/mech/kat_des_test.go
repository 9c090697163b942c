package mech

import (
	"bytes"
	"crypto/aes"
	"crypto/des"
	"math/bits"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Single DES (PKCS #11 v2.40 Historical Mechanisms, "General block cipher": CKM_DES_KEY_GEN,
// CKM_DES_ECB, CKM_DES_CBC, CKM_DES_CBC_PAD), which google/pkcs11test's cipher cases and
// fixtures use. Known answers: FIPS 81's DES examples ("Now is the time for all ") in ECB and
// CBC under key 0123456789ABCDEF.
func TestDESKnownAnswers(t *testing.T) {
	k := secretKey(t, p11.CKK_DES, unhex(t, "0123456789ABCDEF"))
	ct, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_DES_ECB}, k, []byte("Now is the time for all "))
	mustOK(t, err)
	if want := unhex(t, "3FA40E8A984D4815 6A271787AB8883F9 893D51EC4B563B53"); !bytes.Equal(ct, want) {
		t.Fatalf("FIPS 81 ECB: %x, want %x", ct, want)
	}
	pt, err := Decrypt(ckm.Mechanism{Type: p11.CKM_DES_ECB}, k, ct)
	mustOK(t, err)
	if string(pt) != "Now is the time for all " {
		t.Fatalf("ECB decrypt: %q", pt)
	}
	cbc := ckm.Mechanism{Type: p11.CKM_DES_CBC, Param: ckm.IV(unhex(t, "1234567890ABCDEF"))}
	ct, _, err = Encrypt(cbc, k, []byte("Now is the time for all "))
	mustOK(t, err)
	if want := unhex(t, "E5C7CDDE872BF27C 43E934008C389C0F 683788499A7C05F6"); !bytes.Equal(ct, want) {
		t.Fatalf("FIPS 81 CBC: %x, want %x", ct, want)
	}
	pt, err = Decrypt(cbc, k, ct)
	mustOK(t, err)
	if string(pt) != "Now is the time for all " {
		t.Fatalf("CBC decrypt: %q", pt)
	}
	pad := ckm.Mechanism{Type: p11.CKM_DES_CBC_PAD, Param: cbc.Param}
	for _, msg := range []string{"", "Now is", "Now is t", "Now is the time for all"} {
		ct, _, err := Encrypt(pad, k, []byte(msg))
		mustOK(t, err)
		n := 8 - len(msg)%8
		want, _, err := Encrypt(cbc, k, append([]byte(msg), bytes.Repeat([]byte{byte(n)}, n)...))
		mustOK(t, err)
		if !bytes.Equal(ct, want) {
			t.Fatalf("CBC_PAD(%q) = %x, want CBC of the padded text %x", msg, ct, want)
		}
		pt, err := Decrypt(pad, k, ct)
		mustOK(t, err)
		if string(pt) != msg {
			t.Fatalf("CBC_PAD round trip: %q, want %q", pt, msg)
		}
	}

	// The refusals: input not whole blocks, an IV of another size, keys of the other DES types.
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES_ECB}, k, make([]byte, 12))
	wantCode(t, err, p11.CKR_DATA_LEN_RANGE)
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES_CBC, Param: ckm.IV(make([]byte, 16))}, k, make([]byte, 8))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	des3 := secretKey(t, p11.CKK_DES3, bytes.Repeat(unhex(t, "0123456789ABCDEF"), 3))
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES_ECB}, des3, make([]byte, 8))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, k, make([]byte, 8))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)
	for _, m := range []uint32{p11.CKM_DES_KEY_GEN, p11.CKM_DES_ECB, p11.CKM_DES_CBC, p11.CKM_DES_CBC_PAD} {
		info, err := Lookup(m)
		mustOK(t, err)
		if info.MinKeySize != 8 || info.MaxKeySize != 8 {
			t.Errorf("%s: key sizes %d-%d, want 8 bytes", p11.MechName(m), info.MinKeySize, info.MaxKeySize)
		}
	}
}

// CKM_DES_KEY_GEN makes 8 bytes of odd parity, different each time, and takes no CKA_VALUE_LEN.
func TestDESKeyGen(t *testing.T) {
	implied, err := Implied(p11.CKM_DES_KEY_GEN)
	mustOK(t, err)
	if kt, _ := implied.Ulong(p11.CKA_KEY_TYPE); kt != p11.CKK_DES {
		t.Fatalf("implied key type %#x", kt)
	}
	seen := map[string]bool{}
	for range 20 {
		got, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_DES_KEY_GEN}, attr.Set{})
		mustOK(t, err)
		v := got[p11.CKA_VALUE]
		if len(v) != 8 || len(got) != 1 {
			t.Fatalf("generated %v", got)
		}
		for i, b := range v {
			if bits.OnesCount8(b)%2 != 1 {
				t.Fatalf("byte %d of %x has even parity", i, v)
			}
		}
		if seen[string(v)] {
			t.Fatal("the same key twice")
		}
		seen[string(v)] = true
	}
	_, err = GenerateKey(ckm.Mechanism{Type: p11.CKM_DES_KEY_GEN}, attr.Set{p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_DES3)})
	wantCode(t, err, p11.CKR_TEMPLATE_INCONSISTENT)
}

// DES block modes wrap and unwrap as the DES3 ones do; a DES key, whose type fixes its length,
// is zero-padded under a 16-byte AES block and cut back to 8 bytes on unwrap.
func TestDESWrap(t *testing.T) {
	desValue := unhex(t, "0123456789ABCDEF")
	kek := secretKey(t, p11.CKK_DES, unhex(t, "1F1F1F1F0E0E0E0E"))
	desTmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_DES)}
	b, _ := des.NewCipher(unhex(t, "1F1F1F1F0E0E0E0E"))
	want := make([]byte, 8)
	b.Encrypt(want, desValue)
	w, err := Wrap(ckm.Mechanism{Type: p11.CKM_DES_ECB}, kek, secretObj(p11.CKK_DES, desValue))
	mustOK(t, err)
	if !bytes.Equal(w, want) {
		t.Fatalf("DES-ECB blob %x, want %x", w, want)
	}
	mat, err := Unwrap(ckm.Mechanism{Type: p11.CKM_DES_ECB}, kek, w, desTmpl)
	mustOK(t, err)
	if !bytes.Equal(mat[p11.CKA_VALUE], desValue) {
		t.Fatalf("unwrapped %x", mat[p11.CKA_VALUE])
	}
	aesKEK := bytes.Repeat([]byte{0x42}, 16)
	w, err = Wrap(ckm.Mechanism{Type: p11.CKM_AES_ECB}, secretKey(t, p11.CKK_AES, aesKEK), secretObj(p11.CKK_DES, desValue))
	mustOK(t, err)
	ab, _ := aes.NewCipher(aesKEK)
	want = make([]byte, 16)
	ab.Encrypt(want, append(append([]byte{}, desValue...), make([]byte, 8)...))
	if !bytes.Equal(w, want) {
		t.Fatalf("AES-ECB blob of a DES key %x, want %x", w, want)
	}
	mat, err = Unwrap(ckm.Mechanism{Type: p11.CKM_AES_ECB}, secretKey(t, p11.CKK_AES, aesKEK), w, desTmpl)
	mustOK(t, err)
	if !bytes.Equal(mat[p11.CKA_VALUE], desValue) {
		t.Fatalf("AES-ECB unwrapped %x, want the 8-byte DES key", mat[p11.CKA_VALUE])
	}
	// Unwrapped bytes of bad parity are no DES key.
	_, err = Unwrap(ckm.Mechanism{Type: p11.CKM_DES_ECB}, kek, make([]byte, 8), desTmpl)
	wantCode(t, err, p11.CKR_WRAPPED_KEY_INVALID)
}
