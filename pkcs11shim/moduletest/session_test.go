package moduletest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
)

func TestSlotAndToken(t *testing.T) {
	start(t, standard)
	slots, err := p.GetSlotList(true)
	must(t, err)
	if len(slots) != 1 || slots[0] != 1 {
		t.Fatalf("slots %v", slots)
	}
	si, err := p.GetSlotInfo(1)
	must(t, err)
	if si.Flags&pkcs11.CKF_TOKEN_PRESENT == 0 || !strings.Contains(si.SlotDescription, nodetest.ClusterID) {
		t.Fatalf("slot info %+v", si)
	}
	_, err = p.GetSlotInfo(2)
	wantRV(t, "slot 2", err, pkcs11.CKR_SLOT_ID_INVALID)

	ro := open(t, false)
	open(t, true)
	ti, err := p.GetTokenInfo(1)
	must(t, err)
	// Without a label in the config the token carries the cluster's label.
	if ti.Label != "hsmsim-test" || ti.SerialNumber != nodetest.ClusterID[:16] {
		t.Fatalf("label %q serial %q", ti.Label, ti.SerialNumber)
	}
	want := uint(pkcs11.CKF_TOKEN_INITIALIZED | pkcs11.CKF_LOGIN_REQUIRED | pkcs11.CKF_USER_PIN_INITIALIZED | pkcs11.CKF_RNG)
	if ti.Flags != want {
		t.Fatalf("token flags %#x, want %#x", ti.Flags, want)
	}
	if ti.SessionCount != 2 || ti.RwSessionCount != 1 || ti.MaxSessionCount != 1024 {
		t.Fatalf("sessions %d (rw %d) of %d", ti.SessionCount, ti.RwSessionCount, ti.MaxSessionCount)
	}
	if ti.TotalPrivateMemory == 0 || ti.FreePrivateMemory != ti.TotalPrivateMemory {
		t.Fatalf("memory %d free of %d on an empty token", ti.FreePrivateMemory, ti.TotalPrivateMemory)
	}
	s := session(t)
	ecKeyPair(t, s, true)
	ti, err = p.GetTokenInfo(1)
	must(t, err)
	if ti.FreePrivateMemory != ti.TotalPrivateMemory-2 {
		t.Fatalf("memory %d free of %d after a key pair", ti.FreePrivateMemory, ti.TotalPrivateMemory)
	}
	must(t, p.CloseSession(ro))

	list, err := p.GetMechanismList(1)
	must(t, err)
	have := map[uint]bool{}
	for _, m := range list {
		have[m.Mechanism] = true
	}
	for _, m := range []uint{pkcs11.CKM_EC_KEY_PAIR_GEN, pkcs11.CKM_ECDSA, pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, pkcs11.CKM_AES_GCM, pkcs11.CKM_SHA256} {
		if !have[m] {
			t.Fatalf("mechanism %#x missing from %v", m, list)
		}
	}
	mi, err := p.GetMechanismInfo(1, mechs(pkcs11.CKM_ECDSA, nil))
	must(t, err)
	if mi.Flags&pkcs11.CKF_SIGN == 0 || mi.Flags&pkcs11.CKF_ENCRYPT != 0 {
		t.Fatalf("CKM_ECDSA flags %#x", mi.Flags)
	}
	_, err = p.GetMechanismInfo(1, mechs(0x7FFF0000, nil))
	wantRV(t, "unknown mechanism", err, pkcs11.CKR_MECHANISM_INVALID)
}

func TestConfigLabel(t *testing.T) {
	start(t, standard, func(c *moduleConfig) { c.Label = "my-token" })
	ti, err := p.GetTokenInfo(1)
	must(t, err)
	if ti.Label != "my-token" {
		t.Fatalf("label %q", ti.Label)
	}
}

func state(t *testing.T, s pkcs11.SessionHandle) uint {
	t.Helper()
	info, err := p.GetSessionInfo(s)
	must(t, err)
	return info.State
}

