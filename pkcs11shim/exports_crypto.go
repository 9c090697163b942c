package pkcs11shim

// Cryptographic functions: encrypt, decrypt, digest, sign, verify (single- and multi-part), key
// management, random.

/*
#include <p11-kit/pkcs11.h>
*/
import "C"

import (
	"unsafe"

	"github.com/hsmsim/hsmsim/hsmd/p11"
)

func initOp(name string, k opKind, h C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return inSession(name, h, func(s *session) error {
		mc, ivOut, err := mechOf(pMechanism)
		if err != nil {
			return err
		}
		var key uint32
		if k != opDigest {
			if key, err = handle32(hKey, p11.CKR_KEY_HANDLE_INVALID); err != nil {
				return err
			}
			if !s.m.seesPublicObjects() {
				return p11.Error(p11.CKR_USER_NOT_LOGGED_IN)
			}
		}
		return s.initOp(k, mc, key, ivOut)
	})
}

// single is C_Encrypt, C_Decrypt, C_Sign and C_Digest.
func single(name string, k opKind, h C.CK_SESSION_HANDLE, pIn C.CK_BYTE_PTR, ulIn C.CK_ULONG, pOut C.CK_BYTE_PTR, pulOut C.CK_ULONG_PTR) C.CK_RV {
	return inSession(name, h, func(s *session) error {
		in, err := inView(pIn, ulIn)
		if err != nil || pulOut == nil {
			s.end(k)
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		out, err := s.finish(k, in, false, uint64(*pulOut), pOut == nil)
		return putOut(out, err, pOut, pulOut)
	})
}

// final is C_EncryptFinal, C_DecryptFinal, C_SignFinal and C_DigestFinal: the one RPC.
func final(name string, k opKind, h C.CK_SESSION_HANDLE, pOut C.CK_BYTE_PTR, pulOut C.CK_ULONG_PTR) C.CK_RV {
	return inSession(name, h, func(s *session) error {
		if pulOut == nil {
			s.end(k)
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		out, err := s.finish(k, nil, true, uint64(*pulOut), pOut == nil)
		return putOut(out, err, pOut, pulOut)
	})
}

// update is C_SignUpdate, C_VerifyUpdate and C_DigestUpdate.
func update(name string, k opKind, h C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPart C.CK_ULONG) C.CK_RV {
	return inSession(name, h, func(s *session) error {
		in, err := inView(pPart, ulPart)
		if err != nil {
			s.end(k)
			return err
		}
		return s.update(k, in)
	})
}

// updateOut is C_EncryptUpdate and C_DecryptUpdate: the block modes output the whole blocks
// they have (stream.go); other mechanisms buffer and output nothing until C_*Final. A NULL
// output pointer is a length query: it reports the length and consumes nothing, so the call
// that follows is not counted twice.
func updateOut(name string, k opKind, h C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPart C.CK_ULONG, pOut C.CK_BYTE_PTR, pulOut C.CK_ULONG_PTR) C.CK_RV {
	return inSession(name, h, func(s *session) error {
		in, err := inView(pPart, ulPart)
		if err != nil || pulOut == nil {
			s.end(k)
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		out, err := s.updateOut(k, in, uint64(*pulOut), pOut == nil)
		return putOut(out, err, pOut, pulOut)
	})
}

//export C_EncryptInit
func C_EncryptInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_EncryptInit", opEncrypt, hSession, pMechanism, hKey)
}

//export C_Encrypt
func C_Encrypt(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pEncryptedData C.CK_BYTE_PTR, pulEncryptedDataLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Encrypt", opEncrypt, hSession, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen)
}

//export C_EncryptUpdate
func C_EncryptUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG, pEncryptedPart C.CK_BYTE_PTR, pulEncryptedPartLen C.CK_ULONG_PTR) C.CK_RV {
	return updateOut("C_EncryptUpdate", opEncrypt, hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen)
}

//export C_EncryptFinal
func C_EncryptFinal(hSession C.CK_SESSION_HANDLE, pLastEncryptedPart C.CK_BYTE_PTR, pulLastEncryptedPartLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_EncryptFinal", opEncrypt, hSession, pLastEncryptedPart, pulLastEncryptedPartLen)
}

//export C_DecryptInit
func C_DecryptInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_DecryptInit", opDecrypt, hSession, pMechanism, hKey)
}

