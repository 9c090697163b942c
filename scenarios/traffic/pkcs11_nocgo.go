//go:build !cgo

package traffic

import (
	"context"
	"errors"

	"github.com/hsmsim/hsmsim/scenarios/spec"
)

// preparePKCS11 without cgo: the pkcs11 face loads the module with dlopen (miekg/pkcs11, cgo), so
// a static hsmsim (the container image's, built with CGO_ENABLED=0) runs every other face and
// refuses this one with a clear error.
func preparePKCS11(context.Context, spec.Workload, Deps) (*Load, error) {
	return nil, errors.New("the pkcs11 workload face needs an hsmsim built with cgo (this one is static, as in the container image)")
}
