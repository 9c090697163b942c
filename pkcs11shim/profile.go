package pkcs11shim

import (
	"math/big"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// The cloudhsm profile's mechanism rules, from AWS's "Supported mechanisms for the PKCS #11
// library for AWS CloudHSM Client SDK 5" and "Known issues for the PKCS #11 library". The nodes
// know every mechanism; which ones an application may use, with how much data and in how many
// parts, is the module's (the client library's) business, as it is CloudHSM's.

// offers answers CKR_MECHANISM_INVALID for a mechanism the profile does not have: CloudHSM's
// vendor-defined mechanisms exist only in profile cloudhsm (standard has no vendor mechanisms),
// and the standard mechanisms of cloudHSMLacks only in profile standard.
func (m *module) offers(t uint32) error {
	if _, vendor := ckm.VendorMechanisms[t]; vendor && !m.cloudHSM() {
		return p11.Errorf(p11.CKR_MECHANISM_INVALID, "%s is CloudHSM's vendor mechanism (profile cloudhsm)", ckm.VendorMechanisms[t])
	}
	if instead, lacks := cloudHSMLacks[t]; lacks && m.cloudHSM() {
		return p11.Errorf(p11.CKR_MECHANISM_INVALID, "profile cloudhsm: Client SDK 5 has no %s%s", p11.MechName(t), instead)
	}
	return nil
}

// cloudHSMLacks are the standard mechanisms the nodes have and Client SDK 5's list does not:
// SDK 5 replaced CKM_AES_KEY_WRAP and CKM_AES_KEY_WRAP_PAD by its vendor wraps (AWS's SDK 3 to
// SDK 5 migration notes), and lists no cofactor ECDH. The value is a hint for the log.
var cloudHSMLacks = map[uint32]string{
	p11.CKM_AES_KEY_WRAP:          " (its AES key wraps are CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD, _PKCS5_PAD and _ZERO_PAD)",
	p11.CKM_AES_KEY_WRAP_PAD:      " (its AES key wraps are CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD, _PKCS5_PAD and _ZERO_PAD)",
	p11.CKM_ECDH1_COFACTOR_DERIVE: " (use CKM_ECDH1_DERIVE)",
	// AWS-mech and AWS "Supported key types" list no EdDSA and no Edwards curve.
	p11.CKM_EC_EDWARDS_KEY_PAIR_GEN: " (no Edwards-curve keys: AWS lists RSA, EC, AES, DES3 and generic secrets)",
	p11.CKM_EDDSA:                   " (no EdDSA)",
	// Single DES is in no AWS list (AWS-mech lists DES3 only, key type CKK_DES3).
	p11.CKM_DES_KEY_GEN: noSingleDES, p11.CKM_DES_ECB: noSingleDES, p11.CKM_DES_CBC: noSingleDES, p11.CKM_DES_CBC_PAD: noSingleDES,
}

const noSingleDES = " (no single DES: AWS lists DES3 only)"

// cloudHSMMaxData is AWS's "Maximum data size for each mechanism": the most data (plaintext, or
// data to MAC) one operation takes, all of it processed inside the HSM. Past it the module
// answers CKR_DATA_LEN_RANGE, or CKR_ENCRYPTED_DATA_LEN_RANGE for a decryption, whose input may
// be longer by the IV and tag the mechanism adds (AWS says only that the operation fails; these
// are the spec's codes for input of a bad length).
var cloudHSMMaxData = map[uint32]int{
	p11.CKM_SHA_1_HMAC:       16288,
	p11.CKM_SHA224_HMAC:      16256,
	p11.CKM_SHA256_HMAC:      16288,
	p11.CKM_SHA384_HMAC:      16224,
	p11.CKM_SHA512_HMAC:      16224,
	p11.CKM_AES_CBC:          16272,
	p11.CKM_DES3_CBC:         16280,
	p11.CKM_AES_GCM:          16224,
	ckm.CKM_CLOUDHSM_AES_GCM: 16224,
}

// decryptOverhead is what a decryption's input carries beyond the plaintext: GCM's tag, and
// the vendor GCM's IV in front of it.
func decryptOverhead(mc ckm.Mechanism) int {
	tag := 0
	if g, ok := mc.Param.(*ckm.GCMParams); ok {
		tag = int(g.TagBits / 8)
	}
	switch mc.Type {
	case p11.CKM_AES_GCM:
		return tag
	case ckm.CKM_CLOUDHSM_AES_GCM:
		return 12 + tag
	}
	return 0
}

// checkDataLimit applies cloudHSMMaxData in profile cloudhsm.
func (m *module) checkDataLimit(k opKind, mc ckm.Mechanism, n int) error {
	limit, ok := cloudHSMMaxData[mc.Type]
	if !ok || !m.cloudHSM() {
		return nil
	}
	if k == opDecrypt {
		limit += decryptOverhead(mc)
	}
	if n > limit {
		return p11.Errorf(lenRange(k), "profile cloudhsm: %s takes at most %d bytes, not %d", p11.MechName(mc.Type), limit, n)
	}
	return nil
}

// cloudHSMSinglePart are the mechanisms AWS marks "single-part operations only", and AES-GCM,
// whose multi-part use AWS's known issue refuses. In profile cloudhsm their C_*Update and
// C_*Final end the operation with CKR_MECHANISM_INVALID, the code that known issue gives ("We
// return CKR_MECHANISM_INVALID for the C_EncryptUpdate and C_DecryptUpdate API operations").
var cloudHSMSinglePart = map[uint32]bool{
	p11.CKM_RSA_PKCS: true, p11.CKM_RSA_PKCS_PSS: true, p11.CKM_RSA_PKCS_OAEP: true, p11.CKM_ECDSA: true,
	p11.CKM_AES_GCM: true, ckm.CKM_CLOUDHSM_AES_GCM: true,
}

// specSinglePart are the mechanisms of the nodes that PKCS #11 v2.40 gives single-part
// operations only (Current Mechanisms, "Mechanisms vs. Functions" tables, footnote 2, and the
// mechanisms' own sections: §2.1.6 "PKCS #1 v1.5 RSA", §2.1.8 "PKCS #1 RSA OAEP", §2.1.10
// "PKCS #1 RSA PSS", §2.1.12 "X.509 (raw) RSA", §2.3.6 "ECDSA without hashing"). In profile standard their C_*Update and C_*Final end the operation with
// CKR_OPERATION_NOT_INITIALIZED: the spec names no code for the case, and of the codes it lists
// for those functions (base spec §5.8-5.12) that one says what is so, no multi-part operation is
// active. SoftHSM answers the same for sign and verify.
var specSinglePart = map[uint32]bool{
	p11.CKM_RSA_PKCS: true, p11.CKM_RSA_X_509: true, p11.CKM_RSA_PKCS_OAEP: true, p11.CKM_RSA_PKCS_PSS: true, p11.CKM_ECDSA: true,
}

// multiPart answers whether mechanism t may take C_*Update and C_*Final in this profile, or
// the code that ends the operation.
func (m *module) multiPart(t uint32) error {
	switch {
	case m.cloudHSM() && cloudHSMSinglePart[t]:
		return p11.Errorf(p11.CKR_MECHANISM_INVALID, "profile cloudhsm: %s is single-part only", p11.MechName(t))
	case !m.cloudHSM() && specSinglePart[t]:
		return p11.Errorf(p11.CKR_OPERATION_NOT_INITIALIZED, "%s has single-part operations only (PKCS #11 v2.40)", p11.MechName(t))
	}
	return nil
}

// cloudHSMMinRSABits is CloudHSM's smallest RSA key (AWS "Supported key types for the PKCS #11
// library": "Generate 2048-bit to 4096-bit RSA keys, in increments of 256 bits"). The nodes take
// RSA from 1024 bits, as profile standard does (PKCS #11 sets no minimum).
const cloudHSMMinRSABits = 2048

// rsaMechanisms are the nodes' mechanisms whose key sizes are RSA modulus bits.
var rsaMechanisms = map[uint32]bool{
	p11.CKM_RSA_PKCS_KEY_PAIR_GEN: true, p11.CKM_RSA_X9_31_KEY_PAIR_GEN: true, p11.CKM_RSA_PKCS: true,
	p11.CKM_RSA_X_509: true, p11.CKM_RSA_PKCS_OAEP: true, p11.CKM_RSA_PKCS_PSS: true, p11.CKM_RSA_AES_KEY_WRAP: true,
	p11.CKM_SHA1_RSA_PKCS: true, p11.CKM_SHA224_RSA_PKCS: true, p11.CKM_SHA256_RSA_PKCS: true, p11.CKM_SHA384_RSA_PKCS: true,
	p11.CKM_SHA512_RSA_PKCS: true, p11.CKM_SHA1_RSA_PKCS_PSS: true, p11.CKM_SHA224_RSA_PKCS_PSS: true,
	p11.CKM_SHA256_RSA_PKCS_PSS: true, p11.CKM_SHA384_RSA_PKCS_PSS: true, p11.CKM_SHA512_RSA_PKCS_PSS: true,
}

// minKeySize is C_GetMechanismInfo's ulMinKeySize in this profile: the node's, raised to
// CloudHSM's RSA floor in profile cloudhsm.
func (m *module) minKeySize(t uint32, node uint64) uint64 {
	if m.cloudHSM() && rsaMechanisms[t] {
		return max(node, cloudHSMMinRSABits)
	}
	return node
}

// checkRSAGenerate refuses, in profile cloudhsm, a key-pair generation asking for fewer
// CKA_MODULUS_BITS than CloudHSM's floor: CKR_KEY_SIZE_RANGE, the code the nodes give a size
// outside their range.
func (m *module) checkRSAGenerate(mech uint32, pub []attr.Attribute) error {
	if !m.cloudHSM() || !rsaMechanisms[mech] {
		return nil
	}
	if bits, ok := attr.FromList(pub).Ulong(p11.CKA_MODULUS_BITS); ok && bits < cloudHSMMinRSABits {
		return p11.Errorf(p11.CKR_KEY_SIZE_RANGE, "profile cloudhsm: RSA keys are %d to 4096 bits, not %d", cloudHSMMinRSABits, bits)
	}
	return nil
}

// checkImport refuses, in profile cloudhsm, a C_CreateObject, C_UnwrapKey or C_DeriveKey of a
// key CloudHSM cannot hold (AWS "Supported key types"): an RSA key whose CKA_MODULUS is below
// its floor, or a key type it does not list (Edwards-curve keys, single DES). Both are
// CKR_ATTRIBUTE_VALUE_INVALID, a value (of CKA_MODULUS, of CKA_KEY_TYPE) this token cannot take.
func (m *module) checkImport(tmpl []attr.Attribute) error {
	if !m.cloudHSM() {
		return nil
	}
	t := attr.FromList(tmpl)
	switch kt, _ := t.Ulong(p11.CKA_KEY_TYPE); kt {
	case p11.CKK_RSA:
		if n := new(big.Int).SetBytes(t[p11.CKA_MODULUS]).BitLen(); n > 0 && n < cloudHSMMinRSABits {
			return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "profile cloudhsm: an RSA modulus of %d bits is below %d", n, cloudHSMMinRSABits)
		}
	case p11.CKK_EC_EDWARDS:
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "profile cloudhsm: CloudHSM has no Edwards-curve keys")
	case p11.CKK_DES:
		return p11.Errorf(p11.CKR_ATTRIBUTE_VALUE_INVALID, "profile cloudhsm: CloudHSM has no single-DES keys")
	}
	return nil
}

