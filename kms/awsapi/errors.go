package awsapi

import (
	"fmt"
	"net/http"
)

// Error is an AWS error as the wire carries it: the exception's shape name (`__type`), its
// message and the HTTP status. Handlers return it to choose the exception; anything else that
// reaches the endpoint goes through the service's boundary (Service.ToError) first.
type Error struct {
	Type    string
	Message string
	Status  int
}

func (e *Error) Error() string { return e.Type + ": " + e.Message }

// The front end's own exceptions (Coral's, answered before any handler runs): serialization,
// validation, unknown operation, authentication, size.
const (
	SerializationException              = "SerializationException"
	ValidationException                 = "ValidationException"
	UnknownOperationException           = "UnknownOperationException"
	MissingAuthenticationTokenException = "MissingAuthenticationTokenException"
	IncompleteSignatureException        = "IncompleteSignatureException"
	InvalidSignatureException           = "InvalidSignatureException"
	UnrecognizedClientException         = "UnrecognizedClientException"
	RequestEntityTooLargeException      = "RequestEntityTooLargeException"
	ExpiredTokenException               = "ExpiredTokenException"
)

// serverFaults are the exceptions the models of the APIs served here mark as faults, with the
// status the services answer; every other exception is the caller's fault, 400.
var serverFaults = map[string]int{
	"KMSInternalException":             http.StatusInternalServerError,
	"DependencyTimeoutException":       http.StatusServiceUnavailable,
	"KeyUnavailableException":          http.StatusInternalServerError,
	"CloudHsmInternalFailureException": http.StatusInternalServerError,
	"InternalFailure":                  http.StatusInternalServerError, // the front end's own
}

// NewError makes an AWS error of the given exception type; the HTTP status follows from it
// (500/503 for the faults, 400 for everything else, as the services answer).
func NewError(typ, format string, args ...any) *Error {
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
