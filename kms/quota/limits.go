package quota

// Limits are the request quotas, in requests per second.
type Limits struct {
	// Symmetric, RSA and ECC are the shared quotas of the cryptographic operations, by the type
	// of the key used (HMAC keys count as symmetric: GenerateMac and VerifyMac are listed under
	// the symmetric quota).
	Symmetric, RSA, ECC float64
	// CustomKeyStore is each AWS CloudHSM key store's quota, in units (cryptoOps).
	CustomKeyStore float64
	// KeyPairs is GenerateDataKeyPair(+WithoutPlaintext)'s quota by KeyPairSpec.
	KeyPairs map[string]float64
	// Operations are the other operations' own rates; an operation in none of these lists is
	// not limited.
	Operations map[string]float64
}

func (l Limits) crypto(class string) float64 {
	switch class {
	case classRSA:
		return l.RSA
	case classECC:
		return l.ECC
	}
	return l.Symmetric
}

// AWS is the default quotas of us-east-1, from the "Request quotas" page of the AWS KMS
// Developer Guide (https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html).
// The current page's figures, where the stored copies show them: RSA and ECC 1,000 each, the
// custom key store 1,800 (not adjustable), CreateKey 5, CreateGrant 50, DescribeKey 2,000,
// PutKeyPolicy 15, ListKeys 500, ScheduleKeyDeletion 15, the custom key store operations 5
// each, GenerateDataKeyPair RSA_2048 1 and RSA_4096 0.1. The symmetric quota of us-east-1 is
// the 2023 page's 50,000 (the current page's Region list did not render in the stored copy),
// and the other operations' rates are the page as published in awsdocs/aws-kms-developer-guide
// (doc_source/requests-per-second.md, its last revision). docs/CAPACITY.md has the table.
var AWS = Limits{
	Symmetric:      50000,
	RSA:            1000,
	ECC:            1000,
	CustomKeyStore: 1800,
	KeyPairs: map[string]float64{
		"RSA_2048": 1, "RSA_3072": 0.5, "RSA_4096": 0.1,
		"ECC_NIST_P256": 25, "ECC_NIST_P384": 10, "ECC_NIST_P521": 5, "ECC_SECG_P256K1": 25,
	},
	Operations: map[string]float64{
		"CancelKeyDeletion": 5, "ConnectCustomKeyStore": 5, "CreateAlias": 5, "CreateCustomKeyStore": 5,
		"CreateGrant": 50, "CreateKey": 5, "DeleteAlias": 5, "DeleteCustomKeyStore": 5,
		"DeleteImportedKeyMaterial": 5, "DescribeCustomKeyStores": 5, "DescribeKey": 2000,
		"DisableKey": 5, "DisableKeyRotation": 5, "DisconnectCustomKeyStore": 5, "EnableKey": 5,
		"EnableKeyRotation": 5, "GetKeyPolicy": 1000, "GetKeyRotationStatus": 1000,
		"GetParametersForImport": 0.25, "GetPublicKey": 5, "ImportKeyMaterial": 5, "ListAliases": 100,
		"ListGrants": 100, "ListKeyPolicies": 100, "ListKeys": 500, "ListResourceTags": 100,
		"ListRetirableGrants": 5, "PutKeyPolicy": 15, "RetireGrant": 15, "RevokeGrant": 15,
		"ScheduleKeyDeletion": 15, "TagResource": 5, "UntagResource": 5, "UpdateAlias": 5,
		"UpdateCustomKeyStore": 5, "UpdateKeyDescription": 5,
	},
}
