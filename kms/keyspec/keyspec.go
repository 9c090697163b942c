// Package keyspec is what each KMS key spec can do: the table of key specs, the key usages each
// allows and the algorithms of each usage, key-pair generation for the asymmetric specs (PKCS#8
// private keys, DER SubjectPublicKeyInfo public keys), and the primitives the KMS operations run
// with them: signing and verification, RSAES-OAEP encryption and decryption, and ECDH.
//
// The table follows AWS's "Key spec reference" and "Asymmetric key specs" pages of the KMS
// Developer Guide and the CreateKey KeySpec/KeyUsage documentation of the KMS API model:
// https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html
// https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html
//
// Refusals are *awsapi.Error values carrying the exception KMS answers, so that the handlers
// return them as they are.
package keyspec

import (
	"slices"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Key usages (KeyUsageType).
const (
	EncryptDecrypt    = "ENCRYPT_DECRYPT"
	SignVerify        = "SIGN_VERIFY"
	GenerateVerifyMAC = "GENERATE_VERIFY_MAC"
	KeyAgreement      = "KEY_AGREEMENT"
)

// Symmetric is the default key spec and its only encryption algorithm.
const Symmetric = "SYMMETRIC_DEFAULT"

// ECDH is the only key agreement algorithm.
const ECDH = "ECDH"

// AWS exception names this package answers with.
const (
	errInvalidKeyUsage   = "InvalidKeyUsageException"
	errUnsupported       = "UnsupportedOperationException"
	errInvalidCiphertext = "InvalidCiphertextException"
)

var (
	rsaSign    = []string{"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512"}
	rsaEncrypt = []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}
	agreement  = []string{ECDH}
)

// specs maps each key spec hsmsim offers to its key usages and their algorithms. SM2 (China
// Regions only) and ML_DSA_* are not here: see Check.
var specs = map[string]map[string][]string{
	Symmetric:               {EncryptDecrypt: {Symmetric}},
	"RSA_2048":              {EncryptDecrypt: rsaEncrypt, SignVerify: rsaSign},
	"RSA_3072":              {EncryptDecrypt: rsaEncrypt, SignVerify: rsaSign},
	"RSA_4096":              {EncryptDecrypt: rsaEncrypt, SignVerify: rsaSign},
	"ECC_NIST_P256":         {SignVerify: {"ECDSA_SHA_256"}, KeyAgreement: agreement},
	"ECC_NIST_P384":         {SignVerify: {"ECDSA_SHA_384"}, KeyAgreement: agreement},
	"ECC_NIST_P521":         {SignVerify: {"ECDSA_SHA_512"}, KeyAgreement: agreement},
	"ECC_SECG_P256K1":       {SignVerify: {"ECDSA_SHA_256"}},
	"ECC_NIST_EDWARDS25519": {SignVerify: {"ED25519_SHA_512", "ED25519_PH_SHA_512"}},
	"HMAC_224":              {GenerateVerifyMAC: {"HMAC_SHA_224"}},
	"HMAC_256":              {GenerateVerifyMAC: {"HMAC_SHA_256"}},
	"HMAC_384":              {GenerateVerifyMAC: {"HMAC_SHA_384"}},
	"HMAC_512":              {GenerateVerifyMAC: {"HMAC_SHA_512"}},
}

// Algorithms lists the algorithms a key of spec and usage offers (nil when it offers none).
func Algorithms(spec, usage string) []string { return specs[spec][usage] }

// HMAC reports whether spec is an HMAC key (HMAC_224 ... HMAC_512).
func HMAC(spec string) bool { return strings.HasPrefix(spec, "HMAC_") }

// Asymmetric reports whether spec is a key pair.
func Asymmetric(spec string) bool { return spec != Symmetric && !HMAC(spec) && specs[spec] != nil }

// Type is the kind of key a spec makes, as KMS compares keys (UpdateAlias moves an alias only
// between keys of the same type and usage): symmetric, HMAC or asymmetric.
func Type(spec string) string {
	switch {
	case spec == Symmetric:
		return "symmetric"
	case HMAC(spec):
		return "HMAC"
	}
	return "asymmetric"
}

// Check accepts the (KeySpec, KeyUsage) pairs a key can be created with. SM2 is offered in
// China Regions only; elsewhere KMS answers UnsupportedOperationException "KeySpec SM2 is not
// supported in this Region" (as measured against us-east-1 and reported in
// https://github.com/floci-io/floci/issues/3026). Specs hsmsim does not implement (ML_DSA_*)
// answer UnsupportedOperationException too.
func Check(spec, usage string) *awsapi.Error {
	if spec == "SM2" {
		return awsapi.NewError(errUnsupported, "KeySpec SM2 is not supported in this Region")
	}
	usages, ok := specs[spec]
	if !ok {
		return awsapi.NewError(errUnsupported, "hsmsim does not support KeySpec %s.", spec)
	}
	if usages[usage] == nil {
		return awsapi.NewError(awsapi.ValidationException, "KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	return nil
}

// CheckAlgorithm refuses an algorithm that a key of spec and usage does not offer, with the
// InvalidKeyUsageException KMS answers ("Algorithm SYMMETRIC_DEFAULT is incompatible with key
// spec RSA_4096.", as KMS words it).
func CheckAlgorithm(spec, usage, alg string) *awsapi.Error {
	if !slices.Contains(specs[spec][usage], alg) {
		return awsapi.NewError(errInvalidKeyUsage, "Algorithm %s is incompatible with key spec %s.", alg, spec)
	}
	return nil
}
