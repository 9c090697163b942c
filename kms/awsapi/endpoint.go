package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

// Config configures an Endpoint: who may call it and how it answers what no service names.
type Config struct {
	// Region is the region of requests that carry no SigV4 scope (default us-east-1). A signed
	// request acts in the region of its credential scope.
	Region string
	// AccountID is the account of every caller whose access key is not listed in Credentials
	// (default 111122223333).
	AccountID string
	// Credentials are the account administrators' access keys (static; each acts as its
	// account's root).
	Credentials []Credential
	// Identities finds an access key not in Credentials: an IAM user's key or a role session's.
	// Nil: none. In strict mode a key found nowhere is refused; otherwise it acts as the root
	// of Config.AccountID, so unsigned scripts and `test`/`test` keys keep working.
	Identities func(accessKey string) (Credential, bool)
	// Strict makes every request prove its SigV4 signature against Credentials.
	Strict bool
	// Internal is the exception of a failure no service named: a handler that panicked, or an
	// error of a service without a ToError (default InternalFailure).
	Internal string
	// Logger receives one line per failed request.
	Logger *slog.Logger
	// Now is the clock SigV4's allowed skew is measured with. Nil: time.Now.
	Now func() time.Time
	// Faults is consulted before every handler (intercept.go); nil: no faults.
	Faults Interceptor
	// Observer is told of every request once its answer is known (observe.go: metrics, the
	// audit trail); nil: nobody.
	Observer Observer
}

// Handler runs one operation on a body the endpoint has checked against the operation's input
// shape. What it returns is encoded as the answer.
type Handler func(ctx context.Context, c *Caller, body []byte) (any, error)

// Service is an API with the handlers that implement it.
type Service struct {
	API      *API
	Handlers map[string]Handler
	// Unhandled answers an operation of the model that has no handler. Nil:
	// UnknownOperationException.
	Unhandled func(op string) *Error
	// ToError is the service's error boundary: every error a handler returns becomes the AWS
	// error the client sees here. Nil: an *Error is itself, anything else the internal error.
	ToError func(error) *Error
}

// Endpoint is one HTTP endpoint serving AWS JSON 1.1 services, told apart by the X-Amz-Target
// prefix (`TrentService.Encrypt`). It is an http.Handler. For each request it checks the
// operation exists, reads at most maxBody bytes, finds the caller (SigV4), checks the body against
// the model and only then runs the handler; the answer, or the error as `__type` and message,
// leaves as JSON with the status the service answers.
type Endpoint struct {
	cfg      Config
	creds    map[string]Credential
	services map[string]*Service // by target prefix
	fallback *Service
	query    map[string]*QueryService // by signing name, and by "version:" + API version
	httpSrv  *http.Server
}

