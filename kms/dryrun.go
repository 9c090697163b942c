package kms

import (
	"slices"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Dry runs (DryRun=true) of the operations that read a ciphertext. A dry run checks what the
// request would check, authorization first, and answers DryRunOperationException instead of
// the result. With DryRunModifiers IGNORE_CIPHERTEXT it checks only that the caller may use the
// key KeyId names (and that the key can do the operation) without looking at the ciphertext,
// so permissions can be tested without a valid ciphertext blob
// (https://docs.aws.amazon.com/kms/latest/developerguide/programming-dryrun.html; DecryptRequest
// and ReEncryptRequest DryRunModifiers in the KMS API Reference). Without a KeyId there is no
// key to authorize: hsmsim answers ValidationException, the error AWS gives for parameters that
// do not go together.

const ignoreCiphertext = "IGNORE_CIPHERTEXT"

// ignoresCiphertext says whether a dry run skips the ciphertext.
func ignoresCiphertext(dry bool, mods []string) bool {
	return dry && slices.Contains(mods, ignoreCiphertext)
}

// dryRunKeyOnly is the dry run of a decrypting operation that ignores its ciphertext: the key
// keyID names (param is its parameter's name) resolved for c, usable and of encryption usage.
func (s *Server) dryRunKeyOnly(c *caller, keyID *string, param string) error {
	if keyID == nil {
		return awsapi.NewError(awsapi.ValidationException, "%s is required when DryRunModifiers contains %s.", param, ignoreCiphertext)
	}
	s.mu.RLock()
	_, err := s.usableKeyLocked(c, *keyID, usageEncrypt)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	return dryRun(true)
}
