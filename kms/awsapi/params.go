package awsapi

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// CloudTrail's requestParameters: an operation's input as AWS's audit records show it, the
// members under lower camel case names, without what the service keeps out of its logs. AWS
// KMS omits "the Plaintext parameter of an Encrypt request" and every secret or binary value
// (Logging AWS KMS API calls with AWS CloudTrail,
// https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html, and its
// per-operation examples such as ct-encrypt: no plaintext, ciphertext or message appears). The
// rule here comes from the model: a member whose shape is marked `sensitive` (plaintexts,
// passwords, the XKS proxy's secret) or is a blob (ciphertexts, data keys, import tokens,
// wrapped key material, messages, public keys) is left out, wherever it sits in the input.

// omitted reports whether a member of shape s is left out of audit records.
func (a *API) omitted(s *shape) bool { return s == nil || s.sensitive || s.kind == kBlob }

// AppendParams appends the requestParameters of operation op with the decoded input in (as
// Request.Input) to b, as JSON: null when there is no input or no such operation. Only members
// the model names are written, in the table's order, so the output is the same for the same
// input.
func (a *API) AppendParams(b []byte, op string, in map[string]any) []byte {
	name, ok := a.ops[op]
	if !ok || in == nil {
		return append(b, "null"...)
	}
	return a.appendStruct(b, in, a.shapes[name], a.overrides[name])
}

func (a *API) appendStruct(b []byte, obj map[string]any, s *shape, overrides map[string]*shape) []byte {
	b = append(b, '{')
	first := true
	for _, m := range s.members {
		raw, present := obj[m.name]
		if !present || raw == nil {
			continue
		}
		ms := a.shapes[m.shape]
		if o := overrides[m.name]; o != nil {
			ms = o
		}
		if a.omitted(ms) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		r, n := utf8.DecodeRuneInString(m.name)
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		b = utf8.AppendRune(b, r)
		b = append(b, m.name[n:]...)
		b = append(b, '"', ':')
		b = a.appendValue(b, raw, ms)
	}
	return append(b, '}')
}

func (a *API) appendValue(b []byte, raw any, s *shape) []byte {
	switch v := raw.(type) {
	case map[string]any:
		if s.kind == kStructure {
			return a.appendStruct(b, v, s, nil)
		}
		vs := a.shapes[s.value]
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, k)
			b = append(b, ':')
			if vs != nil && a.omitted(vs) {
				b = append(b, `"HIDDEN_DUE_TO_SECURITY_REASONS"`...)
				continue
			}
			b = a.appendValue(b, v[k], vs)
		}
		return append(b, '}')
	case []any:
		ms := a.shapes[s.member]
		b = append(b, '[')
		n := 0
		for _, x := range v {
			if ms != nil && a.omitted(ms) {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = a.appendValue(b, x, ms)
		}
		return append(b, ']')
	case string:
		return AppendString(b, v)
	case json.Number:
		return append(b, v...)
	case bool:
		return strconv.AppendBool(b, v)
	}
	return append(b, "null"...)
}

// SecretMembers names every member of an input shape the model marks sensitive or binary: what an
// audit record must not show. The answers' shapes are not in the tables; their secrets are
// mostly the same members (Plaintext, CiphertextBlob, ImportToken), and a user of this list adds
// the answer-only ones (PrivateKeyPlaintext).
func (a *API) SecretMembers() map[string]bool {
	out := map[string]bool{}
	for _, s := range a.shapes {
		for _, m := range s.members {
			if a.omitted(a.shapes[m.shape]) {
				out[m.name] = true
			}
		}
	}
	return out
}

// AppendString appends s to b as a JSON string.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
