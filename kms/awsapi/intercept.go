package awsapi

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
)

// Request is what an Interceptor sees of a request about to reach its handler: the endpoint
// has read it and found its caller, and (JSON services) checked its body against the model.
// An Observer sees it after the answer, filled in as far as the endpoint got: a request refused
// before its caller was known has no Caller, one refused before its body was checked no Input.
type Request struct {
	Service   string // the SigV4 signing name: kms, cloudhsm, iam, sts
	Operation string // Encrypt, CreateHsm, CreateUser, as the request names it
	RequestID string // the x-amzn-RequestId of the answer
	Caller    *Caller
	Body      []byte     // the JSON body (JSON services)
	Params    url.Values // the form (Query services)
	// Input is the body as the endpoint decoded it to check it against the model (JSON services;
	// numbers are json.Number). Nobody may change it: observers read it after the answer.
	Input map[string]any
	// UserAgent is the request's User-Agent header (set only when an Observer is configured).
	UserAgent string
	eventID   string // made on first use (EventID)
}

// EventID is the request's CloudTrail event id, made on first use. The request's goroutine uses
// it until the answer, an observer after.
func (q *Request) EventID() string {
	if q.eventID == "" {
		q.eventID = NewUUID()
	}
	return q.eventID
}

// Interceptor is consulted before every handler, of every service the endpoint serves (package
// kms/awsapi/fault: faults at the AWS API). It may hold the request a while, answer it itself
// (written to w, or the connection hijacked: done), or refuse it with an error that leaves as
// the service's errors do (an *Error); zero values let the request through.
type Interceptor interface {
	Intercept(w http.ResponseWriter, r *http.Request, q *Request) (done bool, err error)
}

// Chain consults interceptors in order; the first that answers or refuses a request ends it.
// Nil entries are skipped, typed nils too (a nil *fault.Set passed as an Interceptor is not a
// nil interface, and calling it would reach a nil receiver), and a chain of none is nil (no
// interceptor at all).
func Chain(interceptors ...Interceptor) Interceptor {
	var c chain
	for _, i := range interceptors {
		if !isNil(i) {
			c = append(c, i)
		}
	}
	switch len(c) {
	case 0:
		return nil
	case 1:
		return c[0]
	}
	return c
}

// isNil says whether i is nil or holds a nil pointer, map, slice, func or channel. It runs
// once per chain, when the chain is made, never per request.
func isNil(i Interceptor) bool {
	if i == nil {
		return true
	}
	switch v := reflect.ValueOf(i); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

type chain []Interceptor

func (c chain) Intercept(w http.ResponseWriter, r *http.Request, q *Request) (bool, error) {
	for _, i := range c {
		if done, err := i.Intercept(w, r, q); done || err != nil {
			return done, err
		}
	}
	return false, nil
}

// errAnswered: the interceptor answered the request itself; the endpoint writes nothing more.
var errAnswered = errors.New("answered by the interceptor")

// intercept asks Config.Faults about q; without one it costs one comparison.
func (e *Endpoint) intercept(w http.ResponseWriter, r *http.Request, q *Request) error {
	if e.cfg.Faults == nil {
		return nil
	}
	done, err := e.cfg.Faults.Intercept(w, r, q)
	if done {
		return errAnswered
	}
	return err
}
