package moduletest

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/nodetest"
)

const soPIN = "admin:" + nodetest.AdminPassword

// The admin (crypto officer) is the security officer in profile standard, with v2.40 §5.6's
// C_Login rules and the v2.40 Usage Guide's "R/W SO Functions" state.
func TestSOLogin(t *testing.T) {
	start(t, standard)
	ro, rw := open(t, false), open(t, true)
	wantRV(t, "SO login with a R/O session open", p.Login(rw, pkcs11.CKU_SO, soPIN), pkcs11.CKR_SESSION_READ_ONLY_EXISTS)
	must(t, p.CloseSession(ro))
	wantRV(t, "a crypto user's PIN as the SO's", p.Login(rw, pkcs11.CKU_SO, pin), pkcs11.CKR_PIN_INCORRECT)
	wantRV(t, "the SO's PIN as a user's", p.Login(rw, pkcs11.CKU_USER, soPIN), pkcs11.CKR_PIN_INCORRECT)
	if state(t, rw) != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("a refused login left the session logged in")
	}

	must(t, p.Login(rw, pkcs11.CKU_SO, soPIN))
	if state(t, rw) != pkcs11.CKS_RW_SO_FUNCTIONS {
		t.Fatalf("SO session state %d", state(t, rw))
	}
	_, err := p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
	wantRV(t, "a R/O session beside the SO", err, pkcs11.CKR_SESSION_READ_WRITE_SO_EXISTS)
	rw2 := open(t, true)
	if state(t, rw2) != pkcs11.CKS_RW_SO_FUNCTIONS {
		t.Fatal("a new R/W session is not in the SO's state")
	}
	wantRV(t, "SO logs in again", p.Login(rw, pkcs11.CKU_SO, soPIN), pkcs11.CKR_USER_ALREADY_LOGGED_IN)
	wantRV(t, "user login beside the SO", p.Login(rw, pkcs11.CKU_USER, pin), pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN)

	// The SO has the public objects only.
	_, err = p.GenerateKey(rw, mechs(pkcs11.CKM_AES_KEY_GEN, nil), []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 16)})
	wantRV(t, "the SO makes a private key", err, pkcs11.CKR_USER_NOT_LOGGED_IN)
	k, err := p.GenerateKey(rw, mechs(pkcs11.CKM_AES_KEY_GEN, nil), publicAES(false, "so-public"))
	must(t, err)
	must(t, p.EncryptInit(rw, mechs(pkcs11.CKM_AES_ECB, nil), k))
	_, err = p.Encrypt(rw, make([]byte, 16))
	must(t, err)

	// C_InitPIN: the SO sets the crypto user's password (and a second admin cannot be made
	// one this way: the PIN names a crypto user).
	must(t, p.InitPIN(rw, nodetest.CryptoUser+":alicepass9"))
	wantRV(t, "C_InitPIN with a short PIN", p.InitPIN(rw, nodetest.CryptoUser+":short"), pkcs11.CKR_PIN_LEN_RANGE)
	// C_SetPIN in the SO session: the SO's own.
	must(t, p.SetPIN(rw, nodetest.AdminPassword, "adminpass2"))
	must(t, p.Logout(rw))
	if state(t, rw) != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("the SO's state outlived C_Logout")
	}
	// The public key the SO made is the public session's: still there.
	must(t, p.EncryptInit(rw, mechs(pkcs11.CKM_AES_ECB, nil), k))
	_, err = p.Encrypt(rw, make([]byte, 16))
	must(t, err)
	wantRV(t, "the SO's old PIN", p.Login(rw, pkcs11.CKU_SO, soPIN), pkcs11.CKR_PIN_INCORRECT)
	must(t, p.Login(rw, pkcs11.CKU_SO, "admin:adminpass2"))
	must(t, p.Logout(rw))
	wantRV(t, "the user's old PIN", p.Login(rw, pkcs11.CKU_USER, pin), pkcs11.CKR_PIN_INCORRECT)
	must(t, p.Login(rw, pkcs11.CKU_USER, nodetest.CryptoUser+":alicepass9"))
	wantRV(t, "SO login beside the user", p.Login(rw, pkcs11.CKU_SO, "admin:adminpass2"), pkcs11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
	wantRV(t, "C_InitPIN in a user session", p.InitPIN(rw, nodetest.CryptoUser+":alicepass8"), pkcs11.CKR_USER_NOT_LOGGED_IN)
	must(t, p.Logout(rw))
	wantRV(t, "C_InitPIN in a public session", p.InitPIN(rw, nodetest.CryptoUser+":alicepass8"), pkcs11.CKR_USER_NOT_LOGGED_IN)
	// C_SetPIN without a login changes the user's PIN the old one names.
	must(t, p.SetPIN(rw, nodetest.CryptoUser+":alicepass9", nodetest.CryptoUser+":"+nodetest.CryptoPass))
	if state(t, rw) != pkcs11.CKS_RW_PUBLIC_SESSION {
		t.Fatal("C_SetPIN without a login left the session logged in")
	}
	must(t, p.Login(rw, pkcs11.CKU_USER, pin))
}

