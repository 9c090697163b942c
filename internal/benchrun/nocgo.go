//go:build !cgo

package benchrun

import (
	"context"
	"errors"
)

// PKCS11Operations: none without cgo (the static binary of the container image has no cgo, so
// it cannot load a PKCS#11 module).
var PKCS11Operations []string

var errNoCgo = errors.New("this hsmsim was built without cgo and cannot load a PKCS#11 module")

// Module is unavailable without cgo.
type Module struct{}

// OpenModule answers that this binary cannot load modules.
func OpenModule(name, path, token, pin string) (*Module, error) { return nil, errNoCgo }

func (*Module) Name() string { return "" }

func (*Module) Workers(context.Context, string, int) ([]Op, func(), error) {
	return nil, nil, errNoCgo
}

func (*Module) Close() error { return nil }
