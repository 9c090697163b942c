package policy

import "strings"

// Principal and NotPrincipal elements:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html

type pkind uint8

const (
	pkAny       pkind = iota // "*" or {"AWS": "*"}
	pkAccount                // an account id or arn:PARTITION:iam::ACCOUNT:root
	pkARN                    // a user, role or session ARN
	pkService                // {"Service": "..."}
	pkFederated              // {"Federated": "..."}: parsed, never an STS caller here
)

type pentry struct {
	kind pkind
	s    string // the account id, the ARN, or the service or provider name
}

type principalSet []pentry

type pmatch uint8

const (
	pmNone pmatch = iota
	// pmAccount: the statement names the caller's account, not the caller. For the root user
	// that is the caller itself; for anyone else it delegates to the account's IAM policies.
	pmAccount
	pmDirect // the statement names the caller (or "*")
)

// match says how the set names p. A role ARN names the role's sessions.
func (s principalSet) match(p *Principal) pmatch {
	best := pmNone
	for i := range s {
		e := &s[i]
		switch e.kind {
		case pkAny:
			return pmDirect
		case pkAccount:
			if e.s == p.Account && p.Type != PrincipalService {
				if p.Type == PrincipalRoot {
					return pmDirect
				}
				best = pmAccount
			}
		case pkARN:
			if p.Type != PrincipalService && (e.s == p.ARN || (p.RoleARN != "" && e.s == p.RoleARN)) {
				return pmDirect
			}
		case pkService:
			if p.Type == PrincipalService && e.s == p.ARN {
				return pmDirect
			}
		}
	}
	return best
}

// excludes reports whether a NotPrincipal set spares p. AWS checks the account, then the role,
// then the session, and denies at the first that is not listed; so sparing an IAM identity takes
// its account and itself (for a session, its role or the session), as the NotPrincipal page
// says: "you must also specify the account ARN of the not-denied principal".
func (s principalSet) excludes(p *Principal) bool {
	account, self := false, false
	for i := range s {
		e := &s[i]
		switch e.kind {
		case pkAny:
			return true
		case pkAccount:
			if e.s == p.Account {
				account = true
			}
		case pkARN:
			if e.s == p.ARN || (p.RoleARN != "" && e.s == p.RoleARN) {
				self = true
			}
		case pkService:
			if p.Type == PrincipalService && e.s == p.ARN {
				return true
			}
		}
	}
	if p.Type == PrincipalService {
		return false
	}
	return account && (self || p.Type == PrincipalRoot)
}

// parsePrincipal compiles a Principal or NotPrincipal value.
func parsePrincipal(v jvalue, o *ParseOptions) (principalSet, *Error) {
	if v.kind == jString {
		if v.str == "*" {
			return principalSet{{kind: pkAny}}, nil
		}
		return nil, o.invalidPrincipal("", v.str)
	}
	if v.kind != jObject || len(v.obj) == 0 {
		return nil, o.invalidPrincipal("", "")
	}
	var set principalSet
	for _, m := range v.obj {
		var strs []string
		switch m.val.kind {
		case jString:
			strs = []string{m.val.str}
		case jArray:
			if len(m.val.arr) == 0 {
				return nil, o.invalidPrincipal(m.key, "")
			}
			for _, e := range m.val.arr {
				if e.kind != jString {
					return nil, o.invalidPrincipal(m.key, "")
				}
				strs = append(strs, e.str)
			}
		default:
			return nil, o.invalidPrincipal(m.key, "")
		}
		for _, s := range strs {
			e, ok := parsePrincipalString(m.key, s)
			if !ok || (e.kind == pkARN && o.PrincipalExists != nil && !o.PrincipalExists(e.s)) {
				return nil, o.invalidPrincipal(m.key, s)
			}
			set = append(set, e)
		}
	}
	return set, nil
}

func parsePrincipalString(typ, s string) (pentry, bool) {
	switch typ {
	case "AWS":
		if s == "*" {
			return pentry{kind: pkAny}, true
		}
		if isAccountID(s) {
			return pentry{kind: pkAccount, s: s}, true
		}
		if account, root, ok := principalARN(s); ok {
			if root {
				return pentry{kind: pkAccount, s: account}, true
			}
			return pentry{kind: pkARN, s: s}, true
		}
	case "Service":
		if s == "*" {
			return pentry{kind: pkAny}, true
		}
		if s != "" && !strings.ContainsAny(s, " \t\r\n*?") {
			return pentry{kind: pkService, s: s}, true
		}
	case "Federated":
		if s != "" && !strings.ContainsAny(s, " \t\r\n*?") {
			return pentry{kind: pkFederated, s: s}, true
		}
	}
	return pentry{}, false
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// principalARN checks that s is an IAM or STS principal ARN (the account root, a user, a role,
// an assumed-role session, a federated user); wildcards are not allowed inside one.
func principalARN(s string) (account string, root, ok bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !isPartition(parts[1]) || parts[3] != "" || !isAccountID(parts[4]) {
		return "", false, false
	}
	account, res := parts[4], parts[5]
	switch parts[2] {
	case "iam":
		if res == "root" {
			return account, true, true
		}
		if rest, ok := strings.CutPrefix(res, "user/"); ok && validPathName(rest) {
			return account, false, true
		}
		if rest, ok := strings.CutPrefix(res, "role/"); ok && validPathName(rest) {
			return account, false, true
		}
	case "sts":
		if rest, ok := strings.CutPrefix(res, "assumed-role/"); ok {
			role, session, ok := strings.Cut(rest, "/")
			if ok && validName(role) && validName(session) {
				return account, false, true
			}
		}
		if rest, ok := strings.CutPrefix(res, "federated-user/"); ok && validName(rest) {
			return account, false, true
		}
	}
	return "", false, false
}

func isPartition(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// validPathName checks "path/name" of an IAM user or role: IAM's name characters, '/' between.
func validPathName(s string) bool {
	if s == "" || s[len(s)-1] == '/' {
		return false
	}
	for _, seg := range strings.Split(s, "/") {
		if seg != "" && !validName(seg) {
			return false
		}
	}
	return true
}

// validName allows IAM's name characters: letters, digits and +=,.@_-.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("+=,.@_-", c) >= 0:
		default:
			return false
		}
	}
	return true
}
