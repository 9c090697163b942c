package mech

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// BenchmarkSign compares the registry's hot paths with the same operation done directly with
// the standard library, so the cost of the registry itself (dispatch, checks, output layout)
// is visible: ECDSA P-256 and RSA-2048 PKCS#1 v1.5 signatures of a SHA-256 hash, and AES-256-GCM
// encryption of 1 KiB (the node's other per-request hot path).
func BenchmarkSign(b *testing.B) {
	digest := sha256.Sum256([]byte("benchmark"))

	b.Run("ECDSA-P256", func(b *testing.B) {
		std, priv, _ := ecKeysFromScalar(b, curves[0], unhex(b, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"))
		m := ckm.Mechanism{Type: p11.CKM_ECDSA}
		b.Run("registry", func(b *testing.B) {
			for b.Loop() {
				if _, err := Sign(m, priv, digest[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("stdlib", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := ecdsa.Sign(rand.Reader, std, digest[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	b.Run("RSA2048-PKCS", func(b *testing.B) {
		std, priv, _ := rsaKeys(b)
		m := ckm.Mechanism{Type: p11.CKM_RSA_PKCS}
		in := append(append([]byte(nil), sha256DigestInfo...), digest[:]...)
		b.Run("registry", func(b *testing.B) {
			for b.Loop() {
				if _, err := Sign(m, priv, in); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("stdlib", func(b *testing.B) {
			for b.Loop() {
				if _, err := rsa.SignPKCS1v15(nil, std, crypto.SHA256, digest[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	b.Run("AES256-GCM-1KiB-encrypt", func(b *testing.B) {
		key := make([]byte, 32)
		k := secretKey(b, p11.CKK_AES, key)
		plain := make([]byte, 1024)
		m := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: make([]byte, 12), TagBits: 128}}
		b.Run("registry", func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				if _, _, err := Encrypt(m, k, plain); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("stdlib", func(b *testing.B) {
			blk, _ := aes.NewCipher(key)
			g, _ := cipher.NewGCM(blk)
			iv := make([]byte, 12)
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				_ = g.Seal(make([]byte, 0, len(plain)+16), iv, plain, nil)
			}
		})
	})
}
