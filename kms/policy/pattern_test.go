package policy

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// globRegexp is the reference meaning of a wildcard pattern: `*` any run, `?` one character.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

func checkGlob(t *testing.T, p, s string) {
	if !utf8.ValidString(p) || !utf8.ValidString(s) {
		return
	}
	pat := compilePattern(p, true, false, false)
	if got, want := pat.match(s, &evalCtx{req: &Request{}}), globRegexp(p).MatchString(s); got != want {
		t.Fatalf("pattern %q on %q: %v, want %v", p, s, got, want)
	}
}

func TestGlobMatchesItsReference(t *testing.T) {
	for _, c := range [][2]string{
		{"", ""}, {"", "a"}, {"*", ""}, {"*", "abc"}, {"a*", "a"}, {"a*", "ba"}, {"*a", "ba"},
		{"a*b*c", "aXbYbZc"}, {"a*b*c", "aXcYb"}, {"a?c", "abc"}, {"a?c", "ac"}, {"?", "é"},
		{"**", "x"}, {"*?*", ""}, {"*?*", "x"}, {"a*a*a*a*b", strings.Repeat("a", 40)},
		{"arn:aws:kms:*:111122223333:key/*", keyARN}, {"*:*", "no-colon"}, {"é*é", "éxé"},
	} {
		checkGlob(t, c[0], c[1])
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("a*b?c", "aXXbYc")
	f.Add("*?*", "é")
	f.Add("kms:*Key", "kms:DescribeKey")
	f.Fuzz(checkGlob)
}
