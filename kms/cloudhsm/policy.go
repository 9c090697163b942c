package cloudhsm

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// Sharing backups with other accounts: a backup's resource policy (Put/Get/DeleteResourcePolicy)
// names the accounts that may describe it (DescribeBackups with Shared=true) and make a cluster
// from it (CreateCluster with the backup's full ARN), as in the CloudHSM guide's "Working with
// shared backups" (https://docs.aws.amazon.com/cloudhsm/latest/userguide/sharing.html). Backups
// are the only resources with policies, and only a READY backup of the caller's can be shared.
//
// On AWS a share made with PutResourcePolicy shows in the consumer's DescribeBackups only once
// RAM promotes it to a standard resource share (the model's PutResourcePolicy documentation).
// hsmsim has no RAM: a policy share counts as promoted as soon as it is put.

// policyStatement is one statement of a resource policy: the parts sharing reads.
type policyStatement struct {
	Effect    string
	Principal json.RawMessage
	Action    json.RawMessage
}

// parsePolicy checks a policy document: a JSON object whose Statement (one or a list) each
// have an Effect of Allow or Deny, a Principal and an Action.
func parsePolicy(doc string) ([]policyStatement, error) {
	var d struct{ Statement json.RawMessage }
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, invalid("The policy is not valid JSON: %v.", err)
	}
	var sts []policyStatement
	if err := json.Unmarshal(d.Statement, &sts); err != nil {
		var one policyStatement
		if err := json.Unmarshal(d.Statement, &one); err != nil {
			return nil, invalid("The policy has no Statement.")
		}
		sts = []policyStatement{one}
	}
	if len(sts) == 0 {
		return nil, invalid("The policy has no Statement.")
	}
	for _, st := range sts {
		if (st.Effect != "Allow" && st.Effect != "Deny") || len(st.Principal) == 0 || len(st.Action) == 0 {
			return nil, invalid("Each policy statement needs an Effect of Allow or Deny, a Principal and an Action.")
		}
	}
	return sts, nil
}

// strings1 reads a policy element that is a string or a list of strings.
func strings1(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

// principals lists a statement's AWS principals ("*" for anyone).
func (st policyStatement) principals() []string {
	var p struct{ AWS json.RawMessage }
	if json.Unmarshal(st.Principal, &p) == nil && len(p.AWS) > 0 {
		return strings1(p.AWS)
	}
	return strings1(st.Principal)
}

// principalIs reports whether principal p (an account id, or an IAM ARN of the account) is account.
func principalIs(p, account string) bool {
	if p == "*" || p == account {
		return true
	}
	parts := strings.Split(p, ":") // arn:aws:iam::<account>:root or :user/...
	return len(parts) == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[4] == account
}

func actionIs(a, action string) bool {
	return a == "*" || strings.EqualFold(a, "cloudhsm:*") || strings.EqualFold(a, action)
}

// sharedWith reports whether a backup's policy lets account do action (cloudhsm:DescribeBackups,
// cloudhsm:CreateCluster): an Allow naming both, and no Deny naming both.
func sharedWith(policy, account, action string) bool {
	if policy == "" {
		return false
	}
	sts, err := parsePolicy(policy)
	if err != nil {
		return false
	}
	allowed := false
	for _, st := range sts {
		matches := false
		for _, p := range st.principals() {
			for _, a := range strings1(st.Action) {
				matches = matches || (principalIs(p, account) && actionIs(a, action))
			}
		}
		if matches && st.Effect == "Deny" {
			return false
		}
		allowed = allowed || matches
	}
	return allowed
}

// parseArn splits a CloudHSM ARN: arn:aws:cloudhsm:<region>:<account>:<type>/<id>.
func parseArn(arn string) (region, account, typ, id string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "cloudhsm" {
		return "", "", "", "", false
	}
	typ, id, ok = strings.Cut(parts[5], "/")
	return parts[3], parts[4], typ, id, ok
}

// policyBackupLocked finds the backup a policy operation names (s.mu held): the caller's own,
// in the caller's region.
func (s *Service) policyBackupLocked(r *awsapi.Caller, arn string) (*backupRec, error) {
	if arn == "" {
		return nil, invalid("ResourceArn is required.")
	}
	region, account, typ, id, ok := parseArn(arn)
	if !ok {
		return nil, invalid("Invalid ResourceArn %s.", arn)
	}
	if typ != "backup" {
		return nil, invalid("Only backups have resource policies: %s is a %s.", arn, typ)
	}
	if a, rg := s.scope(r); a != account || rg != region {
		return nil, notFound("The backup %s does not exist.", arn)
	}
	return s.backupForLocked(r, id)
}

// GetResourcePolicy answers a backup's policy (none: no Policy).
func (s *Service) GetResourcePolicy(ctx context.Context, r *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.policyBackupLocked(r, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	return &ResourcePolicyOutput{Policy: b.Policy}, nil
}

// PutResourcePolicy sets (or replaces) the policy of a READY backup of the caller's.
func (s *Service) PutResourcePolicy(ctx context.Context, r *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.policyBackupLocked(r, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	if b.State != "READY" {
		return nil, invalid("The backup %s is %s: only a READY backup can be shared.", b.ID, b.State)
	}
	if in.Policy == "" {
		return nil, invalid("Policy is required.")
	}
	if _, err := parsePolicy(in.Policy); err != nil {
		return nil, err
	}
	b.Policy = in.Policy
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	return &ResourcePolicyOutput{ResourceArn: in.ResourceArn, Policy: b.Policy}, nil
}

// DeleteResourcePolicy removes a backup's policy, unsharing it, and answers the policy it had.
// Clusters made from the backup stay. A backup without a policy answers without one.
func (s *Service) DeleteResourcePolicy(ctx context.Context, r *awsapi.Caller, in *ResourcePolicyInput) (*ResourcePolicyOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.policyBackupLocked(r, in.ResourceArn)
	if err != nil {
		return nil, err
	}
	prev := b.Policy
	b.Policy = ""
	if err := s.saveLocked(); err != nil {
		return nil, err
	}
	return &ResourcePolicyOutput{ResourceArn: in.ResourceArn, Policy: prev}, nil
}

// sourceBackupLocked finds the backup CreateCluster names in SourceBackupId (s.mu held): an id
// or ARN of the caller's own backup in the caller's region, or the full ARN of another account's
// backup there that is shared with the caller for cloudhsm:CreateCluster. Each region's control
// plane knows its own backups only: another region's backup is restored after
// CopyBackupToRegion.
func (s *Service) sourceBackupLocked(r *awsapi.Caller, ref string) (*backupRec, error) {
	account, region := s.scope(r)
	owner, id := account, ref
	if strings.HasPrefix(ref, "arn:") {
		rg, a, _, bid, ok := parseArn(ref)
		if !ok || rg != region {
			return nil, notFound("The backup %s does not exist in %s.", ref, region)
		}
		owner, id = a, bid
	}
	b := s.cat.Backups[id]
	if b == nil || b.Account != owner || b.Region != region || b.State == "DELETED" ||
		(owner != account && !sharedWith(b.Policy, account, "cloudhsm:CreateCluster")) {
		return nil, notFound("The backup %s does not exist in %s.", ref, region)
	}
	return b, nil
}
