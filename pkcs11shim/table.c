/*
 * The only C of the module: the v2.40 CK_FUNCTION_LIST and the v3.0 function list and
 * interfaces, whose entries are the Go functions exported in exports_*.go, and what a forked
 * child gets instead of them (below).
 */
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <p11-kit/pkcs11.h>
#include "pkcs11v3.h"
#include "_cgo_export.h"

#define V240_ENTRIES \
	.C_Initialize = C_Initialize, .C_Finalize = C_Finalize, .C_GetInfo = C_GetInfo, \
	.C_GetFunctionList = C_GetFunctionList, .C_GetSlotList = C_GetSlotList, \
	.C_GetSlotInfo = C_GetSlotInfo, .C_GetTokenInfo = C_GetTokenInfo, \
	.C_GetMechanismList = C_GetMechanismList, .C_GetMechanismInfo = C_GetMechanismInfo, \
	.C_InitToken = C_InitToken, .C_InitPIN = C_InitPIN, .C_SetPIN = C_SetPIN, \
	.C_OpenSession = C_OpenSession, .C_CloseSession = C_CloseSession, \
	.C_CloseAllSessions = C_CloseAllSessions, .C_GetSessionInfo = C_GetSessionInfo, \
	.C_GetOperationState = C_GetOperationState, .C_SetOperationState = C_SetOperationState, \
	.C_Login = C_Login, .C_Logout = C_Logout, .C_CreateObject = C_CreateObject, \
	.C_CopyObject = C_CopyObject, .C_DestroyObject = C_DestroyObject, \
	.C_GetObjectSize = C_GetObjectSize, .C_GetAttributeValue = C_GetAttributeValue, \
	.C_SetAttributeValue = C_SetAttributeValue, .C_FindObjectsInit = C_FindObjectsInit, \
	.C_FindObjects = C_FindObjects, .C_FindObjectsFinal = C_FindObjectsFinal, \
	.C_EncryptInit = C_EncryptInit, .C_Encrypt = C_Encrypt, .C_EncryptUpdate = C_EncryptUpdate, \
	.C_EncryptFinal = C_EncryptFinal, .C_DecryptInit = C_DecryptInit, .C_Decrypt = C_Decrypt, \
	.C_DecryptUpdate = C_DecryptUpdate, .C_DecryptFinal = C_DecryptFinal, \
	.C_DigestInit = C_DigestInit, .C_Digest = C_Digest, .C_DigestUpdate = C_DigestUpdate, \
	.C_DigestKey = C_DigestKey, .C_DigestFinal = C_DigestFinal, .C_SignInit = C_SignInit, \
	.C_Sign = C_Sign, .C_SignUpdate = C_SignUpdate, .C_SignFinal = C_SignFinal, \
	.C_SignRecoverInit = C_SignRecoverInit, .C_SignRecover = C_SignRecover, \
	.C_VerifyInit = C_VerifyInit, .C_Verify = C_Verify, .C_VerifyUpdate = C_VerifyUpdate, \
	.C_VerifyFinal = C_VerifyFinal, .C_VerifyRecoverInit = C_VerifyRecoverInit, \
	.C_VerifyRecover = C_VerifyRecover, .C_DigestEncryptUpdate = C_DigestEncryptUpdate, \
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate, .C_SignEncryptUpdate = C_SignEncryptUpdate, \
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate, .C_GenerateKey = C_GenerateKey, \
	.C_GenerateKeyPair = C_GenerateKeyPair, .C_WrapKey = C_WrapKey, .C_UnwrapKey = C_UnwrapKey, \
	.C_DeriveKey = C_DeriveKey, .C_SeedRandom = C_SeedRandom, \
	.C_GenerateRandom = C_GenerateRandom, .C_GetFunctionStatus = C_GetFunctionStatus, \
	.C_CancelFunction = C_CancelFunction, .C_WaitForSlotEvent = C_WaitForSlotEvent

static CK_FUNCTION_LIST list_240 = {
	.version = {2, 40},
	V240_ENTRIES,
};

static HSMSIM_FUNCTION_LIST_3_0 list_30 = {
	.v2 = {.version = {3, 0}, V240_ENTRIES},
	.C_GetInterfaceList = C_GetInterfaceList, .C_GetInterface = C_GetInterface,
	.C_LoginUser = C_LoginUser, .C_SessionCancel = C_SessionCancel,
	.C_MessageEncryptInit = C_MessageEncryptInit, .C_EncryptMessage = C_EncryptMessage,
	.C_EncryptMessageBegin = C_EncryptMessageBegin, .C_EncryptMessageNext = C_EncryptMessageNext,
	.C_MessageEncryptFinal = C_MessageEncryptFinal, .C_MessageDecryptInit = C_MessageDecryptInit,
	.C_DecryptMessage = C_DecryptMessage, .C_DecryptMessageBegin = C_DecryptMessageBegin,
	.C_DecryptMessageNext = C_DecryptMessageNext, .C_MessageDecryptFinal = C_MessageDecryptFinal,
	.C_MessageSignInit = C_MessageSignInit, .C_SignMessage = C_SignMessage,
	.C_SignMessageBegin = C_SignMessageBegin, .C_SignMessageNext = C_SignMessageNext,
	.C_MessageSignFinal = C_MessageSignFinal, .C_MessageVerifyInit = C_MessageVerifyInit,
	.C_VerifyMessage = C_VerifyMessage, .C_VerifyMessageBegin = C_VerifyMessageBegin,
	.C_VerifyMessageNext = C_VerifyMessageNext, .C_MessageVerifyFinal = C_MessageVerifyFinal,
};

/* The default interface comes first: C_GetInterface with no name and no version returns it. */
static CK_INTERFACE interfaces[] = {
	{(CK_CHAR *)"PKCS 11", &list_30, 0},
	{(CK_CHAR *)"PKCS 11", &list_240, 0},
};

CK_FUNCTION_LIST_PTR hsmsim_function_list(void) { return &list_240; }

CK_INTERFACE_PTR hsmsim_interfaces(CK_ULONG *count) {
	*count = sizeof(interfaces) / sizeof(interfaces[0]);
	return interfaces;
}

/*
 * A child of fork has only the thread that forked: the Go runtime's other threads are gone, and
 * entering Go there can deadlock on a lock one of them held. So in the child every entry of the
 * function lists becomes a stub that answers CKR_CRYPTOKI_NOT_INITIALIZED without entering Go
 * (the module cannot serve a forked child; doc.go says so). The stub takes no arguments and is
 * called with the entry's: under the C calling conventions of the platforms the module is built
 * for, the caller owns its arguments, so the extra ones are ignored.
 */
static CK_RV forked_child(void) { return CKR_CRYPTOKI_NOT_INITIALIZED; }

static void stub_entries(void *first, size_t bytes) {
	CK_RV (*stub)(void) = forked_child;
	for (size_t off = 0; off + sizeof(stub) <= bytes; off += sizeof(stub))
		memcpy((char *)first + off, &stub, sizeof(stub));
}

static void in_forked_child(void) {
	size_t v2 = offsetof(CK_FUNCTION_LIST, C_Initialize);
	stub_entries((char *)&list_240 + v2, sizeof(list_240) - v2);
	stub_entries((char *)&list_30 + v2, sizeof(list_30) - v2);
}

__attribute__((constructor)) static void hsmsim_register_atfork(void) {
	pthread_atfork(NULL, NULL, in_forked_child);
}
