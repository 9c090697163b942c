package pkcs11shim

// General-purpose, slot and token, session and login functions.

/*
#include <p11-kit/pkcs11.h>
#include "pkcs11v3.h"
*/
import "C"

import (
	"unsafe"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

//export C_Initialize
func C_Initialize(pInitArgs C.CK_VOID_PTR) C.CK_RV {
	return call("C_Initialize", func() error {
		if pInitArgs != nil {
			a := (*C.CK_C_INITIALIZE_ARGS)(pInitArgs)
			if a.pReserved != nil {
				return p11.Error(p11.CKR_ARGUMENTS_BAD)
			}
			n := 0
			for _, f := range []unsafe.Pointer{unsafe.Pointer(a.CreateMutex), unsafe.Pointer(a.DestroyMutex), unsafe.Pointer(a.LockMutex), unsafe.Pointer(a.UnlockMutex)} {
				if f != nil {
					n++
				}
			}
			if n != 0 && n != 4 {
				return p11.Errorf(p11.CKR_ARGUMENTS_BAD, "mutex callbacks: all four or none")
			}
			// The module locks with Go's own primitives; it cannot use the application's.
			if n == 4 && a.flags&C.CKF_OS_LOCKING_OK == 0 {
				return p11.Error(p11.CKR_CANT_LOCK)
			}
			// CKF_LIBRARY_CANT_CREATE_OS_THREADS is accepted although the Go runtime runs threads
			// of its own: they are started by the runtime, not by the application's threads in a
			// call, and p11-kit (hence GnuTLS's p11tool) always sets the flag. Refusing it with
			// CKR_NEED_TO_CREATE_THREADS would lock those applications out.
		}
		return initialize(getenv)
	})
}

//export C_Finalize
func C_Finalize(pReserved C.CK_VOID_PTR) C.CK_RV {
	return call("C_Finalize", func() error {
		if _, err := active(); err != nil {
			return err
		}
		if pReserved != nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		return finalize()
	})
}

// Library version reported by C_GetInfo.
const libMajor, libMinor = 1, 0

//export C_GetInfo
func C_GetInfo(pInfo C.CK_INFO_PTR) C.CK_RV {
	return initialized("C_GetInfo", func(*module) error {
		if pInfo == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		*pInfo = C.CK_INFO{}
		pInfo.cryptokiVersion = version(2, 40)
		pad(pInfo.manufacturerID[:], "hsmsim")
		pad(pInfo.libraryDescription[:], "hsmsim PKCS#11 module")
		pInfo.libraryVersion = version(libMajor, libMinor)
		return nil
	})
}

//export C_GetFunctionList
func C_GetFunctionList(ppFunctionList C.CK_FUNCTION_LIST_PTR_PTR) C.CK_RV {
	return call("C_GetFunctionList", func() error {
		if ppFunctionList == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		*ppFunctionList = C.hsmsim_function_list()
		return nil
	})
}

//export C_GetSlotList
func C_GetSlotList(tokenPresent C.CK_BBOOL, pSlotList C.CK_SLOT_ID_PTR, pulCount C.CK_ULONG_PTR) C.CK_RV {
	return initialized("C_GetSlotList", func(*module) error {
		if pulCount == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		// The one slot always holds its token (the cluster), so tokenPresent changes nothing.
		if pSlotList != nil {
			if *pulCount < 1 {
				*pulCount = 1
				return p11.Error(p11.CKR_BUFFER_TOO_SMALL)
			}
			*pSlotList = SlotID
		}
		*pulCount = 1
		return nil
	})
}

//export C_GetSlotInfo
func C_GetSlotInfo(slotID C.CK_SLOT_ID, pInfo C.CK_SLOT_INFO_PTR) C.CK_RV {
	return inSlot("C_GetSlotInfo", slotID, func(m *module) error {
		if pInfo == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		*pInfo = C.CK_SLOT_INFO{}
		desc := "hsmsim cluster"
		if m.cfg.ClusterID != "" {
			desc += " " + m.cfg.ClusterID
		}
		pad(pInfo.slotDescription[:], desc)
		pad(pInfo.manufacturerID[:], "hsmsim")
		pInfo.flags = C.CKF_TOKEN_PRESENT | C.CKF_HW_SLOT
		pInfo.hardwareVersion = version(1, 0)
		pInfo.firmwareVersion = version(1, 0)
		return nil
	})
}

// PIN lengths: "user:password", a user name of 1 to 31 characters and a password of 7 to 32.
const minPinLen, maxPinLen = 1 + 1 + 7, 31 + 1 + 32

//export C_GetTokenInfo
func C_GetTokenInfo(slotID C.CK_SLOT_ID, pInfo C.CK_TOKEN_INFO_PTR) C.CK_RV {
	return inSlot("C_GetTokenInfo", slotID, func(m *module) error {
		if pInfo == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		t, err := m.tokenInfo()
		if err != nil {
			return err
		}
		*pInfo = C.CK_TOKEN_INFO{}
		pad(pInfo.label[:], t.label)
		pad(pInfo.manufacturerID[:], "hsmsim")
		pad(pInfo.model[:], t.model)
		pad(pInfo.serialNumber[:], t.serial)
		pInfo.flags = C.CK_FLAGS(t.flags)
		pInfo.ulMaxSessionCount = MaxSessions
		pInfo.ulSessionCount = C.CK_ULONG(t.sessions)
		pInfo.ulMaxRwSessionCount = MaxSessions
		pInfo.ulRwSessionCount = C.CK_ULONG(t.rwSessions)
		pInfo.ulMaxPinLen = maxPinLen
		pInfo.ulMinPinLen = minPinLen
		// Memory is counted in objects (the cluster's limit is a number of keys), one pool for
		// public and private objects alike.
		free := C.CK_ULONG(0)
		if t.used < t.maxObjects {
			free = C.CK_ULONG(t.maxObjects - t.used)
		}
		pInfo.ulTotalPublicMemory, pInfo.ulFreePublicMemory = C.CK_ULONG(t.maxObjects), free
		pInfo.ulTotalPrivateMemory, pInfo.ulFreePrivateMemory = C.CK_ULONG(t.maxObjects), free
		pInfo.hardwareVersion = version(1, 0)
		pInfo.firmwareVersion = version(1, 0)
		pad(pInfo.utcTime[:], "")
		return nil
	})
}

//export C_GetMechanismList
func C_GetMechanismList(slotID C.CK_SLOT_ID, pMechanismList C.CK_MECHANISM_TYPE_PTR, pulCount C.CK_ULONG_PTR) C.CK_RV {
	return inSlot("C_GetMechanismList", slotID, func(m *module) error {
		if pulCount == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		list, err := m.mechanismList()
		if err != nil {
			return err
		}
		room := *pulCount
		*pulCount = C.CK_ULONG(len(list))
		if pMechanismList == nil {
			return nil
		}
		if room < C.CK_ULONG(len(list)) {
			return p11.Error(p11.CKR_BUFFER_TOO_SMALL)
		}
		out := unsafe.Slice(pMechanismList, len(list))
		for i, t := range list {
			out[i] = C.CK_MECHANISM_TYPE(t)
		}
		return nil
	})
}

//export C_GetMechanismInfo
func C_GetMechanismInfo(slotID C.CK_SLOT_ID, mechType C.CK_MECHANISM_TYPE, pInfo C.CK_MECHANISM_INFO_PTR) C.CK_RV {
	return inSlot("C_GetMechanismInfo", slotID, func(m *module) error {
		if pInfo == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if uint64(mechType) > 0xFFFFFFFF {
			return p11.Error(p11.CKR_MECHANISM_INVALID)
		}
		info, err := m.mechanismInfo(uint32(mechType))
		if err != nil {
			return err
		}
		pInfo.ulMinKeySize = C.CK_ULONG(info.MinKeySize)
		pInfo.ulMaxKeySize = C.CK_ULONG(info.MaxKeySize)
		pInfo.flags = C.CK_FLAGS(info.Flags)
		return nil
	})
}

//export C_InitToken
func C_InitToken(slotID C.CK_SLOT_ID, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG, pLabel C.CK_UTF8CHAR_PTR) C.CK_RV {
	return inSlot("C_InitToken", slotID, func(*module) error {
		if (pPin == nil && ulPinLen > 0) || pLabel == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		// A cluster is initialized through its control plane (hsmsim up / InitializeCluster).
		return p11.Error(p11.CKR_FUNCTION_NOT_SUPPORTED)
	})
}

//export C_InitPIN
func C_InitPIN(hSession C.CK_SESSION_HANDLE, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG) C.CK_RV {
	// Profile standard: the SO (an admin) sets a crypto user's password. Profile cloudhsm: the
	// CloudHSM library has no C_InitPIN (AWS-api); users are managed with the CloudHSM CLI.
	return inSession("C_InitPIN", hSession, func(s *session) error {
		if pPin == nil && ulPinLen > 0 {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if err := onlyStandard(s.m); err != nil {
			return err
		}
		return s.initPIN(string(view(unsafe.Pointer(pPin), ulPinLen)))
	})
}

//export C_SetPIN
func C_SetPIN(hSession C.CK_SESSION_HANDLE, pOldPin C.CK_UTF8CHAR_PTR, ulOldLen C.CK_ULONG, pNewPin C.CK_UTF8CHAR_PTR, ulNewLen C.CK_ULONG) C.CK_RV {
	return inSession("C_SetPIN", hSession, func(s *session) error {
		if (pOldPin == nil && ulOldLen > 0) || (pNewPin == nil && ulNewLen > 0) {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if err := onlyStandard(s.m); err != nil {
			return err
		}
		return s.setPIN(string(view(unsafe.Pointer(pOldPin), ulOldLen)), string(view(unsafe.Pointer(pNewPin), ulNewLen)))
	})
}

//export C_OpenSession
func C_OpenSession(slotID C.CK_SLOT_ID, flags C.CK_FLAGS, pApplication C.CK_VOID_PTR, notify C.CK_NOTIFY, phSession C.CK_SESSION_HANDLE_PTR) C.CK_RV {
	// Notify is accepted and never called: the module does not surrender (CKN_SURRENDER is
	// optional), so no callback trampoline is needed.
	return inSlot("C_OpenSession", slotID, func(m *module) error {
		if phSession == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		h, err := m.openSession(uint64(flags))
		if err != nil {
			return err
		}
		*phSession = C.CK_SESSION_HANDLE(h)
		return nil
	})
}

//export C_CloseSession
func C_CloseSession(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return initialized("C_CloseSession", func(m *module) error {
		s, err := m.session(uint64(hSession))
		if err != nil {
			return err
		}
		m.closeSession(s)
		return nil
	})
}

//export C_CloseAllSessions
func C_CloseAllSessions(slotID C.CK_SLOT_ID) C.CK_RV {
	return inSlot("C_CloseAllSessions", slotID, func(m *module) error {
		m.closeAll()
		return nil
	})
}

//export C_GetSessionInfo
func C_GetSessionInfo(hSession C.CK_SESSION_HANDLE, pInfo C.CK_SESSION_INFO_PTR) C.CK_RV {
	return inSession("C_GetSessionInfo", hSession, func(s *session) error {
		if pInfo == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		pInfo.slotID = SlotID
		pInfo.state = C.CK_STATE(s.state())
		pInfo.flags = C.CKF_SERIAL_SESSION
		if s.rw {
			pInfo.flags |= C.CKF_RW_SESSION
		}
		pInfo.ulDeviceError = 0
		return nil
	})
}

//export C_GetOperationState
func C_GetOperationState(hSession C.CK_SESSION_HANDLE, pOperationState C.CK_BYTE_PTR, pulOperationStateLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_GetOperationState", hSession, pulOperationStateLen != nil)
}

//export C_SetOperationState
func C_SetOperationState(hSession C.CK_SESSION_HANDLE, pOperationState C.CK_BYTE_PTR, ulOperationStateLen C.CK_ULONG, hEncryptionKey C.CK_OBJECT_HANDLE, hAuthenticationKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return notSupported("C_SetOperationState", hSession, pOperationState != nil || ulOperationStateLen == 0)
}

//export C_Login
func C_Login(hSession C.CK_SESSION_HANDLE, userType C.CK_USER_TYPE, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG) C.CK_RV {
	return inSession("C_Login", hSession, func(s *session) error {
		if pPin == nil {
			// No protected authentication path: the PIN is always given.
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		return s.login(uint64(userType), "", string(view(unsafe.Pointer(pPin), ulPinLen)))
	})
}

//export C_Logout
func C_Logout(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return inSession("C_Logout", hSession, func(s *session) error { return s.m.logout() })
}

//export C_WaitForSlotEvent
func C_WaitForSlotEvent(flags C.CK_FLAGS, pSlot C.CK_SLOT_ID_PTR, pReserved C.CK_VOID_PTR) C.CK_RV {
	return initialized("C_WaitForSlotEvent", func(m *module) error {
		if pSlot == nil || pReserved != nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if err := onlyStandard(m); err != nil {
			return err
		}
		// The token (the cluster) never leaves its slot: there is no event to report, and a
		// blocking wait lasts until C_Finalize, as the spec says.
		if flags&C.CKF_DONT_BLOCK != 0 {
			return p11.Error(p11.CKR_NO_EVENT)
		}
		<-m.closed
		return p11.Error(p11.CKR_CRYPTOKI_NOT_INITIALIZED)
	})
}

//export C_GetFunctionStatus
func C_GetFunctionStatus(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return inSession("C_GetFunctionStatus", hSession, func(*session) error {
		return p11.Error(p11.CKR_FUNCTION_NOT_PARALLEL) // legacy; the spec's fixed answer
	})
}

//export C_CancelFunction
func C_CancelFunction(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return inSession("C_CancelFunction", hSession, func(*session) error {
		return p11.Error(p11.CKR_FUNCTION_NOT_PARALLEL)
	})
}
