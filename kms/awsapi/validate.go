package awsapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// The request decoder checks a body against the input shape of its operation before any handler
// sees it, the way the AWS front end (Coral) does: a value of the wrong JSON type is a
// SerializationException; a value of the right type that breaks a constraint (length, range,
// pattern, enum, required) is one entry of a ValidationException whose message lists every
// violation, in Coral's words. The constraints come from the API models (shapes_gen.go).

type kind int

const (
	kStructure kind = iota
	kString
	kBlob
	kInteger
	kLong
	kBoolean
	kList
	kMap
	kTimestamp
	kDouble
)

type member struct {
	name     string
	shape    string
	required bool
}

type shape struct {
	kind      kind
	min, max  int64 // -1: no bound
	pattern   string
	enum      []string
	sensitive bool
	member    string
	key       string
	value     string
	members   []member

	once sync.Once
	re   *regexp.Regexp
}

func (s *shape) regexp() *regexp.Regexp {
	s.once.Do(func() { s.re = regexp.MustCompile(s.pattern) })
	return s.re
}

// validator walks one decoded body.
type validator struct {
	shapes    map[string]*shape
	overrides map[string]*shape
	problems  []string
}

// decodeInput parses body as the input of shape name and checks it: the decoded input (numbers
// as json.Number; nil for an empty body) when the handler may decode it, else the
// SerializationException or ValidationException.
func (a *API) decodeInput(name string, body []byte) (map[string]any, *Error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, nil // the SDKs always send {}; an empty body is an empty input
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, NewError(SerializationException, "Unable to parse the request body as JSON: %v", err)
	}
	if dec.More() {
		return nil, NewError(SerializationException, "Unexpected data after the JSON request body")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, NewError(SerializationException, "Start of structure or map found where not expected.")
	}
	val := &validator{shapes: a.shapes, overrides: a.overrides[name]}
	if err := val.structure(obj, a.shapes[name], ""); err != nil {
		return nil, err
	}
	if n := len(val.problems); n > 0 {
		word := "error"
		if n > 1 {
			word = "errors"
		}
		return nil, NewError(ValidationException, "%d validation %s detected: %s", n, word, strings.Join(val.problems, "; "))
	}
	return obj, nil
}

// path joins Coral's member path: lower camel case names, 1-based list indexes with ".member".
func path(parent, name string) string {
	r, n := utf8.DecodeRuneInString(name)
	name = string(unicode.ToLower(r)) + name[n:]
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func (v *validator) fail(at string, value string, constraint string) {
	if value == "" {
		v.problems = append(v.problems, fmt.Sprintf("Value at '%s' failed to satisfy constraint: %s", at, constraint))
		return
	}
	v.problems = append(v.problems, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, at, constraint))
}

func (v *validator) structure(obj map[string]any, s *shape, at string) *Error {
	for _, m := range s.members {
		ms := v.shapes[m.shape]
		if at == "" && v.overrides[m.name] != nil {
			ms = v.overrides[m.name]
		}
		raw, present := obj[m.name]
		if !present || raw == nil {
			if m.required {
				v.fail(path(at, m.name), "null", "Member must not be null")
			}
			continue
		}
		if err := v.value(raw, ms, path(at, m.name)); err != nil {
			return err
		}
	}
	return nil
}

func typeName(raw any) string {
	switch raw.(type) {
	case map[string]any:
		return "Start of structure or map"
	case []any:
		return "Start of list"
	case string:
		return "STRING_VALUE"
	case json.Number:
		return "NUMBER_VALUE"
	case bool:
		return "BOOLEAN_VALUE"
	}
	return "Value"
}

func mismatch(raw any, want string, at string) *Error {
	return NewError(SerializationException, "%s can not be converted to %s (at '%s')", typeName(raw), want, at)
}

