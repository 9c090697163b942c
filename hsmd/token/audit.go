package token

// Applied is one command that a batch applied for the first time, as the audit log sees it.
// Replays (entries at or below the applied index) and client retries answered from the request
// memory are not Applied: they change nothing.
type Applied struct {
	Index  uint64
	Cmd    Command
	Result Result
	// Locked is set when a login attempt left its user locked; Unlocked when a password change
	// cleared a lock.
	Locked, Unlocked bool
	// User is the user the command is about (for a logout, the one whose login ended).
	User string
	// Role is the role of the user the command is about, after the command (before it, for a
	// deleted user).
	Role Role
}

// Auditor records applied commands. ApplyBatch calls Applied, under the state's lock, before it
// commits the batch, and wait after the commit, before it acknowledges it: a committed command
// has its record in the OS before the commit and on disk before anyone hears of it. A crash
// between the two replays the batch, so the auditor must ignore indexes it already holds. An
// error stops the replica like a store error: an HSM does not run commands it cannot audit.
type Auditor interface {
	Applied([]Applied) (wait func() error, err error)
}

// SetAuditor installs the auditor (nil: none). Set it before the state applies commands.
func (s *State) SetAuditor(a Auditor) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditor = a
}

// subjectOf names the user a command is about, before the command applies.
func (s *State) subjectOf(c Command) string {
	switch m := c.Msg.(type) {
	case interface{ GetLoginId() string }:
		if l := s.logins[m.GetLoginId()]; l != nil {
			return l.User
		}
		if u, ok := m.(interface{ GetUser() string }); ok {
			return u.GetUser()
		}
	case interface{ GetUser() string }:
		return m.GetUser()
	case interface{ GetName() string }:
		return m.GetName()
	}
	return ""
}

// audited describes a command ApplyBatch just applied (its effects already in memory). before is
// the user the command was about, subject, as it was before the command.
func (s *State) audited(idx uint64, c Command, r Result, subject string, before *User) Applied {
	a := Applied{Index: idx, Cmd: c, Result: r, User: subject}
	after := s.users[subject]
	switch {
	case after != nil:
		a.Role = after.Role
		a.Locked = after.Locked && (before == nil || !before.Locked)
		a.Unlocked = before != nil && before.Locked && !after.Locked
	case before != nil:
		a.Role = before.Role
	}
	return a
}
