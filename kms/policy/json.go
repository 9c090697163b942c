package policy

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// The document is read into an ordered tree rather than into Go structs so that the parser can
// refuse what encoding/json would quietly accept: duplicate member names (the later would win),
// unknown elements, and values of the wrong JSON type, each with its own message.

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

// maxDepth bounds nesting: the deepest legal element (a condition value list) sits at depth 7.
const maxDepth = 16

var errJSON = errors.New("invalid json")

// parseJSON reads exactly one JSON value from doc.
func parseJSON(doc string) (jvalue, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return jvalue{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return jvalue{}, errJSON
	}
	return v, nil
}

func readValue(dec *json.Decoder, depth int) (jvalue, error) {
	if depth > maxDepth {
		return jvalue{}, errJSON
	}
	tok, err := dec.Token()
	if err != nil {
		return jvalue{}, errJSON
	}
	switch t := tok.(type) {
	case string:
		return jvalue{kind: jString, str: t}, nil
	case json.Number:
		return jvalue{kind: jNumber, str: t.String()}, nil
	case bool:
		if t {
			return jvalue{kind: jBool, str: "true"}, nil
		}
		return jvalue{kind: jBool, str: "false"}, nil
	case nil:
		return jvalue{kind: jNull}, nil
	case json.Delim:
		switch t {
		case '[':
			v := jvalue{kind: jArray}
			for dec.More() {
				e, err := readValue(dec, depth+1)
				if err != nil {
					return jvalue{}, err
				}
				v.arr = append(v.arr, e)
			}
			if _, err := dec.Token(); err != nil {
				return jvalue{}, errJSON
			}
			return v, nil
		case '{':
			v := jvalue{kind: jObject}
			var seen map[string]bool
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return jvalue{}, errJSON
				}
				key, ok := kt.(string)
				if !ok {
					return jvalue{}, errJSON
				}
				if seen == nil {
					seen = make(map[string]bool)
				}
				if seen[key] {
					return jvalue{}, &Error{Kind: ErrMalformed, Message: "Duplicate element in policy: " + key}
				}
				seen[key] = true
				e, err := readValue(dec, depth+1)
				if err != nil {
					return jvalue{}, err
				}
				v.obj = append(v.obj, jmember{key: key, val: e})
			}
			if _, err := dec.Token(); err != nil {
				return jvalue{}, errJSON
			}
			return v, nil
		}
	}
	return jvalue{}, errJSON
}

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
