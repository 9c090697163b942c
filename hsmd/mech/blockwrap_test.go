package mech

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/ecdsa"
	"crypto/rand"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// The block modes wrap and unwrap (Current Mechanisms v2.40, "Mechanisms vs. Functions" for
// AES-ECB/CBC/CBC-PAD and DES3-ECB/CBC/CBC-PAD). google/pkcs11test's wrap fixtures wrap a DES3
// key under a DES3 key with CKM_DES3_ECB and decrypt the blob with C_Decrypt; this checks the
// blobs against crypto/des and crypto/aes directly.
func TestBlockModesWrap(t *testing.T) {
	des3Value := bytes.Repeat(unhex(t, "0123456789ABCDEF"), 2)
	des3Value = append(des3Value, unhex(t, "FEDCBA9876543210")...)
	kekDES3 := bytes.Repeat(unhex(t, "1F1F1F1F0E0E0E0E"), 3)
	kekAES := bytes.Repeat([]byte{0x42}, 32)
	desBlock, _ := des.NewTripleDESCipher(kekDES3)
	aesBlock, _ := aes.NewCipher(kekAES)
	ivDES, ivAES := bytes.Repeat([]byte{3}, 8), bytes.Repeat([]byte{4}, 16)
	des3Tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_DES3)}
	aesTmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)}

	ecb := func(b cipher.Block, in []byte) []byte {
		out := make([]byte, len(in))
		for i := 0; i < len(in); i += b.BlockSize() {
			b.Encrypt(out[i:], in[i:])
		}
		return out
	}
	cbc := func(b cipher.Block, iv, in []byte) []byte {
		out := make([]byte, len(in))
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, in)
		return out
	}
	pad := func(in []byte, n int) []byte {
		k := n - len(in)%n
		return append(append([]byte{}, in...), bytes.Repeat([]byte{byte(k)}, k)...)
	}
	aes24 := bytes.Repeat([]byte{0x17}, 24) // an AES-192 key: not a whole AES block
	for _, c := range []struct {
		name   string
		m      ckm.Mechanism
		kek    *Key
		target []byte
		tmpl   attr.Set
		want   []byte
	}{
		{"DES3-ECB wraps DES3", ckm.Mechanism{Type: p11.CKM_DES3_ECB}, secretKey(t, p11.CKK_DES3, kekDES3), des3Value, des3Tmpl, ecb(desBlock, des3Value)},
		{"DES3-CBC wraps DES3", ckm.Mechanism{Type: p11.CKM_DES3_CBC, Param: ckm.IV(ivDES)}, secretKey(t, p11.CKK_DES3, kekDES3), des3Value, des3Tmpl, cbc(desBlock, ivDES, des3Value)},
		{"DES3-CBC-PAD wraps DES3", ckm.Mechanism{Type: p11.CKM_DES3_CBC_PAD, Param: ckm.IV(ivDES)}, secretKey(t, p11.CKK_DES3, kekDES3), des3Value, des3Tmpl, cbc(desBlock, ivDES, pad(des3Value, 8))},
		{"DES3-ECB wraps AES", ckm.Mechanism{Type: p11.CKM_DES3_ECB}, secretKey(t, p11.CKK_DES3, kekDES3), aes24, aesTmpl, ecb(desBlock, aes24)},
		{"AES-ECB wraps DES3 (zero-padded)", ckm.Mechanism{Type: p11.CKM_AES_ECB}, secretKey(t, p11.CKK_AES, kekAES), des3Value, des3Tmpl, ecb(aesBlock, append(append([]byte{}, des3Value...), make([]byte, 8)...))},
		{"AES-CBC wraps AES-256", ckm.Mechanism{Type: p11.CKM_AES_CBC, Param: ckm.IV(ivAES)}, secretKey(t, p11.CKK_AES, kekAES), kekAES, aesTmpl, cbc(aesBlock, ivAES, kekAES)},
		{"AES-CBC-PAD wraps AES-192", ckm.Mechanism{Type: p11.CKM_AES_CBC_PAD, Param: ckm.IV(ivAES)}, secretKey(t, p11.CKK_AES, kekAES), aes24, aesTmpl, cbc(aesBlock, ivAES, pad(aes24, 16))},
		{"AES-CBC-PAD wraps DES3", ckm.Mechanism{Type: p11.CKM_AES_CBC_PAD, Param: ckm.IV(ivAES)}, secretKey(t, p11.CKK_AES, kekAES), des3Value, des3Tmpl, cbc(aesBlock, ivAES, pad(des3Value, 16))},
	} {
		t.Run(c.name, func(t *testing.T) {
			kt, _ := c.tmpl.Ulong(p11.CKA_KEY_TYPE)
			w, err := Wrap(c.m, c.kek, secretObj(kt, c.target))
			mustOK(t, err)
			if !bytes.Equal(w, c.want) {
				t.Fatalf("blob %x, want %x", w, c.want)
			}
			mat, err := Unwrap(c.m, c.kek, w, c.tmpl)
			mustOK(t, err)
			if !bytes.Equal(mat[p11.CKA_VALUE], c.target) {
				t.Fatalf("unwrapped %x, want %x", mat[p11.CKA_VALUE], c.target)
			}
			info, err := Lookup(c.m.Type)
			mustOK(t, err)
			if info.Flags&(p11.CKF_WRAP|p11.CKF_UNWRAP) != p11.CKF_WRAP|p11.CKF_UNWRAP {
				t.Fatalf("CK_MECHANISM_INFO flags %#x lack CKF_WRAP and CKF_UNWRAP", info.Flags)
			}
		})
	}

	// The padded modes wrap private keys as PKCS#8; the unpadded ones wrap secret keys only.
	ec, err := ecdsa.GenerateKey(curves[0].ops.(nist).ec, rand.Reader)
	mustOK(t, err)
	ecObj, _ := ecObjects(t, ec)
	ecTmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC)}
	for _, m := range []ckm.Mechanism{{Type: p11.CKM_DES3_CBC_PAD, Param: ckm.IV(ivDES)}, {Type: p11.CKM_AES_CBC_PAD, Param: ckm.IV(ivAES)}} {
		kek := secretKey(t, p11.CKK_DES3, kekDES3)
		if m.Type == p11.CKM_AES_CBC_PAD {
			kek = secretKey(t, p11.CKK_AES, kekAES)
		}
		w, err := Wrap(m, kek, ecObj)
		mustOK(t, err)
		mat, err := Unwrap(m, kek, w, ecTmpl)
		mustOK(t, err)
		if !bytes.Equal(mat[p11.CKA_VALUE], ecObj[p11.CKA_VALUE]) {
			t.Fatalf("%s: EC private key round trip", p11.MechName(m.Type))
		}
	}
	_, err = Wrap(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, secretKey(t, p11.CKK_DES3, kekDES3), ecObj)
	wantCode(t, err, p11.CKR_KEY_NOT_WRAPPABLE)
	// Zero padding only for a key whose type fixes its length (DES3): an AES-192 key under an
	// unpadded AES mode would unwrap as a 32-byte key.
	_, err = Wrap(ckm.Mechanism{Type: p11.CKM_AES_ECB}, secretKey(t, p11.CKK_AES, kekAES), secretObj(p11.CKK_AES, aes24))
	wantCode(t, err, p11.CKR_KEY_SIZE_RANGE)
	// A blob that is not whole blocks, and a wrapping key of the wrong type.
	_, err = Unwrap(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, secretKey(t, p11.CKK_DES3, kekDES3), make([]byte, 20), des3Tmpl)
	wantCode(t, err, p11.CKR_WRAPPED_KEY_LEN_RANGE)
	_, err = Wrap(ckm.Mechanism{Type: p11.CKM_DES3_ECB}, secretKey(t, p11.CKK_AES, kekAES), secretObj(p11.CKK_DES3, des3Value))
	wantCode(t, err, p11.CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
}
