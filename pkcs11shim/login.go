package pkcs11shim

import (
	"crypto/sha256"
	"strings"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// login is C_Login and C_LoginUser. user is empty for C_Login, whose PIN is "user:password".
//
// CKU_USER is a crypto user (CU), who owns and uses keys. CKU_SO is an admin (crypto officer, CO)
// in profile standard: the PKCS#11 v2.40 Usage Guide's "R/W SO Functions" state gives the SO a R/W session with access to public
// objects only and the user-management functions (C_InitPIN); an admin on the cluster manages
// users and never uses keys, which is the same role. Profile cloudhsm keeps CloudHSM's library,
// where only crypto users log in through PKCS#11 (AWS-api's "C_Login" takes CKU_USER; admins use
// the CloudHSM CLI), so CKU_SO is CKR_USER_TYPE_INVALID there. The login belongs to the
// application: every session shares it.
func (s *session) login(userType uint64, user, pin string) error {
	switch userType {
	case p11.CKU_USER:
		return s.m.loginAs(false, user, pin)
	case p11.CKU_SO:
		if s.m.cloudHSM() {
			return p11.Errorf(p11.CKR_USER_TYPE_INVALID, "profile cloudhsm: only crypto users log in through PKCS#11; admins use the hsmsim CLI")
		}
		return s.m.loginAs(true, user, pin)
	case p11.CKU_CONTEXT_SPECIFIC:
		if !s.m.userLoggedIn() {
			return p11.Error(p11.CKR_USER_NOT_LOGGED_IN)
		}
		active := false
		for _, op := range s.ops {
			active = active || op != nil
		}
		if !active {
			return p11.Error(p11.CKR_OPERATION_NOT_INITIALIZED)
		}
		if user != "" {
			pin = user + ":" + pin
		}
		return s.m.checkPIN(pin)
	}
	return p11.Error(p11.CKR_USER_TYPE_INVALID)
}

// setPIN is C_SetPIN (v2.40 §5.6): it changes the PIN of the user logged in (the SO's own in an
// SO session), or, in a session that is not logged in, the PIN of the CKU_USER the old PIN
// names, which the module logs in as for the change and out of again. Either PIN may be
// "user:password" or the password alone (the user's, as named before).
func (s *session) setPIN(oldPin, newPin string) error {
	if !s.rw {
		return p11.Error(p11.CKR_SESSION_READ_ONLY)
	}
	m := s.m
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	m.mu.Lock()
	l := m.login
	m.mu.Unlock()
	if l == nil {
		return m.setPINLoggedOut(oldPin, newPin)
	}
	if err := m.checkPIN(oldPin); err != nil {
		return err
	}
	pw, err := passwordFor(l.user, newPin)
	if err != nil {
		return err
	}
	ctx, cancel := m.ctx()
	defer cancel()
	if err := m.cl.ChangePassword(ctx, "", pw); err != nil {
		return err
	}
	m.mu.Lock()
	if m.login != nil {
		m.login.pinHash = sha256.Sum256([]byte(l.user + ":" + pw))
	}
	m.mu.Unlock()
	return nil
}

// setPINLoggedOut is C_SetPIN without a login: log in with the old PIN, change, log out.
func (m *module) setPINLoggedOut(oldPin, newPin string) error {
	user, oldPw, err := m.splitPIN(false, "", oldPin)
	if err != nil {
		return err
	}
	pw, err := passwordFor(user, newPin)
	if err != nil {
		return err
	}
	ctx, cancel := m.ctx()
	defer cancel()
	if _, err := m.cl.Login(ctx, user, oldPw); err != nil {
		return err
	}
	err = m.cl.ChangePassword(ctx, "", pw)
	if lerr := m.cl.Logout(ctx); lerr != nil {
		m.log.Warn("C_SetPIN: the cluster did not confirm the logout", "err", lerr)
	}
	m.cl.Session().SetCredential("")
	return err
}

// passwordFor is the password of a new PIN for user: a PIN naming another user is
// CKR_PIN_INVALID (a PIN changes its own user's password).
func passwordFor(user, pin string) (string, error) {
	if u, p, ok := strings.Cut(pin, ":"); ok {
		if u != user {
			return "", p11.Errorf(p11.CKR_PIN_INVALID, "the new PIN names another user")
		}
		return p, nil
	}
	return pin, nil
}

// initPIN is C_InitPIN (v2.40 §5.6): the SO sets the normal user's PIN, which is an admin setting
// a crypto user's password (and unlocking it, as on CloudHSM). The PIN is "user:password", or
// the password of the crypto user this application last named. Only an SO session may: any other
// state is CKR_USER_NOT_LOGGED_IN, as the spec says.
func (s *session) initPIN(pin string) error {
	if !s.rw || !s.m.soLoggedIn() {
		return p11.Error(p11.CKR_USER_NOT_LOGGED_IN)
	}
	user, pw, err := s.m.splitPIN(false, "", pin)
	if err != nil {
		return p11.Errorf(p11.CKR_PIN_INVALID, "C_InitPIN: %v", err)
	}
	ctx, cancel := s.m.ctx()
	defer cancel()
	return s.m.cl.ChangePassword(ctx, user, pw)
}

// roleOf is what a CKU_* user type logs in as on the cluster.
func roleOf(so bool) []hsmpb.Role {
	if so {
		return []hsmpb.Role{hsmpb.Role_ROLE_ADMIN, hsmpb.Role_ROLE_UNACTIVATED_ADMIN}
	}
	return []hsmpb.Role{hsmpb.Role_ROLE_CRYPTO_USER}
}
