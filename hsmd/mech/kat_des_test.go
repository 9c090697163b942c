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

// Triple DES, which CloudHSM still lists (AWS-mech footnote 5: not in FIPS mode after 2023), and
// single DES (v2.40 Historical Mechanisms, "General block cipher"), which profile standard
// offers. Known answers: NIST SP 800-67 Rev. 1's TDEA example (three distinct keys, ECB), and
// FIPS 81's DES examples in ECB and CBC ("Now is the time for all "), under DES and under TDEA,
// which reproduces them with K1 = K2 = K3 (keying option 3 degenerates to single DES).
func TestDESKnownAnswers(t *testing.T) {
	sp80067 := secretKey(t, p11.CKK_DES3, unhex(t, "0123456789ABCDEF 23456789ABCDEF01 456789ABCDEF0123"))
	ct, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, sp80067, []byte("The qufck brown fox jump"))
	mustOK(t, err)
	if want := unhex(t, "A826FD8CE53B855F CCE21C8112256FE6 68D5C05DD9B6B900"); !bytes.Equal(ct, want) {
		t.Fatalf("SP 800-67 ECB: %x, want %x", ct, want)
	}
	pt, err := Decrypt(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, sp80067, ct)
	mustOK(t, err)
	if string(pt) != "The qufck brown fox jump" {
		t.Fatalf("ECB decrypt: %q", pt)
	}

	// FIPS 81's examples, under single DES and under TDEA with K1 = K2 = K3.
	for _, c := range []struct {
		key              *Key
		ecb, cbc, cbcPad uint32
	}{
		{secretKey(t, p11.CKK_DES3, bytes.Repeat(unhex(t, "0123456789ABCDEF"), 3)), p11.CKM_DES3_ECB, p11.CKM_DES3_CBC, p11.CKM_DES3_CBC_PAD},
		{secretKey(t, p11.CKK_DES, unhex(t, "0123456789ABCDEF")), p11.CKM_DES_ECB, p11.CKM_DES_CBC, p11.CKM_DES_CBC_PAD},
	} {
		fips81, name := c.key, p11.MechName(c.ecb)
		ct, _, err = Encrypt(ckm.Mechanism{Type: c.ecb}, fips81, []byte("Now is the time for all "))
		mustOK(t, err)
		if want := unhex(t, "3FA40E8A984D4815 6A271787AB8883F9 893D51EC4B563B53"); !bytes.Equal(ct, want) {
			t.Fatalf("FIPS 81 %s: %x, want %x", name, ct, want)
		}
		cbc := ckm.Mechanism{Type: c.cbc, Param: ckm.IV(unhex(t, "1234567890ABCDEF"))}
		ct, _, err = Encrypt(cbc, fips81, []byte("Now is the time for all "))
		mustOK(t, err)
		if want := unhex(t, "E5C7CDDE872BF27C 43E934008C389C0F 683788499A7C05F6"); !bytes.Equal(ct, want) {
			t.Fatalf("FIPS 81 %s: %x, want %x", p11.MechName(c.cbc), ct, want)
		}
		pt, err = Decrypt(cbc, fips81, ct)
		mustOK(t, err)
		if string(pt) != "Now is the time for all " {
			t.Fatalf("%s decrypt: %q", p11.MechName(c.cbc), pt)
		}

		// CBC_PAD is CBC over the PKCS #7 padding to 8 bytes: one to eight bytes, each the count.
		pad := ckm.Mechanism{Type: c.cbcPad, Param: cbc.Param}
		for _, msg := range []string{"", "Now is", "Now is t", "Now is the time for all"} {
			ct, _, err := Encrypt(pad, fips81, []byte(msg))
			mustOK(t, err)
			n := 8 - len(msg)%8
			padded := append([]byte(msg), bytes.Repeat([]byte{byte(n)}, n)...)
			want, _, err := Encrypt(cbc, fips81, padded)
			mustOK(t, err)
			if !bytes.Equal(ct, want) {
				t.Fatalf("%s(%q) = %x, want CBC of the padded text %x", p11.MechName(c.cbcPad), msg, ct, want)
			}
			pt, err := Decrypt(pad, fips81, ct)
			mustOK(t, err)
			if string(pt) != msg {
				t.Fatalf("CBC_PAD round trip: %q, want %q", pt, msg)
			}
		}
		// A bad pad is CKR_ENCRYPTED_DATA_INVALID.
		bad, _, err := Encrypt(cbc, fips81, []byte("Now is the time for al\x03\x02"))
		mustOK(t, err)
		_, err = Decrypt(pad, fips81, bad)
		wantCode(t, err, p11.CKR_ENCRYPTED_DATA_INVALID)
	}
}

