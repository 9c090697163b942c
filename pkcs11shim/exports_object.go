package pkcs11shim

// Object management functions.

/*
#include <p11-kit/pkcs11.h>
*/
import "C"

import (
	"math"
	"unsafe"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// object resolves an object handle for the functions that change or copy an object. A public
// session may change its own public objects in profile standard (the node decides which those
// are); in profile cloudhsm every handle is invalid here without a login.
func (s *session) object(h C.CK_OBJECT_HANDLE) (uint32, error) {
	return s.objectHandle(h, s.m.seesPublicObjects())
}

// readable resolves an object handle for the functions that read one (C_GetAttributeValue,
// C_GetObjectSize). A public session may read the token's public objects, and the node decides
// which handles those are; in profile cloudhsm nothing is visible before a login.
func (s *session) readable(h C.CK_OBJECT_HANDLE) (uint32, error) {
	return s.objectHandle(h, s.m.seesPublicObjects())
}

func (s *session) objectHandle(h C.CK_OBJECT_HANDLE, visible bool) (uint32, error) {
	oh, err := handle32(h, p11.CKR_OBJECT_HANDLE_INVALID)
	if err != nil {
		return 0, err
	}
	if !visible {
		return 0, p11.Error(p11.CKR_OBJECT_HANDLE_INVALID)
	}
	return oh, nil
}

//export C_CreateObject
func C_CreateObject(hSession C.CK_SESSION_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phObject C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	return inSession("C_CreateObject", hSession, func(s *session) error {
		if phObject == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		t, err := templateOf(pTemplate, ulCount)
		if err != nil {
			return err
		}
		h, err := s.createObject(t)
		if err != nil {
			return err
		}
		*phObject = C.CK_OBJECT_HANDLE(h)
		return nil
	})
}

//export C_CopyObject
func C_CopyObject(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phNewObject C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	return inSession("C_CopyObject", hSession, func(s *session) error {
		if phNewObject == nil || (pTemplate == nil && ulCount > 0) {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if err := onlyStandard(s.m); err != nil {
			return err
		}
		src, err := s.object(hObject)
		if err != nil {
			return err
		}
		t, err := templateOf(pTemplate, ulCount)
		if err != nil {
			return err
		}
		h, err := s.copyObject(src, t)
		if err != nil {
			return err
		}
		*phNewObject = C.CK_OBJECT_HANDLE(h)
		return nil
	})
}

//export C_DestroyObject
func C_DestroyObject(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE) C.CK_RV {
	return inSession("C_DestroyObject", hSession, func(s *session) error {
		h, err := s.object(hObject)
		if err != nil {
			return err
		}
		return s.destroyObject(h)
	})
}

//export C_GetObjectSize
func C_GetObjectSize(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pulSize C.CK_ULONG_PTR) C.CK_RV {
	return inSession("C_GetObjectSize", hSession, func(s *session) error {
		if pulSize == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if err := onlyStandard(s.m); err != nil {
			return err
		}
		h, err := s.readable(hObject)
		if err != nil {
			return err
		}
		n, err := s.objectSize(h)
		if err != nil {
			return err
		}
		*pulSize = C.CK_ULONG(n)
		return nil
	})
}

//export C_GetAttributeValue
func C_GetAttributeValue(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	return inSession("C_GetAttributeValue", hSession, func(s *session) error {
		if pTemplate == nil && ulCount > 0 {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		h, err := s.readable(hObject)
		if err != nil {
			return err
		}
		if ulCount == 0 {
			return nil
		}
		tmpl := unsafe.Slice(pTemplate, int(ulCount))
		types := make([]uint32, len(tmpl))
		for i := range tmpl {
			t := uint64(tmpl[i]._type)
			if t > math.MaxUint32 {
				t = p11.CKA_VENDOR_DEFINED | 0x7FFFFFFF // no such attribute: the node says so
			}
			types[i] = uint32(t)
		}
		res, err := s.getAttributes(h, types)
		if err != nil {
			return err
		}
		// Every attribute is answered; the call returns one of the per-attribute codes if any
		// attribute had one (the spec lets it pick; this is the first).
		var first error
		fail := func(i int, rv uint32) {
			tmpl[i].ulValueLen = C.CK_ULONG(p11.CK_UNAVAILABLE_INFORMATION)
			if first == nil {
				first = p11.Error(rv)
			}
		}
		for i := range tmpl {
			if i >= len(res) || res[i].Type != types[i] {
				fail(i, p11.CKR_ATTRIBUTE_TYPE_INVALID)
				continue
			}
			if res[i].Rv != p11.CKR_OK {
				fail(i, res[i].Rv)
				continue
			}
			v := cValue(types[i], res[i].Value)
			switch {
			case tmpl[i].pValue == nil:
				tmpl[i].ulValueLen = C.CK_ULONG(len(v))
			case uint64(tmpl[i].ulValueLen) >= uint64(len(v)):
				copy(view(unsafe.Pointer(tmpl[i].pValue), C.CK_ULONG(len(v))), v)
				tmpl[i].ulValueLen = C.CK_ULONG(len(v))
			default:
				fail(i, p11.CKR_BUFFER_TOO_SMALL)
			}
		}
		return first
	})
}

//export C_SetAttributeValue
func C_SetAttributeValue(hSession C.CK_SESSION_HANDLE, hObject C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	return inSession("C_SetAttributeValue", hSession, func(s *session) error {
		if pTemplate == nil && ulCount > 0 {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		h, err := s.object(hObject)
		if err != nil {
			return err
		}
		t, err := templateOf(pTemplate, ulCount)
		if err != nil {
			return err
		}
		return s.setAttributes(h, t)
	})
}

//export C_FindObjectsInit
func C_FindObjectsInit(hSession C.CK_SESSION_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG) C.CK_RV {
	return inSession("C_FindObjectsInit", hSession, func(s *session) error {
		t, err := templateOf(pTemplate, ulCount)
		if err != nil {
			return err
		}
		return s.findInit(t)
	})
}

//export C_FindObjects
func C_FindObjects(hSession C.CK_SESSION_HANDLE, phObject C.CK_OBJECT_HANDLE_PTR, ulMaxObjectCount C.CK_ULONG, pulObjectCount C.CK_ULONG_PTR) C.CK_RV {
	return inSession("C_FindObjects", hSession, func(s *session) error {
		if pulObjectCount == nil || (phObject == nil && ulMaxObjectCount > 0) {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		hs, err := s.findNext(int(min(uint64(ulMaxObjectCount), math.MaxInt32)))
		if err != nil {
			return err
		}
		if len(hs) > 0 {
			out := unsafe.Slice(phObject, len(hs))
			for i, h := range hs {
				out[i] = C.CK_OBJECT_HANDLE(h)
			}
		}
		*pulObjectCount = C.CK_ULONG(len(hs))
		return nil
	})
}

//export C_FindObjectsFinal
func C_FindObjectsFinal(hSession C.CK_SESSION_HANDLE) C.CK_RV {
	return inSession("C_FindObjectsFinal", hSession, func(s *session) error { return s.findFinal() })
}
