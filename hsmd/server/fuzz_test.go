package server

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// fuzzNode is a bootstrapped node with a crypto user and a few keys, called in-process (no
// network) so the fuzzer reaches the request handling many times a second.
type fuzzNode struct {
	n   *Node
	v   *service
	ctx context.Context
}

func newFuzzNode(f *testing.F) *fuzzNode {
	f.Helper()
	kdf := token.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}
	n, err := Open(Config{NodeID: "hsm-fuzzfuzzfuzz", DataDir: f.TempDir(), NoSync: true, KDF: kdf})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { n.Close() })
	ctx := context.Background()
	if err := n.Bootstrap(ctx, "cluster-fuzzfuzzfuzz", "fuzz"); err != nil {
		f.Fatal(err)
	}
	v := &service{n: n}
	as := func(user, pw string) context.Context {
		r, err := v.Login(ctx, &hsmpb.LoginRequest{User: user, Password: pw})
		if err != nil {
			f.Fatalf("login %s: %v", user, err)
		}
		c, err := n.authenticate(map[string][]string{MDAuthorization: {authScheme + r.Credential}})
		if err != nil {
			f.Fatal(err)
		}
		return context.WithValue(ctx, callerKey, c)
	}
	adm := as(token.AdminName, token.InitialAdminPassword)
	if _, err := v.ChangePassword(adm, &hsmpb.ChangePasswordRequest{NewPassword: "adminpass1"}); err != nil {
		f.Fatal(err)
	}
	adm = as(token.AdminName, "adminpass1")
	if _, err := v.CreateUser(adm, &hsmpb.CreateUserRequest{User: "alice", Role: hsmpb.Role_ROLE_CRYPTO_USER, Password: "alicepass1"}); err != nil {
		f.Fatal(err)
	}
	alice := as("alice", "alicepass1")
	tok := &hsmpb.Attribute{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}
	if _, err := v.GenerateKey(alice, &hsmpb.GenerateKeyRequest{Mechanism: &hsmpb.Mechanism{Type: p11.CKM_AES_KEY_GEN},
		Template: []*hsmpb.Attribute{tok, {Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)}}}); err != nil {
		f.Fatal(err)
	}
	if _, err := v.GenerateKeyPair(alice, &hsmpb.GenerateKeyPairRequest{Mechanism: &hsmpb.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		PublicTemplate:  []*hsmpb.Attribute{tok, {Type: p11.CKA_EC_PARAMS, Value: []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}},
		PrivateTemplate: []*hsmpb.Attribute{tok, {Type: p11.CKA_DERIVE, Value: attr.Bool(true)}}}); err != nil {
		f.Fatal(err)
	}
	return &fuzzNode{n: n, v: v, ctx: alice}
}

// call decodes body as the request of operation op and calls it.
func (z *fuzzNode) call(op byte, body []byte) (bool, error) {
	v, ctx := z.v, z.ctx
	decode := func(m proto.Message) bool { return proto.Unmarshal(body, m) == nil }
	switch op % 14 {
	case 0:
		r := &hsmpb.CreateObjectRequest{}
		if decode(r) {
			_, err := v.CreateObject(ctx, r)
			return true, err
		}
	case 1:
		r := &hsmpb.GenerateKeyRequest{}
		if decode(r) {
			_, err := v.GenerateKey(ctx, r)
			return true, err
		}
	case 2:
		r := &hsmpb.CryptRequest{}
		if decode(r) {
			_, err := v.Encrypt(ctx, r)
			return true, err
		}
	case 3:
		r := &hsmpb.CryptRequest{}
		if decode(r) {
			_, err := v.Decrypt(ctx, r)
			return true, err
		}
	case 4:
		r := &hsmpb.CryptRequest{}
		if decode(r) {
			_, err := v.Sign(ctx, r)
			return true, err
		}
	case 5:
		r := &hsmpb.VerifyRequest{}
		if decode(r) {
			_, err := v.Verify(ctx, r)
			return true, err
		}
	case 6:
		r := &hsmpb.WrapRequest{}
		if decode(r) {
			_, err := v.WrapKey(ctx, r)
			return true, err
		}
	case 7:
		r := &hsmpb.UnwrapRequest{}
		if decode(r) {
			_, err := v.UnwrapKey(ctx, r)
			return true, err
		}
	case 8:
		r := &hsmpb.DeriveRequest{}
		if decode(r) {
			_, err := v.DeriveKey(ctx, r)
			return true, err
		}
	case 9:
		r := &hsmpb.SetAttributesRequest{}
		if decode(r) {
			_, err := v.SetAttributes(ctx, r)
			return true, err
		}
	case 10:
		r := &hsmpb.CopyObjectRequest{}
		if decode(r) {
			_, err := v.CopyObject(ctx, r)
			return true, err
		}
	case 11:
		r := &hsmpb.GetAttributesRequest{}
		if decode(r) {
			_, err := v.GetAttributes(ctx, r)
			return true, err
		}
	case 12:
		r := &hsmpb.FindRequest{}
		if decode(r) {
			_, err := v.FindObjects(ctx, r)
			return true, err
		}
	case 13:
		r := &hsmpb.DigestRequest{}
		if decode(r) {
			_, err := v.Digest(ctx, r)
			return true, err
		}
	}
	return false, nil
}

