package policy

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Type is the kind of policy document, which decides the elements it must and must not have.
type Type uint8

const (
	// KeyPolicy is a KMS key policy, a resource-based policy: every statement names a
	// Principal (or NotPrincipal) and a Resource.
	KeyPolicy Type = iota
	// IdentityPolicy is an IAM user or role policy: no Principal, a Resource in every statement.
	IdentityPolicy
	// TrustPolicy is a role's trust policy (AssumeRolePolicyDocument): a Principal in every
	// statement, no Resource, no NotPrincipal.
	TrustPolicy
)

func (t Type) String() string {
	switch t {
	case KeyPolicy:
		return "key policy"
	case IdentityPolicy:
		return "identity policy"
	}
	return "trust policy"
}

// Size limits AWS applies. KMS counts a key policy's bytes; IAM counts the characters of a
// policy without its whitespace.
// https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
const (
	KeyPolicyMaxBytes     = 32 * 1024
	UserPolicyMaxChars    = 2048  // all inline policies of a user together
	RolePolicyMaxChars    = 10240 // all inline policies of a role together
	TrustPolicyMaxChars   = 2048
	ManagedPolicyMaxChars = 6144
	versionCurrent        = "2012-10-17"
	versionLegacy         = "2008-10-17"
)

// ParseOptions says what document to expect.
type ParseOptions struct {
	Type Type // the zero value is KeyPolicy
	// MaxSize, when positive, refuses a longer document with ErrTooLarge: bytes, or with
	// SizeIgnoresWhitespace characters other than whitespace (IAM's count).
	MaxSize               int
	SizeIgnoresWhitespace bool
	// PrincipalExists, when set, is asked about every user, role and session ARN a Principal
	// names; false refuses the document as an invalid principal, as KMS and IAM refuse a
	// principal that does not exist.
	PrincipalExists func(arn string) bool
}

// Policy is a parsed, compiled policy document. It is immutable.
type Policy struct {
	typ     Type
	version string
	id      string
	stmts   []statement
	deny    []int32 // indexes of Deny statements, evaluated first
	allow   []int32
}

// Type is the kind the document was parsed as.
func (p *Policy) Type() Type { return p.typ }

// Version is the document's Version ("2008-10-17" when it has none, as AWS assumes).
func (p *Policy) Version() string { return p.version }

// ID is the document's Id element.
func (p *Policy) ID() string { return p.id }

// Len is the number of statements.
func (p *Policy) Len() int { return len(p.stmts) }

// Sid is statement i's Sid ("" when it has none).
func (p *Policy) Sid(i int) string { return p.stmts[i].sid }

type statement struct {
	sid          string
	deny         bool
	principals   principalSet
	hasPrincipal bool
	notPrincipal bool
	actions      []pattern
	notAction    bool
	resources    []pattern
	hasResource  bool
	notResource  bool
	conds        []condition
}

// ParseKeyPolicy parses a KMS key policy with KMS's 32 KiB limit.
func ParseKeyPolicy(doc string) (*Policy, error) {
	return Parse(doc, ParseOptions{Type: KeyPolicy, MaxSize: KeyPolicyMaxBytes})
}

// ParseIdentityPolicy parses an IAM identity policy, without a size limit (IAM's limits are per
// user or role, over all its inline policies; the caller applies them).
func ParseIdentityPolicy(doc string) (*Policy, error) {
	return Parse(doc, ParseOptions{Type: IdentityPolicy})
}

// ParseTrustPolicy parses a role trust policy with IAM's 2,048-character limit.
func ParseTrustPolicy(doc string) (*Policy, error) {
	return Parse(doc, ParseOptions{Type: TrustPolicy, MaxSize: TrustPolicyMaxChars, SizeIgnoresWhitespace: true})
}

// Size is a document's size as a limit counts it: bytes, or with ignoreWhitespace the
// characters other than whitespace.
func Size(doc string, ignoreWhitespace bool) int {
	if !ignoreWhitespace {
		return len(doc)
	}
	n := 0
	for _, r := range doc {
		if !unicode.IsSpace(r) {
			n++
		}
	}
	return n
}

