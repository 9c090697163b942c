// Package policy is the AWS access policy language as the KMS emulator enforces it: it parses
// key policies, IAM identity policies and role trust policies into a compiled form once, and
// evaluates a request (a principal, an action, a resource and its condition keys) against them
// with AWS's policy evaluation logic: an explicit Deny in any policy wins, an Allow comes from the
// resource policy naming the caller or, when the resource policy delegates to the caller's
// account, from the caller's identity policies, and everything else is an implicit deny.
//
// The package knows nothing of the KMS itself: the caller builds the Request (with the KMS
// condition keys it computes, such as kms:EncryptionContext:*), picks the policies that apply
// and turns a Decision into its wire error. The behaviour follows the IAM User Guide pages cited
// beside the code that implements each rule:
//
//   - Grammar: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
//   - Condition operators: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
//   - Evaluation: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
//   - Key policies: https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
//
// Parse once (Parse, ParseKeyPolicy, ParseIdentityPolicy, ParseTrustPolicy) and keep the
// *Policy: it is immutable and safe for concurrent use, and Evaluate does not allocate for
// policies without policy variables.
package policy
