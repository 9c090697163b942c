package mech

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// RSA from 1024 bits: PKCS#11 sets no minimum, and the suites' fixtures (OpenSC's p11test
// runtest.sh, google/pkcs11test) make RSA-1024 keys. The node generates, parses and uses them;
// CloudHSM's 2048-bit floor is the cloudhsm profile's (pkcs11shim).
func TestRSA1024(t *testing.T) {
	pubAdd, privAdd, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN},
		attr.Set{p11.CKA_MODULUS_BITS: attr.Ulong(1024)}, attr.Set{})
	mustOK(t, err)
	if n := new(big.Int).SetBytes(pubAdd[p11.CKA_MODULUS]).BitLen(); n != 1024 {
		t.Fatalf("modulus of %d bits, want 1024", n)
	}
	priv := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA)}
	for k, v := range privAdd {
		priv[k] = v
	}
	key := mustKey(t, priv)
	h := sha256.Sum256([]byte("rsa-1024"))
	sig, err := Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, key, []byte("rsa-1024"))
	mustOK(t, err)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(pubAdd[p11.CKA_MODULUS]), E: 65537}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("crypto/rsa does not verify the node's RSA-1024 signature: %v", err)
	}
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, []byte("secret"))
	mustOK(t, err)
	pt, err := Decrypt(ckm.Mechanism{Type: p11.CKM_RSA_PKCS}, key, ct)
	mustOK(t, err)
	if string(pt) != "secret" {
		t.Fatalf("decrypted %q", pt)
	}
	for _, bits := range []uint64{768, 1000, 4352} {
		_, _, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_RSA_PKCS_KEY_PAIR_GEN}, attr.Set{p11.CKA_MODULUS_BITS: attr.Ulong(bits)}, attr.Set{})
		wantCode(t, err, p11.CKR_KEY_SIZE_RANGE)
	}
	info, err := Lookup(p11.CKM_RSA_PKCS)
	mustOK(t, err)
	if info.MinKeySize != 1024 {
		t.Fatalf("CKM_RSA_PKCS ulMinKeySize %d, want 1024", info.MinKeySize)
	}
}
