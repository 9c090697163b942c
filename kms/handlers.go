package kms

// kmsHandlers is every TrentService operation hsmsim implements. An operation of the model that is
// not here (imported key material, multi-Region keys, external key stores, key agreement,
// GenerateDataKeyPair, Sign/Verify on asymmetric keys) is validated and then answered with
// UnsupportedOperationException.
var kmsHandlers = map[string]handler{
	"CreateKey":            op(createKey),
	"DescribeKey":          op(describeKey),
	"ListKeys":             op(listKeys),
	"EnableKey":            op(enableKey),
	"DisableKey":           op(disableKey),
	"ScheduleKeyDeletion":  op(scheduleKeyDeletion),
	"CancelKeyDeletion":    op(cancelKeyDeletion),
	"UpdateKeyDescription": op(updateKeyDescription),
	"TagResource":          op(tagResource),
	"UntagResource":        op(untagResource),
	"ListResourceTags":     op(listResourceTags),
	"GetKeyPolicy":         op(getKeyPolicy),
	"PutKeyPolicy":         op(putKeyPolicy),
	"ListKeyPolicies":      op(listKeyPolicies),
	"EnableKeyRotation":    op(enableKeyRotation),
	"DisableKeyRotation":   op(disableKeyRotation),
	"GetKeyRotationStatus": op(getKeyRotationStatus),
	"RotateKeyOnDemand":    op(rotateKeyOnDemand),
	"ListKeyRotations":     op(listKeyRotations),

	"CreateAlias": op(createAlias),
	"UpdateAlias": op(updateAlias),
	"DeleteAlias": op(deleteAlias),
	"ListAliases": op(listAliases),

	"Encrypt":                         op(encryptOp),
	"Decrypt":                         op(decryptOp),
	"ReEncrypt":                       op(reEncryptOp),
	"GenerateDataKey":                 op(generateDataKey),
	"GenerateDataKeyWithoutPlaintext": op(generateDataKeyWithoutPlaintext),
	"GenerateRandom":                  op(generateRandom),
	"GenerateMac":                     op(generateMac),
	"VerifyMac":                       op(verifyMac),

	"CreateGrant":         op(createGrant),
	"ListGrants":          op(listGrants),
	"ListRetirableGrants": op(listRetirableGrants),
	"RetireGrant":         op(retireGrant),
	"RevokeGrant":         op(revokeGrant),

	"CreateCustomKeyStore":     op(createCustomKeyStore),
	"DescribeCustomKeyStores":  op(describeCustomKeyStores),
	"UpdateCustomKeyStore":     op(updateCustomKeyStore),
	"DeleteCustomKeyStore":     op(deleteCustomKeyStore),
	"ConnectCustomKeyStore":    op(connectCustomKeyStore),
	"DisconnectCustomKeyStore": op(disconnectCustomKeyStore),
}
