package policy

import (
	"strings"
	"unicode/utf8"
)

// A pattern is a compiled Action, Resource or condition value. Wildcards (`*` any run, `?` one
// character) exist in Action, Resource, StringLike and ARN values; policy variables (`${key}`,
// `${key, 'default'}`, and the escapes `${*}`, `${?}`, `${$}`) exist in Resource and in String
// and ARN condition values of a 2012-10-17 policy, and only there:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
//
// Most patterns are "*", a literal or a literal prefix; those match with one comparison. The rest
// become tokens matched by a backtracking glob that allocates nothing.

type pmode uint8

const (
	pExact  pmode = iota // s equals the text
	pAny                 // "*"
	pPrefix              // text followed by one trailing "*"
	pTokens              // the general case
)

type tkind uint8

const (
	tLit  tkind = iota // literal text
	tStar              // * : any run of characters, possibly empty
	tOne               // ? : exactly one character
	tVar               // ${key}: a single-valued request context key's value, taken literally
)

type ptok struct {
	kind   tkind
	s      string // the literal, or the variable's context key in lower case
	def    string // the variable's default
	hasDef bool
}

type pattern struct {
	mode pmode
	fold bool // ASCII case-insensitive: actions only; the text is stored in lower case
	hasV bool // has policy variables
	s    string
	toks []ptok
}

// compilePattern compiles src. wild enables `*` and `?`; vars enables policy variables; fold
// makes the match ASCII case-insensitive (service prefixes and action names are ASCII).
func compilePattern(src string, wild, vars, fold bool) pattern {
	if fold {
		src = strings.ToLower(src)
	}
	// Most patterns are a literal, "*" or a literal followed by "*": no tokens for those.
	special := ""
	if wild {
		special = "*?"
	}
	if vars {
		special += "$"
	}
	switch n := len(src); {
	case strings.IndexAny(src, special) < 0:
		return pattern{mode: pExact, fold: fold, s: src}
	case wild && src == "*":
		return pattern{mode: pAny, fold: fold}
	case wild && src[n-1] == '*' && strings.IndexAny(src[:n-1], special) < 0:
		return pattern{mode: pPrefix, fold: fold, s: src[:n-1]}
	}
	var toks []ptok
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, ptok{kind: tLit, s: lit.String()})
			lit.Reset()
		}
	}
	hasV := false
	for i := 0; i < len(src); {
		c := src[i]
		if vars && c == '$' && i+1 < len(src) && src[i+1] == '{' {
			if end := strings.IndexByte(src[i+2:], '}'); end >= 0 {
				body := strings.TrimSpace(src[i+2 : i+2+end])
				i += 2 + end + 1
				switch body {
				case "*", "?", "$":
					lit.WriteString(body)
					continue
				}
				t := ptok{kind: tVar}
				if k, d, ok := strings.Cut(body, ","); ok {
					d = strings.TrimSpace(d)
					if len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' {
						d = d[1 : len(d)-1]
					}
					body, t.def, t.hasDef = strings.TrimSpace(k), d, true
				}
				t.s = strings.ToLower(body)
				flush()
				toks = append(toks, t)
				hasV = true
				continue
			}
		}
		if wild && (c == '*' || c == '?') {
			flush()
			if c == '*' {
				if n := len(toks); n > 0 && toks[n-1].kind == tStar {
					i++
					continue // "**" is "*"
				}
				toks = append(toks, ptok{kind: tStar})
			} else {
				toks = append(toks, ptok{kind: tOne})
			}
			i++
			continue
		}
		lit.WriteByte(c)
		i++
	}
	flush()
	p := pattern{fold: fold, hasV: hasV}
	switch {
	case len(toks) == 0:
		p.mode = pExact
	case len(toks) == 1 && toks[0].kind == tLit:
		p.mode, p.s = pExact, toks[0].s
	case len(toks) == 1 && toks[0].kind == tStar:
		p.mode = pAny
	case len(toks) == 2 && toks[0].kind == tLit && toks[1].kind == tStar:
		p.mode, p.s = pPrefix, toks[0].s
	default:
		p.mode, p.toks = pTokens, toks
	}
	return p
}

// match reports whether s matches the pattern; ec resolves policy variables.
func (p *pattern) match(s string, ec *evalCtx) bool {
	switch p.mode {
	case pAny:
		return true
	case pExact:
		return len(s) == len(p.s) && hasPrefix(s, p.s, p.fold)
	case pPrefix:
		return hasPrefix(s, p.s, p.fold)
	}
	return matchTokens(p.toks, s, p.fold, ec)
}

// matchTokens is a glob match with one backtracking point, the last star seen: when what follows
// a star fails, the star takes one more character and the rest is tried again. Each run between
// stars has a fixed length, so the leftmost match of each run is the one to keep, and the loop is
// O(len(toks)·len(s)) with no allocation.
func matchTokens(toks []ptok, s string, fold bool, ec *evalCtx) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for {
		if ti < len(toks) {
			t := &toks[ti]
			switch t.kind {
			case tStar:
				starT, starS = ti, si
				ti++
				continue
			case tOne:
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case tLit:
				if hasPrefix(s[si:], t.s, fold) {
					si += len(t.s)
					ti++
					continue
				}
			case tVar:
				v, ok := ec.variable(t)
				if !ok {
					return false
				}
				if strings.HasPrefix(s[si:], v) {
					si += len(v)
					ti++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starT < 0 || starS >= len(s) {
			return false
		}
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		ti, si = starT+1, starS
	}
}

// hasPrefix is strings.HasPrefix, ASCII case-insensitive when fold is set (prefix is lower case).
func hasPrefix(s, prefix string, fold bool) bool {
	if len(s) < len(prefix) {
		return false
	}
	if !fold {
		return s[:len(prefix)] == prefix
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// text returns the pattern's text with its variables substituted, for the comparisons that
// cannot run on tokens (StringEqualsIgnoreCase with a variable). It is the one evaluation path
// that allocates, and only policies that use variables there take it.
func (p *pattern) text(ec *evalCtx) (string, bool) {
	if p.mode != pTokens {
		return p.s, true
	}
	var b strings.Builder
	for i := range p.toks {
		t := &p.toks[i]
		switch t.kind {
		case tLit:
			b.WriteString(t.s)
		case tVar:
			v, ok := ec.variable(t)
			if !ok {
				return "", false
			}
			b.WriteString(v)
		case tStar:
			b.WriteByte('*')
		case tOne:
			b.WriteByte('?')
		}
	}
	return b.String(), true
}
