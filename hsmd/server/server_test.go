package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantRV(t *testing.T, what string, err error, rv uint32) {
	t.Helper()
	if got := p11.Code(err); got != rv {
		t.Fatalf("%s: got %s (%v), want %s", what, p11.RVName(got), err, p11.RVName(rv))
	}
}

var p256OID = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func aesTemplate(token bool, label string) []attr.Attribute {
	return []attr.Attribute{
		{Type: p11.CKA_VALUE_LEN, Value: attr.Ulong(32)},
		{Type: p11.CKA_TOKEN, Value: attr.Bool(token)},
		{Type: p11.CKA_LABEL, Value: []byte(label)},
		{Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)},
		{Type: p11.CKA_DECRYPT, Value: attr.Bool(true)},
	}
}

func genAES(t *testing.T, c *client.Client, token bool, label string, extra ...attr.Attribute) uint32 {
	t.Helper()
	h, err := c.GenerateKey(ctxT(t), ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, append(aesTemplate(token, label), extra...))
	if err != nil {
		t.Fatalf("generate AES key: %v", err)
	}
	return h
}

func genEC(t *testing.T, c *client.Client) (pub, priv uint32) {
	t.Helper()
	pub, priv, err := c.GenerateKeyPair(ctxT(t), ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{{Type: p11.CKA_EC_PARAMS, Value: p256OID}, {Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_VERIFY, Value: attr.Bool(true)}},
		[]attr.Attribute{{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_SIGN, Value: attr.Bool(true)}})
	if err != nil {
		t.Fatalf("generate EC pair: %v", err)
	}
	return pub, priv
}

// ecdsaPublic reads an EC public key object back and verifies with the standard library, so a
// signature is checked by code that is not ours.
func ecdsaPublic(t *testing.T, c *client.Client, h uint32) *ecdsa.PublicKey {
	t.Helper()
	res, err := c.GetAttributes(ctxT(t), h, p11.CKA_EC_POINT)
	if err != nil || res[0].Rv != p11.CKR_OK {
		t.Fatalf("read EC point: %v %v", err, res)
	}
	var pt []byte
	if _, err := asn1.Unmarshal(res[0].Value, &pt); err != nil {
		t.Fatalf("EC point is not a DER OCTET STRING: %v", err)
	}
	x, y := elliptic.Unmarshal(elliptic.P256(), pt) //nolint:staticcheck // a fixed test vector format
	if x == nil {
		t.Fatal("bad EC point")
	}
	return &ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}
}

