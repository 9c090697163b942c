// Package ckm is the vocabulary of a PKCS#11 mechanism as hsmsim's Go code passes it around:
// CK_MECHANISM as a Mechanism (a CKM_* type and its decoded parameter) and the parameter
// structures of the mechanisms the node implements. It is the Go client's API for naming a
// mechanism, and what the wire package, the node's crypto engine (hsmd/mech), the PKCS#11
// module, the KMS and the scenarios all speak, so none of them needs the engine to say which
// mechanism it wants.
//
// The package holds values only and imports nothing: no validation, no crypto, no wire form.
// Whether a parameter fits its mechanism is the engine's to judge (CKR_MECHANISM_PARAM_INVALID);
// the wire form is hsmd/hsmpb's. It is named after the spec's CKM_ prefix, short at call sites
// (ckm.Mechanism, ckm.GCMParams), and free of the local names (m, mech) the callers use.
package ckm

// Mechanism is a CK_MECHANISM: a type and its decoded parameter, one of nil, IV ([]byte, for
// CBC/CBC_PAD and the AES key-wrap IV), *GCMParams, *CTRParams, *PSSParams, *OAEPParams,
// *ECDH1DeriveParams, *RSAAESKeyWrapParams, *SP800108Params. A parameter of the wrong kind is
// CKR_MECHANISM_PARAM_INVALID.
type Mechanism struct {
	Type  uint32
	Param any
}

// IV is the parameter of CKM_AES_CBC, CKM_AES_CBC_PAD and the AES key wraps.
type IV []byte

// GCMParams is CK_GCM_PARAMS. An empty IV on encrypt asks the HSM to generate one (12 bytes),
// which Encrypt returns in its result mechanism, as CloudHSM writes it back to the caller.
type GCMParams struct {
	IV      []byte
	AAD     []byte
	TagBits uint32
}

// CTRParams is CK_AES_CTR_PARAMS.
type CTRParams struct {
	CounterBits uint32
	CB          []byte // 16-byte initial counter block
}

// PSSParams is CK_RSA_PKCS_PSS_PARAMS.
type PSSParams struct {
	Hash    uint32 // CKM_SHA256, ...
	MGF     uint32 // CKG_MGF1_SHA256, ...
	SaltLen uint32
}

// OAEPParams is CK_RSA_PKCS_OAEP_PARAMS.
type OAEPParams struct {
	Hash   uint32
	MGF    uint32
	Source []byte // CKZ_DATA_SPECIFIED label, may be empty
}

// ECDH1DeriveParams is CK_ECDH1_DERIVE_PARAMS.
type ECDH1DeriveParams struct {
	KDF        uint32 // CKD_NULL, CKD_SHA256_KDF, ...
	SharedData []byte
	PublicData []byte // the peer's EC point (DER OCTET STRING or raw uncompressed point)
}

// RSAAESKeyWrapParams is CK_RSA_AES_KEY_WRAP_PARAMS (PKCS#11 v2.40 §2.1.21): the size of the
// temporary AES key and the OAEP parameters that wrap it.
type RSAAESKeyWrapParams struct {
	AESKeyBits uint32
	OAEP       OAEPParams
}

// SP800108Params is the parameter of CloudHSM's CKM_SP800_108_COUNTER_KDF, decoded from its
// CK_SP800_108_KDF_PARAMS (a PRF and a list of typed data parameters) into the fields the
// counter-mode KDF uses: K(i) = PRF(KI, [i] || Label || 0x00 || Context || [L]).
type SP800108Params struct {
	PRF         uint32 // CKM_SHA_1_HMAC ... CKM_SHA512_HMAC
	CounterBits uint32 // width of [i]: CK_SP800_108_COUNTER_FORMAT.ulWidthInBits
	DKMMethod   uint32 // how L is counted: SP800108DKMSumOfKeys or SP800108DKMSumOfSegments
	DKMBits     uint32 // width of [L]: CK_SP800_108_DKM_LENGTH_FORMAT.ulWidthInBits
	Label       []byte
	Context     []byte
}

// CloudHSM's vendor-defined mechanisms, numbered as its cloudhsm_pkcs11_vendor_defs.h numbers
// them (CKM_VENDOR_DEFINED, 0x80000000, or'ed with a standard number or a private one). The
// module offers them in profile cloudhsm only; hsmsim's docs/PKCS11.md describes each.
const (
	CKM_CLOUDHSM_AES_GCM                = 0x80000000 | 0x1087 // | CKM_AES_GCM
	CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD    = 0x80000000 | 0x2109 // | CKM_AES_KEY_WRAP
	CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD = 0x80000000 | 0x210A // | CKM_AES_KEY_WRAP_PAD
	CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD  = 0x80000000 | 0x216F
	CKM_SP800_108_COUNTER_KDF           = 0x80000000 | 0x1
)

// The dkmLengthMethod values of CloudHSM's CK_SP800_108_DKM_LENGTH_FORMAT.
const (
	SP800108DKMSumOfKeys     = 1 // L is the length of the derived key
	SP800108DKMSumOfSegments = 2 // L is the length of all PRF outputs computed for it
)

// VendorMechanisms names CloudHSM's vendor-defined mechanisms, the ones only profile cloudhsm
// offers.
var VendorMechanisms = map[uint32]string{
	CKM_CLOUDHSM_AES_GCM:                "CKM_CLOUDHSM_AES_GCM",
	CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD:    "CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD",
	CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD: "CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD",
	CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD:  "CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD",
	CKM_SP800_108_COUNTER_KDF:           "CKM_SP800_108_COUNTER_KDF",
}
