package iam

import (
	"net/url"
	"testing"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

const acct = "111122223333"

func call(t *testing.T, s *Store, action string, kv ...string) any {
	t.Helper()
	p := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		p.Set(kv[i], kv[i+1])
	}
	out, err := s.handleIAM(t.Context(), &awsapi.Caller{Account: acct}, action, p)
	if err != nil {
		t.Fatalf("%s: %v", action, err)
	}
	return out
}

// TestStoreIdentitiesPoliciesAndPersistence: what the KMS asks of the store (who a key is,
// which policies apply, whether a principal exists) survives reopening the data directory.
func TestStoreIdentitiesPoliciesAndPersistence(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s, err := Open(dir, acct, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	call(t, s, "CreateUser", "UserName", "alice", "Path", "/ops/")
	key := call(t, s, "CreateAccessKey", "UserName", "alice").(*accessKeyResult).AccessKey
	call(t, s, "PutUserPolicy", "UserName", "alice", "PolicyName", "p", "PolicyDocument", `{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	call(t, s, "CreateRole", "RoleName", "ci", "AssumeRolePolicyDocument", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/ops/alice"},"Action":"sts:AssumeRole"}]}`)
	call(t, s, "PutRolePolicy", "RoleName", "ci", "PolicyName", "r", "PolicyDocument", `{"Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"}]}`)

	s, err = Open(dir, acct, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	if got := call(t, s, "GetRolePolicy", "RoleName", "ci", "PolicyName", "r").(*policyResult); got.RoleName != "ci" || got.UserName != "" {
		t.Fatalf("GetRolePolicy: %+v", got)
	}
	cred, ok := s.Credential(key.AccessKeyId)
	if !ok || cred.SecretAccessKey != key.SecretAccessKey || cred.Principal.ARN != "arn:aws:iam::"+acct+":user/ops/alice" || cred.Principal.Username != "alice" {
		t.Fatalf("Credential: %+v %v", cred, ok)
	}
	if ps := s.Policies(&cred.Principal); len(ps) != 1 {
		t.Fatalf("user policies: %d", len(ps))
	}
	// alice assumes the role; the session is a principal with the role's policies, and expires.
	out, err := s.handleSTS(t.Context(), &awsapi.Caller{Account: acct, Principal: cred.Principal}, "AssumeRole",
		url.Values{"RoleArn": {"arn:aws:iam::" + acct + ":role/ci"}, "RoleSessionName": {"run-1"}, "DurationSeconds": {"900"}})
	if err != nil {
		t.Fatal(err)
	}
	c := out.(*assumeRoleResult).Credentials
	sess, ok := s.Credential(c.AccessKeyId)
	if !ok || sess.SessionToken != c.SessionToken || !sess.Expires.Equal(now.Add(15*time.Minute)) || sess.Principal.Type != policy.PrincipalAssumedRole {
		t.Fatalf("session: %+v", sess)
	}
	if ps := s.Policies(&sess.Principal); len(ps) != 1 {
		t.Fatalf("role policies: %d", len(ps))
	}
	for arn, want := range map[string]bool{
		"arn:aws:iam::" + acct + ":root":                     true,
		"arn:aws:iam::" + acct + ":user/ops/alice":           true,
		"arn:aws:iam::" + acct + ":user/alice":               false,
		"arn:aws:iam::" + acct + ":role/ci":                  true,
		"arn:aws:sts::" + acct + ":assumed-role/ci/anything": true,
		"arn:aws:sts::" + acct + ":assumed-role/nope/x":      false,
		"arn:aws:iam::444455556666:user/someone-elsewhere":   true,
	} {
		if s.Exists(arn) != want {
			t.Errorf("Exists(%s) = %v", arn, !want)
		}
	}
}
