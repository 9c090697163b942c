package awsapi

import (
	"slices"
	"sort"
)

// API is one AWS service as its wire shows it: the X-Amz-Target prefix, the SigV4 signing name,
// how its exceptions name their message member, and its operations with their input shapes from
// the AWS API model (shapes_gen.go). A Service pairs an API with handlers.
type API struct {
	Target       string // X-Amz-Target prefix, e.g. TrentService
	SigningName  string // SigV4 service name, e.g. kms
	MessageField string // the exception member: KMS says "message", CloudHSM "Message"

	ops       map[string]string   // operation → input shape
	errs      map[string][]string // operation → the exceptions the model lists for it
	shapes    map[string]*shape
	overrides map[string]map[string]*shape // input shape → member → shape that replaces the model's
}

// The APIs hsmsim serves.
var (
	// KMS is AWS Key Management Service (kms-2014-11-01). The deletion window is 7 to 30 days:
	// the documentation states it more tightly than the model, and the docs win for behaviour
	// (aws-semantics.md §2).
	KMS = &API{Target: "TrentService", SigningName: "kms", MessageField: "message", ops: kmsOps, errs: kmsErrors, shapes: kmsShapes,
		overrides: map[string]map[string]*shape{
			"ScheduleKeyDeletionRequest": {"PendingWindowInDays": {kind: kInteger, min: 7, max: 30}},
		}}
	// CloudHSMV2 is the CloudHSM V2 control plane (cloudhsmv2-2017-04-28).
	CloudHSMV2 = &API{Target: "BaldrApiService", SigningName: "cloudhsm", MessageField: "Message", ops: hsmOps, errs: hsmErrors, shapes: hsmShapes}
)

// Operations lists every operation of the model, sorted.
func (a *API) Operations() []string {
	out := make([]string, 0, len(a.ops))
	for op := range a.ops {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// Errors lists the exceptions the model names for operation op (nil for an operation it does not
// have). Exceptions every operation may answer (AccessDeniedException, ValidationException, the
// signing and throttling errors: CommonErrors) are not listed by the models.
func (a *API) Errors(op string) []string { return a.errs[op] }

// Lists reports whether the model names exception code for operation op, so a handler can
// choose between two answers the way the real service does for that operation.
func (a *API) Lists(op, code string) bool { return slices.Contains(a.errs[op], code) }

// CheckInput checks body as the input of operation op, as the endpoint does before any handler
// runs: nil when a handler may decode it, else the SerializationException or ValidationException
// (UnknownOperationException for an operation the model does not have).
func (a *API) CheckInput(op string, body []byte) *Error {
	in, ok := a.ops[op]
	if !ok {
		return NewError(UnknownOperationException, "")
	}
	_, err := a.decodeInput(in, body)
	return err
}
