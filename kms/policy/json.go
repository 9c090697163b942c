package policy

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// The document is read into an ordered tree rather than into Go structs so that the parser can
// refuse what decoding into structs would quietly accept: duplicate member names (the later
// would win), unknown elements, and values of the wrong JSON type, each with its own message.
// encoding/json's token API does the reading (RFC 8259, numbers kept as their literal with
// UseNumber); this file only builds the tree and refuses duplicates and needless depth. Parse
// cost does not matter: a policy is parsed once, at CreateKey, PutKeyPolicy or restore, and
// cached compiled.

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

// parseJSON reads exactly one JSON value from doc, which must be valid UTF-8.
func parseJSON(doc string) (jvalue, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return jvalue{}, err
	}
	// Exactly one value: anything after it, even another whole value, is not a policy.
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
		return jvalue{kind: jNumber, str: string(t)}, nil
	case bool:
		if t {
			return jvalue{kind: jBool, str: "true"}, nil
		}
		return jvalue{kind: jBool, str: "false"}, nil
	case nil:
		return jvalue{kind: jNull}, nil
	case json.Delim:
		if t == '[' {
			return readArray(dec, depth)
		}
		if t == '{' {
			return readObject(dec, depth)
		}
	}
	return jvalue{}, errJSON
}

// readArray reads the elements after '[' and the closing ']'.
func readArray(dec *json.Decoder, depth int) (jvalue, error) {
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
}

// readObject reads the members after '{' and the closing '}'.
func readObject(dec *json.Decoder, depth int) (jvalue, error) {
	v := jvalue{kind: jObject}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jvalue{}, errJSON
		}
		key, ok := tok.(string)
		if !ok {
			return jvalue{}, errJSON
		}
		e, err := readValue(dec, depth+1)
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
	}
	if _, err := dec.Token(); err != nil {
		return jvalue{}, errJSON
	}
	return v, nil
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
