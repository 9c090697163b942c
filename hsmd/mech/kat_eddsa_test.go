package mech

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

func edObjects(params, seed, point []byte) (priv, pub attr.Set) {
	priv = attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC_EDWARDS),
		p11.CKA_EC_PARAMS: params, p11.CKA_VALUE: seed}
	pub = attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PUBLIC_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC_EDWARDS),
		p11.CKA_EC_PARAMS: params, p11.CKA_EC_POINT: point}
	return priv, pub
}

// Ed25519 (PKCS #11 v3.0 CKM_EDDSA, CKK_EC_EDWARDS): RFC 8032 §7.1's TEST 1 and TEST 2, with
// CKA_EC_PARAMS in both forms v3.0 allows (the curve name as a PrintableString, and the OID
// 1.3.101.112) and CKA_EC_POINT as the DER OCTET STRING of the public key.
func TestEd25519RFC8032(t *testing.T) {
	eddsa := ckm.Mechanism{Type: p11.CKM_EDDSA}
	for i, v := range []struct{ seed, pub, msg, sig string }{
		{"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
			"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
			"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
		{"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
			"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
			"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	} {
		for _, params := range [][]byte{ed25519Name, ed25519OID} {
			privObj, pubObj := edObjects(params, unhex(t, v.seed), derOctetString(unhex(t, v.pub)))
			priv, pub := mustKey(t, privObj), mustKey(t, pubObj)
			msg := unhex(t, v.msg)
			sig, err := Sign(eddsa, priv, msg)
			mustOK(t, err)
			if want := unhex(t, v.sig); !bytes.Equal(sig, want) {
				t.Fatalf("TEST %d: signature %x, want %x", i+1, sig, want)
			}
			mustOK(t, Verify(eddsa, pub, msg, sig))
			bad := append([]byte(nil), sig...)
			bad[5] ^= 1
			wantCode(t, Verify(eddsa, pub, msg, bad), p11.CKR_SIGNATURE_INVALID)
			wantCode(t, Verify(eddsa, pub, msg, sig[:63]), p11.CKR_SIGNATURE_LEN_RANGE)
		}
	}

	// Key-pair generation: both halves get the params as given, the public key is the DER
	// OCTET STRING of crypto/ed25519's public key for the private one.
	pubAdd, privAdd, err := GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_EDWARDS_KEY_PAIR_GEN},
		attr.Set{p11.CKA_EC_PARAMS: ed25519Name}, attr.Set{})
	mustOK(t, err)
	if !bytes.Equal(pubAdd[p11.CKA_EC_PARAMS], ed25519Name) || !bytes.Equal(privAdd[p11.CKA_EC_PARAMS], ed25519Name) {
		t.Fatal("generated halves lost CKA_EC_PARAMS")
	}
	want := ed25519.NewKeyFromSeed(privAdd[p11.CKA_VALUE]).Public().(ed25519.PublicKey)
	if !bytes.Equal(pubAdd[p11.CKA_EC_POINT], derOctetString(want)) {
		t.Fatalf("CKA_EC_POINT %x is not the DER OCTET STRING of %x", pubAdd[p11.CKA_EC_POINT], want)
	}
	im, err := Implied(p11.CKM_EC_EDWARDS_KEY_PAIR_GEN)
	mustOK(t, err)
	if kt, _ := im.Ulong(p11.CKA_KEY_TYPE); kt != p11.CKK_EC_EDWARDS {
		t.Fatal("implied key type")
	}
	info, err := Lookup(p11.CKM_EDDSA)
	mustOK(t, err)
	if info.MinKeySize != 255 || info.MaxKeySize != 255 || info.Flags&(p11.CKF_SIGN|p11.CKF_VERIFY) != p11.CKF_SIGN|p11.CKF_VERIFY {
		t.Fatalf("CKM_EDDSA info %+v", info)
	}

	// Another curve, a malformed parameter, a parameter to CKM_EDDSA (Ed25519ctx, ph), and the
	// wrong key kinds.
	edwards448 := []byte{0x13, 0x0a, 'e', 'd', 'w', 'a', 'r', 'd', 's', '4', '4', '8'}
	_, _, err = GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_EDWARDS_KEY_PAIR_GEN}, attr.Set{p11.CKA_EC_PARAMS: edwards448}, attr.Set{})
	wantCode(t, err, p11.CKR_CURVE_NOT_SUPPORTED)
	_, _, err = GenerateKeyPair(ckm.Mechanism{Type: p11.CKM_EC_EDWARDS_KEY_PAIR_GEN}, attr.Set{p11.CKA_EC_PARAMS: {1, 2, 3}}, attr.Set{})
	wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
	privObj, pubObj := edObjects(ed25519OID, bytes.Repeat([]byte{1}, 32), nil)
	priv := mustKey(t, privObj)
	_, err = Sign(ckm.Mechanism{Type: p11.CKM_EDDSA, Param: ckm.IV{1, 0, 0, 0}}, priv, []byte("x"))
	wantCode(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
	_, err = Sign(ckm.Mechanism{Type: p11.CKM_ECDSA}, priv, make([]byte, 32))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)
	pubObj[p11.CKA_EC_POINT] = derOctetString(make([]byte, 31))
	_, err = NewKey(pubObj)
	wantCode(t, err, p11.CKR_ATTRIBUTE_VALUE_INVALID)
	_, ecPriv, _ := ecKeysFromScalar(t, curves[0], bytes.Repeat([]byte{7}, 32))
	_, err = Sign(eddsa, ecPriv, []byte("x"))
	wantCode(t, err, p11.CKR_KEY_TYPE_INCONSISTENT)

	// Wrapping: RFC 8410 PKCS#8, back to the same key.
	kek := secretKey(t, p11.CKK_AES, bytes.Repeat([]byte{9}, 32))
	w, err := Wrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, kek, privObj)
	mustOK(t, err)
	mat, err := Unwrap(ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, kek, w,
		attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC_EDWARDS)})
	mustOK(t, err)
	if !bytes.Equal(mat[p11.CKA_VALUE], privObj[p11.CKA_VALUE]) || !bytes.Equal(mat[p11.CKA_EC_PARAMS], ed25519OID) {
		t.Fatalf("unwrapped %x", mat)
	}
}