func TestSignedByTheNodeVerifiesWithTheStandardLibrary(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	pub, priv := genEC(t, alice)
	digest := sha256.Sum256([]byte("hello hsm"))
	sig, err := alice.Sign(ctxT(t), ckm.Mechanism{Type: p11.CKM_ECDSA}, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(ecdsaPublic(t, alice, pub), digest[:], r, s) {
		t.Fatal("stdlib rejects the node's ECDSA signature")
	}
	if err := alice.Verify(ctxT(t), ckm.Mechanism{Type: p11.CKM_ECDSA}, pub, digest[:], sig); err != nil {
		t.Fatalf("node rejects its own signature: %v", err)
	}
	sig[5] ^= 1
	wantRV(t, "tampered signature", alice.Verify(ctxT(t), ckm.Mechanism{Type: p11.CKM_ECDSA}, pub, digest[:], sig), p11.CKR_SIGNATURE_INVALID)
	// The private value is sensitive: it cannot be read.
	res, err := alice.GetAttributes(ctxT(t), priv, p11.CKA_VALUE, p11.CKA_LABEL, 0x7fff0000)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Rv != p11.CKR_ATTRIBUTE_SENSITIVE || res[1].Rv != p11.CKR_OK || res[2].Rv != p11.CKR_ATTRIBUTE_TYPE_INVALID {
		t.Fatalf("per-attribute results: %v", res)
	}
}

func TestRolesAreEnforced(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	admin, alice := n.Admin(t), n.Alice(t)
	if err := admin.CreateUser(ctx, "bob", hsmpb.Role_ROLE_CRYPTO_USER, "bobpass12"); err != nil {
		t.Fatal(err)
	}
	bob := n.Login(t, "bob", "bobpass12")
	key := genAES(t, alice, true, "alice-key")
	gcm := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}

	_, _, err := admin.Encrypt(ctx, gcm, key, []byte("x"))
	wantRV(t, "admin encrypts", err, p11.CKR_USER_NOT_LOGGED_IN)
	_, err = admin.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, aesTemplate(true, "adm"))
	wantRV(t, "admin generates a key", err, p11.CKR_USER_NOT_LOGGED_IN)
	wantRV(t, "CU creates a user", alice.CreateUser(ctx, "eve", hsmpb.Role_ROLE_CRYPTO_USER, "evepass12"), p11.CKR_USER_NOT_LOGGED_IN)

	_, _, err = bob.Encrypt(ctx, gcm, key, []byte("x"))
	wantRV(t, "bob uses alice's unshared key", err, p11.CKR_KEY_HANDLE_INVALID)
	if hs, _ := bob.FindObjects(ctx, nil); len(hs) != 0 {
		t.Fatalf("bob finds %v before sharing", hs)
	}
	if err := alice.ShareKey(ctx, key, "bob", true); err != nil {
		t.Fatal(err)
	}
	ct, used, err := bob.Encrypt(ctx, gcm, key, []byte("shared secret"))
	if err != nil {
		t.Fatalf("bob encrypts with a shared key: %v", err)
	}
	pt, err := alice.Decrypt(ctx, used, key, ct)
	if err != nil || string(pt) != "shared secret" {
		t.Fatalf("alice decrypts bob's ciphertext: %q %v", pt, err)
	}
	wantRV(t, "bob destroys a shared key", bob.DestroyObject(ctx, key), p11.CKR_ACTION_PROHIBITED)
	if err := alice.ShareKey(ctx, key, "bob", false); err != nil {
		t.Fatal(err)
	}
	_, _, err = bob.Encrypt(ctx, gcm, key, []byte("x"))
	wantRV(t, "bob after unshare", err, p11.CKR_KEY_HANDLE_INVALID)

	// The unactivated admin of a fresh token can do nothing before changing its password.
	fresh := nodetest.Start(t, nodetest.Options{})
	_ = fresh // its admin is activated by Start; make an unactivated one by hand below
	_, err = n.Client(t).Login(ctx, "admin", token.InitialAdminPassword)
	wantRV(t, "old initial password after activation", err, p11.CKR_PIN_INCORRECT)
}

func TestUnactivatedAdminMustChangePasswordFirst(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	// A second bootstrap is refused: the token is initialized once.
	wantRV(t, "second bootstrap", n.Bootstrap(ctx, "cluster-otherotherot", "x"), p11.CKR_FUNCTION_FAILED)
	info, err := n.Client(t).Info(ctx)
	if err != nil || !info.Initialized || info.ClusterId != nodetest.ClusterID {
		t.Fatalf("info: %+v %v", info, err)
	}
}

func TestFiveFailedLoginsLockUntilAdminReset(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	c := n.Client(t)
	for i := 0; i < token.MaxFailedLogins; i++ {
		_, err := c.Login(ctx, nodetest.CryptoUser, "wrong-password")
		wantRV(t, "wrong password", err, p11.CKR_PIN_INCORRECT)
	}
	_, err := c.Login(ctx, nodetest.CryptoUser, nodetest.CryptoPass)
	wantRV(t, "right password while locked", err, p11.CKR_PIN_LOCKED)
	admin := n.Admin(t)
	users, err := admin.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.User == nodetest.CryptoUser && (!u.Locked || u.FailedLogins != 5) {
			t.Fatalf("alice in user list: %+v", u)
		}
	}
	if err := admin.ChangePassword(ctx, nodetest.CryptoUser, "resetpass1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, nodetest.CryptoUser, "resetpass1"); err != nil {
		t.Fatalf("login after reset: %v", err)
	}
	users, _ = admin.ListUsers(ctx)
	for _, u := range users {
		if u.User == nodetest.CryptoUser && (u.Locked || u.ActiveLogins != 1) {
			t.Fatalf("alice after reset and login: %+v", u)
		}
	}
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	users, _ = admin.ListUsers(ctx)
	for _, u := range users {
		if u.User == nodetest.CryptoUser && u.ActiveLogins != 0 {
			t.Fatalf("alice still logged in after logout: %+v", u)
		}
	}
}

