package policy

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// The document is read into an ordered tree rather than into Go structs so that the parser can
// refuse what encoding/json would quietly accept: duplicate member names (the later would win),
// unknown elements, and values of the wrong JSON type, each with its own message. The reader is
// RFC 8259 JSON, as strict as encoding/json (a differential fuzz test holds it to that), and it
// slices strings without escapes straight out of the document: a key policy is read at CreateKey,
// PutKeyPolicy and every restore, and encoding/json's token API costs ten times as much.

type jkind uint8

const (
	jString jkind = iota
	jNumber
	jBool
	jNull
	jArray
	jObject
)

type jvalue struct {
	kind jkind
	str  string // a string's text, a number's literal, "true" or "false"
	arr  []jvalue
	obj  []jmember
}

type jmember struct {
	key string
	val jvalue
}

// maxDepth bounds nesting: the deepest legal element (a condition value list) sits at depth 5.
const maxDepth = 16

var errJSON = errors.New("invalid json")

type reader struct {
	s string
	i int
}

// parseJSON reads exactly one JSON value from doc, which must be valid UTF-8.
func parseJSON(doc string) (jvalue, error) {
	r := reader{s: doc}
	r.space()
	v, err := r.value(0)
	if err != nil {
		return jvalue{}, err
	}
	r.space()
	if r.i != len(r.s) {
		return jvalue{}, errJSON
	}
	return v, nil
}

func (r *reader) space() {
	for r.i < len(r.s) {
		switch r.s[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

func (r *reader) value(depth int) (jvalue, error) {
	if depth > maxDepth || r.i >= len(r.s) {
		return jvalue{}, errJSON
	}
	switch c := r.s[r.i]; {
	case c == '{':
		return r.object(depth)
	case c == '[':
		return r.array(depth)
	case c == '"':
		s, err := r.string()
		return jvalue{kind: jString, str: s}, err
	case c == 't':
		return r.literal("true", jvalue{kind: jBool, str: "true"})
	case c == 'f':
		return r.literal("false", jvalue{kind: jBool, str: "false"})
	case c == 'n':
		return r.literal("null", jvalue{kind: jNull})
	case c == '-' || c >= '0' && c <= '9':
		return r.number()
	}
	return jvalue{}, errJSON
}

func (r *reader) literal(word string, v jvalue) (jvalue, error) {
	if !strings.HasPrefix(r.s[r.i:], word) {
		return jvalue{}, errJSON
	}
	r.i += len(word)
	return v, nil
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? and keeps its literal.
func (r *reader) number() (jvalue, error) {
	start := r.i
	if r.s[r.i] == '-' {
		r.i++
	}
	switch {
	case r.i < len(r.s) && r.s[r.i] == '0':
		r.i++
	case r.digits() == 0:
		return jvalue{}, errJSON
	}
	if r.i < len(r.s) && r.s[r.i] == '.' {
		r.i++
		if r.digits() == 0 {
			return jvalue{}, errJSON
		}
	}
	if r.i < len(r.s) && (r.s[r.i] == 'e' || r.s[r.i] == 'E') {
		r.i++
		if r.i < len(r.s) && (r.s[r.i] == '+' || r.s[r.i] == '-') {
			r.i++
		}
		if r.digits() == 0 {
			return jvalue{}, errJSON
		}
	}
	return jvalue{kind: jNumber, str: r.s[start:r.i]}, nil
}

func (r *reader) digits() int {
	n := 0
	for r.i < len(r.s) && r.s[r.i] >= '0' && r.s[r.i] <= '9' {
		r.i++
		n++
	}
	return n
}

// string reads a string at r.i (an opening quote). Without escapes it is a slice of the
// document; with them it is decoded as encoding/json does, a lone surrogate becoming U+FFFD.
func (r *reader) string() (string, error) {
	r.i++
	start := r.i
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			s := r.s[start:r.i]
			r.i++
			return s, nil
		case c == '\\':
			return r.escaped(start)
		case c < 0x20:
			return "", errJSON
		}
		r.i++
	}
	return "", errJSON
}

func (r *reader) escaped(start int) (string, error) {
	var b strings.Builder
	b.WriteString(r.s[start:r.i])
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == '"':
			r.i++
			return b.String(), nil
		case c < 0x20:
			return "", errJSON
		case c != '\\':
			b.WriteByte(c)
			r.i++
			continue
		}
		r.i++
		if r.i >= len(r.s) {
			return "", errJSON
		}
		e := r.s[r.i]
		r.i++
		switch e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return "", errJSON
			}
			if utf16.IsSurrogate(c1) {
				// A high surrogate followed by an escaped low one is one character.
				save := r.i
				if strings.HasPrefix(r.s[r.i:], `\u`) {
					r.i += 2
					if c2, ok := r.hex4(); ok {
						if d := utf16.DecodeRune(c1, c2); d != utf8.RuneError {
							b.WriteRune(d)
							continue
						}
					}
				}
				r.i = save
				c1 = utf8.RuneError
			}
			b.WriteRune(c1)
		default:
			return "", errJSON
		}
	}
	return "", errJSON
}

