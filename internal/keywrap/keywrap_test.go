package keywrap

import (
	"crypto/aes"
	"encoding/hex"
	"testing"
)

// The vectors of RFC 3394 §4.1 and RFC 5649 §6.
func TestRFCVectors(t *testing.T) {
	b, _ := aes.NewCipher(mustHex(t, "000102030405060708090A0B0C0D0E0F"))
	ct := Wrap(b, DefaultIV, mustHex(t, "00112233445566778899AABBCCDDEEFF"))
	if hex.EncodeToString(ct) != "1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5" {
		t.Fatalf("RFC 3394 4.1: %x", ct)
	}
	if a, p := Unwrap(b, ct); a != DefaultIV || hex.EncodeToString(p) != "00112233445566778899aabbccddeeff" {
		t.Fatalf("RFC 3394 4.1 unwrap: %x %x", a, p)
	}
	kek, _ := aes.NewCipher(mustHex(t, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"))
	for _, v := range []struct{ key, wrapped string }{
		{"c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	} {
		got := WrapPad(kek, DefaultPadIV, mustHex(t, v.key))
		if hex.EncodeToString(got) != v.wrapped {
			t.Fatalf("RFC 5649 wrap %s: %x", v.key, got)
		}
		if p, ok := UnwrapPad(kek, DefaultPadIV, got); !ok || hex.EncodeToString(p) != v.key {
			t.Fatalf("RFC 5649 unwrap %s: %x %v", v.wrapped, p, ok)
		}
		got[len(got)-1] ^= 1
		if _, ok := UnwrapPad(kek, DefaultPadIV, got); ok {
			t.Fatalf("tampered %s unwrapped", v.wrapped)
		}
	}
	if _, ok := UnwrapPad(kek, DefaultPadIV, make([]byte, 12)); ok {
		t.Fatal("12 bytes unwrapped")
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
