package moduletest

import (
	"bytes"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/hsmsim/hsmsim/cluster/clustertest"
)

// A session key (CKA_TOKEN false) made by C_GenerateKey wraps and unwraps with the RFC 3394 and
// RFC 5649 mechanisms, as the spec lets any key with CKA_WRAP/CKA_UNWRAP do. An unwrapped key was
// not made on the token and was once outside it: CKA_LOCAL, CKA_ALWAYS_SENSITIVE and
// CKA_NEVER_EXTRACTABLE are false. An unextractable key is never wrapped. The cluster has three
// nodes: a session key lives on one of them, and every call naming it must go there.
func TestSessionKeyWraps(t *testing.T) {
	startNodes(t, 3)
	must(t, p.Initialize())
	defer p.Finalize()
	s := open(t, true)
	must(t, p.Login(s, pkcs11.CKU_USER, clustertest.CryptoUser+":"+clustertest.CryptoPass))
	kek, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, true),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, true),
	})
	must(t, err)
	for _, tokenTarget := range []bool{false, true} {
		target, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, tokenTarget),
			pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		})
		must(t, err)
		for _, m := range []uint{pkcs11.CKM_AES_KEY_WRAP, pkcs11.CKM_AES_KEY_WRAP_PAD} {
			wrapped, err := p.WrapKey(s, mechs(m, nil), kek, target)
			if err != nil {
				t.Fatalf("wrap (mechanism 0x%x, token target %v) under a session KEK: %v", m, tokenTarget, err)
			}
			if len(wrapped) != 24 {
				t.Fatalf("a 16-byte key wraps to %d bytes, want 24", len(wrapped))
			}
			u, err := p.UnwrapKey(s, mechs(m, nil), kek, wrapped, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
				pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
				pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
				pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			})
			if err != nil {
				t.Fatalf("unwrap (mechanism 0x%x) under a session KEK: %v", m, err)
			}
			for _, a := range []uint{pkcs11.CKA_LOCAL, pkcs11.CKA_ALWAYS_SENSITIVE, pkcs11.CKA_NEVER_EXTRACTABLE} {
				if v := attr(t, s, u, a); !bytes.Equal(v, []byte{0}) {
					t.Fatalf("unwrapped key: attribute 0x%x = %x, want false", a, v)
				}
			}
			enc := func(k pkcs11.ObjectHandle) []byte {
				must(t, p.EncryptInit(s, mechs(pkcs11.CKM_AES_ECB, nil), k))
				ct, err := p.Encrypt(s, make([]byte, 16))
				must(t, err)
				return ct
			}
			if !bytes.Equal(enc(target), enc(u)) {
				t.Fatal("the unwrapped key differs from the original")
			}
		}
	}
	fixed, err := p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	})
	must(t, err)
	_, err = p.WrapKey(s, mechs(pkcs11.CKM_AES_KEY_WRAP, nil), kek, fixed)
	wantRV(t, "wrap an unextractable key under a session KEK", err, pkcs11.CKR_KEY_UNEXTRACTABLE)
}
