package token

import (
	"encoding/binary"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// CommandType is the first byte of every command. Values are stable forever: a log written by one
// version is applied by the next. New commands take new numbers; a removed one is never reused.
type CommandType byte

const (
	CmdBootstrap     CommandType = 1
	CmdCreateObjects CommandType = 2
	CmdDestroyObject CommandType = 3
	CmdSetAttributes CommandType = 4
	CmdShareKey      CommandType = 5
	CmdCreateUser    CommandType = 6
	CmdDeleteUser    CommandType = 7
	CmdSetPassword   CommandType = 8
	CmdLoginAttempt  CommandType = 9
	CmdLogout        CommandType = 10
	CmdRenewLogin    CommandType = 11
	CmdExpireLogins  CommandType = 12

	CmdRegisterTrustAnchor   CommandType = 13
	CmdDeregisterTrustAnchor CommandType = 14
	CmdSetMTLSEnforcement    CommandType = 15
)

// commandVersion is the encoding version written after the type byte. Apply refuses versions it
// does not know, so an old node never half-understands a newer command. Version 2 added the
// proposer's clock (Command.Time); version 1 entries, without it, still decode and apply.
const commandVersion = 2

// ClientRetryPeriod is how long a client with the defaults keeps retrying one write under the
// same idempotency id: hsmd/client gives a call one attempt per known node plus one (4 with 3
// HSMs), each bounded by the 3 s attempt timeout, with 0.1, 0.2, 0.3 s of backoff between them:
// 12.6 s. Five HSMs make it 19.5 s, still well inside DedupeWindow's margin; a client configured
// with longer attempts must stay inside the window too. It is declared here, where the
// replicated state depends on it.
const ClientRetryPeriod = 12600 * time.Millisecond

// DedupeWindow is how long, in the log's clock, an idempotency id is remembered: the client's
// whole retry period with a wide margin for clock steps between proposers. It is part of the
// replicated state: changing it changes what replicas decide, so it takes a new command version.
const DedupeWindow = 4*ClientRetryPeriod + 10*time.Second

// maxRequestID bounds the idempotency id a command may carry.
const maxRequestID = 128

// Command is a decoded command: its type, the idempotency id of the client request that caused
// it (may be empty), and its message.
type Command struct {
	Type      CommandType
	RequestID string
	// Time is the proposer's clock in Unix milliseconds, written into the log entry so every
	// replica measures the idempotency window alike. Encode stamps it when zero.
	Time int64
	Msg  proto.Message
}

// newMsg returns an empty message for a command type, or nil if the type is unknown.
func newMsg(t CommandType) proto.Message {
	switch t {
	case CmdBootstrap:
		return &hsmpb.CmdBootstrap{}
	case CmdCreateObjects:
		return &hsmpb.CmdCreateObjects{}
	case CmdDestroyObject:
		return &hsmpb.CmdDestroyObject{}
	case CmdSetAttributes:
		return &hsmpb.CmdSetAttributes{}
	case CmdShareKey:
		return &hsmpb.CmdShareKey{}
	case CmdCreateUser:
		return &hsmpb.CmdCreateUser{}
	case CmdDeleteUser:
		return &hsmpb.CmdDeleteUser{}
	case CmdSetPassword:
		return &hsmpb.CmdSetPassword{}
	case CmdLoginAttempt:
		return &hsmpb.CmdLoginAttempt{}
	case CmdLogout:
		return &hsmpb.CmdLogout{}
	case CmdRenewLogin:
		return &hsmpb.CmdRenewLogin{}
	case CmdExpireLogins:
		return &hsmpb.CmdExpireLogins{}
	case CmdRegisterTrustAnchor:
		return &hsmpb.CmdRegisterTrustAnchor{}
	case CmdDeregisterTrustAnchor:
		return &hsmpb.CmdDeregisterTrustAnchor{}
	case CmdSetMTLSEnforcement:
		return &hsmpb.CmdSetMTLSEnforcement{}
	}
	return nil
}

// Encode is the wire form: type, version, uvarint length of the request id, the id, the varint
// Time, then the deterministic protobuf encoding of the message. It runs on the proposing node
// only, so reading the clock here keeps Apply free of it.
func (c Command) Encode() ([]byte, error) {
	if c.Time == 0 {
		c.Time = time.Now().UnixMilli()
	}
	return c.encodeVersion(commandVersion)
}

// encodeVersion writes c in an encoding version (1 has no Time), for tests of old log entries.
func (c Command) encodeVersion(v byte) ([]byte, error) {
	if err := checkRequestID(c.RequestID); err != nil {
		return nil, err
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.Msg)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(c.RequestID)+len(body))
	out = append(out, byte(c.Type), v)
	out = binary.AppendUvarint(out, uint64(len(c.RequestID)))
	out = append(out, c.RequestID...)
	if v >= 2 {
		out = binary.AppendVarint(out, c.Time)
	}
	return append(out, body...), nil
}

// Decode parses a command. Any error means the bytes are not a command this version can apply;
// a replica must stop rather than skip it (skipping would diverge from replicas that applied it).
func Decode(b []byte) (Command, error) {
	if len(b) < 3 {
		return Command{}, fmt.Errorf("%w: %d bytes", ErrBadCommand, len(b))
	}
	t, v := CommandType(b[0]), b[1]
	if v != 1 && v != commandVersion {
		return Command{}, fmt.Errorf("%w: type %d version %d", ErrBadCommand, t, v)
	}
	msg := newMsg(t)
	if msg == nil {
		return Command{}, fmt.Errorf("%w: unknown type %d", ErrBadCommand, t)
	}
	n, k := binary.Uvarint(b[2:])
	if k <= 0 || n > maxRequestID || uint64(len(b)-2-k) < n {
		return Command{}, fmt.Errorf("%w: bad request id", ErrBadCommand)
	}
	rest := b[2+k:]
	id := string(rest[:n])
	if err := checkRequestID(id); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	rest = rest[n:]
	var at int64
	if v >= 2 {
		var k int
		if at, k = binary.Varint(rest); k <= 0 || at < 0 {
			return Command{}, fmt.Errorf("%w: bad time", ErrBadCommand)
		}
		rest = rest[k:]
	}
	if err := proto.Unmarshal(rest, msg); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return Command{Type: t, RequestID: id, Time: at, Msg: msg}, nil
}

// checkRequestID accepts idempotency ids of up to maxRequestID printable ASCII characters (what
// gRPC metadata carries). The id is stored in the replicated request memory, so one that could
// not be stored must never reach the log: Encode refuses it on the proposer, Decode on replay.
func checkRequestID(id string) error {
	if len(id) > maxRequestID {
		return fmt.Errorf("token: request id longer than %d bytes", maxRequestID)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return fmt.Errorf("token: request id has a byte 0x%02x outside printable ASCII", id[i])
		}
	}
	return nil
}
