package moduletest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"testing"

	"github.com/miekg/pkcs11"
)

// Each documented difference between the profiles, run in both: what standard does by the
// spec, and how the CloudHSM library fails (or behaves) instead.
func TestProfiles(t *testing.T) {
	type check func(t *testing.T, profile string, s pkcs11.SessionHandle)
	// in returns want[profile].
	in := func(profile string, std, chsm uint) uint {
		if profile == cloudhsm {
			return chsm
		}
		return std
	}
	checks := map[string]check{
		"read-only sessions": func(t *testing.T, profile string, _ pkcs11.SessionHandle) {
			_, err := p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
			wantRV(t, "R/O session", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_FUNCTION_FAILED))
		},
		"C_CopyObject": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			k := aesKey(t, s, make([]byte, 16))
			_, err := p.CopyObject(s, k, nil)
			wantRV(t, "C_CopyObject", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_FUNCTION_NOT_SUPPORTED))
		},
		"C_GetObjectSize": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			k := aesKey(t, s, make([]byte, 16))
			_, err := p.GetObjectSize(s, k)
			wantRV(t, "C_GetObjectSize", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_FUNCTION_NOT_SUPPORTED))
		},
		"C_SeedRandom": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			wantRV(t, "C_SeedRandom", p.SeedRandom(s, []byte("seed")), in(profile, pkcs11.CKR_RANDOM_SEED_NOT_SUPPORTED, pkcs11.CKR_FUNCTION_NOT_SUPPORTED))
		},
		"C_WaitForSlotEvent": func(t *testing.T, profile string, _ pkcs11.SessionHandle) {
			wantCode(t, "C_WaitForSlotEvent", WaitForSlotEvent(pkcs11.CKF_DONT_BLOCK), in(profile, pkcs11.CKR_NO_EVENT, pkcs11.CKR_FUNCTION_NOT_SUPPORTED))
		},
		"C_SetPIN": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			err := p.SetPIN(s, pin, "alice:alicepass2")
			wantRV(t, "C_SetPIN", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_FUNCTION_NOT_SUPPORTED))
			if err == nil {
				wantRV(t, "C_SetPIN with a wrong old PIN", p.SetPIN(s, "alice:nottheone", "alice:alicepass3"), pkcs11.CKR_PIN_INCORRECT)
				must(t, p.SetPIN(s, "alicepass2", "alicepass1")) // the password alone works too
			}
		},
		"C_InitToken, C_InitPIN, dual-function calls": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			wantRV(t, "C_InitToken", p.InitToken(1, "so", "label"), pkcs11.CKR_FUNCTION_NOT_SUPPORTED)
			// Profile standard: the SO's function (TestSOLogin), so a user session is
			// CKR_USER_NOT_LOGGED_IN; the CloudHSM library has none.
			wantRV(t, "C_InitPIN", p.InitPIN(s, "x"), in(profile, pkcs11.CKR_USER_NOT_LOGGED_IN, pkcs11.CKR_FUNCTION_NOT_SUPPORTED))
			_, err := p.DigestEncryptUpdate(s, []byte("x"))
			wantRV(t, "C_DigestEncryptUpdate", err, pkcs11.CKR_FUNCTION_NOT_SUPPORTED)
			_, err = p.DecryptVerifyUpdate(s, []byte("x"))
			wantRV(t, "C_DecryptVerifyUpdate", err, pkcs11.CKR_FUNCTION_NOT_SUPPORTED)
			wantRV(t, "C_SignRecoverInit", p.SignRecoverInit(s, mechs(pkcs11.CKM_RSA_PKCS, nil), 1), pkcs11.CKR_FUNCTION_NOT_SUPPORTED)
		},
		"C_SetAttributeValue of CKA_ID": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			k := aesKey(t, s, make([]byte, 16))
			err := p.SetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_ID, []byte("id"))})
			wantRV(t, "set CKA_ID", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_ATTRIBUTE_READ_ONLY))
			must(t, p.SetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "allowed")}))
		},
		"AES-GCM IV": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			value := bytes.Repeat([]byte{4}, 32)
			k := aesKey(t, s, value)
			block, _ := aes.NewCipher(value)
			aead, _ := cipher.NewGCM(block)
			callerIV := bytes.Repeat([]byte{0xAB}, 12)
			gp := pkcs11.NewGCMParams(callerIV, nil, 128)
			defer gp.Free()
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, gp), k))
			ct, err := p.Encrypt(s, []byte("gcm plaintext"))
			must(t, err)
			iv := gp.IV()
			if profile == standard && !bytes.Equal(iv, callerIV) {
				t.Fatalf("standard: the caller's IV was changed to %x", iv)
			}
			if profile == cloudhsm && (bytes.Equal(iv, callerIV) || bytes.Equal(iv, make([]byte, 12))) {
				t.Fatalf("cloudhsm: pIV holds %x, want the HSM's IV", iv)
			}
			if pt, err := aead.Open(nil, iv, ct, nil); err != nil || string(pt) != "gcm plaintext" {
				t.Fatalf("the ciphertext does not open with the IV in pIV: %v", err)
			}
			// No IV at all: the spec needs one; CloudHSM needs the 12-byte buffer to fill.
			empty := pkcs11.NewGCMParams(nil, nil, 128)
			defer empty.Free()
			wantRV(t, "GCM without an IV", p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, empty), k), pkcs11.CKR_MECHANISM_PARAM_INVALID)
		},
		"multi-part AES-GCM": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			k := aesKey(t, s, make([]byte, 16))
			gp := pkcs11.NewGCMParams(make([]byte, 12), nil, 128)
			defer gp.Free()
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, gp), k))
			_, err := p.EncryptUpdate(s, []byte("part"))
			// AWS's known issue on multi-part AES-GCM: "We return CKR_MECHANISM_INVALID for the
			// C_EncryptUpdate and C_DecryptUpdate API operations."
			wantRV(t, "C_EncryptUpdate with GCM", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_MECHANISM_INVALID))
			if err == nil {
				_, err = p.EncryptFinal(s)
				must(t, err)
			}
		},
		"AES-GCM data limit": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			k := aesKey(t, s, make([]byte, 16))
			gp := pkcs11.NewGCMParams(make([]byte, 12), nil, 128)
			defer gp.Free()
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, gp), k))
			_, err := p.Encrypt(s, make([]byte, 20<<10))
			wantRV(t, "20 KiB of GCM", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_DATA_LEN_RANGE))
			// AWS's "Maximum data size for each mechanism": CKM_AES_GCM takes 16,224 bytes.
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, gp), k))
			_, err = p.Encrypt(s, make([]byte, 16224))
			must(t, err)
			must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_GCM, gp), k))
			_, err = p.Encrypt(s, make([]byte, 16225))
			wantRV(t, "16,225 bytes of GCM", err, in(profile, pkcs11.CKR_OK, pkcs11.CKR_DATA_LEN_RANGE))
		},
		"AES-GCM wrap IV": func(t *testing.T, profile string, s pkcs11.SessionHandle) {
			kek := aesKey(t, s, bytes.Repeat([]byte{2}, 16))
			target := aesKey(t, s, bytes.Repeat([]byte{3}, 16))
			gp := pkcs11.NewGCMParams(make([]byte, 12), nil, 128)
			defer gp.Free()
			_, err := p.WrapKey(s, mechs(pkcs11.CKM_AES_GCM, gp), kek, target)
			must(t, err)
			written := !bytes.Equal(gp.IV(), make([]byte, 12))
			if written != (profile == cloudhsm) {
				t.Fatalf("%s: pIV after C_WrapKey is %x", profile, gp.IV())
			}
		},
	}
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			for name, c := range checks {
				t.Run(name, func(t *testing.T) { c(t, profile, session(t)) })
			}
		})
	}
}
