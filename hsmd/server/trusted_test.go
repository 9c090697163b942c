package server_test

import (
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// CKA_TRUSTED is the admin's: a crypto user can neither make a trusted key nor mark one trusted
// (CKR_ATTRIBUTE_READ_ONLY, as the spec says of an attribute only the SO may set), so
// CKA_WRAP_WITH_TRUSTED means "only a wrapping key an admin vouched for". An admin sets or
// clears it on any token key it is told the handle of, and may change nothing else of a key.
// AWS: "This attribute can be set to True or False by Crypto Officer (CO) only."
// (docs.aws.amazon.com/cloudhsm/latest/userguide/modify-attr.html).
func TestOnlyAnAdminSetsTrusted(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	admin, alice := n.Admin(t), n.Alice(t)
	trusted := attr.Attribute{Type: p11.CKA_TRUSTED, Value: attr.Bool(true)}
	wrapKey := attr.Attribute{Type: p11.CKA_WRAP, Value: attr.Bool(true)}

	for _, token := range []bool{true, false} {
		_, err := alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, append(aesTemplate(token, "self-trusted"), trusted, wrapKey))
		wantRV(t, "a crypto user generates a trusted key", err, p11.CKR_ATTRIBUTE_READ_ONLY)
		_, err = alice.CreateObject(ctx, []attr.Attribute{
			{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)}, {Type: p11.CKA_KEY_TYPE, Value: attr.Ulong(p11.CKK_AES)},
			{Type: p11.CKA_VALUE, Value: make([]byte, 32)}, {Type: p11.CKA_TOKEN, Value: attr.Bool(token)}, trusted})
		wantRV(t, "a crypto user creates a trusted key", err, p11.CKR_ATTRIBUTE_READ_ONLY)
		kek := genAES(t, alice, token, "kek", wrapKey)
		wantRV(t, "a crypto user marks its key trusted", alice.SetAttributes(ctx, kek, []attr.Attribute{trusted}), p11.CKR_ATTRIBUTE_READ_ONLY)
		_, err = alice.CopyObject(ctx, kek, []attr.Attribute{trusted})
		wantRV(t, "a crypto user copies its key as trusted", err, p11.CKR_ATTRIBUTE_READ_ONLY)
		// Clearing it is no escalation: a crypto user may say false.
		if err := alice.SetAttributes(ctx, kek, []attr.Attribute{{Type: p11.CKA_TRUSTED, Value: attr.Bool(false)}}); err != nil {
			t.Fatalf("a crypto user sets CKA_TRUSTED false: %v", err)
		}
	}

	kek := genAES(t, alice, true, "kek", wrapKey)
	target := genAES(t, alice, true, "wrap-with-trusted",
		attr.Attribute{Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(true)},
		attr.Attribute{Type: p11.CKA_WRAP_WITH_TRUSTED, Value: attr.Bool(true)})
	_, err := alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, target)
	wantRV(t, "wrap a wrap-with-trusted key under an untrusted key", err, p11.CKR_KEY_NOT_WRAPPABLE)

	wantRV(t, "an admin changes a label", admin.SetAttributes(ctx, kek, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("x")}}), p11.CKR_USER_NOT_LOGGED_IN)
	wantRV(t, "an admin trusts a key that does not exist", admin.SetAttributes(ctx, 0x7fff0000, []attr.Attribute{trusted}), p11.CKR_OBJECT_HANDLE_INVALID)
	if err := admin.SetAttributes(ctx, kek, []attr.Attribute{trusted}); err != nil {
		t.Fatalf("an admin marks a crypto user's key trusted: %v", err)
	}
	if _, err := alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, target); err != nil {
		t.Fatalf("wrap under the key the admin trusted: %v", err)
	}
	if err := admin.SetAttributes(ctx, kek, []attr.Attribute{{Type: p11.CKA_TRUSTED, Value: attr.Bool(false)}}); err != nil {
		t.Fatalf("an admin clears CKA_TRUSTED: %v", err)
	}
	_, err = alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, target)
	wantRV(t, "wrap after the admin cleared CKA_TRUSTED", err, p11.CKR_KEY_NOT_WRAPPABLE)
}
