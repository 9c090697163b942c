package kms

import (
	"context"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. A key has one policy, "default";
// authz.go evaluates it.

func checkPolicyName(name *string) *awsapi.Error {
	if name != nil && *name != "default" {
		return awsapi.NewError(errNotFound, "No such policy exists: %s", *name)
	}
	return nil
}

type policyInput struct {
	KeyId                          string
	PolicyName                     *string
	Policy                         string
	BypassPolicyLockoutSafetyCheck bool
}

type getPolicyOutput struct {
	Policy     string
	PolicyName string
}

func getKeyPolicy(s *Server, _ context.Context, c *caller, in *policyInput) (*getPolicyOutput, error) {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	return viewKey(s, c, in.KeyId, func(k *keyRec) (*getPolicyOutput, error) {
		return &getPolicyOutput{Policy: k.Policy, PolicyName: "default"}, nil
	})
}

func putKeyPolicy(s *Server, _ context.Context, c *caller, in *policyInput) (*empty, error) {
	if err := checkPolicyName(in.PolicyName); err != nil {
		return nil, err
	}
	p, perr := s.parseKeyPolicy(in.Policy)
	if perr != nil {
		return nil, perr
	}
	_, err := s.mutateKey(c, in.KeyId, func(k *keyRec) error {
		if err := checkNotPending(k); err != nil {
			return err
		}
		if err := c.CheckLockout(p, keyARN(k), k.Account, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return err
		}
		k.Policy, k.Compiled = in.Policy, p
		return nil
	})
	return nil, err
}

type listPoliciesOutput struct {
	PolicyNames []string
	Truncated   bool
}

func listKeyPolicies(s *Server, _ context.Context, c *caller, in *listTagsInput) (*listPoliciesOutput, error) {
	return viewKey(s, c, in.KeyId, func(*keyRec) (*listPoliciesOutput, error) {
		return &listPoliciesOutput{PolicyNames: []string{"default"}}, nil
	})
}

// defaultPolicy is the compiled default key policy of account's keys, parsed once per account.
func (s *Server) defaultPolicy(account string) *policy.Policy {
	if p, ok := s.defaults.Load(account); ok {
		return p.(*policy.Policy)
	}
	p, err := policy.ParseKeyPolicy(policy.DefaultKeyPolicy(account))
	if err != nil {
		panic("kms: the default key policy does not parse: " + err.Error())
	}
	s.defaults.Store(account, p)
	return p
}
