package pkcs11shim

import (
	"crypto/sha256"
	"strings"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// login is C_Login and C_LoginUser. user is empty for C_Login, whose PIN is "user:password".
//
// Only CKU_USER logs in, as with the CloudHSM library: crypto users (CU) own and use keys;
// admins (CO) manage users through the hsmsim CLI, so CKU_SO is CKR_USER_TYPE_INVALID in both
// profiles. The login belongs to the application: every session shares it.
func (s *session) login(userType uint64, user, pin string) error {
	switch userType {
	case p11.CKU_USER:
		return s.m.loginUser(user, pin)
	case p11.CKU_SO:
		return p11.Errorf(p11.CKR_USER_TYPE_INVALID, "only crypto users log in through PKCS#11; admins use the hsmsim CLI")
	case p11.CKU_CONTEXT_SPECIFIC:
		if !s.m.loggedIn() {
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

// setPIN is C_SetPIN: the logged-in user changes its own password. Either PIN may be
// "user:password" or the password alone. Without a login there is no credential to change it
// with: CKR_USER_NOT_LOGGED_IN.
func (s *session) setPIN(oldPin, newPin string) error {
	if !s.rw {
		return p11.Error(p11.CKR_SESSION_READ_ONLY)
	}
	m := s.m
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	if err := m.checkPIN(oldPin); err != nil {
		return err
	}
	m.mu.Lock()
	user := m.login.user
	m.mu.Unlock()
	pw := newPin
	if u, p, ok := strings.Cut(newPin, ":"); ok {
		if u != user {
			return p11.Errorf(p11.CKR_PIN_INVALID, "the new PIN names another user")
		}
		pw = p
	}
	ctx, cancel := m.ctx()
	defer cancel()
	if err := m.cl.ChangePassword(ctx, "", pw); err != nil {
		return err
	}
	m.mu.Lock()
	if m.login != nil {
		m.login.pinHash = sha256.Sum256([]byte(user + ":" + pw))
	}
	m.mu.Unlock()
	return nil
}
