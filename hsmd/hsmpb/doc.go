// Package hsmpb is the wire API of an hsmsim node: the gRPC services and messages generated from
// hsm.proto (the node API), batch.proto (coalesced crypto calls), state.proto (commands,
// stored records, snapshots) and local.proto (the envelope of the local wire, hsmd/localwire),
// committed with the code generated from them; and, by hand, the
// conventions both ends of the wire share: the conversions between the messages and the Go
// values of hsmd/ckm and hsmd/attr (convert.go) and the session-handle bit (below).
//
// It depends only on those two value packages and hsmd/p11, never on the node or its crypto
// engine, so a client links the wire and not the HSM.
package hsmpb

// SessionHandleBit marks session-object handles (CKA_TOKEN false), so they never collide with
// token handles, which the state machine assigns below it, and a handle tells where its object
// lives: a session object lives on the one node that created it, so a client routes calls on it
// back to that node, and the PKCS#11 module destroys it with its session.
const SessionHandleBit = 1 << 31

// IsSessionHandle reports whether h names a session object.
func IsSessionHandle(h uint32) bool { return h&SessionHandleBit != 0 }
