package iam

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
	"github.com/hsmsim/hsmsim/kms/policy"
)

// The IAM actions hsmsim serves, with their errors and XML shapes as the IAM API Reference
// gives them: https://docs.aws.amazon.com/IAM/latest/APIReference/API_Operations.html
// and STS's: https://docs.aws.amazon.com/STS/latest/APIReference/API_Operations.html

// IAM errors and their HTTP statuses (the IAM API Reference's "Errors" of each action).
const (
	errNoSuchEntity     = "NoSuchEntity"
	errAlreadyExists    = "EntityAlreadyExists"
	errMalformed        = "MalformedPolicyDocument"
	errLimitExceeded    = "LimitExceeded"
	errDeleteConflict   = "DeleteConflict"
	errValidation       = "ValidationError"
	errAccessDenied     = "AccessDenied"
	errInvalidParameter = "InvalidParameterValue"
)

var statusOf = map[string]int{errNoSuchEntity: http.StatusNotFound, errAlreadyExists: http.StatusConflict,
	errLimitExceeded: http.StatusConflict, errDeleteConflict: http.StatusConflict, errAccessDenied: http.StatusForbidden}

func apiErr(typ, format string, args ...any) *awsapi.Error {
	e := awsapi.NewError(typ, format, args...)
	if st, ok := statusOf[typ]; ok {
		e.Status = st
	}
	return e
}

// IAM is the IAM Query service, for Endpoint.AddQuery.
func (s *Store) IAM() *awsapi.QueryService {
	return &awsapi.QueryService{SigningName: "iam", Version: "2010-05-08", Namespace: "https://iam.amazonaws.com/doc/2010-05-08/",
		Handle: s.handleIAM}
}

// STS is the STS Query service, for Endpoint.AddQuery.
func (s *Store) STS() *awsapi.QueryService {
	return &awsapi.QueryService{SigningName: "sts", Version: "2011-06-15", Namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
		Handle: s.handleSTS}
}

type iamAction func(s *Store, c *awsapi.Caller, p url.Values) (any, error)

// iamActions maps each action to its handler and the resource its authorization names.
var iamActions = map[string]struct {
	run      iamAction
	resource func(acct string, p url.Values) string
}{
	"CreateUser":       {createUser, userRes},
	"GetUser":          {getUser, userRes},
	"ListUsers":        {listUsers, nil},
	"DeleteUser":       {deleteUser, userRes},
	"TagUser":          {tagEntity("User"), userRes},
	"CreateAccessKey":  {createAccessKey, userRes},
	"ListAccessKeys":   {listAccessKeys, userRes},
	"DeleteAccessKey":  {deleteAccessKey, userRes},
	"PutUserPolicy":    {putPolicy("User"), userRes},
	"GetUserPolicy":    {getPolicy("User"), userRes},
	"DeleteUserPolicy": {deletePolicy("User"), userRes},
	"CreateRole":       {createRole, roleRes},
	"GetRole":          {getRole, roleRes},
	"DeleteRole":       {deleteRole, roleRes},
	"TagRole":          {tagEntity("Role"), roleRes},
	"PutRolePolicy":    {putPolicy("Role"), roleRes},
	"GetRolePolicy":    {getPolicy("Role"), roleRes},
	"DeleteRolePolicy": {deletePolicy("Role"), roleRes},
}

func userRes(acct string, p url.Values) string {
	return "arn:aws:iam::" + acct + ":user" + normPath(p.Get("Path")) + p.Get("UserName")
}

func roleRes(acct string, p url.Values) string {
	return "arn:aws:iam::" + acct + ":role" + normPath(p.Get("Path")) + p.Get("RoleName")
}

func normPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func (s *Store) handleIAM(_ context.Context, c *awsapi.Caller, action string, p url.Values) (any, error) {
	a, ok := iamActions[action]
	if !ok {
		return nil, apiErr(awsapi.InvalidAction, "Could not find operation %s for version 2010-05-08", action)
	}
	res := "*"
	if a.resource != nil {
		res = a.resource(s.account, p)
	}
	// GetUser, ListAccessKeys and CreateAccessKey without UserName act on the caller itself.
	if p.Get("UserName") == "" && c.Principal.Type == policy.PrincipalUser && a.resource != nil && strings.Contains(res, ":user") {
		p.Set("UserName", c.Principal.Username)
		res = c.Principal.ARN
	}
	if err := s.authorize(c, "iam:"+action, res); err != nil {
		return nil, err
	}
	return a.run(s, c, p)
}

