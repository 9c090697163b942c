package kms

import (
	"context"
	"errors"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Exception names of the KMS model (`__type`). Each becomes an *awsapi.Error with
// awsapi.NewError, which gives the faults (KMSInternalException, DependencyTimeoutException)
// their 500 and 503; toAWS is where any other Go error becomes one of them.
const (
	errAlreadyExists     = "AlreadyExistsException"
	errDependencyTimeout = "DependencyTimeoutException"
	errDisabled          = "DisabledException"
	errDryRun            = "DryRunOperationException"
	errIncorrectKey      = "IncorrectKeyException"
	errInvalidAliasName  = "InvalidAliasNameException"
	errInvalidArn        = "InvalidArnException"
	errInvalidCiphertext = "InvalidCiphertextException"
	errInvalidGrantID    = "InvalidGrantIdException"
	errInvalidGrantToken = "InvalidGrantTokenException"
	errInvalidKeyUsage   = "InvalidKeyUsageException"
	errInvalidMarker     = "InvalidMarkerException"
	errInternal          = "KMSInternalException"
	errInvalidMac        = "KMSInvalidMacException"
	errInvalidSignature  = "KMSInvalidSignatureException"
	errInvalidState      = "KMSInvalidStateException"
	errLimitExceeded     = "LimitExceededException"
	errMalformedPolicy   = "MalformedPolicyDocumentException"
	errAccessDenied      = "AccessDeniedException"
	errNotFound          = "NotFoundException"
	errTag               = "TagException"
	errUnsupported       = "UnsupportedOperationException"
)

// errCannotReachCluster is the documented answer when KMS cannot talk to the cluster behind a
// custom key store (KMSDG:fix-keystore): HTTP 400, possibly transient.
func errCannotReachCluster() *awsapi.Error {
	return awsapi.NewError(errInvalidState, "KMS cannot communicate with your CloudHSM cluster. This might be a transient network issue. If you see this error repeatedly, verify that the network ACLs and the security group rules for the VPC of your AWS CloudHSM cluster are correct.")
}

// toAWS is the KMS's boundary (its awsapi.Service's ToError): every error a handler returns
// becomes the AWS error the client sees. An *awsapi.Error is itself; a PKCS#11 failure from the
// cluster becomes what KMS answers for it; a canceled request is a timeout of a dependency;
// anything else is KMSInternalException (an unexpected failure is never reported as a more
// specific error than it earned).
func toAWS(err error) *awsapi.Error {
	var e *awsapi.Error
	if errors.As(err, &e) {
		return e
	}
	var ce *client.Error
	if errors.As(err, &ce) && client.Retryable(err) {
		return errCannotReachCluster()
	}
	var pe p11.Error
	if errors.As(err, &pe) {
		switch uint32(pe) {
		case p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE:
			return awsapi.NewError(errInvalidCiphertext, "")
		case p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_REMOVED, p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_FUNCTION_CANCELED:
			return errCannotReachCluster()
		case p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID:
			// The key material was deleted from the cluster; the KMS key stays Enabled and its
			// operations fail (KMSDG:fix-keystore).
			return awsapi.NewError(errInvalidState, "The key material for this KMS key is not available in the associated CloudHSM cluster.")
		}
		return awsapi.NewError(errInternal, "The CloudHSM cluster failed the request: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return awsapi.NewError(errDependencyTimeout, "The request timed out.")
	}
	return awsapi.NewError(errInternal, "An internal error occurred: %v", err)
}