// Profile cloudhsm keeps CloudHSM's library: CKU_USER only.
func TestSOLoginCloudHSM(t *testing.T) {
	start(t, cloudhsm)
	rw := open(t, true)
	wantRV(t, "CKU_SO", p.Login(rw, pkcs11.CKU_SO, soPIN), pkcs11.CKR_USER_TYPE_INVALID)
	wantRV(t, "C_InitPIN", p.InitPIN(rw, pin), pkcs11.CKR_FUNCTION_NOT_SUPPORTED)
}

// The token's PIN flags (v2.40 §3.2, CK_TOKEN_INFO) follow the cluster's count of wrong
// passwords toward the lockout at five.
func TestTokenPINFlags(t *testing.T) {
	c := start(t, standard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, c.node.Admin(t).CreateUser(ctx, "bob", hsmpb.Role_ROLE_CRYPTO_USER, "bobpass123"))
	s := open(t, true)
	const userFlags = pkcs11.CKF_USER_PIN_COUNT_LOW | pkcs11.CKF_USER_PIN_FINAL_TRY | pkcs11.CKF_USER_PIN_LOCKED
	const soFlags = pkcs11.CKF_SO_PIN_COUNT_LOW | pkcs11.CKF_SO_PIN_FINAL_TRY | pkcs11.CKF_SO_PIN_LOCKED
	flags := func() uint {
		t.Helper()
		ti, err := p.GetTokenInfo(1)
		must(t, err)
		return ti.Flags
	}
	if f := flags(); f&(userFlags|soFlags) != 0 {
		t.Fatalf("flags %#x before any wrong PIN", f)
	}
	wantRV(t, "wrong PIN", p.Login(s, pkcs11.CKU_USER, "bob:wrongpass1"), pkcs11.CKR_PIN_INCORRECT)
	if f := flags() & userFlags; f != pkcs11.CKF_USER_PIN_COUNT_LOW {
		t.Fatalf("after one wrong PIN: %#x", f)
	}
	// A password alone is the password of the user last named.
	wantRV(t, "wrong password alone", p.Login(s, pkcs11.CKU_USER, "wrongpass2"), pkcs11.CKR_PIN_INCORRECT)
	must(t, p.Login(s, pkcs11.CKU_USER, "bobpass123"))
	must(t, p.Logout(s))
	if f := flags() & userFlags; f != 0 {
		t.Fatalf("after a good login: %#x", f)
	}
	for i := 1; i <= 5; i++ {
		err := p.Login(s, pkcs11.CKU_USER, "bob:wrongpass1")
		want := map[bool]uint{true: pkcs11.CKR_PIN_LOCKED, false: pkcs11.CKR_PIN_INCORRECT}[i == 5]
		if i < 5 {
			wantRV(t, "wrong PIN", err, want)
		} else if !isRV(err, pkcs11.CKR_PIN_INCORRECT) && !isRV(err, pkcs11.CKR_PIN_LOCKED) {
			t.Fatalf("fifth wrong PIN: %v", err)
		}
		f := flags() & userFlags
		switch {
		case i < 4 && f != pkcs11.CKF_USER_PIN_COUNT_LOW,
			i == 4 && f != pkcs11.CKF_USER_PIN_COUNT_LOW|pkcs11.CKF_USER_PIN_FINAL_TRY,
			i == 5 && f != pkcs11.CKF_USER_PIN_LOCKED:
			t.Fatalf("after %d wrong PINs: %#x", i, f)
		}
	}
	// The SO's count: one wrong admin PIN, then a good SO login clears it.
	wantRV(t, "wrong SO PIN", p.Login(s, pkcs11.CKU_SO, "admin:wrongpass1"), pkcs11.CKR_PIN_INCORRECT)
	if f := flags() & soFlags; f != pkcs11.CKF_SO_PIN_COUNT_LOW {
		t.Fatalf("after a wrong SO PIN: %#x", f)
	}
	must(t, p.Login(s, pkcs11.CKU_SO, soPIN))
	must(t, p.Logout(s))
	if f := flags() & soFlags; f != 0 {
		t.Fatalf("after a good SO login: %#x", f)
	}
}

// The config's "user" (hsmsim up writes its crypto user there) is the normal user before the
// application names one: a password alone is its, and its wrong-PIN count shows at once, as
// google/pkcs11test's UserLoginWrongPIN expects of a first wrong PIN.
func TestConfigUserIsTheNormalUser(t *testing.T) {
	start(t, standard, func(c *moduleConfig) { c.User = nodetest.CryptoUser })
	s := open(t, false)
	wantRV(t, "a wrong password alone", p.Login(s, pkcs11.CKU_USER, "simply-wrong"), pkcs11.CKR_PIN_INCORRECT)
	ti, err := p.GetTokenInfo(1)
	must(t, err)
	if ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW == 0 {
		t.Fatalf("token flags %#x after a wrong PIN", ti.Flags)
	}
	must(t, p.Login(s, pkcs11.CKU_USER, nodetest.CryptoPass))
	must(t, p.Logout(s))
	ti, err = p.GetTokenInfo(1)
	must(t, err)
	if ti.Flags&pkcs11.CKF_USER_PIN_COUNT_LOW != 0 {
		t.Fatalf("token flags %#x after a good login", ti.Flags)
	}
}