// authorize decides an IAM or STS call by the caller's identity policies alone (IAM resources
// have no resource policies here); the root user may do anything.
func (s *Store) authorize(c *awsapi.Caller, action, resource string) error {
	who := c.Who()
	if who.Type == policy.PrincipalRoot {
		return nil
	}
	req := &policy.Request{Principal: who, Action: action, Resource: resource}
	req.Context.Set("aws:CurrentTime", s.now().UTC().Format(time.RFC3339))
	if c.SourceIP != "" {
		req.Context.Set("aws:SourceIp", c.SourceIP)
	}
	req.Context.Set("aws:SecureTransport", strconv.FormatBool(c.Secure))
	d := policy.Evaluate(req, nil, s.Policies(&who))
	if !d.Allowed {
		return apiErr(errAccessDenied, "%s", d.Message(req))
	}
	return nil
}

var (
	nameRE    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	pathRE    = regexp.MustCompile(`^/([\x21-\x7E]*/)?$`)
	sessionRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

func required(p url.Values, name string) (string, error) {
	v := p.Get(name)
	if v == "" {
		return "", apiErr(errValidation, "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(name))
	}
	return v, nil
}

func lowerFirst(s string) string { return strings.ToLower(s[:1]) + s[1:] }

func checkName(p url.Values, field string) (string, error) {
	n, err := required(p, field)
	if err != nil {
		return "", err
	}
	if !nameRE.MatchString(n) {
		return "", apiErr(errValidation, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+", n, lowerFirst(field))
	}
	return n, nil
}

func checkPath(p url.Values) (string, error) {
	path := normPath(p.Get("Path"))
	if len(path) > 512 || !pathRE.MatchString(path) {
		return "", apiErr(errValidation, "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.")
	}
	return path, nil
}

// tagsOf reads Tags.member.N.Key/Value.
func tagsOf(p url.Values) ([]Tag, error) {
	var out []Tag
	for i := 1; ; i++ {
		k := p.Get(fmt.Sprintf("Tags.member.%d.Key", i))
		if k == "" {
			break
		}
		out = append(out, Tag{Key: k, Value: p.Get(fmt.Sprintf("Tags.member.%d.Value", i))})
	}
	if len(out) > 50 {
		return nil, apiErr(errLimitExceeded, "The number of tags has reached the maximum limit.")
	}
	return out, nil
}

// iamTime is IAM's timestamp form.
func iamTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// urlEncode is how IAM returns policy documents: percent-encoded (RFC 3986).
func urlEncode(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// XML shapes.

type xmlUser struct {
	Path     string `xml:"Path"`
	UserName string `xml:"UserName"`
	UserId   string `xml:"UserId"`
	Arn      string `xml:"Arn"`
	Created  string `xml:"CreateDate"`
	Tags     []Tag  `xml:"Tags>member,omitempty"`
}

func (s *Store) xmlUser(u *user) xmlUser {
	return xmlUser{Path: u.Path, UserName: u.Name, UserId: u.ID, Arn: "arn:aws:iam::" + s.account + ":user" + u.Path + u.Name, Created: iamTime(u.Created), Tags: u.Tags}
}

type userResult struct {
	User xmlUser `xml:"User"`
}

func createUser(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	name, err := checkName(p, "UserName")
	if err != nil {
		return nil, err
	}
	path, err := checkPath(p)
	if err != nil {
		return nil, err
	}
	tags, err := tagsOf(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findUser(name) != nil {
		return nil, apiErr(errAlreadyExists, "User with name %s already exists.", name)
	}
	u := &user{Name: name, Path: path, ID: newID("AIDA", 17), Created: s.now().UTC(), Tags: tags}
	s.st.Users[name] = u
	if err := s.save(); err != nil {
		delete(s.st.Users, name)
		return nil, err
	}
	return &userResult{User: s.xmlUser(u)}, nil
}

// findFold finds an entity by name; IAM names are unique case-insensitively.
func findFold[T any](m map[string]*T, name string) *T {
	for n, e := range m {
		if strings.EqualFold(n, name) {
			return e
		}
	}
	return nil
}

func (s *Store) findUser(name string) *user { return findFold(s.st.Users, name) }
func (s *Store) findRole(name string) *role { return findFold(s.st.Roles, name) }

// lookup finds the entity the parameter field (UserName, RoleName) names: NoSuchEntity if none.
func lookup[T any](p url.Values, field, kind string, m map[string]*T) (*T, error) {
	name, err := required(p, field)
	if err != nil {
		return nil, err
	}
	e := findFold(m, name)
	if e == nil {
		return nil, apiErr(errNoSuchEntity, "The %s with name %s cannot be found.", kind, name)
	}
	return e, nil
}

func (s *Store) user(p url.Values) (*user, error) { return lookup(p, "UserName", "user", s.st.Users) }
func (s *Store) role(p url.Values) (*role, error) { return lookup(p, "RoleName", "role", s.st.Roles) }

// entity is what users and roles have alike: a name, tags and inline policies.
type entity struct {
	name   string
	tags   *[]Tag
	inline *inline
}

// entityOf finds the user (kind "User") or role ("Role") that p names (callers hold s.mu).
func (s *Store) entityOf(p url.Values, kind string) (entity, error) {
	if kind == "User" {
		u, err := s.user(p)
		if err != nil {
			return entity{}, err
		}
		return entity{u.Name, &u.Tags, &u.inline}, nil
	}
	r, err := s.role(p)
	if err != nil {
		return entity{}, err
	}
	return entity{r.Name, &r.Tags, &r.inline}, nil
}

// tagEntity is TagUser and TagRole.
func tagEntity(kind string) iamAction {
	return func(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
		tags, err := tagsOf(p)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		e, err := s.entityOf(p, kind)
		if err != nil {
			return nil, err
		}
		*e.tags = awsapi.MergeTags(*e.tags, tags, func(t Tag) string { return t.Key })
		return nil, s.save()
	}
}

func getUser(s *Store, c *awsapi.Caller, p url.Values) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p.Get("UserName") == "" {
		// The root user asking about itself.
		return &userResult{User: xmlUser{UserId: s.account, Arn: "arn:aws:iam::" + s.account + ":root", Created: iamTime(time.Unix(0, 0))}}, nil
	}
	u, err := s.user(p)
	if err != nil {
		return nil, err
	}
	return &userResult{User: s.xmlUser(u)}, nil
}

type listUsersResult struct {
	Users       []xmlUser `xml:"Users>member"`
	IsTruncated bool      `xml:"IsTruncated"`
}

func listUsers(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	prefix := normPath(p.Get("PathPrefix"))
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := &listUsersResult{Users: []xmlUser{}}
	for _, u := range s.st.Users {
		if strings.HasPrefix(u.Path, prefix) {
			out.Users = append(out.Users, s.xmlUser(u))
		}
	}
	sort.Slice(out.Users, func(i, j int) bool { return out.Users[i].UserName < out.Users[j].UserName })
	return out, nil
}

func deleteUser(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.user(p)
	if err != nil {
		return nil, err
	}
	if len(u.Policies) > 0 {
		return nil, apiErr(errDeleteConflict, "Cannot delete entity, must delete policies first.")
	}
	for _, k := range s.st.Keys {
		if k.User == u.Name {
			return nil, apiErr(errDeleteConflict, "Cannot delete entity, must delete access keys first.")
		}
	}
	delete(s.st.Users, u.Name)
	return nil, s.save()
}

type xmlAccessKey struct {
	UserName        string `xml:"UserName"`
	AccessKeyId     string `xml:"AccessKeyId"`
	Status          string `xml:"Status"`
	SecretAccessKey string `xml:"SecretAccessKey,omitempty"`
	CreateDate      string `xml:"CreateDate"`
}

type accessKeyResult struct {
	AccessKey xmlAccessKey `xml:"AccessKey"`
}

// maxKeysPerUser is IAM's quota of access keys per user.
const maxKeysPerUser = 2

func createAccessKey(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.user(p)
	if err != nil {
		return nil, err
	}
	n := 0
	for _, k := range s.st.Keys {
		if k.User == u.Name {
			n++
		}
	}
	if n >= maxKeysPerUser {
		return nil, apiErr(errLimitExceeded, "Cannot exceed quota for AccessKeysPerUser: %d", maxKeysPerUser)
	}
	k := &accessKey{ID: newID("AKIA", 16), Secret: newSecret(40), User: u.Name, Status: "Active", Created: s.now().UTC()}
	s.st.Keys[k.ID] = k
	if err := s.save(); err != nil {
		delete(s.st.Keys, k.ID)
		return nil, err
	}
	return &accessKeyResult{AccessKey: xmlAccessKey{UserName: u.Name, AccessKeyId: k.ID, Status: k.Status, SecretAccessKey: k.Secret, CreateDate: iamTime(k.Created)}}, nil
}

type listAccessKeysResult struct {
	AccessKeyMetadata []xmlAccessKey `xml:"AccessKeyMetadata>member"`
	IsTruncated       bool           `xml:"IsTruncated"`
}

func listAccessKeys(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, err := s.user(p)
	if err != nil {
		return nil, err
	}
	out := &listAccessKeysResult{AccessKeyMetadata: []xmlAccessKey{}}
	for _, k := range s.st.Keys {
		if k.User == u.Name {
			out.AccessKeyMetadata = append(out.AccessKeyMetadata, xmlAccessKey{UserName: u.Name, AccessKeyId: k.ID, Status: k.Status, CreateDate: iamTime(k.Created)})
		}
	}
	sort.Slice(out.AccessKeyMetadata, func(i, j int) bool {
		return out.AccessKeyMetadata[i].AccessKeyId < out.AccessKeyMetadata[j].AccessKeyId
	})
	return out, nil
}

func deleteAccessKey(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	id, err := required(p, "AccessKeyId")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, err := s.user(p)
	if err != nil {
		return nil, err
	}
	k := s.st.Keys[id]
	if k == nil || k.User != u.Name {
		return nil, apiErr(errNoSuchEntity, "The Access Key with id %s cannot be found.", id)
	}
	delete(s.st.Keys, id)
	return nil, s.save()
}

// Inline policies. IAM's quotas count the characters of all of an identity's inline policies
// together, whitespace left out.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html

func parseInline(p url.Values) (name, doc string, pol *policy.Policy, err error) {
	if name, err = checkName(p, "PolicyName"); err != nil {
		return
	}
	if doc, err = required(p, "PolicyDocument"); err != nil {
		return
	}
	pol, perr := policy.ParseIdentityPolicy(doc)
	if perr != nil {
		return "", "", nil, apiErr(errMalformed, "%s", perr.Error())
	}
	return name, doc, pol, nil
}

func putInline(policies map[string]string, name, doc string, limit int, who string) (map[string]string, error) {
	next := map[string]string{name: doc}
	total := policy.Size(doc, true)
	for n, d := range policies {
		if n != name {
			next[n] = d
			total += policy.Size(d, true)
		}
	}
	if total > limit {
		return nil, apiErr(errLimitExceeded, "Maximum policy size of %d bytes exceeded for %s", limit, who)
	}
	return next, nil
}

// quota is IAM's limit on all of one identity's inline policies together.
var quota = map[string]int{"User": policy.UserPolicyMaxChars, "Role": policy.RolePolicyMaxChars}

// putPolicy is PutUserPolicy and PutRolePolicy.
func putPolicy(kind string) iamAction {
	return func(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
		name, doc, _, err := parseInline(p)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		e, err := s.entityOf(p, kind)
		if err != nil {
			return nil, err
		}
		in := e.inline
		next, err := putInline(in.Policies, name, doc, quota[kind], strings.ToLower(kind)+" "+e.name)
		if err != nil {
			return nil, err
		}
		compiled, err := compileAll(next)
		if err != nil {
			return nil, err
		}
		in.Policies, in.compiled = next, compiled
		return nil, s.save()
	}
}

// policyResult is GetUserPolicy's and GetRolePolicy's answer.
type policyResult struct {
	UserName       string `xml:"UserName,omitempty"`
	RoleName       string `xml:"RoleName,omitempty"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

// getPolicy is GetUserPolicy and GetRolePolicy.
func getPolicy(kind string) iamAction {
	return func(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		e, err := s.entityOf(p, kind)
		if err != nil {
			return nil, err
		}
		name := p.Get("PolicyName")
		doc, ok := e.inline.Policies[name]
		if !ok {
			return nil, apiErr(errNoSuchEntity, "The %s policy with name %s cannot be found.", strings.ToLower(kind), name)
		}
		out := &policyResult{PolicyName: name, PolicyDocument: urlEncode(doc)}
		if kind == "User" {
			out.UserName = e.name
		} else {
			out.RoleName = e.name
		}
		return out, nil
	}
}

// deletePolicy is DeleteUserPolicy and DeleteRolePolicy.
func deletePolicy(kind string) iamAction {
	return func(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		e, err := s.entityOf(p, kind)
		if err != nil {
			return nil, err
		}
		in := e.inline
		name := p.Get("PolicyName")
		if _, ok := in.Policies[name]; !ok {
			return nil, apiErr(errNoSuchEntity, "The %s policy with name %s cannot be found.", strings.ToLower(kind), name)
		}
		delete(in.Policies, name)
		in.compiled, _ = compileAll(in.Policies)
		return nil, s.save()
	}
}

// Roles.

type xmlRole struct {
	Path                     string `xml:"Path"`
	RoleName                 string `xml:"RoleName"`
	RoleId                   string `xml:"RoleId"`
	Arn                      string `xml:"Arn"`
	CreateDate               string `xml:"CreateDate"`
	AssumeRolePolicyDocument string `xml:"AssumeRolePolicyDocument"`
	Description              string `xml:"Description,omitempty"`
	MaxSessionDuration       int    `xml:"MaxSessionDuration"`
	Tags                     []Tag  `xml:"Tags>member,omitempty"`
}

type roleResult struct {
	Role xmlRole `xml:"Role"`
}

func (s *Store) roleARN(r *role) string {
	return "arn:aws:iam::" + s.account + ":role" + r.Path + r.Name
}

func (s *Store) xmlRole(r *role) xmlRole {
	return xmlRole{Path: r.Path, RoleName: r.Name, RoleId: r.ID, Arn: s.roleARN(r), CreateDate: iamTime(r.Created),
		AssumeRolePolicyDocument: urlEncode(r.Trust), Description: r.Description, MaxSessionDuration: r.MaxSession, Tags: r.Tags}
}

func createRole(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	name, err := checkName(p, "RoleName")
	if err != nil {
		return nil, err
	}
	path, err := checkPath(p)
	if err != nil {
		return nil, err
	}
	doc, err := required(p, "AssumeRolePolicyDocument")
	if err != nil {
		return nil, err
	}
	tags, err := tagsOf(p)
	if err != nil {
		return nil, err
	}
	maxSession := 3600
	if v := p.Get("MaxSessionDuration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3600 || n > 43200 {
			return nil, apiErr(errValidation, "1 validation error detected: Value '%s' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200", v)
		}
		maxSession = n
	}
	trust, perr := policy.Parse(doc, policy.ParseOptions{Type: policy.TrustPolicy, MaxSize: policy.TrustPolicyMaxChars,
		SizeIgnoresWhitespace: true, PrincipalExists: s.Exists})
	if perr != nil {
		if errors.Is(perr, policy.ErrTooLarge) {
			return nil, apiErr(errLimitExceeded, "%s", perr.Error())
		}
		return nil, apiErr(errMalformed, "%s", perr.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.findRole(name) != nil {
		return nil, apiErr(errAlreadyExists, "Role with name %s already exists.", name)
	}
	r := &role{Name: name, Path: path, ID: newID("AROA", 17), Created: s.now().UTC(), Trust: doc, Description: p.Get("Description"),
		MaxSession: maxSession, Tags: tags, trust: trust}
	s.st.Roles[name] = r
	if err := s.save(); err != nil {
		delete(s.st.Roles, name)
		return nil, err
	}
	return &roleResult{Role: s.xmlRole(r)}, nil
}

func getRole(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.role(p)
	if err != nil {
		return nil, err
	}
	return &roleResult{Role: s.xmlRole(r)}, nil
}

func deleteRole(s *Store, _ *awsapi.Caller, p url.Values) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.role(p)
	if err != nil {
		return nil, err
	}
	if len(r.Policies) > 0 {
		return nil, apiErr(errDeleteConflict, "Cannot delete entity, must delete policies first.")
	}
	delete(s.st.Roles, r.Name)
	// The role's sessions end with it.
	for id, k := range s.st.Keys {
		if k.Role == r.Name {
			delete(s.st.Keys, id)
		}
	}
	return nil, s.save()
}