func TestObjectsUsersAndLoginsSurviveRestart(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	alice := n.Alice(t)
	aes := genAES(t, alice, true, "persisted")
	pub, priv := genEC(t, alice)
	session := genAES(t, alice, false, "ephemeral")
	gcm := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}
	ct, used, err := alice.Encrypt(ctx, gcm, aes, []byte("before restart"))
	if err != nil {
		t.Fatal(err)
	}

	n.Restart(t)

	// The same client, same credential: logins are replicated state and survive.
	pt, err := alice.Decrypt(ctx, used, aes, ct)
	if err != nil || string(pt) != "before restart" {
		t.Fatalf("decrypt after restart: %q %v", pt, err)
	}
	digest := sha256.Sum256([]byte("m"))
	sig, err := alice.Sign(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Verify(ctx, ckm.Mechanism{Type: p11.CKM_ECDSA}, pub, digest[:], sig); err != nil {
		t.Fatal(err)
	}
	hs, err := alice.FindObjects(ctx, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("persisted")}})
	if err != nil || len(hs) != 1 || hs[0] != aes {
		t.Fatalf("find by label after restart: %v %v", hs, err)
	}
	// Session objects do not survive: they lived in the node's memory.
	_, _, err = alice.Encrypt(ctx, gcm, session, []byte("x"))
	wantRV(t, "session key after restart", err, p11.CKR_KEY_HANDLE_INVALID)
	if _, err := n.Admin(t).ListUsers(ctx); err != nil {
		t.Fatalf("admin after restart: %v", err)
	}
}

func TestSessionObjectsBelongToTheirLogin(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	a1, a2 := n.Alice(t), n.Alice(t)
	h := genAES(t, a1, false, "mine")
	if h&(1<<31) == 0 {
		t.Fatalf("session handle %#x lacks the session bit", h)
	}
	if hs, _ := a2.FindObjects(ctx, nil); len(hs) != 0 {
		t.Fatalf("another login of the same user sees %v", hs)
	}
	if err := a1.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	a1b := n.Alice(t)
	if hs, _ := a1b.FindObjects(ctx, nil); len(hs) != 0 {
		t.Fatalf("session objects outlived their login: %v", hs)
	}
}

func TestHSMGeneratedGCMIVComesBack(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	key := genAES(t, alice, true, "gcm")
	ct, used, err := alice.Encrypt(ctxT(t), ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128, AAD: []byte("aad")}}, key, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := used.Param.(*ckm.GCMParams)
	if !ok || len(p.IV) != 12 {
		t.Fatalf("used mechanism %+v: want a 12-byte HSM-generated IV", used.Param)
	}
	pt, err := alice.Decrypt(ctxT(t), used, key, ct)
	if err != nil || string(pt) != "data" {
		t.Fatalf("decrypt with returned IV: %q %v", pt, err)
	}
}

func TestRetriedWriteWithTheSameRequestIDCreatesOneKey(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	ctx := client.WithRequestID(ctxT(t), "retry-me-once")
	h1, err := alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, aesTemplate(true, "once"))
	if err != nil {
		t.Fatal(err)
	}
	h2, err := alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, aesTemplate(true, "once"))
	if err != nil || h1 != h2 {
		t.Fatalf("retry returned %d (%v), first call %d", h2, err, h1)
	}
	hs, _ := alice.FindObjects(ctxT(t), []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("once")}})
	if len(hs) != 1 {
		t.Fatalf("%d keys labelled once, want 1", len(hs))
	}
}

func TestReadYourWritesWaitIsBounded(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "x-hsm-min-index", "999999"), 300*time.Millisecond)
	defer cancel()
	_, err := alice.GenerateRandom(ctx, 16)
	if err == nil || !client.Retryable(err) {
		t.Fatalf("waiting for an index the node never reaches: %v (retryable=%v)", err, client.Retryable(err))
	}
	if alice.Session().Index() == 0 {
		t.Fatal("responses carry no applied index")
	}
}

