package pkcs11shim

// PKCS#11 v3.0 functions: the interface discovery, C_LoginUser, C_SessionCancel, and the
// message-based functions (not offered: the nodes have no message-based mechanisms).

/*
#include <p11-kit/pkcs11.h>
#include "pkcs11v3.h"
*/
import "C"

import (
	"unsafe"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// interfaceName is the one interface the module offers, in versions 3.0 and 2.40.
const interfaceName = "PKCS 11"

func interfaces() []C.CK_INTERFACE {
	var n C.CK_ULONG
	p := C.hsmsim_interfaces(&n)
	return unsafe.Slice(p, int(n))
}

//export C_GetInterfaceList
func C_GetInterfaceList(pInterfacesList C.CK_INTERFACE_PTR, pulCount C.CK_ULONG_PTR) C.CK_RV {
	return call("C_GetInterfaceList", func() error {
		if pulCount == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		all := interfaces()
		room := *pulCount
		*pulCount = C.CK_ULONG(len(all))
		if pInterfacesList == nil {
			return nil
		}
		if room < C.CK_ULONG(len(all)) {
			return p11.Error(p11.CKR_BUFFER_TOO_SMALL)
		}
		copy(unsafe.Slice(pInterfacesList, len(all)), all)
		return nil
	})
}

//export C_GetInterface
func C_GetInterface(pInterfaceName C.CK_UTF8CHAR_PTR, pVersion C.CK_VERSION_PTR, ppInterface C.CK_INTERFACE_PTR_PTR, flags C.CK_FLAGS) C.CK_RV {
	return call("C_GetInterface", func() error {
		if ppInterface == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if pInterfaceName != nil && C.GoString((*C.char)(unsafe.Pointer(pInterfaceName))) != interfaceName {
			return p11.Errorf(p11.CKR_ARGUMENTS_BAD, "no such interface")
		}
		all := interfaces()
		for i := range all {
			v := (*C.CK_VERSION)(all[i].pFunctionList) // every function list starts with its version
			if pVersion != nil && (v.major != pVersion.major || v.minor != pVersion.minor) {
				continue
			}
			if all[i].flags&flags != flags {
				continue
			}
			*ppInterface = &all[i]
			return nil
		}
		return p11.Errorf(p11.CKR_ARGUMENTS_BAD, "no such interface version")
	})
}

//export C_LoginUser
func C_LoginUser(hSession C.CK_SESSION_HANDLE, userType C.CK_USER_TYPE, pPin C.CK_UTF8CHAR_PTR, ulPinLen C.CK_ULONG, pUsername C.CK_UTF8CHAR_PTR, ulUsernameLen C.CK_ULONG) C.CK_RV {
	return inSession("C_LoginUser", hSession, func(s *session) error {
		if pPin == nil || (pUsername == nil && ulUsernameLen > 0) {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		user := string(view(unsafe.Pointer(pUsername), ulUsernameLen))
		return s.login(uint64(userType), user, string(view(unsafe.Pointer(pPin), ulPinLen)))
	})
}

// cancelFlags maps C_SessionCancel's flags onto the session's operations.
var cancelFlags = [numOps]C.CK_FLAGS{C.CKF_ENCRYPT, C.CKF_DECRYPT, C.CKF_SIGN, C.CKF_VERIFY, C.CKF_DIGEST}

//export C_SessionCancel
func C_SessionCancel(hSession C.CK_SESSION_HANDLE, flags C.CK_FLAGS) C.CK_RV {
	return inSession("C_SessionCancel", hSession, func(s *session) error {
		for k := range numOps {
			if flags&cancelFlags[k] != 0 {
				s.end(k)
			}
		}
		if flags&C.CKF_FIND_OBJECTS != 0 {
			s.find = nil
		}
		return nil
	})
}

//export C_MessageEncryptInit
func C_MessageEncryptInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return notSupported("C_MessageEncryptInit", hSession, pMechanism != nil)
}

//export C_EncryptMessage
func C_EncryptMessage(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pAssociatedData C.CK_BYTE_PTR, ulAssociatedDataLen C.CK_ULONG, pPlaintext C.CK_BYTE_PTR, ulPlaintextLen C.CK_ULONG, pCiphertext C.CK_BYTE_PTR, pulCiphertextLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_EncryptMessage", hSession, pulCiphertextLen != nil)
}

//export C_EncryptMessageBegin
func C_EncryptMessageBegin(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pAssociatedData C.CK_BYTE_PTR, ulAssociatedDataLen C.CK_ULONG) C.CK_RV {
	return notSupported("C_EncryptMessageBegin", hSession, true)
}

//export C_EncryptMessageNext
func C_EncryptMessageNext(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pPlaintextPart C.CK_BYTE_PTR, ulPlaintextPartLen C.CK_ULONG, pCiphertextPart C.CK_BYTE_PTR, pulCiphertextPartLen C.CK_ULONG_PTR, flags C.CK_FLAGS) C.CK_RV {
	return notSupported("C_EncryptMessageNext", hSession, pulCiphertextPartLen != nil)
}

//export C_MessageEncryptFinal
func C_MessageEncryptFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return notSupported("C_MessageEncryptFinal", hSession, true)
}

