package moduletest

import (
	"bytes"
	"crypto/cipher"
	"crypto/des"
	"slices"
	"testing"

	"github.com/miekg/pkcs11"
)

// Single DES (PKCS #11 v2.40 Historical Mechanisms, "General block cipher"), which
// google/pkcs11test's DES-ECB and DES-CBC cases and several of its fixtures use. Profile
// standard offers CKM_DES_KEY_GEN, CKM_DES_ECB, CKM_DES_CBC and CKM_DES_CBC_PAD: a generated key
// is 8 bytes of odd parity that crypto/des takes, the modes agree with crypto/cipher in one part
// and in parts (each C_EncryptUpdate gives its whole blocks), and a DES key wraps under DES.
// Profile cloudhsm has none of it (AWS's "Supported mechanisms" lists DES3 only): the list
// leaves them out, C_GenerateKey answers CKR_MECHANISM_INVALID and a CKK_DES key cannot be
// imported or unwrapped.
func TestSingleDES(t *testing.T) {
	desMechs := []uint{pkcs11.CKM_DES_KEY_GEN, pkcs11.CKM_DES_ECB, pkcs11.CKM_DES_CBC, pkcs11.CKM_DES_CBC_PAD}
	desTmpl := func(extra ...*pkcs11.Attribute) []*pkcs11.Attribute {
		return append([]*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_DES)}, extra...)
	}
	value := []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF}
	t.Run(cloudhsm, func(t *testing.T) {
		start(t, cloudhsm)
		s := session(t)
		have := mechanismTypes(t)
		for _, m := range desMechs {
			if slices.Contains(have, m) {
				t.Errorf("mechanism %#x listed", m)
			}
			_, err := p.GetMechanismInfo(1, mechs(m, nil))
			wantRV(t, "C_GetMechanismInfo", err, pkcs11.CKR_MECHANISM_INVALID)
		}
		_, err := p.GenerateKey(s, mechs(pkcs11.CKM_DES_KEY_GEN, nil), nil)
		wantRV(t, "C_GenerateKey CKM_DES_KEY_GEN", err, pkcs11.CKR_MECHANISM_INVALID)
		_, err = p.CreateObject(s, desTmpl(pkcs11.NewAttribute(pkcs11.CKA_VALUE, value)))
		wantRV(t, "C_CreateObject CKK_DES", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)
		kek := aesKey(t, s, make([]byte, 16), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true))
		gcm := mechs(pkcs11.CKM_AES_GCM, pkcs11.NewGCMParams(make([]byte, 12), nil, 128))
		_, err = p.UnwrapKey(s, gcm, kek, make([]byte, 24), desTmpl())
		wantRV(t, "C_UnwrapKey into CKK_DES", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)
	})
	t.Run(standard, func(t *testing.T) {
		start(t, standard)
		s := session(t)
		have := mechanismTypes(t)
		for _, m := range desMechs {
			if !slices.Contains(have, m) {
				t.Errorf("mechanism %#x not listed", m)
			}
			info, err := p.GetMechanismInfo(1, mechs(m, nil))
			must(t, err)
			if info.MinKeySize != 8 || info.MaxKeySize != 8 {
				t.Errorf("mechanism %#x: key sizes %d-%d, want 8", m, info.MinKeySize, info.MaxKeySize)
			}
		}
		k, err := p.GenerateKey(s, mechs(pkcs11.CKM_DES_KEY_GEN, nil), []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false), pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
			pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)})
		must(t, err)
		v := attr(t, s, k, pkcs11.CKA_VALUE)
		b, err := des.NewCipher(v)
		must(t, err)
		if len(v) != 8 {
			t.Fatalf("generated %d bytes", len(v))
		}
		iv := []byte("8 bytes!")
		plain := bytes.Repeat([]byte("single des"), 20) // 200 bytes: 25 blocks
		ecb := make([]byte, len(plain))
		for i := 0; i < len(plain); i += 8 {
			b.Encrypt(ecb[i:], plain[i:])
		}
		cbc := make([]byte, len(plain))
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(cbc, plain)
		for _, c := range []struct {
			name string
			m    []*pkcs11.Mechanism
			want []byte
		}{{"DES-ECB", mechs(pkcs11.CKM_DES_ECB, nil), ecb}, {"DES-CBC", mechs(pkcs11.CKM_DES_CBC, iv), cbc}} {
			must(t, p.EncryptInit(s, c.m, k))
			got, err := p.Encrypt(s, plain)
			must(t, err)
			if !bytes.Equal(got, c.want) {
				t.Fatalf("%s differs from crypto/des", c.name)
			}
			// In parts: 13 bytes give one block, the next 13 two more, the rest at Final.
			must(t, p.EncryptInit(s, c.m, k))
			first, err := p.EncryptUpdate(s, plain[:13])
			must(t, err)
			second, err := p.EncryptUpdate(s, plain[13:26])
			must(t, err)
			if len(first) != 8 || len(second) != 16 {
				t.Fatalf("%s: updates gave %d and %d bytes, want 8 and 16", c.name, len(first), len(second))
			}
			rest, err := p.EncryptUpdate(s, plain[26:])
			must(t, err)
			last, err := p.EncryptFinal(s)
			must(t, err)
			if got := slices.Concat(first, second, rest, last); !bytes.Equal(got, c.want) {
				t.Fatalf("%s in parts differs from crypto/des", c.name)
			}
			must(t, p.DecryptInit(s, c.m, k))
			back, err := p.Decrypt(s, c.want)
			must(t, err)
			if !bytes.Equal(back, plain) {
				t.Fatalf("%s decryption", c.name)
			}
		}
		must(t, p.EncryptInit(s, mechs(pkcs11.CKM_DES_CBC_PAD, iv), k))
		padded, err := p.Encrypt(s, plain[:13])
		must(t, err)
		if len(padded) != 16 {
			t.Fatalf("CBC_PAD of 13 bytes gave %d", len(padded))
		}
		must(t, p.DecryptInit(s, mechs(pkcs11.CKM_DES_CBC_PAD, iv), k))
		back, err := p.Decrypt(s, padded)
		must(t, err)
		if !bytes.Equal(back, plain[:13]) {
			t.Fatal("CBC_PAD round trip")
		}

		// A DES key wrapped under a DES key with DES-ECB is its value's encryption, and
		// unwraps into an equal key.
		target, err := p.CreateObject(s, desTmpl(pkcs11.NewAttribute(pkcs11.CKA_VALUE, value), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true)))
		must(t, err)
		blob, err := p.WrapKey(s, mechs(pkcs11.CKM_DES_ECB, nil), k, target)
		must(t, err)
		want := make([]byte, 8)
		b.Encrypt(want, value)
		if !bytes.Equal(blob, want) {
			t.Fatalf("wrapped %x, want %x", blob, want)
		}
		k2, err := p.UnwrapKey(s, mechs(pkcs11.CKM_DES_ECB, nil), k, blob, desTmpl())
		must(t, err)
		if got := attr(t, s, k2, pkcs11.CKA_VALUE); !bytes.Equal(got, value) {
			t.Fatalf("unwrapped %x", got)
		}
		bad := append([]byte(nil), value...)
		bad[0] ^= 1
		_, err = p.CreateObject(s, desTmpl(pkcs11.NewAttribute(pkcs11.CKA_VALUE, bad)))
		wantRV(t, "a DES key of bad parity", err, pkcs11.CKR_ATTRIBUTE_VALUE_INVALID)
	})
}

