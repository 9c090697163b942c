// Package keyimport is the cryptography of importing key material into a KMS key (AWS KMS's
// GetParametersForImport and ImportKeyMaterial): the RSA wrapping key pairs handed out for an
// import, the wrapping algorithms a client encrypts its key material with (RSAES-OAEP with SHA-1
// or SHA-256, and RSA_AES_KEY_WRAP: an ephemeral AES key under RSAES-OAEP followed by the material
// under AES key wrap with padding, RFC 5649), the import token that binds a wrapping key to one KMS
// key for 24 hours, and the checks that key material fits the key spec it is imported into.
//
// The package knows nothing of key records or of the wire: package kms turns its sentinel errors
// into the AWS exceptions. AWS's guide, "Importing key material" (Step 2 "Download the wrapping
// public key and import token", Step 3 "Encrypt the key material"), is the specification followed:
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
package keyimport
