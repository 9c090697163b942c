package keyspec

import (
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// TestEverySpecSignsOrEncryptsWithWhatItGenerates: each asymmetric spec's key pair reads back
// from its PKCS#8 and SPKI encodings, and every algorithm of the spec works with it: signatures
// verify (and a tampered one does not), RSA ciphertexts decrypt, ECDH agrees both ways.
func TestEverySpecSignsOrEncryptsWithWhatItGenerates(t *testing.T) {
	for spec, usages := range specs {
		if !Asymmetric(spec) {
			continue
		}
		priv, pub, err := Generate(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if _, err := ParsePrivate(priv); err != nil {
			t.Fatalf("%s private key: %v", spec, err)
		}
		if _, err := ParsePublic(pub); err != nil {
			t.Fatalf("%s public key: %v", spec, err)
		}
		for _, alg := range usages[SignVerify] {
			mt := "RAW"
			msg := []byte("message")
			if alg == "ED25519_PH_SHA_512" {
				mt, msg = "DIGEST", make([]byte, 64)
			}
			prepared, perr := Prepare(alg, mt, msg)
			if perr != nil {
				t.Fatalf("%s %s: %v", spec, alg, perr)
			}
			sig, err := Sign(priv, alg, prepared)
			if err != nil {
				t.Fatalf("%s %s: %v", spec, alg, err)
			}
			if ok, err := Verify(pub, alg, prepared, sig); !ok || err != nil {
				t.Fatalf("%s %s: own signature rejected (%v)", spec, alg, err)
			}
			sig[len(sig)-1] ^= 1
			if ok, _ := Verify(pub, alg, prepared, sig); ok {
				t.Fatalf("%s %s: tampered signature accepted", spec, alg)
			}
		}
		for _, alg := range usages[EncryptDecrypt] {
			ct, err := Encrypt(pub, spec, alg, []byte("plaintext"))
			if err != nil {
				t.Fatalf("%s %s: %v", spec, alg, err)
			}
			if got, err := Decrypt(priv, alg, ct); err != nil || string(got) != "plaintext" {
				t.Fatalf("%s %s: %q %v", spec, alg, got, err)
			}
		}
		if usages[KeyAgreement] != nil {
			priv2, pub2, _ := Generate(spec)
			a, err1 := Derive(priv, pub2)
			b, err2 := Derive(priv2, pub)
			if err1 != nil || err2 != nil || string(a) != string(b) {
				t.Fatalf("%s: ECDH does not agree (%v, %v)", spec, err1, err2)
			}
		}
	}
}

// TestMaxPlaintextIsAWSTable: the OAEP bound gives the Encrypt operation's table.
func TestMaxPlaintextIsAWSTable(t *testing.T) {
	for _, tc := range []struct {
		bits        int
		sha1, sha25 int
	}{{2048, 214, 190}, {3072, 342, 318}, {4096, 470, 446}} {
		if MaxPlaintext(tc.bits/8, "RSAES_OAEP_SHA_1") != tc.sha1 || MaxPlaintext(tc.bits/8, "RSAES_OAEP_SHA_256") != tc.sha25 {
			t.Fatalf("RSA %d: %d %d", tc.bits, MaxPlaintext(tc.bits/8, "RSAES_OAEP_SHA_1"), MaxPlaintext(tc.bits/8, "RSAES_OAEP_SHA_256"))
		}
	}
}

// TestSecp256k1Encoding: the hand-written encodings carry decred's key exactly, and a
// secp256k1 public key is no peer for ECDH with a NIST key.
func TestSecp256k1Encoding(t *testing.T) {
	priv, pub, err := Generate("ECC_SECG_P256K1")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePrivate(priv)
	q, _ := ParsePublic(pub)
	if !p.(*secp256k1.PrivateKey).PubKey().IsEqual(q.(*secp256k1.PublicKey)) {
		t.Fatal("secp256k1: the public key is not the private key's")
	}
	nist, _, _ := Generate("ECC_NIST_P256")
	if _, err := Derive(nist, pub); err == nil {
		t.Fatal("ECDH with a secp256k1 peer")
	}
}
