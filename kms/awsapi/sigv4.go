package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sigv4Header is a parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...` header.
type sigv4Header struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

const sigv4Algorithm = "AWS4-HMAC-SHA256"

// maxClockSkew is how far a signature's X-Amz-Date may be from the server's clock, as AWS allows.
const maxClockSkew = 5 * time.Minute

func parseAuthorization(h string) (*sigv4Header, *Error) {
	rest, ok := strings.CutPrefix(h, sigv4Algorithm+" ")
	if !ok {
		return nil, NewError(IncompleteSignatureException, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=%s", firstWord(h))
	}
	var out sigv4Header
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" || f[0] == "" {
				return nil, NewError(IncompleteSignatureException, "Credential should be scoped to a valid region, not '%s'.", v)
			}
			out.accessKey, out.date, out.region, out.service = f[0], f[1], f[2], f[3]
			haveCred = true
		case "SignedHeaders":
			out.signedHeaders = strings.Split(v, ";")
			haveSigned = true
		case "Signature":
			out.signature = v
			haveSig = true
		}
	}
	if !haveCred || !haveSigned || !haveSig {
		return nil, NewError(IncompleteSignatureException, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=%s", h)
	}
	return &out, nil
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(s, " ")
	return w
}

// authenticate finds the caller of r. Without strict mode a request needs no signature: the
// access key alone says who calls (an IAM user's or a session's key; any other key, or none, is
// the account's root), and its scope, when present, chooses the region. In strict mode the
// signature must verify against the key's secret, for the service the target names, and a
// session's requests must carry its token. An expired session is refused in both modes.
func (e *Endpoint) authenticate(r *http.Request, body []byte, service string, errs authErrors) (*Caller, *Error) {
	c := &Caller{Region: e.cfg.Region, Account: e.cfg.AccountID, Secure: r.TLS != nil}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		c.SourceIP = host
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		if e.cfg.Strict {
			return nil, NewError(MissingAuthenticationTokenException, "Missing Authentication Token")
		}
		return c, nil
	}
	a, err := parseAuthorization(h)
	if err != nil {
		if e.cfg.Strict {
			return nil, err
		}
		return c, nil
	}
	c.AccessKey = a.accessKey
	if a.region != "" {
		c.Region = a.region
	}
	cred, known := e.creds[a.accessKey]
	if !known && e.cfg.Identities != nil {
		cred, known = e.cfg.Identities(a.accessKey)
	}
	if known {
		if cred.AccountID != "" {
			c.Account = cred.AccountID
		}
		c.Principal = cred.Principal
		if !cred.Expires.IsZero() && !e.cfg.Now().Before(cred.Expires) {
			return nil, NewError(errs.expired, "The security token included in the request is expired")
		}
	}
	if !e.cfg.Strict {
		return c, nil
	}
	if !known {
		return nil, NewError(errs.unknown, "The security token included in the request is invalid.")
	}
	if cred.SessionToken != "" && !hmac.Equal([]byte(r.Header.Get("X-Amz-Security-Token")), []byte(cred.SessionToken)) {
		return nil, NewError(errs.unknown, "The security token included in the request is invalid.")
	}
	if a.service != service {
		return nil, NewError(InvalidSignatureException, "Credential should be scoped to correct service: '%s'. ", service)
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, perr := time.Parse("20060102T150405Z", amzDate)
	if perr != nil {
		return nil, NewError(IncompleteSignatureException, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if !strings.HasPrefix(amzDate, a.date) {
		return nil, NewError(InvalidSignatureException, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", a.date, amzDate[:min(8, len(amzDate))])
	}
	now := e.cfg.Now().UTC()
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return nil, NewError(InvalidSignatureException, "Signature expired: %s is now earlier than %s (%s - 5 min.)", amzDate, now.Add(-maxClockSkew).Format("20060102T150405Z"), now.Format("20060102T150405Z"))
	}
	if ph := r.Header.Get("X-Amz-Content-Sha256"); ph != "" && ph != "UNSIGNED-PAYLOAD" {
		// The signature covers the header's hash; the body must be what it hashes.
		sum := sha256.Sum256(body)
		if !hmac.Equal([]byte(ph), []byte(hex.EncodeToString(sum[:]))) {
			return nil, NewError(InvalidSignatureException, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}
	want := sigv4Signature(cred.SecretAccessKey, a, amzDate, canonicalRequest(r, body, a.signedHeaders))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return nil, NewError(errs.signature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return c, nil
}

// authErrors names the exceptions authentication answers in, which differ by protocol: the JSON
// services say UnrecognizedClientException, IAM and STS InvalidClientTokenId.
type authErrors struct{ unknown, expired, signature string }

var jsonAuthErrors = authErrors{unknown: UnrecognizedClientException, expired: ExpiredTokenException, signature: InvalidSignatureException}

// canonicalRequest builds the SigV4 canonical request of r over the headers the client signed.
func canonicalRequest(r *http.Request, body []byte, signed []string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	p := r.URL.EscapedPath()
	if p == "" {
		p = "/"
	}
	b.WriteString(p)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.Query()))
	b.WriteByte('\n')
	for _, h := range signed {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(canonicalHeaderValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	if ph := r.Header.Get("X-Amz-Content-Sha256"); ph != "" {
		b.WriteString(ph)
	} else {
		sum := sha256.Sum256(body)
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()
}

func canonicalHeaderValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = r.Header.Values("Content-Length")
		if len(vals) == 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

func canonicalQuery(q url.Values) string {
	var parts []string
	for k, vs := range q {
		for _, v := range vs {
			parts = append(parts, awsEscape(k)+"="+awsEscape(v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "&")
}

// awsEscape is SigV4's URI encoding: everything but the unreserved characters, upper-case hex.
func awsEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func sigv4Signature(secret string, a *sigv4Header, amzDate, canonical string) string {
	scope := a.date + "/" + a.region + "/" + a.service + "/aws4_request"
	sum := sha256.Sum256([]byte(canonical))
	toSign := sigv4Algorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	k := hmacSHA256([]byte("AWS4"+secret), a.date)
	k = hmacSHA256(k, a.region)
	k = hmacSHA256(k, a.service)
	k = hmacSHA256(k, "aws4_request")
	return hex.EncodeToString(hmacSHA256(k, toSign))
}
