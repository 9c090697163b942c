package store

import "errors"

// Sentinel errors. Callers compare with errors.Is: the store wraps them with
// the bucket, key or index involved.
var (
	// ErrNotFound is returned by Get when the bucket or the key does not exist.
	ErrNotFound = errors.New("store: not found")

	// ErrStaleIndex is returned by Commit when a non-zero index is not greater
	// than the applied index: the entry was already applied (a replay), and
	// applying it again would break the one-Apply-per-index rule.
	ErrStaleIndex = errors.New("store: stale applied index")

	// ErrCorrupt is returned when a stored record cannot be unsealed (wrong
	// node key, a value moved to another record, a truncated or altered
	// record) or the store's own metadata is malformed. It is never a panic.
	ErrCorrupt = errors.New("store: corrupt or unsealable record")

	// ErrClosed is returned by every method called after Close.
	ErrClosed = errors.New("store: closed")

	// ErrInvalid is returned for a bucket name, key or batch the store cannot
	// hold: an empty or reserved bucket name, an empty key, a duplicate key in
	// Replace. Nothing is changed when it is returned.
	ErrInvalid = errors.New("store: invalid bucket name, key or batch")
)