// Parse parses and compiles a policy document. A refused document gives an *Error.
// Grammar: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html
func Parse(doc string, o ParseOptions) (*Policy, error) {
	if o.MaxSize > 0 {
		if n := Size(doc, o.SizeIgnoresWhitespace); n > o.MaxSize {
			return nil, &Error{Kind: ErrTooLarge, Message: tooLargeMessage(o, n)}
		}
	}
	if !utf8.ValidString(doc) {
		return nil, malformed(msgInvalidJSON)
	}
	root, err := parseJSON(doc)
	if err != nil {
		// A duplicate element in a document that is not JSON after all is invalid JSON.
		if d, ok := err.(*duplicateError); ok && json.Valid([]byte(doc)) {
			return nil, malformed("Duplicate element in policy: %s", d.key)
		}
		return nil, malformed(msgInvalidJSON)
	}
	if root.kind != jObject {
		return nil, malformed(msgInvalidJSON)
	}
	p := &Policy{typ: o.Type, version: versionLegacy}
	var stmtVal *jvalue
	for i := range root.obj {
		m := &root.obj[i]
		switch m.key {
		case "Version":
			if m.val.kind != jString || (m.val.str != versionCurrent && m.val.str != versionLegacy) {
				return nil, malformed(msgVersion)
			}
			p.version = m.val.str
		case "Id":
			if m.val.kind != jString {
				return nil, malformed("Policy element Id must be a string")
			}
			p.id = m.val.str
		case "Statement":
			stmtVal = &m.val
		default:
			return nil, malformed("Policy document contains an unknown element: %s", m.key)
		}
	}
	if stmtVal == nil {
		return nil, malformed(msgNoStatement)
	}
	var raw []jvalue
	switch stmtVal.kind {
	case jObject:
		raw = []jvalue{*stmtVal}
	case jArray:
		raw = stmtVal.arr
	default:
		return nil, malformed("Policy element Statement must be an object or an array of objects")
	}
	if len(raw) == 0 {
		return nil, malformed(msgNoStatement)
	}
	vars := p.version == versionCurrent
	for i := range raw {
		st, err := parseStatement(raw[i], &o, vars)
		if err != nil {
			return nil, err
		}
		if st.deny {
			p.deny = append(p.deny, int32(i))
		} else {
			p.allow = append(p.allow, int32(i))
		}
		p.stmts = append(p.stmts, st)
	}
	return p, nil
}

func tooLargeMessage(o ParseOptions, n int) string {
	if o.Type == KeyPolicy {
		return fmt.Sprintf("The key policy size of %d bytes exceeds the maximum size of %d bytes.", n, o.MaxSize)
	}
	return fmt.Sprintf("Cannot exceed quota for PolicySize: %d", o.MaxSize)
}

func (o *ParseOptions) invalidPrincipal(typ, s string) *Error {
	if o.Type == TrustPolicy {
		if typ == "" {
			return malformed("Invalid principal in policy")
		}
		return malformed("Invalid principal in policy: %q:%q", typ, s)
	}
	return malformed(msgKMSInvalidPrincipal)
}