//export C_Decrypt
func C_Decrypt(hSession C.CK_SESSION_HANDLE, pEncryptedData C.CK_BYTE_PTR, ulEncryptedDataLen C.CK_ULONG, pData C.CK_BYTE_PTR, pulDataLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Decrypt", opDecrypt, hSession, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen)
}

//export C_DecryptUpdate
func C_DecryptUpdate(hSession C.CK_SESSION_HANDLE, pEncryptedPart C.CK_BYTE_PTR, ulEncryptedPartLen C.CK_ULONG, pPart C.CK_BYTE_PTR, pulPartLen C.CK_ULONG_PTR) C.CK_RV {
	return updateOut("C_DecryptUpdate", opDecrypt, hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen)
}

//export C_DecryptFinal
func C_DecryptFinal(hSession C.CK_SESSION_HANDLE, pLastPart C.CK_BYTE_PTR, pulLastPartLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_DecryptFinal", opDecrypt, hSession, pLastPart, pulLastPartLen)
}

//export C_DigestInit
func C_DigestInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR) C.CK_RV {
	return initOp("C_DigestInit", opDigest, hSession, pMechanism, 0)
}

//export C_Digest
func C_Digest(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pDigest C.CK_BYTE_PTR, pulDigestLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Digest", opDigest, hSession, pData, ulDataLen, pDigest, pulDigestLen)
}

//export C_DigestUpdate
func C_DigestUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return update("C_DigestUpdate", opDigest, hSession, pPart, ulPartLen)
}

//export C_DigestKey
func C_DigestKey(hSession C.CK_SESSION_HANDLE, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return inSession("C_DigestKey", hSession, func(s *session) error {
		if _, err := s.op(opDigest); err != nil {
			return err
		}
		if err := onlyStandard(s.m); err != nil {
			s.end(opDigest)
			return err
		}
		h, err := handle32(hKey, p11.CKR_KEY_HANDLE_INVALID)
		if err != nil {
			s.end(opDigest)
			return err
		}
		return s.digestKey(h)
	})
}

//export C_DigestFinal
func C_DigestFinal(hSession C.CK_SESSION_HANDLE, pDigest C.CK_BYTE_PTR, pulDigestLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_DigestFinal", opDigest, hSession, pDigest, pulDigestLen)
}

//export C_SignInit
func C_SignInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_SignInit", opSign, hSession, pMechanism, hKey)
}

//export C_Sign
func C_Sign(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return single("C_Sign", opSign, hSession, pData, ulDataLen, pSignature, pulSignatureLen)
}

//export C_SignUpdate
func C_SignUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return update("C_SignUpdate", opSign, hSession, pPart, ulPartLen)
}

//export C_SignFinal
func C_SignFinal(hSession C.CK_SESSION_HANDLE, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return final("C_SignFinal", opSign, hSession, pSignature, pulSignatureLen)
}

//export C_VerifyInit
func C_VerifyInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return initOp("C_VerifyInit", opVerify, hSession, pMechanism, hKey)
}

//export C_Verify
func C_Verify(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG) C.CK_RV {
	return inSession("C_Verify", hSession, func(s *session) error {
		data, err1 := inView(pData, ulDataLen)
		sig, err2 := inView(pSignature, ulSignatureLen)
		if err1 != nil || err2 != nil {
			s.end(opVerify)
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		return s.verify(data, sig, false)
	})
}

//export C_VerifyUpdate
func C_VerifyUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG) C.CK_RV {
	return update("C_VerifyUpdate", opVerify, hSession, pPart, ulPartLen)
}

//export C_VerifyFinal
func C_VerifyFinal(hSession C.CK_SESSION_HANDLE, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG) C.CK_RV {
	return inSession("C_VerifyFinal", hSession, func(s *session) error {
		sig, err := inView(pSignature, ulSignatureLen)
		if err != nil {
			s.end(opVerify)
			return err
		}
		return s.verify(nil, sig, true)
	})
}

// Recovery signatures are not offered by the nodes (nor by CloudHSM).

//export C_SignRecoverInit
func C_SignRecoverInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return notSupported("C_SignRecoverInit", hSession, pMechanism != nil)
}