// FuzzRequests sends arbitrary requests to every object and crypto call. No input may crash the
// node; every refusal carries a precise PKCS#11 code (never CKR_GENERAL_ERROR, which would mean
// an unexpected failure); and a refused request leaves the token as it was.
func FuzzRequests(f *testing.F) {
	z := newFuzzNode(f)
	seed := func(op byte, m proto.Message) {
		b, _ := proto.Marshal(m)
		f.Add(op, b)
	}
	gcm := &hsmpb.Mechanism{Type: p11.CKM_AES_GCM, Param: &hsmpb.Mechanism_Gcm{Gcm: &hsmpb.GcmParams{TagBits: 128}}}
	seed(2, &hsmpb.CryptRequest{Mechanism: gcm, Key: 1, Data: []byte("x")})
	seed(3, &hsmpb.CryptRequest{Mechanism: gcm, Key: 1, Data: bytes.Repeat([]byte{1}, 40)})
	seed(4, &hsmpb.CryptRequest{Mechanism: &hsmpb.Mechanism{Type: p11.CKM_ECDSA}, Key: 3, Data: make([]byte, 32)})
	seed(5, &hsmpb.VerifyRequest{Mechanism: &hsmpb.Mechanism{Type: p11.CKM_ECDSA}, Key: 2, Data: make([]byte, 32), Signature: make([]byte, 64)})
	seed(6, &hsmpb.WrapRequest{Mechanism: &hsmpb.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, WrappingKey: 1, Key: 1})
	seed(7, &hsmpb.UnwrapRequest{Mechanism: &hsmpb.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, UnwrappingKey: 1, Wrapped: make([]byte, 40)})
	seed(8, &hsmpb.DeriveRequest{Mechanism: &hsmpb.Mechanism{Type: p11.CKM_ECDH1_DERIVE, Param: &hsmpb.Mechanism_Ecdh1{Ecdh1: &hsmpb.Ecdh1DeriveParams{Kdf: p11.CKD_NULL, PublicData: []byte{4, 1, 2}}}}, BaseKey: 3})
	seed(9, &hsmpb.SetAttributesRequest{Handle: 1, Template: []*hsmpb.Attribute{{Type: p11.CKA_LABEL, Value: []byte("l")}}})
	seed(10, &hsmpb.CopyObjectRequest{Handle: 1, Template: []*hsmpb.Attribute{{Type: p11.CKA_TOKEN, Value: []byte{1}}}})
	seed(0, &hsmpb.CreateObjectRequest{Template: []*hsmpb.Attribute{{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_DATA)}, {Type: p11.CKA_TOKEN, Value: []byte{1}}}})
	f.Fuzz(func(t *testing.T, op byte, body []byte) {
		before, err := z.n.State().Digest()
		if err != nil {
			t.Fatal(err)
		}
		called, err := z.call(op, body)
		if !called || err == nil {
			return
		}
		if p11.Code(err) == p11.CKR_GENERAL_ERROR {
			t.Fatalf("op %d: refusal without a precise code: %v", op%14, err)
		}
		if after, _ := z.n.State().Digest(); !bytes.Equal(before, after) {
			t.Fatalf("op %d: a refused request changed the token: %v", op%14, err)
		}
	})
}
