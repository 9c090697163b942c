package iam

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// STS: GetCallerIdentity and AssumeRole.
// https://docs.aws.amazon.com/STS/latest/APIReference/API_Operations.html

func (s *Store) handleSTS(_ context.Context, c *awsapi.Caller, action string, p url.Values) (any, error) {
	switch action {
	case "GetCallerIdentity":
		// No permission is needed: "you cannot deny access to GetCallerIdentity".
		// https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
		who := c.Who()
		return &callerIdentityResult{Arn: who.ARN, UserId: who.UserID, Account: who.Account}, nil
	case "AssumeRole":
		return s.assumeRole(c, p)
	}
	return nil, apiErr(awsapi.InvalidAction, "Could not find operation %s for version 2011-06-15", action)
}

type callerIdentityResult struct {
	Arn     string `xml:"Arn"`
	UserId  string `xml:"UserId"`
	Account string `xml:"Account"`
}

type assumeRoleResult struct {
	Credentials struct {
		AccessKeyId     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		SessionToken    string `xml:"SessionToken"`
		Expiration      string `xml:"Expiration"`
	} `xml:"Credentials"`
	AssumedRoleUser struct {
		AssumedRoleId string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	} `xml:"AssumedRoleUser"`
}

// assumeRole issues session credentials for a role whose trust policy lets the caller assume it
// (and, when the trust policy names only the account, whose identity policies allow
// sts:AssumeRole).
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
func (s *Store) assumeRole(c *awsapi.Caller, p url.Values) (any, error) {
	roleARN, err := required(p, "RoleArn")
	if err != nil {
		return nil, err
	}
	session, err := required(p, "RoleSessionName")
	if err != nil {
		return nil, err
	}
	if !sessionRE.MatchString(session) {
		return nil, apiErr(errValidation, "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", session)
	}
	if len(roleARN) < 20 {
		return nil, apiErr(errValidation, "1 validation error detected: Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20", roleARN)
	}
	// Session policies and session tags would narrow or label the session; hsmsim does not
	// evaluate them, so it refuses them rather than hand out a session broader than asked for.
	for k := range p {
		if k == "Policy" || strings.HasPrefix(k, "PolicyArns.") || strings.HasPrefix(k, "Tags.") || strings.HasPrefix(k, "TransitiveTagKeys.") {
			return nil, apiErr(errValidation, "hsmsim does not support session policies or session tags (%s)", k)
		}
	}
	who := c.Who()
	if who.Type == policy.PrincipalRoot {
		return nil, apiErr(errAccessDenied, "Roles may not be assumed by root accounts.")
	}
	req := &policy.Request{Principal: who, Action: "sts:AssumeRole", Resource: roleARN}
	req.Context.Set("aws:CurrentTime", s.now().UTC().Format(time.RFC3339))
	if c.SourceIP != "" {
		req.Context.Set("aws:SourceIp", c.SourceIP)
	}
	ids := s.Policies(&who)
	s.mu.Lock()
	defer s.mu.Unlock()
	var r *role
	for _, x := range s.st.Roles {
		if s.roleARN(x) == roleARN {
			r = x
		}
	}
	if r == nil {
		// STS does not say whether the role exists.
		return nil, apiErr(errAccessDenied, "%s", policy.AccessDeniedMessage(who.ARN, "sts:AssumeRole", roleARN, policy.NoResourceAllow))
	}
	if d := policy.Evaluate(req, r.trust, ids); !d.Allowed {
		return nil, apiErr(errAccessDenied, "%s", d.Message(req))
	}
	dur := 3600
	if v := p.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, apiErr(errValidation, "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", v)
		}
		if n > r.MaxSession {
			return nil, apiErr(errValidation, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
		}
		dur = n
	}
	now := s.now().UTC()
	k := &accessKey{ID: newID("ASIA", 16), Secret: newSecret(40), Status: "Active", Created: now, Role: r.Name, Session: session,
		Token: "hsmsim-session/" + newSecret(200), Expires: now.Add(time.Duration(dur) * time.Second).Truncate(time.Second)}
	s.dropExpired(now)
	s.st.Keys[k.ID] = k
	if err := s.save(); err != nil {
		delete(s.st.Keys, k.ID)
		return nil, err
	}
	out := &assumeRoleResult{}
	out.Credentials.AccessKeyId, out.Credentials.SecretAccessKey, out.Credentials.SessionToken = k.ID, k.Secret, k.Token
	out.Credentials.Expiration = iamTime(k.Expires)
	sp := s.sessionPrincipal(r, session)
	out.AssumedRoleUser.AssumedRoleId, out.AssumedRoleUser.Arn = sp.UserID, sp.ARN
	return out, nil
}

// dropExpired forgets sessions that expired more than a day ago (callers hold s.mu); a recently
// expired one is kept so that its use is answered ExpiredToken.
func (s *Store) dropExpired(now time.Time) {
	for id, k := range s.st.Keys {
		if !k.Expires.IsZero() && now.Sub(k.Expires) > 24*time.Hour {
			delete(s.st.Keys, id)
		}
	}
}
