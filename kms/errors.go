package kms

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// Error is an AWS error as the JSON 1.1 protocol carries it: the exception's shape name
// (`__type`), its message and the HTTP status. Handlers, the key stores and a ControlPlane
// implementation return it to choose the exception; anything else that reaches the boundary is
// converted by toAWS, the one place where Go errors become AWS errors.
type Error struct {
	Type    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// Exception names: the `__type` values of the KMS and CloudHSM V2 models, plus the Coral front
// end's own (serialization, validation, unknown operation, authentication).
const (
	errAlreadyExists            = "AlreadyExistsException"
	errClusterInUse             = "CloudHsmClusterInUseException"
	errClusterInvalidConfig     = "CloudHsmClusterInvalidConfigurationException"
	errClusterNotActive         = "CloudHsmClusterNotActiveException"
	errClusterNotFound          = "CloudHsmClusterNotFoundException"
	errClusterNotRelated        = "CloudHsmClusterNotRelatedException"
	errStoreHasCMKs             = "CustomKeyStoreHasCMKsException"
	errStoreInvalidState        = "CustomKeyStoreInvalidStateException"
	errStoreNameInUse           = "CustomKeyStoreNameInUseException"
	errStoreNotFound            = "CustomKeyStoreNotFoundException"
	errDependencyTimeout        = "DependencyTimeoutException"
	errDisabled                 = "DisabledException"
	errDryRun                   = "DryRunOperationException"
	errIncorrectKey             = "IncorrectKeyException"
	errIncorrectTrustAnchor     = "IncorrectTrustAnchorException"
	errInvalidAliasName         = "InvalidAliasNameException"
	errInvalidArn               = "InvalidArnException"
	errInvalidCiphertext        = "InvalidCiphertextException"
	errInvalidGrantID           = "InvalidGrantIdException"
	errInvalidGrantToken        = "InvalidGrantTokenException"
	errInvalidKeyUsage          = "InvalidKeyUsageException"
	errInvalidMarker            = "InvalidMarkerException"
	errInternal                 = "KMSInternalException"
	errInvalidMac               = "KMSInvalidMacException"
	errInvalidSignature         = "KMSInvalidSignatureException"
	errInvalidState             = "KMSInvalidStateException"
	errLimitExceeded            = "LimitExceededException"
	errMalformedPolicy          = "MalformedPolicyDocumentException"
	errNotFound                 = "NotFoundException"
	errTag                      = "TagException"
	errUnsupported              = "UnsupportedOperationException"
	errSerialization            = "SerializationException"
	errValidation               = "ValidationException"
	errUnknownOperation         = "UnknownOperationException"
	errMissingAuth              = "MissingAuthenticationTokenException"
	errIncompleteSignature      = "IncompleteSignatureException"
	errSignatureDoesNotMatch    = "InvalidSignatureException"
	errUnrecognizedClient       = "UnrecognizedClientException"
	ErrHsmInternalFailure       = "CloudHsmInternalFailureException"
	ErrHsmInvalidRequest        = "CloudHsmInvalidRequestException"
	ErrHsmResourceNotFound      = "CloudHsmResourceNotFoundException"
	ErrHsmServiceException      = "CloudHsmServiceException"
	ErrHsmAccessDenied          = "CloudHsmAccessDeniedException"
	ErrHsmTag                   = "CloudHsmTagException"
	ErrHsmResourceLimitExceeded = "CloudHsmResourceLimitExceededException"
	errRequestEntityTooLarge    = "RequestEntityTooLargeException"
)

// serverFaults are the exceptions the models mark as faults, with the status the services answer.
var serverFaults = map[string]int{
	errInternal:               http.StatusInternalServerError,
	errDependencyTimeout:      http.StatusServiceUnavailable,
	"KeyUnavailableException": http.StatusInternalServerError,
	ErrHsmInternalFailure:     http.StatusInternalServerError,
}

// NewError makes an AWS error of the given exception type; the HTTP status follows from it
// (500/503 for the faults, 400 for everything else, as the services answer).
func NewError(typ, format string, args ...any) *Error {
	return newError(typ, format, args...)
}

func newError(typ, format string, args ...any) *Error {
	st := http.StatusBadRequest
	if s, ok := serverFaults[typ]; ok {
		st = s
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Type: typ, Message: msg, Status: st}
}

// errCannotReachCluster is the documented answer when KMS cannot talk to the cluster behind a
// custom key store (KMSDG:fix-keystore): HTTP 400, possibly transient.
func errCannotReachCluster() *Error {
	return newError(errInvalidState, "KMS cannot communicate with your CloudHSM cluster. This might be a transient network issue. If you see this error repeatedly, verify that the network ACLs and the security group rules for the VPC of your AWS CloudHSM cluster are correct.")
}

// toAWS is the boundary: every error a handler returns becomes the AWS error the client sees.
// An *Error is itself; a PKCS#11 failure from the cluster becomes what KMS answers for it; a
// canceled request is a timeout of a dependency; anything else is KMSInternalException (an
// unexpected failure is never reported as a more specific error than it earned).
func toAWS(err error) *Error {
	var e *Error
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
			return newError(errInvalidCiphertext, "")
		case p11.CKR_DEVICE_ERROR, p11.CKR_DEVICE_REMOVED, p11.CKR_USER_NOT_LOGGED_IN, p11.CKR_FUNCTION_CANCELED:
			return errCannotReachCluster()
		case p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID:
			// The key material was deleted from the cluster; the KMS key stays Enabled and its
			// operations fail (KMSDG:fix-keystore).
			return newError(errInvalidState, "The key material for this KMS key is not available in the associated CloudHSM cluster.")
		}
		return newError(errInternal, "The CloudHSM cluster failed the request: %v", err)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return newError(errDependencyTimeout, "The request timed out.")
	}
	return newError(errInternal, "An internal error occurred: %v", err)
}