func TestBadInputGetsExactErrorsAndChangesNothing(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	alice := n.Alice(t)
	key := genAES(t, alice, true, "k", attr.Attribute{Type: p11.CKA_WRAP, Value: attr.Bool(false)})
	noSign := genAES(t, alice, true, "no-sign", attr.Attribute{Type: p11.CKA_SIGN, Value: attr.Bool(false)})
	before, _ := n.State().Digest()
	_, err := alice.GenerateKey(ctx, ckm.Mechanism{Type: 0x7777}, aesTemplate(true, "x"))
	wantRV(t, "unknown mechanism", err, p11.CKR_MECHANISM_INVALID)
	_, err = alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, []attr.Attribute{{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}})
	wantRV(t, "AES without CKA_VALUE_LEN", err, p11.CKR_TEMPLATE_INCOMPLETE)
	_, err = alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, append(aesTemplate(true, "x"), attr.Attribute{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_PUBLIC_KEY)}))
	wantRV(t, "class contradicting the mechanism", err, p11.CKR_TEMPLATE_INCONSISTENT)
	_, err = alice.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, append(aesTemplate(true, "x"), attr.Attribute{Type: p11.CKA_LOCAL, Value: attr.Bool(true)}))
	wantRV(t, "setting CKA_LOCAL", err, p11.CKR_ATTRIBUTE_READ_ONLY)
	_, _, err = alice.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: ckm.IV{1}}, key, []byte("x"))
	wantRV(t, "GCM with a CBC parameter", err, p11.CKR_MECHANISM_PARAM_INVALID)
	_, _, err = alice.Encrypt(ctx, ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}, 424242, []byte("x"))
	wantRV(t, "no such key", err, p11.CKR_KEY_HANDLE_INVALID)
	_, err = alice.Sign(ctx, ckm.Mechanism{Type: p11.CKM_SHA256_HMAC}, noSign, []byte("x"))
	wantRV(t, "sign with an encrypt-only AES key", err, p11.CKR_KEY_FUNCTION_NOT_PERMITTED)
	_, err = alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, key, key)
	wantRV(t, "wrap with a key lacking CKA_WRAP", err, p11.CKR_KEY_FUNCTION_NOT_PERMITTED)
	wantRV(t, "destroy nothing", alice.DestroyObject(ctx, 31337), p11.CKR_OBJECT_HANDLE_INVALID)
	_, err = n.Client(t).GenerateRandom(ctx, 0)
	wantRV(t, "zero random bytes", err, p11.CKR_ARGUMENTS_BAD)
	if after, _ := n.State().Digest(); !bytes.Equal(before, after) {
		t.Fatal("refused requests changed the token")
	}
}

