package ciphertext

import (
	"bytes"
	"testing"
)

// TestHeaderNamesTheKey: a header parses back to its key id and version, for a single-Region key
// (version 1) and a multi-Region key (version 2), and the AAD begins with it.
func TestHeaderNamesTheKey(t *testing.T) {
	for _, id := range []string{"1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab"} {
		h := Header(id, 7)
		b, ok := Parse(Assemble(h, make([]byte, NonceLen), make([]byte, tagLen+3)))
		if !ok || b.KeyID != id || b.Version != 7 || !bytes.Equal(b.Header, h) {
			t.Fatalf("%s: parsed %+v %v", id, b, ok)
		}
		if aad := AAD(h, map[string]string{"a": "b"}); !bytes.HasPrefix(aad, h) {
			t.Fatalf("%s: AAD does not begin with the header", id)
		}
	}
	if h := Header("mrk-1234abcd12ab34cd56ef1234567890ab", 1); h[0] != versionMR {
		t.Fatalf("a multi-Region key's blob is version %d", h[0])
	}
	if _, ok := Parse(append([]byte{0x03}, make([]byte, minLen)...)); ok {
		t.Fatal("an unknown version parsed")
	}
}
