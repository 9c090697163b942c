package server_test

import (
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// publicClient is an application without a login that names its public session, as the PKCS#11
// module does in profile standard.
func publicClient(t *testing.T, n *nodetest.Node) *client.Client {
	c := n.Client(t)
	c.Session().SetPublic()
	return c
}

func publicAES(label string, token bool) []attr.Attribute {
	return append(aesTemplate(token, label), attr.Attribute{Type: p11.CKA_PRIVATE, Value: attr.Bool(false)})
}

// A public session (PKCS#11 the v2.40 Usage Guide's session states) makes and uses public objects without a login;
// private ones need a login; and what one application's public session makes no other caller
// sees, nor does it see any login's objects but the public token objects, which it reads and
// does not use.
func TestPublicSessionsWorkWithPublicObjectsOnly(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	pub, other, alice := publicClient(t, n), publicClient(t, n), n.Alice(t)
	gcm := ckm.Mechanism{Type: p11.CKM_AES_GCM, Param: &ckm.GCMParams{IV: make([]byte, 12), TagBits: 128}}

	k, err := pub.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, publicAES("pub-session", false))
	if err != nil {
		t.Fatalf("a public session key: %v", err)
	}
	ct, _, err := pub.Encrypt(ctx, gcm, k, []byte("public work"))
	if err != nil {
		t.Fatalf("encrypt without a login: %v", err)
	}
	if pt, err := pub.Decrypt(ctx, gcm, k, ct); err != nil || string(pt) != "public work" {
		t.Fatalf("decrypt without a login: %q %v", pt, err)
	}
	if hs, err := pub.FindObjects(ctx, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("pub-session")}}); err != nil || len(hs) != 1 || hs[0] != k {
		t.Fatalf("the public session finds %v (%v), want [%d]", hs, err, k)
	}
	_, err = pub.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, aesTemplate(false, "private by default"))
	wantRV(t, "a private session key without a login", err, p11.CKR_USER_NOT_LOGGED_IN)
	_, err = pub.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, aesTemplate(true, "private token key"))
	wantRV(t, "a private token key without a login", err, p11.CKR_USER_NOT_LOGGED_IN)

	// Another application, logged in or not, has none of it.
	_, _, err = other.Encrypt(ctx, gcm, k, []byte("x"))
	wantRV(t, "another public session uses it", err, p11.CKR_KEY_HANDLE_INVALID)
	_, _, err = alice.Encrypt(ctx, gcm, k, []byte("x"))
	wantRV(t, "a login uses it", err, p11.CKR_KEY_HANDLE_INVALID)
	if hs, _ := other.FindObjects(ctx, nil); len(hs) != 0 {
		t.Fatalf("another public session finds %v", hs)
	}
	wantRV(t, "another public session destroys it", other.DestroyObject(ctx, k), p11.CKR_OBJECT_HANDLE_INVALID)
	// Without a public session there is no owner for a session object.
	_, err = n.Client(t).GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, publicAES("nobody", false))
	wantRV(t, "a public key without a public session", err, p11.CKR_USER_NOT_LOGGED_IN)

	// A public token object belongs to nobody: any public session or crypto user manages it.
	tok, err := pub.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, publicAES("pub-token", true))
	if err != nil {
		t.Fatalf("a public token key without a login: %v", err)
	}
	if _, _, err := other.Encrypt(ctx, gcm, tok, []byte("x")); err != nil {
		t.Fatalf("another public session uses a public token key: %v", err)
	}
	if err := alice.SetAttributes(ctx, tok, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("renamed")}}); err != nil {
		t.Fatalf("a crypto user changes nobody's public key: %v", err)
	}
	if err := other.DestroyObject(ctx, tok); err != nil {
		t.Fatalf("a public session destroys nobody's public key: %v", err)
	}

	// A login's objects: its session objects are invisible, its public token objects readable
	// but not used, changed or destroyed.
	aliceSess := genAES(t, alice, false, "alice-session", attr.Attribute{Type: p11.CKA_PRIVATE, Value: attr.Bool(false)})
	alicePub := genAES(t, alice, true, "alice-public", attr.Attribute{Type: p11.CKA_PRIVATE, Value: attr.Bool(false)})
	alicePriv := genAES(t, alice, true, "alice-private")
	_, err = pub.GetAttributes(ctx, aliceSess, p11.CKA_LABEL)
	wantRV(t, "a login's session object", err, p11.CKR_OBJECT_HANDLE_INVALID)
	_, err = pub.GetAttributes(ctx, alicePriv, p11.CKA_LABEL)
	wantRV(t, "a login's private token object", err, p11.CKR_OBJECT_HANDLE_INVALID)
	if res, err := pub.GetAttributes(ctx, alicePub, p11.CKA_LABEL); err != nil || string(res[0].Value) != "alice-public" {
		t.Fatalf("read a crypto user's public token key: %v %v", res, err)
	}
	_, _, err = pub.Encrypt(ctx, gcm, alicePub, []byte("x"))
	wantRV(t, "use a crypto user's public key", err, p11.CKR_USER_NOT_LOGGED_IN)
	_, err = pub.WrapKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_WRAP_PAD}, k, alicePub)
	wantRV(t, "wrap a crypto user's public key", err, p11.CKR_USER_NOT_LOGGED_IN)
	_, err = pub.CopyObject(ctx, alicePub, nil)
	wantRV(t, "copy a crypto user's public key", err, p11.CKR_USER_NOT_LOGGED_IN)
	wantRV(t, "destroy a crypto user's public key", pub.DestroyObject(ctx, alicePub), p11.CKR_ACTION_PROHIBITED)
	wantRV(t, "change a crypto user's public key", pub.SetAttributes(ctx, alicePub, []attr.Attribute{{Type: p11.CKA_LABEL, Value: []byte("x")}}), p11.CKR_ACTION_PROHIBITED)
	hs, err := pub.FindObjects(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h == aliceSess || h == alicePriv {
			t.Fatalf("the public session finds a login's object %d among %v", h, hs)
		}
	}
}

