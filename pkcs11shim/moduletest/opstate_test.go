package moduletest

import (
	"bytes"
	"testing"

	"github.com/miekg/pkcs11"
)

// A single-part call that asks the output length (or has too little room) leaves its operation
// active as a single-part one (v2.40 §5.2): a multi-part call meanwhile is CKR_OPERATION_ACTIVE,
// and, being an error of that call, ends the operation (v2.40 §5.8-5.12).
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
	rv, _, _ = Digest(uint(s), data, 64)
	wantCode(t, "C_Digest after the refused C_DigestFinal", rv, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	must(t, p.DigestInit(s, mechs(pkcs11.CKM_SHA256, nil)))
	rv, _, _ = Digest(uint(s), data, 4)
	wantCode(t, "C_Digest with too little room", rv, pkcs11.CKR_BUFFER_TOO_SMALL)
	wantRV(t, "C_DigestUpdate after C_Digest's CKR_BUFFER_TOO_SMALL", p.DigestUpdate(s, data), pkcs11.CKR_OPERATION_ACTIVE)
	rv, _, _ = DigestFinal(uint(s), 64)
	wantCode(t, "C_DigestFinal after the refused C_DigestUpdate", rv, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	// The length query and the call again, with nothing between, is the ordinary way.
	must(t, p.DigestInit(s, mechs(pkcs11.CKM_SHA256, nil)))
	Digest(uint(s), data, -1)
	rv, _, out := Digest(uint(s), data, 64)
	if rv != pkcs11.CKR_OK || !bytes.Equal(out, want) {
		t.Fatalf("C_Digest after its length query: rv %#x, %x", rv, out)
	}

	k := aesKey(t, s, bytes.Repeat([]byte{7}, 16), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
	block := bytes.Repeat([]byte{1}, 16)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
	if rv, n, _ := Encrypt(uint(s), block, -1); rv != pkcs11.CKR_OK || n != 16 {
		t.Fatalf("C_Encrypt length query: rv %#x, %d", rv, n)
	}
	rv, _ = EncryptUpdate(uint(s), block, 64)
	wantCode(t, "C_EncryptUpdate after a C_Encrypt length query", rv, pkcs11.CKR_OPERATION_ACTIVE)
	rv, _, _ = Encrypt(uint(s), block, 16)
	wantCode(t, "C_Encrypt after the refused C_EncryptUpdate", rv, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
	rv, _, _ = Encrypt(uint(s), block, 4)
	wantCode(t, "C_Encrypt with too little room", rv, pkcs11.CKR_BUFFER_TOO_SMALL)
	_, err := p.EncryptFinal(s)
	wantRV(t, "C_EncryptFinal after C_Encrypt's CKR_BUFFER_TOO_SMALL", err, pkcs11.CKR_OPERATION_ACTIVE)
	rv, _ = EncryptUpdate(uint(s), block, -1)
	wantCode(t, "C_EncryptUpdate after the refused C_EncryptFinal", rv, pkcs11.CKR_OPERATION_NOT_INITIALIZED)

	_, priv := ecKeyPair(t, s, false)
	must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA_SHA256, nil), priv))
	if rv, _, _ := Sign(uint(s), data, -1); rv != pkcs11.CKR_OK {
		t.Fatalf("C_Sign length query: rv %#x", rv)
	}
	wantRV(t, "C_SignUpdate after a C_Sign length query", p.SignUpdate(s, data), pkcs11.CKR_OPERATION_ACTIVE)
	_, err = p.SignFinal(s)
	wantRV(t, "C_SignFinal after the refused C_SignUpdate", err, pkcs11.CKR_OPERATION_NOT_INITIALIZED)
	must(t, p.SignInit(s, mechs(pkcs11.CKM_ECDSA_SHA256, nil), priv))
	Sign(uint(s), data, -1)
	_, err = p.SignFinal(s)
	wantRV(t, "C_SignFinal after a C_Sign length query", err, pkcs11.CKR_OPERATION_ACTIVE)
}
