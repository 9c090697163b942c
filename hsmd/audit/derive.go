package audit

import (
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Opcodes. The CN_ ones are CloudHSM's (the audit log reference cited in the package doc);
// HSMSIM_ ones are events CloudHSM records differently or not at all.
const (
	OpLogin            = "CN_LOGIN"
	OpLogout           = "CN_LOGOUT"
	OpCreateUser       = "CN_CREATE_USER" // a crypto user
	OpCreateCO         = "CN_CREATE_CO"   // an admin (crypto officer)
	OpDeleteUser       = "CN_DELETE_USER"
	OpChangePassword   = "CN_CHANGE_PSWD"
	OpGenerateKey      = "CN_GENERATE_KEY"      // a secret key
	OpGenerateKeyPair  = "CN_GENERATE_KEY_PAIR" // a public/private pair
	OpCreateObject     = "CN_CREATE_OBJECT"     // any other object (a public key, a certificate, data)
	OpModifyObject     = "CN_MODIFY_OBJECT"
	OpDestroyObject    = "CN_TOMBSTONE_OBJECT" // CloudHSM's opcode for deleting a token key
	OpShareObject      = "CN_SHARE_OBJECT"     // share or, with unshare, stop sharing
	OpInitToken        = "CN_INIT_TOKEN"
	OpRestoreToken     = "CN_RESTORE_TOKEN" // a backup restored into the cluster
	OpBackupToken      = "CN_BACKUP_TOKEN"  // a backup taken from this HSM (local)
	OpLoginsExpired    = "HSMSIM_LOGINS_EXPIRED"
	OpRegisterAnchor   = "HSMSIM_REGISTER_TRUST_ANCHOR"
	OpDeregisterAnchor = "HSMSIM_DEREGISTER_TRUST_ANCHOR"
	OpSetMTLSEnforce   = "HSMSIM_SET_MTLS_ENFORCEMENT"
	OpMemberAdd        = "HSMSIM_MEMBER_ADD"
	OpMemberRemove     = "HSMSIM_MEMBER_REMOVE"
	OpAuditGap         = "HSMSIM_AUDIT_GAP"
	responseOK         = "CKR_OK"
	loginsExpiredNone  = "0 logins expired"
)

// UserType is CloudHSM's name for a role.
func UserType(r token.Role) string {
	switch r {
	case token.RoleAdmin:
		return "CO"
	case token.RoleCryptoUser:
		return "CU"
	case token.RoleUnactivatedAdmin:
		return "PRECO"
	}
	return ""
}

// Applied implements token.Auditor: it writes the events of the applied commands (Write).
func (l *Log) Applied(as []token.Applied) (wait func() error, err error) {
	evs := make([]Event, 0, len(as))
	for _, a := range as {
		if e, ok := FromApplied(a); ok {
			evs = append(evs, e)
		}
	}
	return l.Write(evs)
}

// FromApplied is the event of an applied command; false for commands that are not audited
// (lease renewals, and lease expiries that ended no login).
func FromApplied(a token.Applied) (Event, bool) {
	e := Event{Seq: a.Index, Response: p11.RVName(a.Result.RV)}
	if a.Result.RV == 0 {
		e.Response = responseOK
	}
	user := func(name string) {
		e.User, e.UserType = name, UserType(a.Role)
	}
	switch m := a.Cmd.Msg.(type) {
	case *hsmpb.CmdBootstrap:
		e.Opcode, e.Detail = OpInitToken, m.ClusterId
	case *hsmpb.CmdCreateObjects:
		e.Actor, e.Handles = m.Owner, a.Result.Handles
		e.Opcode = OpCreateObject
		if len(m.Objects) == 2 {
			e.Opcode = OpGenerateKeyPair
		}
		// The attributes a new object is made with are not listed: every defaulted one is there,
		// and the handle finds them.
		for _, o := range m.Objects {
			attrs := hsmpb.AttrsFromPB(o.Public)
			if c, ok := attrs.Ulong(p11.CKA_CLASS); ok && c == p11.CKO_SECRET_KEY {
				e.Opcode = OpGenerateKey
			}
		}
	case *hsmpb.CmdDestroyObject:
		e.Opcode, e.Actor, e.Handles = OpDestroyObject, m.Actor, []uint32{m.Handle}
	case *hsmpb.CmdSetAttributes:
		e.Opcode, e.Actor, e.Handles = OpModifyObject, m.Actor, []uint32{m.Handle}
		for _, t := range m.Template {
			e.Attributes = append(e.Attributes, p11.AttrName(t.Type))
		}
	case *hsmpb.CmdShareKey:
		e.Opcode, e.Actor, e.Handles, e.Unshare = OpShareObject, m.Actor, []uint32{m.Handle}, !m.Share
		user(m.User)
	case *hsmpb.CmdCreateUser:
		e.Opcode, e.Actor = OpCreateUser, m.Actor
		if m.Role == token.RoleAdmin {
			e.Opcode = OpCreateCO
		}
		user(m.Name)
		e.UserType = UserType(m.Role)
	case *hsmpb.CmdDeleteUser:
		e.Opcode, e.Actor = OpDeleteUser, m.Actor
		user(m.Name)
	case *hsmpb.CmdSetPassword:
		e.Opcode, e.Actor, e.Unlocked = OpChangePassword, m.Actor, a.Unlocked
		user(m.Name)
	case *hsmpb.CmdLoginAttempt:
		e.Opcode, e.Locked = OpLogin, a.Locked
		user(m.User)
	case *hsmpb.CmdLogout:
		e.Opcode = OpLogout
		user(a.User)
	case *hsmpb.CmdExpireLogins:
		if a.Result.Msg == loginsExpiredNone {
			return Event{}, false
		}
		e.Opcode, e.Detail = OpLoginsExpired, a.Result.Msg
	case *hsmpb.CmdRegisterTrustAnchor:
		e.Opcode, e.Actor = OpRegisterAnchor, m.Actor
	case *hsmpb.CmdDeregisterTrustAnchor:
		e.Opcode, e.Actor = OpDeregisterAnchor, m.Actor
	case *hsmpb.CmdSetMTLSEnforcement:
		e.Opcode, e.Actor = OpSetMTLSEnforce, m.Actor
		e.Detail = "enforce=false"
		if m.Enforce {
			e.Detail = "enforce=true"
		}
	default: // CmdRenewLogin: a lease renewal every few seconds per login is not an event
		return Event{}, false
	}
	if a.Result.RV != 0 && a.Result.Msg != "" && e.Detail == "" {
		e.Detail = a.Result.Msg
	}
	return e, true
}
