package kms

import (
	"context"
	"encoding/json"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one policy, "default";
// hsmsim stores it and checks its form but does not evaluate it.

// maxPolicyBytes is the key policy size quota (32 KB; the model allows more).
const maxPolicyBytes = 32 * 1024

func checkPolicy(p string) *awsapi.Error {
	if len(p) > maxPolicyBytes {
		return awsapi.NewError(errLimitExceeded, "The key policy exceeds the maximum size of %d bytes.", maxPolicyBytes)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(p), &doc); err != nil {
		return awsapi.NewError(errMalformedPolicy, "The new key policy will not allow you to update the key policy in the future.")
	}
	if _, ok := doc["Statement"]; !ok {
		return awsapi.NewError(errMalformedPolicy, "Policy document must contain a Statement.")
	}
	return nil
}

func checkPolicyName(name *string) *awsapi.Error {
	if name != nil && *name != "default" {
		return awsapi.NewError(errNotFound, "No such policy exists: %s", *name)
	}
	return nil
}

type policyInput struct {
	KeyId      string
	PolicyName *string
	Policy     string
}

type getPolicyOutput struct {
	Policy     string
	PolicyName string
}

func getKeyPolicy(s *Server, _ context.Context, c *awsapi.Caller, in *policyInput) (*getPolicyOutput, error) {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	return viewKey(s, c, in.KeyId, func(k *keyRec) (*getPolicyOutput, error) {
		return &getPolicyOutput{Policy: k.Policy, PolicyName: "default"}, nil
	})
}

func putKeyPolicy(s *Server, _ context.Context, c *awsapi.Caller, in *policyInput) (*empty, error) {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	if err := checkPolicy(in.Policy); err != nil {
		return nil, err
	}
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		k.Policy = in.Policy
		return nil
	})
	return nil, err
}

type listPoliciesOutput struct {
	PolicyNames []string
	Truncated   bool
}

func listKeyPolicies(s *Server, _ context.Context, c *awsapi.Caller, in *listTagsInput) (*listPoliciesOutput, error) {
	return viewKey(s, c, in.KeyId, func(*keyRec) (*listPoliciesOutput, error) {
		return &listPoliciesOutput{PolicyNames: []string{"default"}}, nil
	})
}

// defaultPolicy is the key policy KMS gives a key created without one: the account's IAM decides.
func defaultPolicy(account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}
