// Package audit is an HSM's audit log: an append-only, sequence-numbered record of every
// management and key event, one JSON object per line, in the node's data directory.
//
// It follows CloudHSM's audit logs (https://docs.aws.amazon.com/cloudhsm/latest/userguide/cloudhsm-audit-log-reference.html):
// each event has an opcode (CN_LOGIN, CN_CREATE_USER, CN_GENERATE_KEY, ...), a response, the
// user and the key handles it concerns. Events hsmsim has and CloudHSM names differently carry an
// HSMSIM_ prefix.
//
// # Two files, two scopes
//
//	audit.jsonl        scope "cluster": events of replicated commands. Every HSM writes the
//	                   same events with the same sequence numbers in the same order, because
//	                   they are derived from the Raft log as it is applied: seq is the Raft
//	                   index of the command (so it has gaps where an entry is not an audited
//	                   event: lease renewals, Raft's own configuration entries).
//	audit-local.jsonl  scope "hsm": what happened on this HSM only, with its own counter: a
//	                   login refused before it reached the log (unknown or locked user), a
//	                   backup taken from this HSM, a gap in the replicated log after a restore.
//
// A failed login with a wrong password is replicated (it counts towards the lockout on every
// HSM), so it is a cluster event; CloudHSM has no replicated log and records each HSM's view.
//
// Only the time and hsm fields differ between HSMs for a cluster event: time is when this HSM
// wrote it. Nothing secret is ever recorded: no password, hash, PIN or key material.
package audit

import (
	"time"
)

// Scopes of an event.
const (
	ScopeCluster = "cluster"
	ScopeHSM     = "hsm"
)

// Event is one line of an audit log.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	HSM      string    `json:"hsm"`
	Scope    string    `json:"scope"`
	Opcode   string    `json:"opcode"`
	Response string    `json:"response"`
	// Actor is who issued the command (the logged-in user; empty for a public session or the
	// cluster itself). User is the user the command is about: the one logging in, created,
	// deleted, whose password changed, or a key is shared with.
	Actor    string `json:"actor,omitempty"`
	User     string `json:"user,omitempty"`
	UserType string `json:"user_type,omitempty"` // CO, CU or PRECO, as CloudHSM names roles
	// Handles are the key handles concerned (a key pair: public, then private).
	Handles    []uint32 `json:"handles,omitempty"`
	Attributes []string `json:"attributes,omitempty"` // names of the attributes a change set
	Unshare    bool     `json:"unshare,omitempty"`    // CN_SHARE_OBJECT that removes a user
	Locked     bool     `json:"locked,omitempty"`     // the failed login locked the user
	Unlocked   bool     `json:"unlocked,omitempty"`   // the password change unlocked the user
	Member     string   `json:"member,omitempty"`     // membership: the HSM added or removed
	AZ         string   `json:"az,omitempty"`
	Detail     string   `json:"detail,omitempty"`
}

// Replicated is the part of a cluster event that every HSM has equal: the event without the
// HSM's name and its local write time.
func (e Event) Replicated() Event {
	e.Time, e.HSM = time.Time{}, ""
	return e
}
