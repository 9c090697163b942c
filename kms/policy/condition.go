package policy

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Condition operators, as "IAM JSON policy elements: Condition operators" defines them:
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
// and the set operators of "Single-valued vs. multivalued context keys":
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html

type opKind uint8

const (
	opStringEquals opKind = iota
	opStringEqualsIgnoreCase
	opStringLike
	opNumericEquals
	opNumericLessThan
	opNumericLessThanEquals
	opNumericGreaterThan
	opNumericGreaterThanEquals
	opDateEquals
	opDateLessThan
	opDateLessThanEquals
	opDateGreaterThan
	opDateGreaterThanEquals
	opBool
	opBinaryEquals
	opIPAddress
	opArnLike // ArnEquals and ArnLike are the same test: per component, wildcards allowed
	opNull
)

type opInfo struct {
	kind opKind
	// negated operators ("negated matching": StringNotEquals, NotIpAddress, ArnNotLike, ...)
	// hold when no policy value matches: several values are NORed, and a missing key satisfies
	// them.
	negated bool
}

var operators = map[string]opInfo{
	"StringEquals":              {opStringEquals, false},
	"StringNotEquals":           {opStringEquals, true},
	"StringEqualsIgnoreCase":    {opStringEqualsIgnoreCase, false},
	"StringNotEqualsIgnoreCase": {opStringEqualsIgnoreCase, true},
	"StringLike":                {opStringLike, false},
	"StringNotLike":             {opStringLike, true},
	"NumericEquals":             {opNumericEquals, false},
	"NumericNotEquals":          {opNumericEquals, true},
	"NumericLessThan":           {opNumericLessThan, false},
	"NumericLessThanEquals":     {opNumericLessThanEquals, false},
	"NumericGreaterThan":        {opNumericGreaterThan, false},
	"NumericGreaterThanEquals":  {opNumericGreaterThanEquals, false},
	"DateEquals":                {opDateEquals, false},
	"DateNotEquals":             {opDateEquals, true},
	"DateLessThan":              {opDateLessThan, false},
	"DateLessThanEquals":        {opDateLessThanEquals, false},
	"DateGreaterThan":           {opDateGreaterThan, false},
	"DateGreaterThanEquals":     {opDateGreaterThanEquals, false},
	"Bool":                      {opBool, false},
	"BinaryEquals":              {opBinaryEquals, false},
	"IpAddress":                 {opIPAddress, false},
	"NotIpAddress":              {opIPAddress, true},
	"ArnEquals":                 {opArnLike, false},
	"ArnLike":                   {opArnLike, false},
	"ArnNotEquals":              {opArnLike, true},
	"ArnNotLike":                {opArnLike, true},
	"Null":                      {opNull, false},
}

type setOp uint8

const (
	setNone setOp = iota
	setAnyValue
	setAllValues
)

// condition is one (operator, key) pair of a Condition block with its compiled values.
type condition struct {
	op       opKind
	negated  bool
	ifExists bool
	set      setOp
	key      string // lower case
	vals     []cvalue
}

