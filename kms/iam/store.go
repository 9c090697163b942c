// Package iam is hsmsim's IAM and STS: the users, access keys, roles, inline policies and role
// sessions that the KMS authorizes. It keeps them (persisted in the KMS's data directory), tells
// the endpoint which principal an access key identifies (Store.Credential), gives the KMS each
// principal's compiled identity policies (Store.Policies), and serves the subset of the IAM and
// STS Query APIs that KMS users need (Store.IAM, Store.STS) on the KMS endpoint.
//
// The account administrator (the key pair `hsmsim env` prints) is the account's root user and is
// not stored here: every key this package does not know is the endpoint's business.
package iam

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// FileName is the file in the data directory that holds the IAM state.
const FileName = "iam.json"

type user struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Tags    []Tag     `json:"tags,omitempty"`
	inline
}

// inline is a user's or role's inline policies.
type inline struct {
	Policies map[string]string `json:"policies,omitempty"` // name → document
	compiled []*policy.Policy  // Policies compiled, in name order
}

type role struct {
	Name        string    `json:"name"`
	Path        string    `json:"path"`
	ID          string    `json:"id"`
	Created     time.Time `json:"created"`
	Trust       string    `json:"trust"`
	Description string    `json:"description,omitempty"`
	MaxSession  int       `json:"max_session"`
	Tags        []Tag     `json:"tags,omitempty"`
	inline
	trust *policy.Policy
}

// accessKey is a user's long-term key, or (with Role set) a role session's temporary one.
type accessKey struct {
	ID      string    `json:"id"`
	Secret  string    `json:"secret"`
	User    string    `json:"user,omitempty"`
	Status  string    `json:"status"`
	Created time.Time `json:"created"`
	Role    string    `json:"role,omitempty"`
	Session string    `json:"session,omitempty"`
	Token   string    `json:"token,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// Tag is an IAM tag.
type Tag struct {
	Key   string `json:"key" xml:"Key"`
	Value string `json:"value" xml:"Value"`
}

type state struct {
	Users map[string]*user      `json:"users"`
	Roles map[string]*role      `json:"roles"`
	Keys  map[string]*accessKey `json:"keys"`
}

// Store is one account's IAM state. It is safe for concurrent use.
type Store struct {
	account string
	path    string
	now     func() time.Time

	mu sync.RWMutex
	st state
}

// Open loads (or starts) the IAM state of account in dir.
func Open(dir, account string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	s := &Store{account: account, path: filepath.Join(dir, FileName), now: now,
		st: state{Users: map[string]*user{}, Roles: map[string]*role{}, Keys: map[string]*accessKey{}}}
	b, err := os.ReadFile(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal(b, &s.st); err != nil {
		return nil, fmt.Errorf("iam: %s: %w", s.path, err)
	}
	for _, u := range s.st.Users {
		if u.compiled, err = compileAll(u.Policies); err != nil {
			return nil, fmt.Errorf("iam: user %s: %w", u.Name, err)
		}
	}
	for _, r := range s.st.Roles {
		if r.trust, err = policy.ParseTrustPolicy(r.Trust); err != nil {
			return nil, fmt.Errorf("iam: role %s: %w", r.Name, err)
		}
		if r.compiled, err = compileAll(r.Policies); err != nil {
			return nil, fmt.Errorf("iam: role %s: %w", r.Name, err)
		}
	}
	return s, nil
}

func compileAll(docs map[string]string) ([]*policy.Policy, error) {
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*policy.Policy, 0, len(names))
	for _, n := range names {
		p, err := policy.ParseIdentityPolicy(docs[n])
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// save writes the state (callers hold s.mu): a new file renamed over the old, so a crash leaves
// one or the other. It holds secret access keys, so only the owner may read it.
func (s *Store) save() error {
	b, err := json.MarshalIndent(&s.st, "", " ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.path)
}

// Account is the account this store's identities belong to.
func (s *Store) Account() string { return s.account }

// Credential finds the identity an access key belongs to: an IAM user's active key, or a role
// session's key (with its token and expiry). Expired sessions are still found, so the endpoint
// can say ExpiredToken rather than that the key is unknown.
func (s *Store) Credential(id string) (awsapi.Credential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := s.st.Keys[id]
	if k == nil || k.Status != "Active" {
		return awsapi.Credential{}, false
	}
	c := awsapi.Credential{AccessKeyID: k.ID, SecretAccessKey: k.Secret, AccountID: s.account, SessionToken: k.Token, Expires: k.Expires}
	if k.Role != "" {
		r := s.st.Roles[k.Role]
		if r == nil {
			return awsapi.Credential{}, false
		}
		c.Principal = s.sessionPrincipal(r, k.Session)
		return c, true
	}
	u := s.st.Users[k.User]
	if u == nil {
		return awsapi.Credential{}, false
	}
	c.Principal = s.userPrincipal(u)
	return c, true
}

func tagMap(tags []Tag) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func (s *Store) userPrincipal(u *user) policy.Principal {
	return policy.UserPrincipal(s.account, u.Path, u.Name, u.ID, tagMap(u.Tags))
}

func (s *Store) sessionPrincipal(r *role, session string) policy.Principal {
	return policy.AssumedRolePrincipal(s.account, r.Path, r.Name, session, r.ID, tagMap(r.Tags))
}

// Policies are the identity policies of p: a user's inline policies, or a session's role's.
// The root user and unknown principals have none. The slice is shared: do not modify it.
func (s *Store) Policies(p *policy.Principal) []*policy.Policy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch p.Type {
	case policy.PrincipalUser:
		if u := s.st.Users[p.Username]; u != nil && u.ID == p.UserID {
			return u.compiled
		}
	case policy.PrincipalAssumedRole:
		name := p.RoleARN[strings.LastIndexByte(p.RoleARN, '/')+1:]
		if r := s.st.Roles[name]; r != nil && s.roleARN(r) == p.RoleARN {
			return r.compiled
		}
	}
	return nil
}

// Exists reports whether arn names a principal of this account that exists: the root, a user,
// a role, or a role session's ARN (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION). ARNs of
// other accounts are taken to exist (hsmsim knows one account's identities).
func (s *Store) Exists(arn string) bool {
	prefix := "arn:aws:iam::" + s.account + ":"
	s.mu.RLock()
	defer s.mu.RUnlock()
	if arn == prefix+"root" {
		return true
	}
	for _, u := range s.st.Users {
		if arn == prefix+"user"+u.Path+u.Name {
			return true
		}
	}
	for _, r := range s.st.Roles {
		if arn == prefix+"role"+r.Path+r.Name {
			return true
		}
		if strings.HasPrefix(arn, "arn:aws:sts::"+s.account+":assumed-role/"+r.Name+"/") {
			return true
		}
	}
	return !strings.HasPrefix(arn, prefix) && !strings.HasPrefix(arn, "arn:aws:sts::"+s.account+":")
}

const idChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// newID is an IAM unique id or access key id: a four-letter prefix (AIDA user, AROA role, AKIA
// long-term key, ASIA session key) and base-32 characters, as AWS's look.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return prefix + string(b)
}

const secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func newSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = secretChars[int(b[i])%len(secretChars)]
	}
	return string(b)
}
