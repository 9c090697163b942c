package moduletest

import (
	"bytes"
	"testing"

	"github.com/miekg/pkcs11"
)

// A single-part call that asks the output length (or has too little room) leaves its operation
// active as a single-part one (v2.40 §5.2): a multi-part call meanwhile is CKR_OPERATION_ACTIVE
// and the operation still ends with the single-part call.
func TestSinglePartLengthQueryKeepsItsOperation(t *testing.T) {
	start(t, standard)
	s := session(t)
	data := []byte("the data to digest")
	want := sum256(data)

	must(t, p.DigestInit(s, mechs(pkcs11.CKM_SHA256, nil)))
	rv, n, _ := Digest(uint(s), data, -1)
	if rv != pkcs11.CKR_OK || n != 32 {
		t.Fatalf("C_Digest length query: rv %#x, %d", rv, n)
	}
	rv, _, _ = DigestFinal(uint(s), 64)
	wantCode(t, "C_DigestFinal after a C_Digest length query", rv, pkcs11.CKR_OPERATION_ACTIVE)
	wantRV(t, "C_DigestUpdate after a C_Digest length query", p.DigestUpdate(s, data), pkcs11.CKR_OPERATION_ACTIVE)
	rv, _, out := Digest(uint(s), data, 64)
	if rv != pkcs11.CKR_OK || !bytes.Equal(out, want) {
		t.Fatalf("C_Digest after the refused calls: rv %#x, %x", rv, out)
	}

	k := aesKey(t, s, bytes.Repeat([]byte{7}, 16), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
	block := bytes.Repeat([]byte{1}, 16)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
	if rv, n, _ := Encrypt(uint(s), block, -1); rv != pkcs11.CKR_OK || n != 16 {
		t.Fatalf("C_Encrypt length query: rv %#x, %d", rv, n)
	}
	rv, _ = EncryptUpdate(uint(s), block, 64)
	wantCode(t, "C_EncryptUpdate after a C_Encrypt length query", rv, pkcs11.CKR_OPERATION_ACTIVE)
	rv, _, _ = Encrypt(uint(s), block, 4)
	wantCode(t, "C_Encrypt with too little room", rv, pkcs11.CKR_BUFFER_TOO_SMALL)
	_, err := p.EncryptFinal(s)
	wantRV(t, "C_EncryptFinal after C_Encrypt's CKR_BUFFER_TOO_SMALL", err, pkcs11.CKR_OPERATION_ACTIVE)
	if rv, n, _ := Encrypt(uint(s), block, 16); rv != pkcs11.CKR_OK || n != 16 {
		t.Fatalf("C_Encrypt after the refused calls: rv %#x, %d", rv, n)
	}

	_, priv := ecKeyPair(t, s, false)
	must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA_SHA256, nil), priv))
	if rv, _, _ := Sign(uint(s), data, -1); rv != pkcs11.CKR_OK {
		t.Fatalf("C_Sign length query: rv %#x", rv)
	}
	wantRV(t, "C_SignUpdate after a C_Sign length query", p.SignUpdate(s, data), pkcs11.CKR_OPERATION_ACTIVE)
	_, err = p.SignFinal(s)
	wantRV(t, "C_SignFinal after a C_Sign length query", err, pkcs11.CKR_OPERATION_ACTIVE)
	if rv, _, sig := Sign(uint(s), data, 256); rv != pkcs11.CKR_OK || len(sig) == 0 {
		t.Fatalf("C_Sign after the refused calls: rv %#x", rv)
	}
}
