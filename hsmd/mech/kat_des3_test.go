package mech

import (
	"bytes"
	"crypto/des"
	"math/bits"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Triple DES, which CloudHSM still lists (AWS-mech footnote 5: not in FIPS mode after 2023).
// Known answers: NIST SP 800-67 Rev. 1's TDEA example (three distinct keys, ECB), and FIPS 81's
// DES examples in ECB and CBC ("Now is the time for all "), which TDEA reproduces with
// K1 = K2 = K3 (keying option 3 degenerates to single DES).
func TestDES3KnownAnswers(t *testing.T) {
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

	fips81 := secretKey(t, p11.CKK_DES3, bytes.Repeat(unhex(t, "0123456789ABCDEF"), 3))
	ct, _, err = Encrypt(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, fips81, []byte("Now is t"))
	mustOK(t, err)
	if want := unhex(t, "3FA40E8A984D4815"); !bytes.Equal(ct, want) {
		t.Fatalf("FIPS 81 ECB: %x, want %x", ct, want)
	}
	cbc := ckm.Mechanism{Type: p11.CKM_DES3_CBC, Param: ckm.IV(unhex(t, "1234567890ABCDEF"))}
	ct, _, err = Encrypt(cbc, fips81, []byte("Now is the time for all "))
	mustOK(t, err)
	if want := unhex(t, "E5C7CDDE872BF27C 43E934008C389C0F 683788499A7C05F6"); !bytes.Equal(ct, want) {
		t.Fatalf("FIPS 81 CBC: %x, want %x", ct, want)
	}
	pt, err = Decrypt(cbc, fips81, ct)
	mustOK(t, err)
	if string(pt) != "Now is the time for all " {
		t.Fatalf("CBC decrypt: %q", pt)
	}

	// CBC_PAD is CBC over the PKCS #7 padding to 8 bytes: one to eight bytes, each the count.
	pad := ckm.Mechanism{Type: p11.CKM_DES3_CBC_PAD, Param: cbc.Param}
	for _, msg := range []string{"", "Now is", "Now is t", "Now is the time for all"} {
		ct, _, err := Encrypt(pad, fips81, []byte(msg))
		mustOK(t, err)
		n := 8 - len(msg)%8
		padded := append([]byte(msg), bytes.Repeat([]byte{byte(n)}, n)...)
		want, _, err := Encrypt(cbc, fips81, padded)
		mustOK(t, err)
		if !bytes.Equal(ct, want) {
			t.Fatalf("CBC_PAD(%q) = %x, want CBC of the padded text %x", msg, ct, want)
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

// The refusals a DES3 mechanism shares with the AES modes: input that is not whole blocks, an
// IV that is not one block, a key of another type, and DES3 mechanisms' CK_MECHANISM_INFO.
func TestDES3Errors(t *testing.T) {
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
	for _, m := range []uint32{p11.CKM_DES3_KEY_GEN, p11.CKM_DES3_ECB, p11.CKM_DES3_CBC, p11.CKM_DES3_CBC_PAD} {
		info, err := Lookup(m)
		mustOK(t, err)
		if info.MinKeySize != 24 || info.MaxKeySize != 24 {
			t.Errorf("%s: key sizes %d-%d, want 24 bytes", p11.MechName(m), info.MinKeySize, info.MaxKeySize)
		}
	}
}

// CKM_DES3_KEY_GEN makes 24 bytes of odd parity ("generates DES3 keys with their parity bits
// set properly") that crypto/des takes, different each time; it takes no CKA_VALUE_LEN.
func TestDES3KeyGen(t *testing.T) {
	implied, err := Implied(p11.CKM_DES3_KEY_GEN)
	mustOK(t, err)
	if kt, _ := implied.Ulong(p11.CKA_KEY_TYPE); kt != p11.CKK_DES3 {
		t.Fatalf("implied key type %#x", kt)
	}
	seen := map[string]bool{}
	for range 20 {
		got, err := GenerateKey(ckm.Mechanism{Type: p11.CKM_DES3_KEY_GEN}, attr.Set{})
		mustOK(t, err)
		v := got[p11.CKA_VALUE]
		if len(v) != 24 || len(got) != 1 {
			t.Fatalf("generated %v", got)
		}
		for i, b := range v {
			if bits.OnesCount8(b)%2 != 1 {
				t.Fatalf("byte %d of %x has even parity", i, v)
			}
		}
		if _, err := des.NewTripleDESCipher(v); err != nil {
			t.Fatal(err)
		}
		if seen[string(v)] {
			t.Fatal("the same key twice")
		}
		seen[string(v)] = true
	}
	_, err = GenerateKey(ckm.Mechanism{Type: p11.CKM_DES3_KEY_GEN}, attr.Set{p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)})
	wantCode(t, err, p11.CKR_TEMPLATE_INCONSISTENT)
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
