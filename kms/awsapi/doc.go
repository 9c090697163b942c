// Package awsapi is the AWS front end hsmsim's services share: what a request goes through
// before a handler sees it, and how an answer or an error leaves. It knows the wire, not the
// services: the KMS (package kms) and the CloudHSM V2 control plane (package kms/cloudhsm) each
// hand it a Service (an API and its handlers), and one Endpoint serves them side by side, so the
// AWS SDKs and the aws CLI work against hsmsim with only the endpoint URL changed.
//
// What it does, in request order:
//
//   - routing by `X-Amz-Target: <prefix>.<Operation>` (AWS JSON 1.1, POST /);
//   - SigV4 (sigv4.go): the caller's access key, region and account from the credential scope,
//     and in strict mode a signature check against known credentials;
//   - model-driven validation (validate.go): every body is checked against its operation's input
//     shape, taken from the AWS API models by shapegen.go (shapes_gen.go), and refused with the
//     SerializationException or ValidationException Coral would answer;
//   - faults (intercept.go): an Interceptor (package kms/awsapi/fault's rules) sees every request
//     of every service, JSON and Query, with its caller, just before the handler would run;
//   - error encoding: an *Error carries the exception's `__type`, message and HTTP status; each
//     Service's ToError is its one boundary where Go errors become AWS errors.
//
// Caller and Error are not JSON-specific: a service speaking the AWS Query protocol (IAM, STS)
// can reuse them with SigV4 and add its own decoding beside the JSON one.
package awsapi