func TestSessionsAndLogin(t *testing.T) {
	start(t, standard)
	_, err := p.OpenSession(1, pkcs11.CKF_RW_SESSION)
	wantRV(t, "no CKF_SERIAL_SESSION", err, pkcs11.CKR_SESSION_PARALLEL_NOT_SUPPORTED)
	_, err = p.OpenSession(7, pkcs11.CKF_SERIAL_SESSION)
	wantRV(t, "slot 7", err, pkcs11.CKR_SLOT_ID_INVALID)
	_, err = p.GetSessionInfo(12345)
	wantRV(t, "unknown session", err, pkcs11.CKR_SESSION_HANDLE_INVALID)

	ro, rw := open(t, false), open(t, true)
	if state(t, ro) != pkcs11.CKS_RO_PUBLIC_SESSION || state(t, rw) != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("public states")
	}
	// CKU_SO is the admin in profile standard (TestSOLogin), refused while a R/O session is
	// open; profile cloudhsm refuses the user type (TestSOLoginCloudHSM).
	wantRV(t, "CKU_SO", p.Login(rw, pkcs11.CKU_SO, pin), pkcs11.CKR_SESSION_READ_ONLY_EXISTS)
	wantRV(t, "wrong password", p.Login(rw, pkcs11.CKU_USER, "alice:wrongpass1"), pkcs11.CKR_PIN_INCORRECT)
	wantRV(t, "unknown user", p.Login(rw, pkcs11.CKU_USER, "mallory:whatever1"), pkcs11.CKR_PIN_INCORRECT)
	wantRV(t, "PIN without user", p.Login(rw, pkcs11.CKU_USER, "alicepass1"), pkcs11.CKR_PIN_INCORRECT)
	wantRV(t, "context-specific without login", p.Login(rw, pkcs11.CKU_CONTEXT_SPECIFIC, pin), pkcs11.CKR_USER_NOT_LOGGED_IN)
	// Nothing is visible without a login.
	must(t, p.FindObjectsInit(ro, nil))
	hs, _, err := p.FindObjects(ro, 10)
	must(t, err)
	must(t, p.FindObjectsFinal(ro))
	if len(hs) != 0 {
		t.Fatalf("public session sees %v", hs)
	}
	_, err = p.GenerateKey(rw, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16)})
	wantRV(t, "generate without login", err, pkcs11.CKR_USER_NOT_LOGGED_IN)

	must(t, p.Login(ro, pkcs11.CKU_USER, pin))
	if state(t, ro) != pkcs11.CKS_RO_USER_FUNCTIONS || state(t, rw) != pkcs11.CKS_RW_USER_FUNCTIONS {
		t.Fatal("the login is the application's: every session is logged in")
	}
	wantRV(t, "second login", p.Login(rw, pkcs11.CKU_USER, pin), pkcs11.CKR_USER_ALREADY_LOGGED_IN)

	// Read-only sessions cannot touch token objects; session objects are fine.
	aes := func(s pkcs11.SessionHandle, token bool) (pkcs11.ObjectHandle, error) {
		return p.GenerateKey(s, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, token)})
	}
	_, err = aes(ro, true)
	wantRV(t, "token key from a R/O session", err, pkcs11.CKR_SESSION_READ_ONLY)
	_, err = aes(ro, false)
	must(t, err)
	tok, err := aes(rw, true)
	must(t, err)
	wantRV(t, "destroy a token key from a R/O session", p.DestroyObject(ro, tok), pkcs11.CKR_SESSION_READ_ONLY)
	wantRV(t, "set an attribute from a R/O session", p.SetAttributeValue(ro, tok, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "x")}), pkcs11.CKR_SESSION_READ_ONLY)
	must(t, p.DestroyObject(rw, tok))

	must(t, p.Logout(ro))
	wantRV(t, "second logout", p.Logout(rw), pkcs11.CKR_USER_NOT_LOGGED_IN)
	if state(t, rw) != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("still logged in after C_Logout")
	}

	// Closing the last session ends the login.
	must(t, p.Login(rw, pkcs11.CKU_USER, pin))
	must(t, p.CloseSession(ro))
	must(t, p.CloseSession(rw))
	wantRV(t, "closed session", p.CloseSession(rw), pkcs11.CKR_SESSION_HANDLE_INVALID)
	s := open(t, true)
	if state(t, s) != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("the login outlived the last session")
	}
	must(t, p.Login(s, pkcs11.CKU_USER, pin))
	open(t, true)
	must(t, p.CloseAllSessions(1))
	_, err = p.GetSessionInfo(s)
	wantRV(t, "after C_CloseAllSessions", err, pkcs11.CKR_SESSION_HANDLE_INVALID)
	if state(t, open(t, true)) != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("the login outlived C_CloseAllSessions")
	}
}

// Five wrong passwords lock a crypto user; then even the right one is CKR_PIN_LOCKED.
func TestLockedUser(t *testing.T) {
	c := start(t, standard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, c.node.Admin(t).CreateUser(ctx, "bob", hsmpb.Role_ROLE_CRYPTO_USER, "bobpass123"))
	s := open(t, true)
	locked := false
	for i := 0; i < 10 && !locked; i++ {
		err := p.Login(s, pkcs11.CKU_USER, "bob:wrongpass1")
		switch {
		case isRV(err, pkcs11.CKR_PIN_LOCKED):
			locked = true
		case !isRV(err, pkcs11.CKR_PIN_INCORRECT):
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	wantRV(t, "right password of a locked user", p.Login(s, pkcs11.CKU_USER, "bob:bobpass123"), pkcs11.CKR_PIN_LOCKED)
	must(t, p.Login(s, pkcs11.CKU_USER, pin)) // another user is not affected
}

// Session objects go away with the session that made them; other sessions of the application
// see them until then.
func TestSessionObjects(t *testing.T) {
	start(t, standard)
	a, b := session(t), session(t)
	k, err := p.GenerateKey(a, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16), pkcs11.NewAttribute(pkcs11.CKA_LABEL, "ephemeral")})
	must(t, err)
	must(t, p.FindObjectsInit(b, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, "ephemeral")}))
	hs, _, err := p.FindObjects(b, 5)
	must(t, err)
	must(t, p.FindObjectsFinal(b))
	if len(hs) != 1 || hs[0] != k {
		t.Fatalf("another session finds %v, want [%d]", hs, k)
	}
	must(t, p.CloseSession(a))
	_, err = p.GetAttributeValue(b, k, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)})
	wantRV(t, "a closed session's object", err, pkcs11.CKR_OBJECT_HANDLE_INVALID)
}