// NewEndpoint serves services on one endpoint; the first one also answers requests whose target
// names no service (UnknownOperationException, in its message field).
func NewEndpoint(cfg Config, services ...*Service) *Endpoint {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.Internal == "" {
		cfg.Internal = "InternalFailure"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	e := &Endpoint{cfg: cfg, creds: map[string]Credential{}, services: map[string]*Service{}, fallback: services[0]}
	for _, c := range cfg.Credentials {
		e.creds[c.AccessKeyID] = c
	}
	for _, s := range services {
		e.services[s.API.Target] = s
	}
	return e
}

type requestKey struct{}

// RequestID is the id of the request a handler's context belongs to (the x-amzn-RequestId the
// response carries); "" outside a request.
func RequestID(ctx context.Context) string {
	if q, _ := ctx.Value(requestKey{}).(*Request); q != nil {
		return q.RequestID
	}
	return ""
}

// EventID is the CloudTrail event id of the request a handler's context belongs to: the eventID
// of its audit record (kms/trail), and what GetKeyLastUsage reports. It is made on first use;
// outside a request, each call makes a new one.
func EventID(ctx context.Context) string {
	if q, _ := ctx.Value(requestKey{}).(*Request); q != nil {
		return q.EventID()
	}
	return NewUUID()
}

// maxBody bounds a request: the largest legal input (a 128 KiB policy or 6 KiB blobs in base64)
// fits many times over.
const maxBody = 1 << 20

func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := NewUUID()
	w.Header().Set("x-amzn-RequestId", reqID)
	q := &Request{RequestID: reqID}
	r = r.WithContext(context.WithValue(r.Context(), requestKey{}, q))
	var start time.Time
	if e.cfg.Observer != nil {
		start = time.Now()
	}
	if e.query != nil && isQuery(r) {
		e.serveQuery(w, r, q, start)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	prefix, opName, _ := strings.Cut(target, ".")
	svc := e.services[prefix]
	if svc == nil {
		svc = e.fallback
	}
	q.Service, q.Operation = svc.API.SigningName, opName
	out, err := e.serve(w, r, svc, prefix, q)
	if errors.Is(err, errAnswered) {
		e.observe(r, q, nil, nil, 0, start)
		return
	}
	if err != nil {
		ae := e.toError(svc, err)
		if ae.Status >= 500 {
			e.cfg.Logger.Error("request failed", "target", target, "type", ae.Type, "message", ae.Message, "request", reqID)
		} else {
			e.cfg.Logger.Debug("request refused", "target", target, "type", ae.Type, "message", ae.Message, "request", reqID)
		}
		e.writeJSON(w, ae.Status, map[string]string{"__type": ae.Type, svc.API.MessageField: ae.Message})
		e.observe(r, q, nil, ae, ae.Status, start)
		return
	}
	e.writeJSON(w, http.StatusOK, out)
	e.observe(r, q, out, nil, http.StatusOK, start)
}

func (e *Endpoint) toError(svc *Service, err error) *Error {
	if svc.ToError != nil {
		return svc.ToError(err)
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return NewError(e.cfg.Internal, "An internal error occurred: %v", err)
}

// serve runs the request q names, filling in q as it learns the caller and the input.
func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request, svc *Service, prefix string, q *Request) (out any, err error) {
	opName := q.Operation
	if r.Method != http.MethodPost || e.services[prefix] == nil {
		return nil, NewError(UnknownOperationException, "")
	}
	inShape, known := svc.API.ops[opName]
	if !known {
		return nil, NewError(UnknownOperationException, "")
	}
	body, rerr := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if rerr != nil {
		var mbe *http.MaxBytesError
		if errors.As(rerr, &mbe) {
			return nil, &Error{Type: RequestEntityTooLargeException, Message: "Request entity too large", Status: http.StatusRequestEntityTooLarge}
		}
		return nil, NewError(SerializationException, "Unable to read the request body")
	}
	c, aerr := e.authenticate(r, body, svc.API.SigningName, jsonAuthErrors)
	if aerr != nil {
		return nil, aerr
	}
	q.Caller, q.Body = c, body
	in, verr := svc.API.decodeInput(inShape, body)
	if verr != nil {
		return nil, verr
	}
	q.Input = in
	if ferr := e.intercept(w, r, q); ferr != nil {
		return nil, ferr
	}
	h := svc.Handlers[opName]
	if h == nil {
		if svc.Unhandled != nil {
			return nil, svc.Unhandled(opName)
		}
		return nil, NewError(UnknownOperationException, "")
	}
	defer func() {
		if p := recover(); p != nil {
			e.cfg.Logger.Error("handler panic", "op", opName, "panic", p, "stack", string(debug.Stack()))
			out, err = nil, NewError(e.cfg.Internal, "An internal error occurred.")
		}
	}()
	return h(r.Context(), c, body)
}

func (e *Endpoint) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"__type": e.cfg.Internal, "message": "response encoding failed"})
	}
	if string(b) == "null" {
		b = []byte("{}")
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// Unmarshal decodes a body the endpoint has checked into a handler's input. The model accepted
// it, so a failure here is a value Go cannot hold: a SerializationException.
func Unmarshal(body []byte, v any) error {
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return NewError(SerializationException, "Unable to decode the request body: %v", err)
	}
	return nil
}

// Start serves the endpoint on addr ("127.0.0.1:0" when empty) and returns its base URL, e.g.
// http://127.0.0.1:4566.
func (e *Endpoint) Start(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	e.httpSrv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.httpSrv.Serve(lis) }()
	return "http://" + lis.Addr().String(), nil
}

// Stop stops serving what Start began, giving requests under way 5 seconds to finish.
func (e *Endpoint) Stop() {
	if e.httpSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = e.httpSrv.Shutdown(ctx)
	cancel()
}

// NewUUID is a random (version 4) UUID, the form of request ids (and of KMS key ids).
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return FormatUUID(b[:])
}

// FormatUUID writes 16 bytes in a UUID's text form.
func FormatUUID(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Timestamp is a time as AWS JSON 1.1 writes it: seconds since the epoch, with milliseconds.
type Timestamp time.Time

func (t Timestamp) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	return []byte(fmt.Sprintf("%d.%03d", ms/1000, ms%1000)), nil
}

// Time is t as an answer's member: nil (left out) for the zero time.
func Time(t time.Time) *Timestamp {
	if t.IsZero() {
		return nil
	}
	ts := Timestamp(t)
	return &ts
}