// secretKeyDefaults is a template for a new key in this profile. The nodes give a secret key
// the spec's CKA_SENSITIVE default, false (PKCS #11 v2.40 base §4.10: "CK_TRUE if object is
// sensitive (default CK_FALSE)"), which profile standard keeps. CloudHSM's default is true
// (AWS "PKCS #11 library attributes tables for AWS CloudHSM Client SDK 5": CKA_SENSITIVE,
// default value True), so in profile cloudhsm a template for a secret key that does not say
// gets CKA_SENSITIVE true; the node then records CKA_ALWAYS_SENSITIVE as it does for a key
// asked to be sensitive. secret says the call makes a secret key whatever the template's class
// (C_GenerateKey); otherwise the template's CKA_CLASS tells, and a template without one gets
// nothing added (the node's CKR_TEMPLATE_INCOMPLETE stands).
func (m *module) secretKeyDefaults(tmpl []attr.Attribute, secret bool) []attr.Attribute {
	if !m.cloudHSM() {
		return tmpl
	}
	t := attr.FromList(tmpl)
	if _, given := t[p11.CKA_SENSITIVE]; given {
		return tmpl
	}
	if class, ok := t.Ulong(p11.CKA_CLASS); !secret && (!ok || class != p11.CKO_SECRET_KEY) {
		return tmpl
	}
	return append(tmpl[:len(tmpl):len(tmpl)], attr.Attribute{Type: p11.CKA_SENSITIVE, Value: attr.Bool(true)})
}

