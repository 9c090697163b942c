package server_test

import (
	"bytes"
	"crypto/des"
	"testing"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Single DES on the node (PKCS #11 v2.40 Historical Mechanisms, "General block cipher"): a
// token key made with CKM_DES_KEY_GEN is 8 bytes that crypto/des takes, encrypts with
// CKM_DES_ECB as crypto/des does, and, made without asking, is not sensitive (the spec's
// default for a secret key, v2.40 §4.10) and was never sensitive. A key asked sensitive reads
// CKA_ALWAYS_SENSITIVE true and hides its value.
func TestSingleDESOnTheNode(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	alice := n.Alice(t)
	gen := func(extra ...attr.Attribute) uint32 {
		h, err := alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_DES_KEY_GEN},
			append([]attr.Attribute{{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}}, extra...))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	k := gen()
	if s := readAttr(t, alice, k, p11.CKA_SENSITIVE, p11.CKR_OK); !bytes.Equal(s, attr.Bool(false)) {
		t.Fatalf("CKA_SENSITIVE %x, want the spec's default false", s)
	}
	if s := readAttr(t, alice, k, p11.CKA_ALWAYS_SENSITIVE, p11.CKR_OK); !bytes.Equal(s, attr.Bool(false)) {
		t.Fatalf("CKA_ALWAYS_SENSITIVE %x of a key never sensitive", s)
	}
	v := readAttr(t, alice, k, p11.CKA_VALUE, p11.CKR_OK)
	b, err := des.NewCipher(v)
	if err != nil || len(v) != 8 {
		t.Fatalf("generated %x: %v", v, err)
	}
	plain := []byte("8 bytes!16 bytes")
	ct, _, err := alice.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_DES_ECB}, k, plain)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 16)
	b.Encrypt(want, plain)
	b.Encrypt(want[8:], plain[8:])
	if !bytes.Equal(ct, want) {
		t.Fatalf("CKM_DES_ECB %x, want %x", ct, want)
	}

	s := gen(attr.Attribute{Type: p11.CKA_SENSITIVE, Value: attr.Bool(true)})
	readAttr(t, alice, s, p11.CKA_VALUE, p11.CKR_ATTRIBUTE_SENSITIVE)
	if got := readAttr(t, alice, s, p11.CKA_ALWAYS_SENSITIVE, p11.CKR_OK); !bytes.Equal(got, attr.Bool(true)) {
		t.Fatalf("CKA_ALWAYS_SENSITIVE %x of a key made sensitive", got)
	}
}
