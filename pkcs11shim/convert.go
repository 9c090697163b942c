package pkcs11shim

// Conversions between the C layout of the PKCS#11 ABI and the Go forms of hsmd: byte buffers,
// attribute templates (native CK_ULONG and CK_BBOOL ↔ attr's canonical encoding), mechanism
// parameters (C structs ↔ mech's parameter types), and the output-length convention.

/*
#cgo pkg-config: p11-kit-1
#include <p11-kit/pkcs11.h>
#include "pkcs11v3.h"

// CK_GCM_PARAMS as the v2.40 header had it before its errata added ulIvBits.
typedef struct {
	CK_BYTE_PTR pIv;
	CK_ULONG ulIvLen;
	CK_BYTE_PTR pAAD;
	CK_ULONG ulAADLen;
	CK_ULONG ulTagBits;
} hsmsim_gcm_params_v240;

// CK_RSA_AES_KEY_WRAP_PARAMS (PKCS#11 v2.40 §2.1.21), which p11-kit's header lacks.
typedef struct {
	CK_ULONG ulAESKeyBits;
	CK_RSA_PKCS_OAEP_PARAMS *pOAEPParams;
} hsmsim_rsa_aes_key_wrap_params;

// CloudHSM's CKM_SP800_108_COUNTER_KDF parameter as its vendor header lays it out: a PRF (an
// HMAC mechanism) and an array of typed data parameters.
typedef struct {
	CK_ULONG type;
	CK_VOID_PTR pValue;
	CK_ULONG ulValueLen;
} hsmsim_prf_data_param;

typedef struct {
	CK_MECHANISM_TYPE prftype;
	CK_ULONG ulNumberOfDataParams;
	hsmsim_prf_data_param *pDataParams;
} hsmsim_sp800_108_kdf_params;
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

const ulongSize = C.sizeof_CK_ULONG

// view is C memory as a Go slice, without copying: valid only during the call, unless the
// application promises more (the GCM pIV it expects written back).
func view(p unsafe.Pointer, n C.CK_ULONG) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), int(n))
}

// goBytes copies C memory into Go memory.
func goBytes(p unsafe.Pointer, n C.CK_ULONG) []byte {
	return append([]byte{}, view(p, n)...)
}

// inBytes checks and copies an input buffer: NULL with a length is CKR_ARGUMENTS_BAD.
func inBytes(p C.CK_BYTE_PTR, n C.CK_ULONG) ([]byte, error) {
	if p == nil && n > 0 {
		return nil, p11.Error(p11.CKR_ARGUMENTS_BAD)
	}
	return goBytes(unsafe.Pointer(p), n), nil
}

// inView is inBytes without the copy, for data used only during the call.
func inView(p C.CK_BYTE_PTR, n C.CK_ULONG) ([]byte, error) {
	if p == nil && n > 0 {
		return nil, p11.Error(p11.CKR_ARGUMENTS_BAD)
	}
	return view(unsafe.Pointer(p), n), nil
}

// putOut delivers out through (p, *pl) after an operation that followed the convention
// (session.finish): a NULL p or errBufferTooSmall only reports the length.
func putOut(out []byte, err error, p C.CK_BYTE_PTR, pl C.CK_ULONG_PTR) error {
	if err != nil && err != errBufferTooSmall {
		return err
	}
	*pl = C.CK_ULONG(len(out))
	if err == nil && p != nil {
		copy(view(unsafe.Pointer(p), C.CK_ULONG(len(out))), out)
	}
	return err
}

// handle32 narrows an object handle: hsmd handles are 32 bits, so a larger one names nothing.
func handle32(h C.CK_OBJECT_HANDLE, invalid uint32) (uint32, error) {
	if uint64(h) > math.MaxUint32 || h == 0 {
		return 0, p11.Error(invalid)
	}
	return uint32(h), nil
}

// Attribute value kinds in C. Everything not listed is raw bytes in both layouts.
const (
	kindBytes = iota
	kindUlong
	kindBool
	kindUlongs // an array of CK_ULONG (CKA_ALLOWED_MECHANISMS)
)

var attrKinds = map[uint32]int{
	p11.CKA_CLASS: kindUlong, p11.CKA_KEY_TYPE: kindUlong, p11.CKA_CERTIFICATE_TYPE: kindUlong,
	p11.CKA_CERTIFICATE_CATEGORY: kindUlong, p11.CKA_JAVA_MIDP_SECURITY_DOMAIN: kindUlong,
	p11.CKA_MODULUS_BITS: kindUlong, p11.CKA_VALUE_LEN: kindUlong, p11.CKA_VALUE_BITS: kindUlong,
	p11.CKA_PRIME_BITS: kindUlong, p11.CKA_SUB_PRIME_BITS: kindUlong, p11.CKA_KEY_GEN_MECHANISM: kindUlong,
	p11.CKA_MECHANISM_TYPE: kindUlong, p11.CKA_HW_FEATURE_TYPE: kindUlong, p11.CKA_NAME_HASH_ALGORITHM: kindUlong,

	p11.CKA_TOKEN: kindBool, p11.CKA_PRIVATE: kindBool, p11.CKA_MODIFIABLE: kindBool,
	p11.CKA_COPYABLE: kindBool, p11.CKA_DESTROYABLE: kindBool, p11.CKA_TRUSTED: kindBool,
	p11.CKA_SENSITIVE: kindBool, p11.CKA_ENCRYPT: kindBool, p11.CKA_DECRYPT: kindBool,
	p11.CKA_WRAP: kindBool, p11.CKA_UNWRAP: kindBool, p11.CKA_SIGN: kindBool,
	p11.CKA_SIGN_RECOVER: kindBool, p11.CKA_VERIFY: kindBool, p11.CKA_VERIFY_RECOVER: kindBool,
	p11.CKA_DERIVE: kindBool, p11.CKA_EXTRACTABLE: kindBool, p11.CKA_LOCAL: kindBool,
	p11.CKA_NEVER_EXTRACTABLE: kindBool, p11.CKA_ALWAYS_SENSITIVE: kindBool,
	p11.CKA_WRAP_WITH_TRUSTED: kindBool, p11.CKA_ALWAYS_AUTHENTICATE: kindBool,
	p11.CKA_RESET_ON_INIT: kindBool, p11.CKA_HAS_RESET: kindBool,

	p11.CKA_ALLOWED_MECHANISMS: kindUlongs,
}

func readUlong(p unsafe.Pointer) uint64 { return uint64(*(*C.CK_ULONG)(p)) }

// templateOf converts a C template into canonical attributes. Attribute arrays
// (CKA_WRAP_TEMPLATE and the like) are not supported by the nodes: CKR_ATTRIBUTE_TYPE_INVALID.
func templateOf(p C.CK_ATTRIBUTE_PTR, n C.CK_ULONG) ([]attr.Attribute, error) {
	if p == nil {
		if n > 0 {
			return nil, p11.Error(p11.CKR_ARGUMENTS_BAD)
		}
		return nil, nil
	}
	in := unsafe.Slice(p, int(n))
	out := make([]attr.Attribute, len(in))
	for i := range in {
		t, v, l := uint64(in[i]._type), in[i].pValue, in[i].ulValueLen
		if t > math.MaxUint32 || t&p11.CKF_ARRAY_ATTRIBUTE != 0 {
			return nil, p11.Errorf(p11.CKR_ATTRIBUTE_TYPE_INVALID, "attribute 0x%x", t)
		}
		if v == nil && l > 0 {
			return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s: NULL value", p11.AttrName(uint32(t)))
		}
		a := attr.Attribute{Type: uint32(t)}
		switch attrKinds[a.Type] {
		case kindUlong:
			if l != ulongSize {
				return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s: a CK_ULONG is %d bytes", p11.AttrName(a.Type), ulongSize)
			}
			a.Value = attr.Ulong(readUlong(v))
		case kindBool:
			if l != 1 {
				return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s: a CK_BBOOL is 1 byte", p11.AttrName(a.Type))
			}
			a.Value = attr.Bool(*(*C.CK_BBOOL)(v) != 0)
		case kindUlongs:
			if l%ulongSize != 0 {
				return nil, p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "%s: an array of CK_ULONG", p11.AttrName(a.Type))
			}
			a.Value = make([]byte, 0, l/ulongSize*8)
			for j := C.CK_ULONG(0); j < l/ulongSize; j++ {
				a.Value = binary.LittleEndian.AppendUint64(a.Value, readUlong(unsafe.Add(v, j*ulongSize)))
			}
		default:
			a.Value = goBytes(v, l)
		}
		out[i] = a
	}
	return out, nil
}

// cValue is a canonical value in the application's layout.
func cValue(t uint32, v []byte) []byte {
	ulong := func(x uint64) []byte {
		b := make([]byte, ulongSize)
		*(*C.CK_ULONG)(unsafe.Pointer(&b[0])) = C.CK_ULONG(x)
		return b
	}
	switch attrKinds[t] {
	case kindUlong:
		if len(v) == 8 {
			return ulong(binary.LittleEndian.Uint64(v))
		}
	case kindUlongs:
		if len(v)%8 == 0 {
			out := make([]byte, 0, len(v)/8*ulongSize)
			for i := 0; i < len(v); i += 8 {
				out = append(out, ulong(binary.LittleEndian.Uint64(v[i:]))...)
			}
			return out
		}
	}
	return v
}

// mechOf converts a CK_MECHANISM. ivOut is the GCM pIV buffer (C memory) for the profiles that
// write an HSM-generated IV back into it.
func mechOf(p C.CK_MECHANISM_PTR) (m ckm.Mechanism, ivOut []byte, err error) {
	if p == nil {
		return m, nil, p11.Error(p11.CKR_ARGUMENTS_BAD)
	}
	if uint64(p.mechanism) > math.MaxUint32 {
		return m, nil, p11.Error(p11.CKR_MECHANISM_INVALID)
	}
	m.Type = uint32(p.mechanism)
	prm, l := unsafe.Pointer(p.pParameter), p.ulParameterLen
	if prm == nil && l > 0 {
		return m, nil, p11.Error(p11.CKR_MECHANISM_PARAM_INVALID)
	}
	bad := func(what string) (ckm.Mechanism, []byte, error) {
		return m, nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "%s: %s", p11.MechName(m.Type), what)
	}
	u32 := func(v C.CK_ULONG) (uint32, bool) { return uint32(v), uint64(v) <= math.MaxUint32 }
	switch m.Type {
	case p11.CKM_AES_GCM, ckm.CKM_CLOUDHSM_AES_GCM:
		return gcmOf(m, prm, l)
	case p11.CKM_RSA_AES_KEY_WRAP:
		if l != C.sizeof_hsmsim_rsa_aes_key_wrap_params {
			return bad("want CK_RSA_AES_KEY_WRAP_PARAMS")
		}
		r := (*C.hsmsim_rsa_aes_key_wrap_params)(prm)
		bits, ok := u32(r.ulAESKeyBits)
		if !ok || r.pOAEPParams == nil {
			return bad("ulAESKeyBits or pOAEPParams")
		}
		o, err := oaepOf(r.pOAEPParams)
		if err != nil {
			return bad(err.Error())
		}
		m.Param = &ckm.RSAAESKeyWrapParams{AESKeyBits: bits, OAEP: *o}
	case ckm.CKM_SP800_108_COUNTER_KDF:
		kp, err := sp800108Of(prm, l)
		if err != nil {
			return bad(err.Error())
		}
		m.Param = kp
	case p11.CKM_AES_CTR:
		if l != C.sizeof_CK_AES_CTR_PARAMS {
			return bad("want CK_AES_CTR_PARAMS")
		}
		c := (*C.CK_AES_CTR_PARAMS)(prm)
		bits, ok := u32(c.ulCounterBits)
		if !ok {
			return bad("ulCounterBits")
		}
		m.Param = &ckm.CTRParams{CounterBits: bits, CB: goBytes(unsafe.Pointer(&c.cb[0]), 16)}
	case p11.CKM_RSA_PKCS_PSS, p11.CKM_SHA1_RSA_PKCS_PSS, p11.CKM_SHA224_RSA_PKCS_PSS,
		p11.CKM_SHA256_RSA_PKCS_PSS, p11.CKM_SHA384_RSA_PKCS_PSS, p11.CKM_SHA512_RSA_PKCS_PSS:
		if l != C.sizeof_CK_RSA_PKCS_PSS_PARAMS {
			return bad("want CK_RSA_PKCS_PSS_PARAMS")
		}
		s := (*C.CK_RSA_PKCS_PSS_PARAMS)(prm)
		h, ok1 := u32(s.hashAlg)
		g, ok2 := u32(s.mgf)
		sl, ok3 := u32(s.sLen)
		if !ok1 || !ok2 || !ok3 {
			return bad("value out of range")
		}
		m.Param = &ckm.PSSParams{Hash: h, MGF: g, SaltLen: sl}
	case p11.CKM_RSA_PKCS_OAEP:
		if l != C.sizeof_CK_RSA_PKCS_OAEP_PARAMS {
			return bad("want CK_RSA_PKCS_OAEP_PARAMS")
		}
		o, err := oaepOf((*C.CK_RSA_PKCS_OAEP_PARAMS)(prm))
		if err != nil {
			return bad(err.Error())
		}
		m.Param = o
	case p11.CKM_ECDH1_DERIVE, p11.CKM_ECDH1_COFACTOR_DERIVE:
		if l != C.sizeof_CK_ECDH1_DERIVE_PARAMS {
			return bad("want CK_ECDH1_DERIVE_PARAMS")
		}
		e := (*C.CK_ECDH1_DERIVE_PARAMS)(prm)
		kdf, ok := u32(e.kdf)
		if !ok {
			return bad("kdf")
		}
		sd, pd := unsafe.Pointer(e.pSharedData), unsafe.Pointer(e.pPublicData)
		if (sd == nil && e.ulSharedDataLen > 0) || (pd == nil && e.ulPublicDataLen > 0) {
			return bad("NULL data with a length")
		}
		m.Param = &ckm.ECDH1DeriveParams{KDF: kdf, SharedData: goBytes(sd, e.ulSharedDataLen), PublicData: goBytes(pd, e.ulPublicDataLen)}
	default:
		// An IV (CBC, CBC_PAD, the AES key wraps) or nothing; mechanisms without a parameter
		// ignore one.
		if l > 0 {
			m.Param = ckm.IV(goBytes(prm, l))
		}
	}
	return m, nil, nil
}

// gcmOf reads CK_GCM_PARAMS (or the v2.40 layout without ulIvBits). ivOut is the caller's pIV
// for the profiles that write an HSM-generated IV into it. CKM_CLOUDHSM_AES_GCM wants pIV NULL:
// its IV travels in front of the ciphertext, so a NULL pIV with a length is no IV at all.
func gcmOf(m ckm.Mechanism, prm unsafe.Pointer, l C.CK_ULONG) (ckm.Mechanism, []byte, error) {
	bad := func(what string) (ckm.Mechanism, []byte, error) {
		return m, nil, p11.Errorf(p11.CKR_MECHANISM_PARAM_INVALID, "%s: %s", p11.MechName(m.Type), what)
	}
	var iv, aad unsafe.Pointer
	var ivLen, aadLen, tagBits C.CK_ULONG
	switch l {
	case C.sizeof_CK_GCM_PARAMS:
		g := (*C.CK_GCM_PARAMS)(prm)
		iv, ivLen, aad, aadLen, tagBits = unsafe.Pointer(g.pIv), g.ulIvLen, unsafe.Pointer(g.pAAD), g.ulAADLen, g.ulTagBits
	case C.sizeof_hsmsim_gcm_params_v240:
		// Some applications still pass the layout without ulIvBits.
		g := (*C.hsmsim_gcm_params_v240)(prm)
		iv, ivLen, aad, aadLen, tagBits = unsafe.Pointer(g.pIv), g.ulIvLen, unsafe.Pointer(g.pAAD), g.ulAADLen, g.ulTagBits
	default:
		return bad("want CK_GCM_PARAMS")
	}
	if iv == nil && m.Type == ckm.CKM_CLOUDHSM_AES_GCM {
		ivLen = 0
	}
	if (iv == nil && ivLen > 0) || (aad == nil && aadLen > 0) {
		return bad("NULL pIv or pAAD with a length")
	}
	if uint64(tagBits) > math.MaxUint32 {
		return bad("ulTagBits")
	}
	m.Param = &ckm.GCMParams{IV: goBytes(iv, ivLen), AAD: goBytes(aad, aadLen), TagBits: uint32(tagBits)}
	return m, view(iv, ivLen), nil
}

// oaepOf reads CK_RSA_PKCS_OAEP_PARAMS (alone, or inside CK_RSA_AES_KEY_WRAP_PARAMS).
func oaepOf(o *C.CK_RSA_PKCS_OAEP_PARAMS) (*ckm.OAEPParams, error) {
	if uint64(o.hashAlg) > math.MaxUint32 || uint64(o.mgf) > math.MaxUint32 {
		return nil, errors.New("value out of range")
	}
	src, srcLen := unsafe.Pointer(o.pSourceData), o.ulSourceDataLen
	if (src == nil && srcLen > 0) || (srcLen > 0 && o.source != p11.CKZ_DATA_SPECIFIED) {
		return nil, errors.New("source must be CKZ_DATA_SPECIFIED with its data")
	}
	return &ckm.OAEPParams{Hash: uint32(o.hashAlg), MGF: uint32(o.mgf), Source: goBytes(src, srcLen)}, nil
}

// The data parameter types of CloudHSM's CK_SP800_108_KDF_PARAMS (cloudhsm_pkcs11_vendor_defs.h).
const (
	sp800108CounterFormat = 0x4 // CK_SP800_108_COUNTER_FORMAT {ulWidthInBits}
	sp800108Label         = 0x5
	sp800108Context       = 0x6
	sp800108DKMFormat     = 0x7 // CK_SP800_108_DKM_LENGTH_FORMAT {dkmLengthMethod, ulWidthInBits}
)

// sp800108Of reads CloudHSM's CK_SP800_108_KDF_PARAMS: a counter format and a DKM format are
// required, a label and a context optional, each at most once. SP800_108_BYTE_ARRAY is refused:
// AWS documents no place for it in the KDF's input (its sample builds Counter || Label || 0x00
// || Context || L from the four others).
func sp800108Of(prm unsafe.Pointer, l C.CK_ULONG) (*ckm.SP800108Params, error) {
	if l != C.sizeof_hsmsim_sp800_108_kdf_params {
		return nil, errors.New("want CK_SP800_108_KDF_PARAMS")
	}
	kp := (*C.hsmsim_sp800_108_kdf_params)(prm)
	if uint64(kp.prftype) > math.MaxUint32 || kp.ulNumberOfDataParams > 16 || (kp.pDataParams == nil && kp.ulNumberOfDataParams > 0) {
		return nil, errors.New("prftype or data parameters")
	}
	out := &ckm.SP800108Params{PRF: uint32(kp.prftype)}
	seen := map[C.CK_ULONG]bool{}
	for _, d := range unsafe.Slice(kp.pDataParams, int(kp.ulNumberOfDataParams)) {
		if seen[d._type] {
			return nil, fmt.Errorf("data parameter %#x given twice", uint64(d._type))
		}
		seen[d._type] = true
		if d.pValue == nil && d.ulValueLen > 0 {
			return nil, errors.New("NULL data parameter with a length")
		}
		width := func(off, size uintptr) (uint32, bool) {
			if uintptr(d.ulValueLen) != size {
				return 0, false
			}
			v := readUlong(unsafe.Add(unsafe.Pointer(d.pValue), off))
			return uint32(v), v <= math.MaxUint32
		}
		var ok1, ok2 bool
		switch d._type {
		case sp800108CounterFormat:
			out.CounterBits, ok1 = width(0, ulongSize)
			ok2 = true
		case sp800108DKMFormat:
			out.DKMMethod, ok1 = width(0, 2*ulongSize)
			out.DKMBits, ok2 = width(ulongSize, 2*ulongSize)
		case sp800108Label:
			out.Label, ok1, ok2 = goBytes(unsafe.Pointer(d.pValue), d.ulValueLen), true, true
		case sp800108Context:
			out.Context, ok1, ok2 = goBytes(unsafe.Pointer(d.pValue), d.ulValueLen), true, true
		default:
			return nil, fmt.Errorf("data parameter type %#x not supported", uint64(d._type))
		}
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("data parameter %#x has the wrong size", uint64(d._type))
		}
	}
	if !seen[sp800108CounterFormat] || !seen[sp800108DKMFormat] {
		return nil, errors.New("the counter format and the DKM format are required")
	}
	return out, nil
}

// pad fills a blank-padded PKCS#11 string field.
func pad(dst []C.CK_UTF8CHAR, s string) {
	for i := range dst {
		dst[i] = ' '
	}
	for i := 0; i < len(s) && i < len(dst); i++ {
		dst[i] = C.CK_UTF8CHAR(s[i])
	}
}

func version(major, minor int) C.CK_VERSION {
	return C.CK_VERSION{major: C.CK_BYTE(major), minor: C.CK_BYTE(minor)}
}
