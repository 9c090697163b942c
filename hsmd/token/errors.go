package token

import "errors"

var (
	// ErrBadCommand means a log entry is not a command this version can apply. A replica that
	// meets one must stop: applying some entries and skipping others would diverge.
	ErrBadCommand = errors.New("token: undecodable command")

	// ErrStore means the state was applied in memory but could not be made durable; the node
	// must stop, since memory and disk no longer agree.
	ErrStore = errors.New("token: store commit failed")

	// ErrIndexTimeout means a read-your-writes wait ran out before the index was applied.
	ErrIndexTimeout = errors.New("token: timed out waiting for the applied index")
)
