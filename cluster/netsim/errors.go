package netsim

import "errors"

var (
	// ErrPartitioned is returned (wrapped with the context's error) by a dial that gave up while
	// a partition black-holed it.
	ErrPartitioned = errors.New("netsim: partitioned")

	// ErrReset is returned by a connection that Network.CloseConns reset.
	ErrReset = errors.New("netsim: connection reset")

	// ErrTimedOut is returned by a connection that was reset because bytes were held by a
	// partition for longer than Timing.Break.
	ErrTimedOut = errors.New("netsim: connection timed out: bytes held by a partition too long")

	// ErrBadPreamble means an accepted connection did not start with a netsim preamble; the
	// listener closes such connections.
	ErrBadPreamble = errors.New("netsim: missing or malformed preamble")

	// ErrInvalidRule is returned by Apply for a rule that is malformed.
	ErrInvalidRule = errors.New("netsim: invalid rule")

	// ErrInvalidEndpoint is returned when an endpoint has no name or a name or AZ too long.
	ErrInvalidEndpoint = errors.New("netsim: invalid endpoint")
)