// A secret key's CKA_SENSITIVE default. Profile standard takes the spec's (v2.40 base §4.10:
// "default CK_FALSE"): a key made without asking is readable, and CKA_ALWAYS_SENSITIVE is false,
// as google/pkcs11test's WrapUnwrap and Tookan cases expect of keys they generate or unwrap.
// Profile cloudhsm takes CloudHSM's (AWS's attribute table: CKA_SENSITIVE default true): the
// same key is sensitive from the start, so CKA_VALUE is CKR_ATTRIBUTE_SENSITIVE and
// CKA_ALWAYS_SENSITIVE true. Private keys are sensitive by default in both.
func TestSecretKeySensitiveDefault(t *testing.T) {
	for _, profile := range []string{standard, cloudhsm} {
		t.Run(profile, func(t *testing.T) {
			start(t, profile)
			s := session(t)
			sensitive := profile == cloudhsm
			check := func(what string, k pkcs11.ObjectHandle) {
				t.Helper()
				got, err := p.GetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
					pkcs11.NewAttribute(pkcs11.CKA_ALWAYS_SENSITIVE, nil), pkcs11.NewAttribute(pkcs11.CKA_NEVER_EXTRACTABLE, nil)})
				must(t, err)
				if (got[0].Value[0] == 1) != sensitive {
					t.Errorf("%s: CKA_SENSITIVE %v, want %v", what, got[0].Value, sensitive)
				}
				if got[2].Value[0] != 0 {
					t.Errorf("%s: CKA_NEVER_EXTRACTABLE true of an extractable key", what)
				}
				_, err = p.GetAttributeValue(s, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)})
				if sensitive {
					wantRV(t, what+": CKA_VALUE", err, pkcs11.CKR_ATTRIBUTE_SENSITIVE)
				} else {
					must(t, err)
				}
			}
			gen, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16), pkcs11.NewAttribute(pkcs11.CKA_WRAP, true), pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true)})
			must(t, err)
			check("generated", gen)
			if v := attr(t, s, gen, pkcs11.CKA_ALWAYS_SENSITIVE); (v[0] == 1) != sensitive {
				t.Errorf("generated: CKA_ALWAYS_SENSITIVE %v, want %v", v, sensitive)
			}
			check("imported", aesKey(t, s, bytes.Repeat([]byte{1}, 16)))
			// Unwrapped, with the profile's AES key wrap with padding (CloudHSM's vendor one in
			// profile cloudhsm, 0x8000210A CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD).
			wrap := uint(pkcs11.CKM_AES_KEY_WRAP_PAD)
			if profile == cloudhsm {
				wrap = 0x8000210A
			}
			target := aesKey(t, s, bytes.Repeat([]byte{2}, 16), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true))
			blob, err := p.WrapKey(s, mechs(wrap, nil), gen, target)
			must(t, err)
			un, err := p.UnwrapKey(s, mechs(wrap, nil), gen, blob, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false)})
			must(t, err)
			check("unwrapped", un)
			_, priv := ecKeyPair(t, s, false)
			if v := attr(t, s, priv, pkcs11.CKA_SENSITIVE); v[0] != 1 {
				t.Error("an EC private key is not sensitive by default")
			}
		})
	}
}
