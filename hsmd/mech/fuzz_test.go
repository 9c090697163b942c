package mech

import (
	"bytes"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Fuzz targets for everything that decodes bytes from outside: wrapped blobs, ciphertexts
// (with their parameters) and the peer's EC point. None may panic, and each may only fail with
// the codes its contract names.

func allowed(t *testing.T, err error, codes ...uint32) {
	t.Helper()
	if err == nil {
		return
	}
	rv := p11.Code(err)
	for _, c := range codes {
		if rv == c {
			return
		}
	}
	t.Fatalf("unexpected %s (%v)", p11.RVName(rv), err)
}

func FuzzUnwrap(f *testing.F) {
	_, rsaPriv, rsaPub := rsaKeys(f)
	kek := secretKey(f, p11.CKK_AES, bytes.Repeat([]byte{3}, 32))
	mechs := []ckm.Mechanism{
		{Type: p11.CKM_AES_KEY_WRAP},
		{Type: p11.CKM_AES_KEY_WRAP_PAD},
		{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: make([]byte, 12), TagBits: 128}},
		{Type: p11.CKM_RSA_PKCS},
		{Type: p11.CKM_RSA_PKCS_OAEP, Param: &ckm.OAEPParams{Hash: p11.CKM_SHA256, MGF: p11.CKG_MGF1_SHA256}},
	}
	tmpls := []attr.Set{
		{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES)},
		{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_GENERIC_SECRET)},
		{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_RSA)},
		{p11.CKA_CLASS: attr.Ulong(p11.CKO_PRIVATE_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_EC)},
	}
	// Seeds: real blobs of each kind, so mutations start from the valid shape.
	_, ecPriv, _ := ecKeysFromScalar(f, curves[0], unhex(f, "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"))
	for i, m := range mechs {
		wrapping := kek
		if i >= 3 {
			wrapping = rsaPub
		}
		w, err := Wrap(m, wrapping, secretObj(p11.CKK_AES, bytes.Repeat([]byte{1}, 16)))
		mustOK(f, err)
		f.Add(byte(i), byte(0), w)
		if i == 1 || i == 2 { // RFC 3394 cannot take a 138-byte PKCS#8 blob
			w, err = Wrap(m, kek, ecPriv.Attrs.(attr.Set))
			mustOK(f, err)
			f.Add(byte(i), byte(3), w)
		}
	}
	f.Add(byte(0), byte(0), []byte{})
	f.Fuzz(func(t *testing.T, mi, ti byte, blob []byte) {
		m := mechs[int(mi)%len(mechs)]
		k := kek
		if int(mi)%len(mechs) >= 3 {
			k = rsaPriv
		}
		tmpl := tmpls[int(ti)%len(tmpls)]
		mat, err := Unwrap(m, k, blob, tmpl)
		allowed(t, err, p11.CKR_WRAPPED_KEY_INVALID, p11.CKR_WRAPPED_KEY_LEN_RANGE,
			p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE, p11.CKR_MECHANISM_PARAM_INVALID)
		if err == nil {
			// Whatever comes out must make a usable key object.
			obj := mat.Clone()
			obj[p11.CKA_CLASS], obj[p11.CKA_KEY_TYPE] = tmpl[p11.CKA_CLASS], tmpl[p11.CKA_KEY_TYPE]
			if _, err := NewKey(obj); err != nil {
				t.Fatalf("unwrapped material does not make a key: %v", err)
			}
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	_, rsaPriv, _ := rsaKeys(f)
	aesKey := secretKey(f, p11.CKK_AES, bytes.Repeat([]byte{4}, 16))
	types := []uint32{p11.CKM_AES_ECB, p11.CKM_AES_CBC, p11.CKM_AES_CBC_PAD, p11.CKM_AES_CTR, p11.CKM_AES_GCM,
		p11.CKM_AES_KEY_WRAP, p11.CKM_AES_KEY_WRAP_PAD, p11.CKM_RSA_PKCS, p11.CKM_RSA_PKCS_OAEP, p11.CKM_RSA_X_509}
	// param shapes the parameter from fuzz bytes: its first byte picks sizes, the rest is content.
	param := func(typ uint32, p []byte) any {
		sel := byte(0)
		if len(p) > 0 {
			sel, p = p[0], p[1:]
		}
		switch typ {
		case p11.CKM_AES_CBC, p11.CKM_AES_CBC_PAD, p11.CKM_AES_KEY_WRAP, p11.CKM_AES_KEY_WRAP_PAD:
			if sel&1 == 0 {
				return nil
			}
			return ckm.IV(p)
		case p11.CKM_AES_CTR:
			return &ckm.CTRParams{CounterBits: uint32(sel), CB: p}
		case p11.CKM_AES_GCM:
			n := int(sel) % (len(p) + 1)
			return &ckm.GCMParams{IV: p[:n], AAD: p[n:], TagBits: uint32(sel) & 0xf8}
		case p11.CKM_RSA_PKCS_OAEP:
			return &ckm.OAEPParams{Hash: []uint32{p11.CKM_SHA_1, p11.CKM_SHA256, p11.CKM_SHA512, 0x1234}[sel%4],
				MGF: []uint32{p11.CKG_MGF1_SHA1, p11.CKG_MGF1_SHA256, p11.CKG_MGF1_SHA512, 77}[(sel>>2)%4], Source: p}
		}
		return nil
	}
	f.Add(byte(0), []byte{}, make([]byte, 32))
	f.Add(byte(1), append([]byte{1}, make([]byte, 16)...), make([]byte, 48))
	f.Add(byte(2), append([]byte{1}, make([]byte, 16)...), make([]byte, 32))
	f.Add(byte(3), append([]byte{128}, make([]byte, 16)...), make([]byte, 40))
	f.Add(byte(4), append([]byte{128 + 12}, make([]byte, 20)...), make([]byte, 40))
	f.Add(byte(4), append([]byte{96 + 7}, make([]byte, 7)...), make([]byte, 40))
	f.Add(byte(5), []byte{}, make([]byte, 24))
	f.Add(byte(6), []byte{}, make([]byte, 16))
	f.Add(byte(7), []byte{}, make([]byte, 256))
	f.Add(byte(8), []byte{5}, make([]byte, 256))
	f.Add(byte(9), []byte{}, bytes.Repeat([]byte{0xff}, 256))
	f.Fuzz(func(t *testing.T, ti byte, p, ct []byte) {
		typ := types[int(ti)%len(types)]
		k := aesKey
		if typ == p11.CKM_RSA_PKCS || typ == p11.CKM_RSA_PKCS_OAEP || typ == p11.CKM_RSA_X_509 {
			k = rsaPriv
		}
		m := ckm.Mechanism{Type: typ, Param: param(typ, p)}
		out, err := Decrypt(m, k, ct)
		allowed(t, err, p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE, p11.CKR_MECHANISM_PARAM_INVALID)
		if err != nil {
			return
		}
		// Deterministic modes must re-encrypt to the same ciphertext.
		switch typ {
		case p11.CKM_AES_ECB, p11.CKM_AES_CBC, p11.CKM_AES_CBC_PAD, p11.CKM_AES_CTR, p11.CKM_AES_GCM, p11.CKM_AES_KEY_WRAP, p11.CKM_AES_KEY_WRAP_PAD:
			back, _, err := Encrypt(m, k, out)
			if err != nil || !bytes.Equal(back, ct) {
				t.Fatalf("re-encrypt = %x, %v; want %x", back, err, ct)
			}
		}
	})
}

func FuzzDerivePublicData(f *testing.F) {
	_, priv, pub := ecKeysFromScalar(f, curves[0], unhex(f, "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"))
	pt := pub.Attrs.(attr.Set)[p11.CKA_EC_POINT]
	f.Add(pt, byte(p11.CKD_NULL), []byte{})
	f.Add(pt[2:], byte(p11.CKD_SHA256_KDF), []byte("info"))
	f.Add([]byte{4}, byte(p11.CKD_SHA1_KDF), []byte{})
	f.Add(append([]byte{3}, pt[3:35]...), byte(p11.CKD_NULL), []byte{}) // compressed: refused
	tmpl := attr.Set{p11.CKA_CLASS: attr.Ulong(p11.CKO_SECRET_KEY), p11.CKA_KEY_TYPE: attr.Ulong(p11.CKK_AES),
		p11.CKA_VALUE_LEN: attr.Ulong(32)}
	f.Fuzz(func(t *testing.T, pd []byte, kdf byte, shared []byte) {
		m := ckm.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: &ckm.ECDH1DeriveParams{KDF: uint32(kdf), SharedData: shared, PublicData: pd}}
		mat, err := Derive(m, priv, tmpl)
		allowed(t, err, p11.CKR_MECHANISM_PARAM_INVALID)
		if err == nil && len(mat[p11.CKA_VALUE]) != 32 {
			t.Fatalf("derived %d bytes, want 32", len(mat[p11.CKA_VALUE]))
		}
	})
}