func parseStatement(v jvalue, o *ParseOptions, vars bool) (statement, *Error) {
	var st statement
	if v.kind != jObject {
		return st, malformed("Policy element Statement must be an object or an array of objects")
	}
	var effect, principal, notPrincipal, action, notAction, resource, notResource, cond *jvalue
	elements := map[string]**jvalue{"Effect": &effect, "Principal": &principal, "NotPrincipal": &notPrincipal,
		"Action": &action, "NotAction": &notAction, "Resource": &resource, "NotResource": &notResource, "Condition": &cond}
	for i := range v.obj {
		m := &v.obj[i]
		if slot, ok := elements[m.key]; ok {
			*slot = &m.val
			continue
		}
		if m.key != "Sid" {
			return st, malformed("Policy statement contains an unknown element: %s", m.key)
		}
		if m.val.kind != jString {
			return st, malformed("Statement element Sid must be a string")
		}
		st.sid = m.val.str
	}

	switch {
	case effect == nil:
		return st, malformed(msgNoEffect)
	case effect.kind == jString && effect.str == "Allow":
	case effect.kind == jString && effect.str == "Deny":
		st.deny = true
	case effect.kind == jString:
		return st, malformed("Invalid effect: %s", effect.str)
	default:
		return st, malformed("Invalid effect: %s", effect.kindName())
	}

	// Principal
	switch {
	case o.Type == IdentityPolicy && principal != nil:
		return st, malformed("Has prohibited field Principal")
	case o.Type == IdentityPolicy && notPrincipal != nil:
		return st, malformed("Has prohibited field NotPrincipal")
	case o.Type == TrustPolicy && notPrincipal != nil:
		return st, malformed("Has prohibited field NotPrincipal")
	case principal != nil && notPrincipal != nil:
		return st, malformed("Policy statement cannot contain both Principal and NotPrincipal")
	case o.Type != IdentityPolicy && principal == nil && notPrincipal == nil:
		return st, malformed(msgNoPrincipal)
	case notPrincipal != nil && !st.deny:
		// "NotPrincipal must be used with "Effect":"Deny". Using it with "Effect":"Allow" is
		// not supported." (reference_policies_elements_notprincipal.html)
		return st, malformed(msgNotPrincipalAllow)
	}
	if principal != nil || notPrincipal != nil {
		pv := principal
		if pv == nil {
			pv, st.notPrincipal = notPrincipal, true
		}
		set, err := parsePrincipal(*pv, o)
		if err != nil {
			return st, err
		}
		st.principals, st.hasPrincipal = set, true
	}

	// Action
	var err *Error
	st.actions, st.notAction, err = patternList(action, notAction, "Action", msgNoActions, func(a string) (pattern, *Error) {
		if err := checkAction(a); err != nil {
			return pattern{}, err
		}
		return compilePattern(a, true, false, true), nil
	})
	if err != nil {
		return st, err
	}

	switch {
	case o.Type == TrustPolicy && resource != nil:
		return st, malformed("Has prohibited field Resource")
	case o.Type == TrustPolicy && notResource != nil:
		return st, malformed("Has prohibited field NotResource")
	}
	if o.Type != TrustPolicy {
		st.resources, st.notResource, err = patternList(resource, notResource, "Resource", msgNoResources, func(r string) (pattern, *Error) {
			if r != "*" && !strings.HasPrefix(r, "arn:") {
				return pattern{}, malformed("Resource %s must be in ARN format or \"*\".", r)
			}
			return compilePattern(r, true, vars, false), nil
		})
		if err != nil {
			return st, err
		}
		st.hasResource = true
	}

	if cond != nil {
		conds, err := parseConditions(*cond, vars)
		if err != nil {
			return st, err
		}
		st.conds = conds
	}
	return st, nil
}

// patternList compiles the one of an element and its Not form (Action/NotAction,
// Resource/NotResource) that the statement has; it must have exactly one, with a value.
func patternList(elem, notElem *jvalue, name, missing string, compile func(string) (pattern, *Error)) ([]pattern, bool, *Error) {
	if elem != nil && notElem != nil {
		return nil, false, malformed("Policy statement cannot contain both %s and Not%s", name, name)
	}
	v, not := elem, false
	if v == nil {
		v, not = notElem, true
	}
	if v == nil {
		return nil, false, &Error{Kind: ErrMalformed, Message: missing}
	}
	strs, err := stringList(*v, name)
	if err != nil {
		return nil, false, err
	}
	if len(strs) == 0 {
		return nil, false, &Error{Kind: ErrMalformed, Message: missing}
	}
	pats := make([]pattern, 0, len(strs))
	for _, s := range strs {
		p, err := compile(s)
		if err != nil {
			return nil, false, err
		}
		pats = append(pats, p)
	}
	return pats, not, nil
}

// stringList reads an element that is a string or an array of strings.
func stringList(v jvalue, elem string) ([]string, *Error) {
	switch v.kind {
	case jString:
		return []string{v.str}, nil
	case jArray:
		out := make([]string, 0, len(v.arr))
		for _, e := range v.arr {
			if e.kind != jString {
				return nil, malformed("Policy element %s must be a string or an array of strings", elem)
			}
			out = append(out, e.str)
		}
		return out, nil
	}
	return nil, malformed("Policy element %s must be a string or an array of strings", elem)
}

// checkAction accepts "*" and "vendor:pattern".
func checkAction(a string) *Error {
	if a == "*" {
		return nil
	}
	vendor, name, ok := strings.Cut(a, ":")
	if !ok || !validVendor(vendor) || name == "" {
		return malformed(msgVendor)
	}
	if strings.Contains(name, ":") {
		return malformed(msgOneColon)
	}
	if strings.ContainsAny(name, " \t\r\n") {
		return malformed(msgVendor)
	}
	return nil
}
