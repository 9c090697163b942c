/*
 * PKCS#11 v3.0 additions that p11-kit's pkcs11.h (0.24, a v2.40 header) does not declare: the
 * CK_INTERFACE structure and the v3.0 function list, as the OASIS PKCS#11 v3.0 base specification
 * (section 3.6 and 5.1) defines them. Everything else comes from <p11-kit/pkcs11.h>; this file
 * only adds, it copies nothing. When the header dependency moves to a v3.0 header, delete it.
 */
#ifndef HSMSIM_PKCS11V3_H
#define HSMSIM_PKCS11V3_H

#include <p11-kit/pkcs11.h>

typedef struct CK_INTERFACE {
	CK_CHAR *pInterfaceName;
	CK_VOID_PTR pFunctionList;
	CK_FLAGS flags;
} CK_INTERFACE;
typedef CK_INTERFACE *CK_INTERFACE_PTR;
typedef CK_INTERFACE_PTR *CK_INTERFACE_PTR_PTR;

#ifndef CKF_INTERFACE_FORK_SAFE
#define CKF_INTERFACE_FORK_SAFE 0x00000001UL
#endif
#ifndef CKF_FIND_OBJECTS
#define CKF_FIND_OBJECTS 0x00000040UL /* C_SessionCancel: cancel C_FindObjects* */
#endif

/*
 * CK_FUNCTION_LIST_3_0 is the version, the 68 v2.40 entries in their order, then the 24 v3.0
 * entries. Embedding the v2.40 list gives the same layout: it is a CK_VERSION followed by
 * pointers, so its size is a multiple of the pointer alignment and no padding comes between.
 */
typedef struct HSMSIM_FUNCTION_LIST_3_0 {
	CK_FUNCTION_LIST v2;
	CK_RV (*C_GetInterfaceList)(CK_INTERFACE_PTR, CK_ULONG_PTR);
	CK_RV (*C_GetInterface)(CK_UTF8CHAR_PTR, CK_VERSION_PTR, CK_INTERFACE_PTR_PTR, CK_FLAGS);
	CK_RV (*C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR, CK_ULONG);
	CK_RV (*C_SessionCancel)(CK_SESSION_HANDLE, CK_FLAGS);
	CK_RV (*C_MessageEncryptInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
	CK_RV (*C_EncryptMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
	CK_RV (*C_EncryptMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
	CK_RV (*C_EncryptMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR, CK_FLAGS);
	CK_RV (*C_MessageEncryptFinal)(CK_SESSION_HANDLE);
	CK_RV (*C_MessageDecryptInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
	CK_RV (*C_DecryptMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
	CK_RV (*C_DecryptMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
	CK_RV (*C_DecryptMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR, CK_FLAGS);
	CK_RV (*C_MessageDecryptFinal)(CK_SESSION_HANDLE);
	CK_RV (*C_MessageSignInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
	CK_RV (*C_SignMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
	CK_RV (*C_SignMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG);
	CK_RV (*C_SignMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
	CK_RV (*C_MessageSignFinal)(CK_SESSION_HANDLE);
	CK_RV (*C_MessageVerifyInit)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
	CK_RV (*C_VerifyMessage)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
	CK_RV (*C_VerifyMessageBegin)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG);
	CK_RV (*C_VerifyMessageNext)(CK_SESSION_HANDLE, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG);
	CK_RV (*C_MessageVerifyFinal)(CK_SESSION_HANDLE);
} HSMSIM_FUNCTION_LIST_3_0;

/* Defined in table.c: the module's function lists and interfaces. */
CK_FUNCTION_LIST_PTR hsmsim_function_list(void);
CK_INTERFACE_PTR hsmsim_interfaces(CK_ULONG *count);

#endif
