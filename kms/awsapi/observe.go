package awsapi

import (
	"net/http"
	"time"
)

// Observer is told of every request the endpoint answers, once the answer has been written:
// what the request was (as far as the endpoint got with it), the handler's output (nil on an
// error), the AWS error it answered (nil on success), the HTTP status, and how long it took.
// status 0 (and no error) means an Interceptor answered the request itself (a fault). Observe
// runs on the request's goroutine after the client has its answer but before the connection
// serves another request, so it must be quick: metrics and the audit trail (kms/trail, which
// queues the record for a writer goroutine) hang off it. out and q.Input must not be changed.
type Observer interface {
	Observe(q *Request, out any, e *Error, status int, elapsed time.Duration)
}

// Observers fans one request out to several observers in order; nil entries are skipped, and
// none at all is nil (no observer: the endpoint then pays one comparison per request).
func Observers(obs ...Observer) Observer {
	var f fanOut
	for _, o := range obs {
		if o != nil {
			f = append(f, o)
		}
	}
	switch len(f) {
	case 0:
		return nil
	case 1:
		return f[0]
	}
	return f
}

type fanOut []Observer

func (f fanOut) Observe(q *Request, out any, e *Error, status int, elapsed time.Duration) {
	for _, o := range f {
		o.Observe(q, out, e, status, elapsed)
	}
}

// observe tells Config.Observer about q; without one it costs one comparison.
func (e *Endpoint) observe(r *http.Request, q *Request, out any, ae *Error, status int, start time.Time) {
	if e.cfg.Observer == nil {
		return
	}
	q.UserAgent = r.Header.Get("User-Agent")
	e.cfg.Observer.Observe(q, out, ae, status, time.Since(start))
}