// The refusals a DES3 or DES mechanism shares with the AES modes: input that is not whole
// blocks, an IV that is not one block, a key of another type, and the mechanisms'
// CK_MECHANISM_INFO.
func TestDESErrors(t *testing.T) {
	k := secretKey(t, p11.CKK_DES3, bytes.Repeat(unhex(t, "0123456789ABCDEF"), 3))
	iv := ckm.IV(make([]byte, 8))
	_, _, err := Encrypt(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, k, make([]byte, 12))
	wantCode(t, err, p11.CKR_DATA_LEN_RANGE)
	_, err = Decrypt(ckm.Mechanism{Type: p11.CKM_DES3_CBC, Param: iv}, k, make([]byte, 12))
	wantCode(t, err, p11.CKR_ENCRYPTED_DATA_LEN_RANGE)
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES3_CBC, Param: ckm.IV(make([]byte, 16))}, k, make([]byte, 8))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	wantCode(t, Check(p11.CKA_ENCRYPT, ckm.Mechanism{Type: p11.CKM_DES3_CBC_PAD}, k), p11.CKR_MECHANISM_PARAM_INVALID)
	aes := secretKey(t, p11.CKK_AES, make([]byte, 24))
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, aes, make([]byte, 8))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_AES_ECB}, k, make([]byte, 16))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)
	wantCode(t, Check(p11.CKA_SIGN, ckm.Mechanism{Type: p11.CKM_DES3_ECB}, k), p11.CKR_MECHANISM_INVALID)
	// Single DES and DES3 keys are not each other's.
	single := secretKey(t, p11.CKK_DES, unhex(t, "0123456789ABCDEF"))
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES_ECB}, k, make([]byte, 8))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, single, make([]byte, 8))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)
	_, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES_CBC, Param: ckm.IV(make([]byte, 16))}, single, make([]byte, 8))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	for size, ms := range map[uint64][]uint32{24: {p11.CKM_DES3_KEY_GEN, p11.CKM_DES3_ECB, p11.CKM_DES3_CBC, p11.CKM_DES3_CBC_PAD},
		8: {p11.CKM_DES_KEY_GEN, p11.CKM_DES_ECB, p11.CKM_DES_CBC, p11.CKM_DES_CBC_PAD}} {
		for _, m := range ms {
			info, err := Lookup(m)
			mustOK(t, err)
			if info.MinKeySize != size || info.MaxKeySize != size {
				t.Errorf("%s: key sizes %d-%d, want %d bytes", p11.MechName(m), info.MinKeySize, info.MaxKeySize, size)
			}
		}
	}
}

// CKM_DES3_KEY_GEN and CKM_DES_KEY_GEN make 24 and 8 bytes of odd parity ("generates DES3 keys"
// and "DES keys" "with their parity bits set properly") that crypto/des takes, different each
// time; they take no CKA_VALUE_LEN, and refuse a template of another key type.
func TestDESKeyGen(t *testing.T) {
	for _, c := range []struct {
		mech  uint32
		kt    uint64
		n     int
		other uint64
		ok    func([]byte) error
	}{
		{p11.CKM_DES3_KEY_GEN, p11.CKK_DES3, 24, p11.CKK_AES, func(v []byte) error { _, err := des.NewTripleDESCipher(v); return err }},
		{p11.CKM_DES_KEY_GEN, p11.CKK_DES, 8, p11.CKK_DES3, func(v []byte) error { _, err := des.NewCipher(v); return err }},
	} {
		implied, err := Implied(c.mech)
		mustOK(t, err)
		if kt, _ := implied.Ulong(p11.CKA_KEY_TYPE); kt != c.kt {
			t.Fatalf("%s: implied key type %#x", p11.MechName(c.mech), kt)
		}
		seen := map[string]bool{}
		for range 20 {
			got, err := GenerateKey(ckm.Mechanism{Type: c.mech}, attr.Set{})
			mustOK(t, err)
			v := got[p11.CKA_VALUE]
			if len(v) != c.n || len(got) != 1 {
				t.Fatalf("%s generated %v", p11.MechName(c.mech), got)
			}
			for i, b := range v {
				if bits.OnesCount8(b)%2 != 1 {
					t.Fatalf("byte %d of %x has even parity", i, v)
				}
			}
			mustOK(t, c.ok(v))
			if seen[string(v)] {
				t.Fatal("the same key twice")
			}
			seen[string(v)] = true
		}
		_, err = GenerateKey(ckm.Mechanism{Type: c.mech}, attr.Set{p11.CKA_KEY_TYPE: attr.Ulong(c.other)})
		wantCode(t, err, p11.CKR_TEMPLATE_INCONSISTENT)
	}
}

// A DES3 key wraps under AES like any secret key; unwrapped bytes that are no DES3 key (wrong
// length or parity) are CKR_WRAPPED_KEY_INVALID.
func TestDES3Unwrap(t *testing.T) {
	kek := secretKey(t, p11.CKK_AES, bytes.Repeat([]byte{9}, 32))
	m := ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}
	tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_DES3)}
	good := bytes.Repeat(unhex(t, "0123456789ABCDEF"), 3)
	w, err := Wrap(m, kek, secretObj(p11.CKK_DES3, good))
	mustOK(t, err)
	got, err := Unwrap(m, kek, w, tmpl)
	mustOK(t, err)
	if !bytes.Equal(got[p11.CKA_VALUE], good) {
		t.Fatal("DES3 key differs after the round trip")
	}
	for _, v := range [][]byte{append(append([]byte(nil), good[:23]...), 0x00), good[:16]} {
		w, err := Wrap(m, kek, secretObj(p11.CKK_GENERIC_SECRET, v))
		mustOK(t, err)
		_, err = Unwrap(m, kek, w, tmpl)
		wantCode(t, err, p11.CKR_WRAPPED_KEY_INVALID)
	}
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
