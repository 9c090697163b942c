package policy

import (
	"errors"
	"fmt"
)

// Kinds of parse failure; an *Error from Parse matches exactly one of them with errors.Is.
var (
	// ErrMalformed marks a document AWS would refuse with MalformedPolicyDocument(Exception):
	// invalid JSON, an unknown element, a bad Effect, a missing Action, an unknown condition
	// operator, an invalid principal.
	ErrMalformed = errors.New("malformed policy document")
	// ErrTooLarge marks a document over the size limit the caller asked for. KMS answers it
	// as a malformed policy; IAM answers LimitExceeded: the caller chooses.
	ErrTooLarge = errors.New("policy document too large")
)

// Error is a refused policy document. Message is the text to put in the AWS error's message.
type Error struct {
	Kind    error // ErrMalformed or ErrTooLarge
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is lets errors.Is(err, ErrMalformed) and errors.Is(err, ErrTooLarge) tell the kinds apart.
func (e *Error) Is(target error) bool { return target == e.Kind }

func malformed(format string, args ...any) *Error {
	return &Error{Kind: ErrMalformed, Message: fmt.Sprintf(format, args...)}
}

// Messages AWS returns for malformed documents, where its wording is known (IAM's for
// identity and trust policies, KMS's for key policies); the others follow their style.
const (
	msgInvalidJSON         = "This policy contains invalid Json"
	msgVersion             = "The policy must contain a valid version string"
	msgNoStatement         = "Missing required field Statement"
	msgNoEffect            = "Missing required field Effect"
	msgNoActions           = "Policy statement must contain actions."
	msgNoResources         = "Policy statement must contain resources."
	msgNoPrincipal         = "Missing required field Principal"
	msgVendor              = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	msgOneColon            = "Actions/Condition can contain only one colon."
	msgKMSInvalidPrincipal = "Policy contains a statement with one or more invalid principals."
	msgNotPrincipalAllow   = "NotPrincipal is supported only with \"Effect\": \"Deny\""
)
