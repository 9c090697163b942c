package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RequestLog is a stand-in Requests until the KMS keeps an audit trail: HTTP middleware around
// the AWS endpoint that remembers the last requests as the wire shows them. The operation is
// the X-Amz-Target's (AWS JSON 1.1) or the Action parameter of the URL (Query protocol; one
// sent in a form body shows as "POST /"); the caller is the access key id of the SigV4
// credential ("" unsigned), not the principal's ARN; the error code is the `__type` (JSON) or
// <Code> (XML) of an error answer.
type RequestLog struct {
	mu   sync.Mutex
	ring []Request
	next int
	full bool
}

// NewRequestLog keeps the last size requests.
func NewRequestLog(size int) *RequestLog {
	return &RequestLog{ring: make([]Request, size)}
}

// Recent returns the last n requests, newest first.
func (l *RequestLog) Recent(n int) []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	have := l.next
	if l.full {
		have = len(l.ring)
	}
	n = min(n, have)
	out := make([]Request, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}

func (l *RequestLog) add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = r
	l.next = (l.next + 1) % len(l.ring)
	if l.next == 0 {
		l.full = true
	}
}

// Wrap records every request next answers.
func (l *RequestLog) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isAWS(r) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		req := Request{Time: start.UTC(), Operation: operation(r), Caller: accessKeyID(r.Header.Get("Authorization")), Latency: time.Since(start)}
		if rec.status >= 400 {
			req.ErrorCode = errorCode(rec.status, rec.head.Bytes())
		}
		l.add(req)
	})
}

// recorder keeps the status and the start of an error body.
type recorder struct {
	http.ResponseWriter
	status int
	head   bytes.Buffer
}

// errorHead is how much of an error body is kept to find its code.
const errorHead = 4 << 10

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status >= 400 && r.head.Len() < errorHead {
		r.head.Write(b[:min(len(b), errorHead-r.head.Len())])
	}
	return r.ResponseWriter.Write(b)
}

// Flush passes flushes on (a streaming answer stays one).
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// isAWS: a request of the AWS protocols (JSON 1.1 and Query post; a Query request may be a GET
// with its Action in the URL), not a browser's stray GET.
func isAWS(r *http.Request) bool {
	return r.Method == http.MethodPost || r.URL.Query().Get("Action") != ""
}

func operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		_, op, _ := strings.Cut(t, ".")
		return op
	}
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	return r.Method + " " + r.URL.Path
}

var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/`)

func accessKeyID(auth string) string {
	if m := credentialRE.FindStringSubmatch(auth); m != nil {
		return m[1]
	}
	return ""
}

var xmlCodeRE = regexp.MustCompile(`<Code>([^<]+)</Code>`)

// errorCode is the AWS error type of an error answer: JSON's `__type` (after any "namespace#"),
// XML's <Code>, else the HTTP status.
func errorCode(status int, body []byte) string {
	var e struct {
		Type string `json:"__type"`
	}
	if json.Unmarshal(body, &e) == nil && e.Type != "" {
		_, t, found := strings.Cut(e.Type, "#")
		if !found {
			t = e.Type
		}
		return t
	}
	if m := xmlCodeRE.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return "HTTP " + strconv.Itoa(status)
}
