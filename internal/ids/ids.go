// Package ids makes resource ids in the forms AWS uses for CloudHSM: a prefix, a dash, and
// characters from [2-7a-zA-Z] (cluster-, hsm-, backup- ids match `<prefix>-[2-7a-zA-Z]{11,16}`).
package ids

import (
	"crypto/rand"
	"regexp"
	"strings"
)

const alphabet = "234567abcdefghijklmnopqrstuvwxyz" // base32, lower case: within [2-7a-zA-Z]

// New returns prefix + "-" + 11 random characters, the length AWS itself hands out.
func New(prefix string) string {
	b := make([]byte, 11)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + "-" + string(b)
}

var suffix = regexp.MustCompile(`^[2-7a-zA-Z]{11,16}$`)

// Valid reports whether id has the AWS form for prefix.
func Valid(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix+"-")
	return ok && suffix.MatchString(rest)
}
