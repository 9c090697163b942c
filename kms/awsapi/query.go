package awsapi

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"
)

// The AWS Query protocol, as IAM and STS speak it: a form-encoded POST (Action=CreateUser&
// Version=2010-05-08&UserName=...), answered in XML (<CreateUserResponse><CreateUserResult>...).
// It shares the endpoint with the JSON services: a request without X-Amz-Target whose body is a
// form is a Query request, and the service is the one its SigV4 credential scope names (iam,
// sts), or, for an unsigned request, the one whose API version it gives.
// https://docs.aws.amazon.com/IAM/latest/APIReference/iam-api.pdf (Making Query requests)
// https://smithy.io/2.0/aws/protocols/aws-query-protocol.html

// QueryHandler runs one Query action. It returns the action's result as a value encoding/xml
// writes as the <ActionResult> element's content (nil for an action without a result).
type QueryHandler func(ctx context.Context, c *Caller, action string, params url.Values) (any, error)

// QueryService is a Query-protocol API: its signing name, API version and XML namespace, and
// the handler of its actions.
type QueryService struct {
	SigningName string // iam, sts
	Version     string // 2010-05-08, 2011-06-15
	Namespace   string // https://iam.amazonaws.com/doc/2010-05-08/
	Handle      QueryHandler
}

// Query-protocol errors of the front end (IAM's and STS's names for what the JSON services call
// UnrecognizedClientException and so on).
const (
	InvalidClientTokenID  = "InvalidClientTokenId"
	ExpiredToken          = "ExpiredToken"
	SignatureDoesNotMatch = "SignatureDoesNotMatch"
	InvalidAction         = "InvalidAction"
)

var queryAuthErrors = authErrors{unknown: InvalidClientTokenID, expired: ExpiredToken, signature: SignatureDoesNotMatch}

// queryStatus is the HTTP status of the front end's Query errors that are not 400.
var queryStatus = map[string]int{InvalidClientTokenID: http.StatusForbidden, SignatureDoesNotMatch: http.StatusForbidden,
	MissingAuthenticationTokenException: http.StatusForbidden}

// AddQuery serves a Query-protocol service on the endpoint beside the JSON ones.
func (e *Endpoint) AddQuery(q *QueryService) {
	if e.query == nil {
		e.query = map[string]*QueryService{}
	}
	e.query[q.SigningName] = q
	e.query["version:"+q.Version] = q
}

// isQuery says whether r is a Query-protocol request.
func isQuery(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return r.Header.Get("X-Amz-Target") == "" && strings.HasPrefix(strings.ToLower(ct), "application/x-www-form-urlencoded")
}

func (e *Endpoint) serveQuery(w http.ResponseWriter, r *http.Request, rq *Request, start time.Time) {
	reqID := rq.RequestID
	body, rerr := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	params, perr := url.ParseQuery(string(body))
	var q *QueryService
	if a, err := parseAuthorization(r.Header.Get("Authorization")); err == nil {
		q = e.query[a.service]
	}
	if q == nil {
		q = e.query["version:"+params.Get("Version")]
	}
	if q == nil {
		q = e.query["iam"]
	}
	if q == nil {
		e.writeJSON(w, http.StatusBadRequest, map[string]string{"__type": UnknownOperationException, "message": ""})
		return
	}
	action := params.Get("Action")
	rq.Service, rq.Operation, rq.Params = q.SigningName, action, params
	out, err := func() (out any, err error) {
		if rerr != nil || perr != nil {
			return nil, NewError("MalformedQueryString", "The request body is not a form")
		}
		c, aerr := e.authenticate(r, body, q.SigningName, queryAuthErrors)
		if aerr != nil {
			if st, ok := queryStatus[aerr.Type]; ok {
				aerr.Status = st
			}
			return nil, aerr
		}
		rq.Caller = c
		if ferr := e.intercept(w, r, rq); ferr != nil {
			return nil, ferr
		}
		defer func() {
			if p := recover(); p != nil {
				e.cfg.Logger.Error("handler panic", "action", action, "panic", p, "stack", string(debug.Stack()))
				out, err = nil, &Error{Type: "ServiceFailure", Message: "An internal error occurred.", Status: http.StatusInternalServerError}
			}
		}()
		return q.Handle(r.Context(), c, action, params)
	}()
	if errors.Is(err, errAnswered) {
		e.observe(r, rq, nil, nil, 0, start)
		return
	}
	var b bytes.Buffer
	if err != nil {
		var ae *Error
		if !errors.As(err, &ae) {
			ae = &Error{Type: "ServiceFailure", Message: err.Error(), Status: http.StatusInternalServerError}
		}
		kind := "Sender"
		if ae.Status >= 500 {
			kind = "Receiver"
			e.cfg.Logger.Error("request failed", "action", action, "type", ae.Type, "message", ae.Message, "request", reqID)
		}
		b.WriteString(`<ErrorResponse xmlns="` + q.Namespace + `"><Error><Type>` + kind + `</Type><Code>`)
		_ = xml.EscapeText(&b, []byte(ae.Type))
		b.WriteString(`</Code><Message>`)
		_ = xml.EscapeText(&b, []byte(ae.Message))
		b.WriteString(`</Message></Error><RequestId>` + reqID + `</RequestId></ErrorResponse>`)
		writeXML(w, ae.Status, b.Bytes())
		e.observe(r, rq, nil, ae, ae.Status, start)
		return
	}
	b.WriteString(`<` + action + `Response xmlns="` + q.Namespace + `">`)
	if out != nil {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			writeXML(w, http.StatusInternalServerError, []byte(`<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code><Message>response encoding failed</Message></Error></ErrorResponse>`))
			return
		}
	}
	b.WriteString(`<ResponseMetadata><RequestId>` + reqID + `</RequestId></ResponseMetadata></` + action + `Response>`)
	writeXML(w, http.StatusOK, b.Bytes())
	e.observe(r, rq, out, nil, http.StatusOK, start)
}

func writeXML(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