//export C_SignRecover
func C_SignRecover(hSession C.CK_SESSION_HANDLE, pData C.CK_BYTE_PTR, ulDataLen C.CK_ULONG, pSignature C.CK_BYTE_PTR, pulSignatureLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_SignRecover", hSession, pulSignatureLen != nil && (pData != nil || ulDataLen == 0))
}

//export C_VerifyRecoverInit
func C_VerifyRecoverInit(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hKey C.CK_OBJECT_HANDLE) C.CK_RV {
	return notSupported("C_VerifyRecoverInit", hSession, pMechanism != nil)
}

//export C_VerifyRecover
func C_VerifyRecover(hSession C.CK_SESSION_HANDLE, pSignature C.CK_BYTE_PTR, ulSignatureLen C.CK_ULONG, pData C.CK_BYTE_PTR, pulDataLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_VerifyRecover", hSession, pulDataLen != nil && (pSignature != nil || ulSignatureLen == 0))
}

// Dual-function calls are not offered: with every C_*Update buffered until C_*Final, there is no
// part-by-part output for them to pair (CloudHSM lacks them too).

//export C_DigestEncryptUpdate
func C_DigestEncryptUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG, pEncryptedPart C.CK_BYTE_PTR, pulEncryptedPartLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_DigestEncryptUpdate", hSession, pulEncryptedPartLen != nil && (pPart != nil || ulPartLen == 0))
}

//export C_DecryptDigestUpdate
func C_DecryptDigestUpdate(hSession C.CK_SESSION_HANDLE, pEncryptedPart C.CK_BYTE_PTR, ulEncryptedPartLen C.CK_ULONG, pPart C.CK_BYTE_PTR, pulPartLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_DecryptDigestUpdate", hSession, pulPartLen != nil && (pEncryptedPart != nil || ulEncryptedPartLen == 0))
}

//export C_SignEncryptUpdate
func C_SignEncryptUpdate(hSession C.CK_SESSION_HANDLE, pPart C.CK_BYTE_PTR, ulPartLen C.CK_ULONG, pEncryptedPart C.CK_BYTE_PTR, pulEncryptedPartLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_SignEncryptUpdate", hSession, pulEncryptedPartLen != nil && (pPart != nil || ulPartLen == 0))
}

//export C_DecryptVerifyUpdate
func C_DecryptVerifyUpdate(hSession C.CK_SESSION_HANDLE, pEncryptedPart C.CK_BYTE_PTR, ulEncryptedPartLen C.CK_ULONG, pPart C.CK_BYTE_PTR, pulPartLen C.CK_ULONG_PTR) C.CK_RV {
	return notSupported("C_DecryptVerifyUpdate", hSession, pulPartLen != nil && (pEncryptedPart != nil || ulEncryptedPartLen == 0))
}

//export C_GenerateKey
func C_GenerateKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, pTemplate C.CK_ATTRIBUTE_PTR, ulCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	return inSession("C_GenerateKey", hSession, func(s *session) error {
		if phKey == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		mc, _, err := mechOf(pMechanism)
		if err != nil {
			return err
		}
		t, err := templateOf(pTemplate, ulCount)
		if err != nil {
			return err
		}
		h, err := s.generateKey(mc, t)
		if err != nil {
			return err
		}
		*phKey = C.CK_OBJECT_HANDLE(h)
		return nil
	})
}

//export C_GenerateKeyPair
func C_GenerateKeyPair(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, pPublicKeyTemplate C.CK_ATTRIBUTE_PTR, ulPublicKeyAttributeCount C.CK_ULONG, pPrivateKeyTemplate C.CK_ATTRIBUTE_PTR, ulPrivateKeyAttributeCount C.CK_ULONG, phPublicKey C.CK_OBJECT_HANDLE_PTR, phPrivateKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	return inSession("C_GenerateKeyPair", hSession, func(s *session) error {
		if phPublicKey == nil || phPrivateKey == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		mc, _, err := mechOf(pMechanism)
		if err != nil {
			return err
		}
		pub, err := templateOf(pPublicKeyTemplate, ulPublicKeyAttributeCount)
		if err != nil {
			return err
		}
		priv, err := templateOf(pPrivateKeyTemplate, ulPrivateKeyAttributeCount)
		if err != nil {
			return err
		}
		ph, kh, err := s.generateKeyPair(mc, pub, priv)
		if err != nil {
			return err
		}
		*phPublicKey, *phPrivateKey = C.CK_OBJECT_HANDLE(ph), C.CK_OBJECT_HANDLE(kh)
		return nil
	})
}