func TestNonExtractableKeysCannotBeWrapped(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	alice := n.Alice(t)
	kek := genAES(t, alice, true, "kek", attr.Attribute{Type: p11.CKA_WRAP, Value: attr.Bool(true)}, attr.Attribute{Type: p11.CKA_UNWRAP, Value: attr.Bool(true)})
	locked := genAES(t, alice, true, "locked", attr.Attribute{Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(false)})
	_, err := alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, locked)
	wantRV(t, "wrap a non-extractable key", err, p11.CKR_KEY_UNEXTRACTABLE)
	free := genAES(t, alice, true, "free", attr.Attribute{Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(true)})
	wrapped, err := alice.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, free)
	if err != nil {
		t.Fatal(err)
	}
	h, err := alice.UnwrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP}, kek, wrapped, []attr.Attribute{
		{Type: p11.CKA_CLASS, Value: attr.Ulong(p11.CKO_SECRET_KEY)}, {Type: p11.CKA_KEY_TYPE, Value: attr.Ulong(p11.CKK_AES)},
		{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}, {Type: p11.CKA_ENCRYPT, Value: attr.Bool(true)}, {Type: p11.CKA_DECRYPT, Value: attr.Bool(true)},
	})
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	gcm := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}
	ct, used, err := alice.Encrypt(ctx, gcm, free, []byte("same key"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := alice.Decrypt(ctx, used, h, ct); err != nil || string(pt) != "same key" {
		t.Fatalf("unwrapped copy does not decrypt the original's ciphertext: %v", err)
	}
}

// TestNoPlaintextKeyMaterialOnDisk generates keys whose material the test may read (extractable,
// not sensitive), then searches every file of the data directory and the node's log for those
// bytes, raw, hex and base64. The store must hold them only sealed.
func TestNoPlaintextKeyMaterialOnDisk(t *testing.T) {
	var logBuf syncBuffer
	n := nodetest.Start(t, nodetest.Options{Sync: true, LogTo: &logBuf})
	ctx := ctxT(t)
	alice := n.Alice(t)
	readable := []attr.Attribute{{Type: p11.CKA_SENSITIVE, Value: attr.Bool(false)}, {Type: p11.CKA_EXTRACTABLE, Value: attr.Bool(true)}}
	var secrets [][]byte
	for i := 0; i < 20; i++ {
		h := genAES(t, alice, true, "visible", readable...)
		res, err := alice.GetAttributes(ctx, h, p11.CKA_VALUE)
		if err != nil || res[0].Rv != p11.CKR_OK || len(res[0].Value) != 32 {
			t.Fatalf("read CKA_VALUE of a non-sensitive key: %v %v", err, res)
		}
		secrets = append(secrets, res[0].Value)
	}
	_, priv, err := alice.GenerateKeyPair(ctx, ckm.Mechanism{Type: p11.CKM_EC_KEY_PAIR_GEN},
		[]attr.Attribute{{Type: p11.CKA_EC_PARAMS, Value: p256OID}, {Type: p11.CKA_TOKEN, Value: attr.Bool(true)}},
		append([]attr.Attribute{{Type: p11.CKA_TOKEN, Value: attr.Bool(true)}}, readable...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := alice.GetAttributes(ctx, priv, p11.CKA_VALUE)
	if err != nil || res[0].Rv != p11.CKR_OK {
		t.Fatalf("read EC private value: %v %v", err, res)
	}
	secrets = append(secrets, res[0].Value)
	n.Stop() // flush and close the database

	var files []string
	_ = filepath.Walk(n.Dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Name() != "node.key" {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no files in the data directory")
	}
	hay := map[string][]byte{"node log": logBuf.Bytes()}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		hay[f] = b
	}
	for name, b := range hay {
		lower := bytes.ToLower(b)
		for _, s := range secrets {
			for _, form := range [][]byte{s, []byte(hex.EncodeToString(s)), []byte(base64.StdEncoding.EncodeToString(s)), []byte(base64.RawURLEncoding.EncodeToString(s))} {
				if bytes.Contains(b, form) || bytes.Contains(lower, bytes.ToLower(form)) && len(form) > 32 {
					t.Fatalf("key material found in %s", name)
				}
			}
		}
	}
}

func TestConcurrentClientsSeeConsistentResults(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	key := genAES(t, alice, true, "shared-by-goroutines")
	gcm := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{TagBits: 128}}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				msg := []byte(strings.Repeat("x", g+i))
				ct, used, err := alice.Encrypt(context.Background(), gcm, key, msg)
				if err == nil {
					var pt []byte
					pt, err = alice.Decrypt(context.Background(), used, key, ct)
					if err == nil && !bytes.Equal(pt, msg) {
						err = errors.New("round trip mismatch")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// TestMalformedRequestIDIsRefusedBeforeTheLog: an idempotency id the state machine could not
// store is refused with CKR_ARGUMENTS_BAD on the node that received it, and nothing is applied.
func TestMalformedRequestIDIsRefusedBeforeTheLog(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	alice := n.Alice(t)
	before, _ := n.State().Digest()
	applied := n.State().Applied()
	_, err := alice.GenerateKey(client.WithRequestID(ctxT(t), "not valid"), ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, aesTemplate(true, "x"))
	wantRV(t, "request id with a space", err, p11.CKR_ARGUMENTS_BAD)
	if after, _ := n.State().Digest(); !bytes.Equal(before, after) || n.State().Applied() != applied {
		t.Fatal("a refused request id changed the token or the log")
	}
}