func (r *reader) hex4() (rune, bool) {
	if r.i+4 > len(r.s) {
		return 0, false
	}
	var v rune
	for _, c := range []byte(r.s[r.i : r.i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | rune(c)
	}
	r.i += 4
	return v, true
}

func (r *reader) array(depth int) (jvalue, error) {
	r.i++ // [
	v := jvalue{kind: jArray}
	r.space()
	if r.i < len(r.s) && r.s[r.i] == ']' {
		r.i++
		return v, nil
	}
	for {
		r.space()
		e, err := r.value(depth + 1)
		if err != nil {
			return jvalue{}, err
		}
		v.arr = append(v.arr, e)
		if done, err := r.next(']'); done || err != nil {
			return v, err
		}
	}
}

func (r *reader) object(depth int) (jvalue, error) {
	r.i++ // {
	v := jvalue{kind: jObject}
	r.space()
	if r.i < len(r.s) && r.s[r.i] == '}' {
		r.i++
		return v, nil
	}
	for {
		r.space()
		if r.i >= len(r.s) || r.s[r.i] != '"' {
			return jvalue{}, errJSON
		}
		key, err := r.string()
		if err != nil {
			return jvalue{}, err
		}
		r.space()
		if r.i >= len(r.s) || r.s[r.i] != ':' {
			return jvalue{}, errJSON
		}
		r.i++
		r.space()
		e, err := r.value(depth + 1)
		if err != nil {
			return jvalue{}, err
		}
		for i := range v.obj {
			if v.obj[i].key == key {
				// Reported once the whole document is known to be JSON: see Parse.
				return jvalue{}, &duplicateError{key: key}
			}
		}
		v.obj = append(v.obj, jmember{key: key, val: e})
		if done, err := r.next('}'); done || err != nil {
			return v, err
		}
	}
}

// next reads what follows a member or element: a comma (more to come) or the closing bracket.
func (r *reader) next(closing byte) (done bool, err error) {
	r.space()
	if r.i < len(r.s) {
		switch r.s[r.i] {
		case ',':
			r.i++
			return false, nil
		case closing:
			r.i++
			return true, nil
		}
	}
	return false, errJSON
}

type duplicateError struct{ key string }

func (e *duplicateError) Error() string { return "duplicate element " + e.key }

// scalar reports whether v is a JSON string, number or boolean: the types AWS accepts for a
// condition value, which it compares as text.
func (v jvalue) scalar() bool { return v.kind == jString || v.kind == jNumber || v.kind == jBool }

// kindName names v's JSON type for messages.
func (v jvalue) kindName() string {
	switch v.kind {
	case jString:
		return "a string"
	case jNumber:
		return "a number"
	case jBool:
		return "a boolean"
	case jNull:
		return "null"
	case jArray:
		return "an array"
	}
	return "an object"
}
