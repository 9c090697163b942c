// Package p11 holds the PKCS#11 constants (generated from p11-kit's pkcs11.h by gen.go) and the
// one Go error type that carries a CK_RV. Every layer of hsmsim that fails with a PKCS#11 meaning
// returns an Error; everything else is turned into a code in exactly one place, Code.
package p11

//go:generate go run gen.go

import (
	"errors"
	"fmt"
)

// Error is a CK_RV other than CKR_OK, usable as a Go error.
type Error uint32

func (e Error) Error() string { return RVName(uint32(e)) }

// Errorf returns an error that reads as msg but yields rv from Code. Use it where the caller
// (a log, a CLI user) deserves the reason and the application only the code.
func Errorf(rv uint32, format string, args ...any) error {
	return &detailed{rv: Error(rv), msg: fmt.Sprintf(format, args...)}
}

type detailed struct {
	rv  Error
	msg string
}

func (d *detailed) Error() string { return d.rv.Error() + ": " + d.msg }
func (d *detailed) Unwrap() error { return d.rv }

// Code turns any error into the CK_RV an application sees: nil is CKR_OK, an Error (however
// wrapped) is its own code, and anything else is CKR_GENERAL_ERROR: an unexpected failure is
// never reported as success or as a more specific code it did not earn.
func Code(err error) uint32 {
	if err == nil {
		return CKR_OK
	}
	var e Error
	if errors.As(err, &e) {
		return uint32(e)
	}
	return CKR_GENERAL_ERROR
}

// RVName is the symbolic name of a CK_RV, or its hex value when the header has no name for it.
func RVName(rv uint32) string { return name(ckrNames, rv) }

// MechName is the symbolic name of a mechanism type.
func MechName(m uint32) string { return name(ckmNames, m) }

// AttrName is the symbolic name of an attribute type.
func AttrName(a uint32) string { return name(ckaNames, a) }

func name(tbl map[uint64]string, v uint32) string {
	if n, ok := tbl[uint64(v)]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", v)
}

// Reasons refine a CK_RV where PKCS#11 has one code for cases a caller must tell apart. A login
// with an unknown user name is CKR_PIN_INCORRECT, as for a wrong password (no user enumeration
// through PKCS#11), but the KMS has to report USER_NOT_FOUND rather than INVALID_CREDENTIALS.
const (
	ReasonUserNotFound = "USER_NOT_FOUND"
	// ReasonHSMBusy: an HSM at its capacity refused the operation (CKR_FUNCTION_FAILED, as
	// CloudHSM's busy response maps to); trying again later may succeed (hsmd/capacity).
	ReasonHSMBusy = "HSM_BUSY"
)

// WithReason attaches a reason to an error; Code is unchanged.
func WithReason(err error, reason string) error { return &reasoned{err: err, reason: reason} }

type reasoned struct {
	err    error
	reason string
}

func (r *reasoned) Error() string  { return r.err.Error() }
func (r *reasoned) Unwrap() error  { return r.err }
func (r *reasoned) Reason() string { return r.reason }

// Reason returns the reason attached anywhere in err's chain (by WithReason, or by any error with
// a Reason method, such as the client's wire errors), or "".
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return ""
}