// cloudHSMWraps is AWS-mech's "Wrap and Unwrap functions" list. The nodes also wrap with the
// block modes, as the spec's tables give them (AES and DES3 ECB, CBC, CBC_PAD); Client SDK 5
// does not, so in profile cloudhsm C_WrapKey and C_UnwrapKey refuse every other mechanism with
// CKR_MECHANISM_INVALID, and C_GetMechanismInfo leaves out their CKF_WRAP and CKF_UNWRAP.
var cloudHSMWraps = map[uint32]bool{
	p11.CKM_RSA_PKCS: true, p11.CKM_RSA_PKCS_OAEP: true, p11.CKM_AES_GCM: true, p11.CKM_RSA_AES_KEY_WRAP: true,
	ckm.CKM_CLOUDHSM_AES_GCM: true, ckm.CKM_CLOUDHSM_AES_KEY_WRAP_NO_PAD: true,
	ckm.CKM_CLOUDHSM_AES_KEY_WRAP_PKCS5_PAD: true, ckm.CKM_CLOUDHSM_AES_KEY_WRAP_ZERO_PAD: true,
}

// wraps answers CKR_MECHANISM_INVALID for a mechanism the profile does not wrap with.
func (m *module) wraps(t uint32) error {
	if err := m.offers(t); err != nil {
		return err
	}
	if m.cloudHSM() && !cloudHSMWraps[t] {
		return p11.Errorf(p11.CKR_MECHANISM_INVALID, "profile cloudhsm: Client SDK 5 does not wrap with %s", p11.MechName(t))
	}
	return nil
}

// mechanismFlags is C_GetMechanismInfo's flags in this profile: the node's, less wrapping where
// the profile does not wrap with the mechanism.
func (m *module) mechanismFlags(t uint32, node uint64) uint64 {
	if m.cloudHSM() && !cloudHSMWraps[t] {
		return node &^ (p11.CKF_WRAP | p11.CKF_UNWRAP)
	}
	return node
}
