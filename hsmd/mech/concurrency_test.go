package mech

import (
	"sync"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// The node caches one *Key per object and uses it from many requests at once; run with -race.
func TestKeySharedAcrossGoroutines(t *testing.T) {
	_, rsaPriv, rsaPub := rsaKeys(t)
	_, ecPriv, ecPub := ecKeysFromScalar(t, curves[0], unhex(t, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"))
	aesKey := secretKey(t, p11.CKK_AES, make([]byte, 32))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				msg := []byte{byte(g), byte(i)}
				sig, err := Sign(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, ecPriv, msg)
				if err != nil || Verify(ckm.Mechanism{Type: p11.CKM_ECDSA_SHA256}, ecPub, msg, sig) != nil {
					t.Error("ECDSA", err)
				}
				sig, err = Sign(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, rsaPriv, msg)
				if err != nil || Verify(ckm.Mechanism{Type: p11.CKM_SHA256_RSA_PKCS}, rsaPub, msg, sig) != nil {
					t.Error("RSA", err)
				}
				m := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}
				ct, used, err := Encrypt(m, aesKey, msg)
				if err != nil {
					t.Error("GCM", err)
					continue
				}
				if pt, err := Decrypt(used, aesKey, ct); err != nil || string(pt) != string(msg) {
					t.Error("GCM round trip", err)
				}
			}
		}()
	}
	wg.Wait()
}