func (v *validator) value(raw any, s *shape, at string) *Error {
	switch s.kind {
	case kStructure:
		obj, ok := raw.(map[string]any)
		if !ok {
			return mismatch(raw, "a structure", at)
		}
		return v.structure(obj, s, at)
	case kString:
		str, ok := raw.(string)
		if !ok {
			return mismatch(raw, "a String", at)
		}
		v.str(str, s, at)
	case kBlob:
		str, ok := raw.(string)
		if !ok {
			return mismatch(raw, "a Blob", at)
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return NewError(SerializationException, "Base64 encoded value at '%s' is not valid", at)
		}
		v.length(int64(len(b)), s, at, "")
	case kInteger, kLong:
		n, ok := raw.(json.Number)
		if !ok {
			return mismatch(raw, "an Integer", at)
		}
		i, err := n.Int64()
		if err != nil || (s.kind == kInteger && (i > 1<<31-1 || i < -1<<31)) {
			return NewError(SerializationException, "NUMBER_VALUE %s can not be converted to an Integer (at '%s')", n, at)
		}
		if s.min >= 0 && i < s.min {
			v.fail(at, "'"+n.String()+"'", fmt.Sprintf("Member must have value greater than or equal to %d", s.min))
		}
		if s.max >= 0 && i > s.max {
			v.fail(at, "'"+n.String()+"'", fmt.Sprintf("Member must have value less than or equal to %d", s.max))
		}
	case kDouble:
		if _, ok := raw.(json.Number); !ok {
			return mismatch(raw, "a Double", at)
		}
	case kTimestamp:
		if _, ok := raw.(json.Number); !ok {
			return mismatch(raw, "a Timestamp", at)
		}
	case kBoolean:
		if _, ok := raw.(bool); !ok {
			return mismatch(raw, "a Boolean", at)
		}
	case kList:
		l, ok := raw.([]any)
		if !ok {
			return mismatch(raw, "a List", at)
		}
		v.length(int64(len(l)), s, at, "")
		ms := v.shapes[s.member]
		for i, e := range l {
			if e == nil {
				v.fail(fmt.Sprintf("%s.%d.member", at, i+1), "null", "Member must not be null")
				continue
			}
			if err := v.value(e, ms, fmt.Sprintf("%s.%d.member", at, i+1)); err != nil {
				return err
			}
		}
	case kMap:
		m, ok := raw.(map[string]any)
		if !ok {
			return mismatch(raw, "a Map", at)
		}
		v.length(int64(len(m)), s, at, "")
		ks, vs := v.shapes[s.key], v.shapes[s.value]
		for k, e := range m {
			v.str(k, ks, at+".key")
			if e == nil {
				v.fail(at+".value", "null", "Member must not be null")
				continue
			}
			if err := v.value(e, vs, at+".value"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *validator) str(str string, s *shape, at string) {
	shown := "'" + str + "'"
	if s.sensitive || len(str) > 256 {
		shown = "" // Coral leaves sensitive and long values out of the message
	}
	v.length(int64(utf8.RuneCountInString(str)), s, at, shown)
	if s.pattern != "" && !s.regexp().MatchString(str) {
		v.fail(at, shown, "Member must satisfy regular expression pattern: "+modelPattern(s.pattern))
	}
	if len(s.enum) > 0 {
		ok := false
		for _, e := range s.enum {
			ok = ok || e == str
		}
		if !ok {
			v.fail(at, shown, "Member must satisfy enum value set: ["+strings.Join(s.enum, ", ")+"]")
		}
	}
}

// modelPattern shows a pattern as the model writes it (undoing the anchoring and RE2 escapes).
func modelPattern(p string) string {
	p = strings.TrimSuffix(strings.TrimPrefix(p, "^(?:"), ")$")
	return regexp.MustCompile(`\\x\{([0-9A-Fa-f]{4})\}`).ReplaceAllString(p, `\u$1`)
}

func (v *validator) length(n int64, s *shape, at, shown string) {
	if s.min >= 0 && n < s.min {
		v.fail(at, shown, fmt.Sprintf("Member must have length greater than or equal to %d", s.min))
	}
	if s.max >= 0 && n > s.max {
		v.fail(at, shown, fmt.Sprintf("Member must have length less than or equal to %d", s.max))
	}
}