//export C_MessageDecryptInit
func C_MessageDecryptInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return notSupported("C_MessageDecryptInit", hSession, pMechanism != nil)
}

//export C_DecryptMessage
func C_DecryptMessage(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pAssociatedData C.CK_BYTE_PTR, ulAssociatedDataLen C.CK_ULONG, pCiphertext C.CK_BYTE_PTR, ulCiphertextLen C.CK_ULONG, pPlaintext C.CK_BYTE_PTR, pulPlaintextLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_DecryptMessage", hSession, pulPlaintextLen != nil)
}

//export C_DecryptMessageBegin
func C_DecryptMessageBegin(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pAssociatedData C.CK_BYTE_PTR, ulAssociatedDataLen C.CK_ULONG) C.CK_RV {
	return notSupported("C_DecryptMessageBegin", hSession, true)
}

//export C_DecryptMessageNext
func C_DecryptMessageNext(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pCiphertextPart C.CK_BYTE_PTR, ulCiphertextPartLen C.CK_ULONG, pPlaintextPart C.CK_BYTE_PTR, pulPlaintextPartLen C.CK_ULONG_PTR, flags C.CK_FLAGS) C.CK_RV {
	return notSupported("C_DecryptMessageNext", hSession, pulPlaintextPartLen != nil)
}

//export C_MessageDecryptFinal
func C_MessageDecryptFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return notSupported("C_MessageDecryptFinal", hSession, true)
}

//export C_MessageSignInit
func C_MessageSignInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return notSupported("C_MessageSignInit", hSession, pMechanism != nil)
}

//export C_SignMessage
func C_SignMessage(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_SignMessage", hSession, pulSignatureLen != nil)
}

//export C_SignMessageBegin
func C_SignMessageBegin(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG) C.CK_RV {
	return notSupported("C_SignMessageBegin", hSession, true)
}

//export C_SignMessageNext
func C_SignMessageNext(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_SignMessageNext", hSession, true)
}

//export C_MessageSignFinal
func C_MessageSignFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return notSupported("C_MessageSignFinal", hSession, true)
}

//export C_MessageVerifyInit
func C_MessageVerifyInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return notSupported("C_MessageVerifyInit", hSession, pMechanism != nil)
}

//export C_VerifyMessage
func C_VerifyMessage(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG) C.CK_RV {
	return notSupported("C_VerifyMessage", hSession, true)
}

//export C_VerifyMessageBegin
func C_VerifyMessageBegin(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG) C.CK_RV {
	return notSupported("C_VerifyMessageBegin", hSession, true)
}

//export C_VerifyMessageNext
func C_VerifyMessageNext(hSession C.CK_SESSION_HANDLE, pParameter C.CK_VOID_PTR, ulParameterLen C.CK_ULONG, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG) C.CK_RV {
	return notSupported("C_VerifyMessageNext", hSession, true)
}

//export C_MessageVerifyFinal
func C_MessageVerifyFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return notSupported("C_MessageVerifyFinal", hSession, true)
}
