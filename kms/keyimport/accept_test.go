package keyimport

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"
	"time"
)

// TestAccept: the checks of an import in their order, each with its own error.
func TestAccept(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	priv, err := NewWrappingKey(RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(keyID string) []byte {
		tok := &Token{KeyID: keyID, Algorithm: RSAESOAEPSHA256, ValidTo: now.Add(TokenValidity), WrappingKey: priv}
		b, err := tok.Seal(testSealer{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	material := bytes.Repeat([]byte{7}, 32)
	wrapped, err := Wrap(&priv.PublicKey, RSAESOAEPSHA256, material)
	if err != nil {
		t.Fatal(err)
	}
	never := func(string) bool { return false }
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	var ve ValidationError
	for name, r := range map[string]*Request{
		"default model without ValidTo": {},
		"ValidTo now":                   {ValidTo: at(0)},
		"ValidTo past 365 days":         {ValidTo: at(MaxValidity + time.Second)},
		"ValidTo that does not expire":  {ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE", ValidTo: at(time.Hour)},
	} {
		r.Token, r.Wrapped = issue("k"), wrapped
		if _, err := Accept(testSealer{}, "k", "SYMMETRIC_DEFAULT", r, never, now); !errors.As(err, &ve) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	ok := &Request{Token: issue("k"), Wrapped: wrapped, ValidTo: at(MaxValidity)}
	a, err := Accept(testSealer{}, "k", "SYMMETRIC_DEFAULT", ok, never, now)
	if err != nil || !bytes.Equal(a.Secret, material) || a.ID != MaterialID("k", material) || a.Expiration != "KEY_MATERIAL_EXPIRES" || !a.ValidTo.Equal(now.Add(MaxValidity)) {
		t.Fatalf("Accept: %+v %v", a, err)
	}
	if _, err := Accept(testSealer{}, "other", "SYMMETRIC_DEFAULT", ok, never, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another key's token: %v", err)
	}
	used := Remember(nil, a.Token, now)
	isUsed := func(id string) bool { _, u := used[id]; return u }
	if _, err := Accept(testSealer{}, "k", "SYMMETRIC_DEFAULT", ok, isUsed, now); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a used token: %v", err)
	}
	if _, err := Accept(testSealer{}, "k", "SYMMETRIC_DEFAULT", ok, never, now.Add(TokenValidity+time.Second)); !errors.Is(err, ErrExpiredToken) {
		t.Fatalf("an expired token: %v", err)
	}
	if _, err := Accept(testSealer{}, "k", "HMAC_512", ok, never, now); !errors.Is(err, ErrIncorrectMaterial) {
		t.Fatalf("32 bytes for HMAC_512: %v", err)
	}
	bad := &Request{Token: ok.Token, Wrapped: []byte("junk"), ValidTo: ok.ValidTo}
	if _, err := Accept(testSealer{}, "k", "SYMMETRIC_DEFAULT", bad, never, now); !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("junk: %v", err)
	}
	if used = Remember(used, &Token{ID: "later", ValidTo: now.Add(48 * time.Hour)}, now.Add(TokenValidity+time.Second)); len(used) != 1 {
		t.Fatalf("Remember kept expired tokens: %v", used)
	}
}

// TestIssue: the public key Issue hands out is the token's wrapping key, for the key and until
// TokenValidity from now.
func TestIssue(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pub, token, validTo, err := Issue(testSealer{}, "k", RSAAESKeyWrapSHA256, RSA2048, now)
	if err != nil || !validTo.Equal(now.Add(TokenValidity)) {
		t.Fatalf("Issue: %v %v", validTo, err)
	}
	tok, err := OpenToken(testSealer{}, token)
	if err != nil || tok.KeyID != "k" || tok.Algorithm != RSAAESKeyWrapSHA256 {
		t.Fatalf("token: %+v %v", tok, err)
	}
	want, _ := x509.MarshalPKIXPublicKey(&tok.WrappingKey.PublicKey)
	if !bytes.Equal(pub, want) {
		t.Fatal("the public key is not the token's wrapping key")
	}
	if _, _, _, err := Issue(testSealer{}, "k", RSAESOAEPSHA1, "RSA_1024", now); !errors.Is(err, ErrUnsupportedSpec) {
		t.Fatalf("RSA_1024: %v", err)
	}
}
