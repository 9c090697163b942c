package mech

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Check and the operations agree, for every registered mechanism, every kind of key and a range
// of parameters: when Check refuses, the operation refuses with the same code; when Check
// passes, the operation never answers a key or parameter code (only data-dependent ones, which
// are not Init's). So a C_*Init answered by Check cannot move an error to a later call, or
// invent one.
func TestCheckAgreesWithTheOperations(t *testing.T) {
	_, rsaPriv, rsaPub := rsaKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	smallPrivObj, smallPubObj := rsaObjects(small)
	_, ecPriv, ecPub := ecKeysFromScalar(t, curves[0], bytes.Repeat([]byte{7}, 32))
	k1Priv := ecPrivateFromScalar(t, secp256k1OID, bytes.Repeat([]byte{7}, 32))
	k1Pub := ecPublicFromPoint(t, secp256k1OID, k1Priv.impl.(*material).ecPub.point())
	edSeed := bytes.Repeat([]byte{3}, 32)
	edPrivObj, edPubObj := edObjects(ed25519Name, edSeed, derOctetString(ed25519.NewKeyFromSeed(edSeed).Public().(ed25519.PublicKey)))
	keys := map[string]*Key{
		"aes128": secretKey(t, p11.CKK_AES, make([]byte, 16)), "aes256": secretKey(t, p11.CKK_AES, make([]byte, 32)),
		"aes-bad-length":  secretKey(t, p11.CKK_AES, make([]byte, 20)),
		"generic":         secretKey(t, p11.CKK_GENERIC_SECRET, make([]byte, 32)),
		"des3":            secretKey(t, p11.CKK_DES3, bytes.Repeat([]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}, 3)),
		"des3-bad-length": secretKey(t, p11.CKK_DES3, make([]byte, 16)),
		"des":             secretKey(t, p11.CKK_DES, []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}),
		"des-bad-length":  secretKey(t, p11.CKK_DES, make([]byte, 7)),
		"rsa-private":     rsaPriv, "rsa-public": rsaPub,
		"rsa512-private": mustKey(t, smallPrivObj), "rsa512-public": mustKey(t, smallPubObj),
		"ec-private": ecPriv, "ec-public": ecPub, "secp256k1-private": k1Priv, "secp256k1-public": k1Pub,
		"ed25519-private": mustKey(t, edPrivObj), "ed25519-public": mustKey(t, edPubObj),
	}
	params := []any{nil, ckm.IV(make([]byte, 16)), ckm.IV(make([]byte, 8)), ckm.IV(make([]byte, 4)),
		&ckm.GCMParams{IV: make([]byte, 12), TagBits: 128}, &ckm.GCMParams{TagBits: 128}, &ckm.GCMParams{IV: make([]byte, 12), TagBits: 200},
		&ckm.CTRParams{CounterBits: 32, CB: make([]byte, 16)}, &ckm.CTRParams{CounterBits: 0, CB: make([]byte, 16)},
		&ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256, SaltLen: 32}, &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA1, SaltLen: 32},
		&ckm.PSSParams{Hash: p11.CKM_SHA_1, MGF: p11.CKG_MGF1_SHA1, SaltLen: 20}, &ckm.PSSParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256, SaltLen: 4000},
		&ckm.OAEPParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256}, &ckm.OAEPParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA1}}
	// Key and parameter codes, which Init must give; anything else depends on the data.
	initCodes := map[uint32]bool{p11.CKR_MECHANISM_INVALID: true, p11.CKR_KEY_TYPE_INCONSISTENT: true,
		p11.CKR_KEY_SIZE_RANGE: true, p11.CKR_MECHANISM_PARAM_INVALID: true}
	data := make([]byte, 32) // a SHA-256-sized input: valid for every raw-hash mechanism
	checked := 0
	for _, typ := range Types() {
		for kname, k := range keys {
			for _, param := range params {
				m := ckm.Mechanism{Type: typ, Param: param}
				for _, usage := range []uint32{p11.CKA_ENCRYPT, p11.CKA_DECRYPT, p11.CKA_SIGN, p11.CKA_VERIFY} {
					var opErr error
					switch usage {
					case p11.CKA_ENCRYPT:
						_, _, opErr = Encrypt(m, k, data[:16])
					case p11.CKA_DECRYPT:
						_, opErr = Decrypt(m, k, data)
					case p11.CKA_SIGN:
						_, opErr = Sign(m, k, data)
					case p11.CKA_VERIFY:
						opErr = Verify(m, k, data, make([]byte, 64))
					}
					checkErr := Check(usage, m, k)
					what := fmt.Sprintf("%s usage %#x key %s param %T%v", p11.MechName(typ), usage, kname, param, param)
					checked++
					switch {
					case checkErr != nil && p11.Code(checkErr) != p11.Code(opErr):
						t.Errorf("%s: Check answers %s, the operation %s (%v)", what, p11.RVName(p11.Code(checkErr)), p11.RVName(p11.Code(opErr)), opErr)
					case checkErr == nil && opErr != nil && initCodes[p11.Code(opErr)]:
						t.Errorf("%s: Check passes, the operation answers %v", what, opErr)
					}
				}
			}
		}
	}
	t.Logf("%d mechanism, key, parameter and operation combinations agree", checked)
}
