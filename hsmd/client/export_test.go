package client

// PlayUser makes the client take uid for its own user in the socket checks (local.go) until the
// returned function restores it.
func PlayUser(uid int) (restore func()) {
	old := getuid
	getuid = func() int { return uid }
	return func() { getuid = old }
}

// ErrUnsafeSocket is errUnsafeSocket, for tests.
var ErrUnsafeSocket = errUnsafeSocket