// The application that logs in keeps its public session's objects (PKCS#11 sessions keep their
// objects across C_Login and C_Logout), and an admin logged in from a public session (the
// PKCS#11 SO) works as that public session: public objects only.
func TestLoginKeepsThePublicSessionsObjects(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	app := publicClient(t, n)
	k, err := app.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, publicAES("before login", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Login(ctx, nodetest.CryptoUser, nodetest.CryptoPass); err != nil {
		t.Fatal(err)
	}
	if _, err := app.GetAttributes(ctx, k, p11.CKA_LABEL); err != nil {
		t.Fatalf("after the login: %v", err)
	}
	mine := genAES(t, app, false, "the login's")
	if err := app.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := app.GetAttributes(ctx, k, p11.CKA_LABEL); err != nil {
		t.Fatalf("after the logout: %v", err)
	}
	_, err = app.GetAttributes(ctx, mine, p11.CKA_LABEL)
	wantRV(t, "the login's session object after its logout", err, p11.CKR_OBJECT_HANDLE_INVALID)

	if _, err := app.Login(ctx, "admin", nodetest.AdminPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := app.GetAttributes(ctx, k, p11.CKA_LABEL); err != nil {
		t.Fatalf("the SO reads its application's public object: %v", err)
	}
	if _, err := app.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, publicAES("so's", false)); err != nil {
		t.Fatalf("the SO makes a public session key: %v", err)
	}
	_, err = app.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, aesTemplate(false, "so's private"))
	wantRV(t, "the SO makes a private key", err, p11.CKR_USER_NOT_LOGGED_IN)
	// The user-management calls still carry the admin.
	if err := app.CreateUser(ctx, "carol", hsmpb.Role_ROLE_CRYPTO_USER, "carolpass1"); err != nil {
		t.Fatal(err)
	}
}

// GetPinStatus shows the cluster's wrong-password counts without a login.
func TestPinStatus(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{})
	ctx := ctxT(t)
	c := n.Client(t)
	for i := 0; i < 2; i++ {
		_, err := c.Login(ctx, nodetest.CryptoUser, "wrongpass1")
		wantRV(t, "wrong password", err, p11.CKR_PIN_INCORRECT)
	}
	st, err := c.PinStatus(ctx, nodetest.CryptoUser, "admin", "nosuchuser")
	if err != nil {
		t.Fatal(err)
	}
	if st.MaxFailed != 5 || len(st.Users) != 3 || st.Users[0].Failed != 2 || st.Users[1].Failed != 0 || st.Users[2].Failed != 0 {
		t.Fatalf("pin status %v", st)
	}
	_, err = c.PinStatus(ctx, make([]string, 9)...)
	wantRV(t, "nine users", err, p11.CKR_ARGUMENTS_BAD)
}

// A public session has no login whose lease ends its objects with its client: the node drops
// them when no call has named the session for eight leases, and a live client keeps naming it.
func TestPublicSessionObjectsEndWithTheirClient(t *testing.T) {
	n := nodetest.Start(t, nodetest.Options{LoginLease: 500 * time.Millisecond})
	ctx := ctxT(t)
	live, gone := publicClient(t, n), publicClient(t, n)
	k, err := live.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, publicAES("live", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gone.GenerateKey(ctx, ckm.Mechanism{Type: p11.CKM_AES_KEY_GEN}, publicAES("gone", false)); err != nil {
		t.Fatal(err)
	}
	gone.Close()           // the application died without C_Finalize
	watcher := n.Client(t) // names no public session: only live's own keep-alive keeps its object
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := watcher.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.SessionObjects == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d session objects after the client of one went away", info.SessionObjects)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := live.GetAttributes(ctx, k, p11.CKA_LABEL); err != nil {
		t.Fatalf("the live client's public object: %v", err)
	}
}
