package pkcs11shim

/*
#include <stdlib.h>
#include <p11-kit/pkcs11.h>
*/
import "C"

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"unsafe"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// call is the frame of every exported function: it runs f, turns a panic into
// CKR_GENERAL_ERROR and an error into its CK_RV, in this one place.
func call(name string, f func() error) (rv C.CK_RV) {
	defer func() {
		if r := recover(); r != nil {
			logger().Error("panic", "func", name, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			rv = C.CK_RV(p11.CKR_GENERAL_ERROR)
		}
	}()
	err := f()
	if err == nil {
		return C.CKR_OK
	}
	code := p11.Code(err)
	switch code {
	case p11.CKR_GENERAL_ERROR:
		logger().Error("call failed", "func", name, "rv", p11.RVName(code), "err", err)
	case p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_REMOVED, p11.CKR_DEVICE_MEMORY, p11.CKR_FUNCTION_FAILED:
		logger().Warn("call failed", "func", name, "rv", p11.RVName(code), "err", err)
	case p11.CKR_BUFFER_TOO_SMALL:
	default:
		logger().Debug("call failed", "func", name, "rv", p11.RVName(code), "err", err)
	}
	return C.CK_RV(code)
}

// initialized is call for a function that needs C_Initialize.
func initialized(name string, f func(m *module) error) C.CK_RV {
	return call(name, func() error {
		m, err := active()
		if err != nil {
			return err
		}
		return f(m)
	})
}

// inSession is call for a function on a session: not initialized and an unknown session handle
// are answered before anything else, then the session is held for the call.
func inSession(name string, h C.CK_SESSION_HANDLE, f func(s *session) error) C.CK_RV {
	return initialized(name, func(m *module) error {
		s, err := m.session(uint64(h))
		if err != nil {
			return err
		}
		if err := s.lock(); err != nil {
			return err
		}
		defer s.unlock()
		return f(s)
	})
}

// inSlot checks the slot id.
func inSlot(name string, slot C.CK_SLOT_ID, f func(m *module) error) C.CK_RV {
	return initialized(name, func(m *module) error {
		if slot != SlotID {
			return p11.Error(p11.CKR_SLOT_ID_INVALID)
		}
		return f(m)
	})
}

// notSupported answers CKR_FUNCTION_NOT_SUPPORTED once the session and argument checks pass.
func notSupported(name string, h C.CK_SESSION_HANDLE, argsOK bool) C.CK_RV {
	return inSession(name, h, func(*session) error {
		if !argsOK {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		return p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED)
	})
}

// onlyStandard is CKR_FUNCTION_NOT_SUPPORTED in profile cloudhsm: the CloudHSM library lacks
// the function.
func onlyStandard(m *module) error {
	if m.cloudHSM() {
		return p11.Errorf(p11.CKR_FUNCTION_NOT_SUPPORTED, "profile cloudhsm: CloudHSM's library lacks this function")
	}
	return nil
}

func logger() *slog.Logger {
	if m := cur.Load(); m != nil {
		return m.log
	}
	return slog.Default()
}

// getenv reads the process environment as it is now: the Go runtime of a c-shared library
// copied it when the library was loaded, and applications often set variables after that.
func getenv(k string) string {
	ck := C.CString(k)
	defer C.free(unsafe.Pointer(ck))
	if v := C.getenv(ck); v != nil {
		return C.GoString(v)
	}
	return ""
}