// cvalue is one policy value, parsed once for its operator.
type cvalue struct {
	str    string       // string, Bool and canonical BinaryEquals text
	pat    pattern      // StringLike, and String values with policy variables
	arn    []pattern    // ArnLike: the six components; nil when the value is not an ARN
	num    float64      // Numeric
	t      time.Time    // Date
	prefix netip.Prefix // IpAddress
	bin    []byte       // BinaryEquals
	null   bool         // Null: true means "the key is absent"
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(name string) (opInfo, setOp, bool, bool) {
	set := setNone
	base := name
	if rest, ok := strings.CutPrefix(base, "ForAnyValue:"); ok {
		set, base = setAnyValue, rest
	} else if rest, ok := strings.CutPrefix(base, "ForAllValues:"); ok {
		set, base = setAllValues, rest
	}
	ifExists := false
	if rest, ok := strings.CutSuffix(base, "IfExists"); ok {
		ifExists, base = true, rest
	}
	info, ok := operators[base]
	// "You can add IfExists to the end of any condition operator name except the Null condition."
	if !ok || (info.kind == opNull && ifExists) {
		return opInfo{}, 0, false, false
	}
	return info, set, ifExists, true
}

// parseConditions compiles a Condition element: operators ANDed, keys within one ANDed.
func parseConditions(v jvalue, vars bool) ([]condition, *Error) {
	if v.kind != jObject {
		return nil, malformed("Condition must be an object, not %s", v.kindName())
	}
	var out []condition
	for _, om := range v.obj {
		info, set, ifExists, ok := parseOperator(om.key)
		if !ok {
			return nil, malformed("Invalid Condition type : %s", om.key)
		}
		if om.val.kind != jObject {
			return nil, malformed("Condition operator %s must map condition keys to values", om.key)
		}
		for _, km := range om.val.obj {
			if !validConditionKey(km.key) {
				return nil, malformed(msgVendor)
			}
			c := condition{op: info.kind, negated: info.negated, ifExists: ifExists, set: set, key: strings.ToLower(km.key)}
			var raw []jvalue
			switch {
			case km.val.scalar():
				raw = []jvalue{km.val}
			case km.val.kind == jArray:
				raw = km.val.arr
			default:
				return nil, malformed("Condition value for %s must be a string, number, boolean or an array of them", km.key)
			}
			for _, rv := range raw {
				if !rv.scalar() {
					return nil, malformed("Condition value for %s must be a string, number, boolean or an array of them", km.key)
				}
				cv, err := compileValue(info.kind, rv.str, vars)
				if err != nil {
					return nil, malformed("Invalid Condition value for %s %s: %q", om.key, km.key, rv.str)
				}
				c.vals = append(c.vals, cv)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// validConditionKey checks the "vendor:name" form; names may hold more colons
// (kms:EncryptionContext:aws:pi:service).
func validConditionKey(k string) bool {
	vendor, name, ok := strings.Cut(k, ":")
	return ok && name != "" && validVendor(vendor)
}

func validVendor(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

type errValue struct{}

func (errValue) Error() string { return "invalid condition value" }

func compileValue(op opKind, s string, vars bool) (cvalue, error) {
	cv := cvalue{str: s}
	switch op {
	case opStringEquals, opStringEqualsIgnoreCase:
		cv.pat = compilePattern(s, false, vars, false)
	case opStringLike:
		cv.pat = compilePattern(s, true, vars, false)
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		n, ok := parseNumber(s)
		if !ok {
			return cv, errValue{}
		}
		cv.num = n
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(s)
		if !ok {
			return cv, errValue{}
		}
		cv.t = t
	case opBinaryEquals:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return cv, err
		}
		cv.bin, cv.str = b, base64.StdEncoding.EncodeToString(b)
	case opIPAddress:
		p, ok := parseCIDR(s)
		if !ok {
			return cv, errValue{}
		}
		cv.prefix = p
	case opArnLike:
		if parts, ok := splitARN(s); ok {
			cv.arn = make([]pattern, 6)
			for i, part := range parts {
				cv.arn[i] = compilePattern(part, true, vars, false)
			}
		} else {
			// Not six components (a bare "*", say): matched against the whole ARN instead.
			cv.pat = compilePattern(s, true, vars, false)
		}
	case opNull:
		switch {
		case strings.EqualFold(s, "true"):
			cv.null = true
		case strings.EqualFold(s, "false"):
		default:
			return cv, errValue{}
		}
	}
	return cv, nil
}

// parseNumber accepts decimal integers and decimals with an optional sign and exponent; not
// Go's hex, infinities or NaN.
func parseNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, false
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	return n, err == nil
}

// dateLayouts are the ISO 8601 forms AWS documents for Date operators ("2013-06-30T00:00:00Z",
// with or without fractional seconds or a numeric zone, or a bare date); epoch seconds are
// accepted too (aws:EpochTime).
var dateLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02",
}

func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T") {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, false
		}
		sec := int64(n)
		return time.Unix(sec, int64((n-float64(sec))*1e9)).UTC(), true
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseCIDR accepts a CIDR block or a bare address (a /32 or /128).
func parseCIDR(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}

// splitARN splits an ARN into its six components (the last keeps its colons).
func splitARN(s string) ([6]string, bool) {
	var parts [6]string
	for i := 0; i < 5; i++ {
		j := strings.IndexByte(s, ':')
		if j < 0 {
			return parts, false
		}
		parts[i], s = s[:j], s[j+1:]
	}
	parts[5] = s
	return parts, parts[0] == "arn"
}

// eval decides one (operator, key) pair for the request.
//
// A missing key fails an operator, except that a negated one holds ("If the key that you specify
// in a policy condition is not present in the request context, the values do not match and the
// condition is false. If the policy condition requires that the key is not matched, such as
// StringNotLike or ArnNotLike, and the right key is not present, the condition is true."), ...IfExists
// holds, ForAllValues holds ("It also returns true if there are no context keys in the request")
// and ForAnyValue fails. A key present with several values and no set operator is matched as
// ForAnyValue for a positive operator and as ForAllValues for a negated one, so that a negated
// operator stays the complement of its positive form.
func (c *condition) eval(ec *evalCtx) bool {
	vals, present := ec.lookup(c.key)
	if c.op == opNull {
		for i := range c.vals {
			if c.vals[i].null != present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case c.ifExists, c.set == setAllValues:
			return true
		case c.set == setAnyValue:
			return false
		}
		return c.negated
	}
	all := c.set == setAllValues || (c.set == setNone && c.negated)
	for i := 0; i < vals.n; i++ {
		ok := c.matchAny(vals.at(i), ec) != c.negated
		if all && !ok {
			return false
		}
		if !all && ok {
			return true
		}
	}
	return all
}

// matchAny reports whether request value s matches any policy value under the positive form of
// the operator. A request value that does not parse as the operator's type matches nothing.
func (c *condition) matchAny(s string, ec *evalCtx) bool {
	switch c.op {
	case opStringEquals, opStringLike:
		for i := range c.vals {
			if c.vals[i].pat.match(s, ec) {
				return true
			}
		}
	case opStringEqualsIgnoreCase:
		for i := range c.vals {
			v := &c.vals[i]
			t := v.str
			if v.pat.hasV {
				var ok bool
				if t, ok = v.pat.text(ec); !ok {
					continue
				}
			}
			if strings.EqualFold(s, t) {
				return true
			}
		}
	case opNumericEquals, opNumericLessThan, opNumericLessThanEquals, opNumericGreaterThan, opNumericGreaterThanEquals:
		n, ok := parseNumber(s)
		if !ok {
			return false
		}
		for i := range c.vals {
			if compareNumber(c.op, n, c.vals[i].num) {
				return true
			}
		}
	case opDateEquals, opDateLessThan, opDateLessThanEquals, opDateGreaterThan, opDateGreaterThanEquals:
		t, ok := parseDate(s)
		if !ok {
			return false
		}
		for i := range c.vals {
			if compareDate(c.op, t, c.vals[i].t) {
				return true
			}
		}
	case opBool:
		for i := range c.vals {
			if strings.EqualFold(s, c.vals[i].str) {
				return true
			}
		}
	case opBinaryEquals:
		var decoded []byte
		for i := range c.vals {
			v := &c.vals[i]
			if s == v.str {
				return true
			}
			if decoded == nil {
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return false
				}
				decoded = b
			}
			if bytes.Equal(decoded, v.bin) {
				return true
			}
		}
	case opIPAddress:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		a = a.Unmap()
		for i := range c.vals {
			if c.vals[i].prefix.Contains(a) {
				return true
			}
		}
	case opArnLike:
		parts, isARN := splitARN(s)
		for i := range c.vals {
			v := &c.vals[i]
			if v.arn == nil {
				if v.pat.match(s, ec) {
					return true
				}
				continue
			}
			if isARN && matchARN(v.arn, &parts, ec) {
				return true
			}
		}
	}
	return false
}

// matchARN compares component by component, so a wildcard never spans a colon of the first five.
func matchARN(pat []pattern, parts *[6]string, ec *evalCtx) bool {
	for i := range pat {
		if !pat[i].match(parts[i], ec) {
			return false
		}
	}
	return true
}

func compareNumber(op opKind, req, pol float64) bool {
	switch op {
	case opNumericEquals:
		return req == pol
	case opNumericLessThan:
		return req < pol
	case opNumericLessThanEquals:
		return req <= pol
	case opNumericGreaterThan:
		return req > pol
	}
	return req >= pol
}

func compareDate(op opKind, req, pol time.Time) bool {
	switch op {
	case opDateEquals:
		return req.Equal(pol)
	case opDateLessThan:
		return req.Before(pol)
	case opDateLessThanEquals:
		return !req.After(pol)
	case opDateGreaterThan:
		return req.After(pol)
	}
	return !req.Before(pol)
}
