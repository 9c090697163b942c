package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// toAny turns the reader's tree into what encoding/json decodes (with UseNumber).
func toAny(v jvalue) any {
	switch v.kind {
	case jString:
		return v.str
	case jNumber:
		return json.Number(v.str)
	case jBool:
		return v.str == "true"
	case jNull:
		return nil
	case jArray:
		out := []any{}
		for _, e := range v.arr {
			out = append(out, toAny(e))
		}
		return out
	}
	out := map[string]any{}
	for _, m := range v.obj {
		out[m.key] = toAny(m.val)
	}
	return out
}

func decodeStd(doc string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// checkAgainstStd holds the tree builder to encoding/json's own decoding: the same documents
// are JSON (one value and nothing after it), and they decode to the same values. The tokens come
// from encoding/json, so what this guards is the tree built from them and the end-of-document
// check; the builder refuses more only where it means to: duplicate member names and nesting
// deeper than a policy has.
func checkAgainstStd(t *testing.T, doc string) {
	if !utf8.ValidString(doc) {
		return // Parse refuses invalid UTF-8 before reading
	}
	got, err := parseJSON(doc)
	valid := json.Valid([]byte(doc))
	if err != nil {
		_, dup := err.(*duplicateError)
		deep := strings.Count(doc, "[")+strings.Count(doc, "{") > maxDepth
		if valid && !dup && !deep {
			t.Fatalf("reader refused valid JSON %q: %v", doc, err)
		}
		return
	}
	if !valid {
		t.Fatalf("reader accepted invalid JSON %q", doc)
	}
	want, err := decodeStd(doc)
	if err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	if g := toAny(got); !reflect.DeepEqual(g, want) {
		t.Fatalf("%q: reader %#v, encoding/json %#v", doc, g, want)
	}
}

var jsonSamples = []string{
	`{}`, `[]`, ` { "a" : [ 1 , -2.5e+3 , 0 , 0.0 , 1E9 ] } `, `"x"`, `true`, `false`, `null`, `-0`,
	`{"a":"\"\\\/\b\f\n\r\t\u00e9\u20AC"}`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00x"`, `"\ud83d\u0041"`,
	`"é"`, `{"a":{"b":{"c":[[[]]]}}}`, `{"a":1,"b":2}`,
	// not JSON
	``, ` `, `{`, `}`, `[1,]`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `01`, `1.`, `.5`, `-`, `1e`, `+1`,
	`"\x"`, `"\u12"`, `"a` + "\n" + `"`, `tru`, `nul`, `[1 2]`, `{"a":1 "b":2}`, `{} {}`, `"a"x`,
	"\"\u2028\"", `NaN`, `Infinity`, `[-]`, `{"a":}`, `{,}`,
}

func TestJSONReaderMatchesEncodingJSON(t *testing.T) {
	for _, s := range jsonSamples {
		checkAgainstStd(t, s)
	}
	if _, err := parseJSON(`{"a":1,"a":2}`); err == nil {
		t.Fatal("duplicate member accepted")
	}
}

func FuzzJSONReader(f *testing.F) {
	for _, s := range jsonSamples {
		f.Add(s)
	}
	f.Add(DefaultKeyPolicy(acct))
	f.Fuzz(checkAgainstStd)
}
