package grant

import (
	"slices"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/keyspec"
)

// byUsage are the operations a grant may allow, by the key usage that can do them (CreateGrant's
// Operations in the KMS API Reference); every key allows the management ones. An asymmetric
// encryption key does what a symmetric one does but the data key operations, and has a public
// key (Grantable).
var byUsage = map[string][]string{
	keyspec.EncryptDecrypt: {"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
		"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"},
	keyspec.SignVerify:        {"Sign", "Verify", "GetPublicKey"},
	keyspec.GenerateVerifyMAC: {"GenerateMac", "VerifyMac"},
	keyspec.KeyAgreement:      {"DeriveSharedSecret", "GetPublicKey"},
}

var management = []string{"CreateGrant", "RetireGrant", "DescribeKey"}

var asymmetricEncrypt = []string{"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"}

// Grantable are the operations a grant on a key of spec and usage may allow besides the
// management ones (CreateGrant, RetireGrant, DescribeKey).
func Grantable(spec, usage string) []string {
	if usage == keyspec.EncryptDecrypt && spec != keyspec.Symmetric {
		return asymmetricEncrypt
	}
	return byUsage[usage]
}

// CheckOperations refuses operations the key keyARN, of spec and usage, cannot do, and
// encryption context constraints on a key whose operations take no encryption context
// (asymmetric and HMAC keys).
func CheckOperations(keyARN, spec, usage string, ops []string, constrained bool) *awsapi.Error {
	for _, op := range ops {
		if !slices.Contains(Grantable(spec, usage), op) && !slices.Contains(management, op) {
			return awsapi.NewError(awsapi.ValidationException, "Grant operation %s is not valid for KMS key %s with KeyUsage %s.", op, keyARN, usage)
		}
	}
	if constrained && spec != keyspec.Symmetric {
		return awsapi.NewError(awsapi.ValidationException, "Grant constraints are not supported for KMS key %s with KeySpec %s: its operations take no encryption context.", keyARN, spec)
	}
	return nil
}