//export C_WrapKey
func C_WrapKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hWrappingKey C.CK_OBJECT_HANDLE, hKey C.CK_OBJECT_HANDLE, pWrappedKey C.CK_BYTE_PTR, pulWrappedKeyLen C.CK_ULONG_PTR) C.CK_RV {
	return inSession("C_WrapKey", hSession, func(s *session) error {
		if pulWrappedKeyLen == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		mc, ivOut, err := mechOf(pMechanism)
		if err != nil {
			return err
		}
		wk, err := handle32(hWrappingKey, p11.CKR_WRAPPING_KEY_HANDLE_INVALID)
		if err != nil {
			return err
		}
		k, err := handle32(hKey, p11.CKR_KEY_HANDLE_INVALID)
		if err != nil {
			return err
		}
		out, err := s.wrapKey(mc, wk, k, ivOut, uint64(*pulWrappedKeyLen), pWrappedKey == nil)
		return putOut(out, err, pWrappedKey, pulWrappedKeyLen)
	})
}

//export C_UnwrapKey
func C_UnwrapKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hUnwrappingKey C.CK_OBJECT_HANDLE, pWrappedKey C.CK_BYTE_PTR, ulWrappedKeyLen C.CK_ULONG, pTemplate C.CK_ATTRIBUTE_PTR, ulAttributeCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	return inSession("C_UnwrapKey", hSession, func(s *session) error {
		if phKey == nil || pWrappedKey == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		mc, _, err := mechOf(pMechanism)
		if err != nil {
			return err
		}
		uk, err := handle32(hUnwrappingKey, p11.CKR_UNWRAPPING_KEY_HANDLE_INVALID)
		if err != nil {
			return err
		}
		wrapped, err := inView(pWrappedKey, ulWrappedKeyLen)
		if err != nil {
			return err
		}
		t, err := templateOf(pTemplate, ulAttributeCount)
		if err != nil {
			return err
		}
		h, err := s.unwrapKey(mc, uk, wrapped, t)
		if err != nil {
			return err
		}
		*phKey = C.CK_OBJECT_HANDLE(h)
		return nil
	})
}

//export C_DeriveKey
func C_DeriveKey(hSession C.CK_SESSION_HANDLE, pMechanism C.CK_MECHANISM_PTR, hBaseKey C.CK_OBJECT_HANDLE, pTemplate C.CK_ATTRIBUTE_PTR, ulAttributeCount C.CK_ULONG, phKey C.CK_OBJECT_HANDLE_PTR) C.CK_RV {
	return inSession("C_DeriveKey", hSession, func(s *session) error {
		if phKey == nil {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		mc, _, err := mechOf(pMechanism)
		if err != nil {
			return err
		}
		base, err := handle32(hBaseKey, p11.CKR_KEY_HANDLE_INVALID)
		if err != nil {
			return err
		}
		t, err := templateOf(pTemplate, ulAttributeCount)
		if err != nil {
			return err
		}
		h, err := s.deriveKey(mc, base, t)
		if err != nil {
			return err
		}
		*phKey = C.CK_OBJECT_HANDLE(h)
		return nil
	})
}

//export C_SeedRandom
func C_SeedRandom(hSession C.CK_SESSION_HANDLE, pSeed C.CK_BYTE_PTR, ulSeedLen C.CK_ULONG) C.CK_RV {
	return inSession("C_SeedRandom", hSession, func(s *session) error {
		if pSeed == nil && ulSeedLen > 0 {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		if err := onlyStandard(s.m); err != nil {
			return err
		}
		// The nodes' generator takes no seed from outside.
		return p11.Error(p11.CKR_RANDOM_SEED_NOT_SUPPORTED)
	})
}

//export C_GenerateRandom
func C_GenerateRandom(hSession C.CK_SESSION_HANDLE, pRandomData C.CK_BYTE_PTR, ulRandomLen C.CK_ULONG) C.CK_RV {
	return inSession("C_GenerateRandom", hSession, func(s *session) error {
		if pRandomData == nil && ulRandomLen > 0 {
			return p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		return s.random(view(unsafe.Pointer(pRandomData), ulRandomLen))
	})
}
