package server

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Metadata keys of the node API (see hsm.proto).
const (
	MDAuthorization = "authorization"
	MDMinIndex      = "x-hsm-min-index"
	MDRequestID     = "x-hsm-request-id"
	MDIndex         = "x-hsm-index"
	// MDLeader names the Raft leader (its HSM id, as this node knows it) on the answer to a write
	// that went through the log, so the client can send its next write there (hsmd/client).
	MDLeader = "x-hsm-leader"
	// MDPublicSession names the application's public session: the session objects it makes
	// without a login belong to it (see publicCaller).
	MDPublicSession = "x-hsm-public-session"
	authScheme      = "hsm "
)

// caller is who sent a request: resolved from the credential once, in the interceptor.
type caller struct {
	login *token.Login
	user  *token.User
	// public is the session-object owner key of the application's public session ("" when the
	// call names none): a logged-in application still sees the public session objects it made
	// before its login, as PKCS#11 sessions keep their objects across C_Login (the v2.40 Usage Guide's session states).
	public string
}

// isPublic says whether the caller is a public session: no user.
func (c *caller) isPublic() bool { return c.user.Name == "" }

// owns says whether a session object kept under key k (a login id or a public session's key)
// is the caller's.
func (c *caller) owns(k string) bool { return k != "" && (k == c.login.ID || k == c.public) }

type ctxKey int

const (
	callerKey ctxKey = iota
	indexKey
	requestIDKey
)

// publicMethods need no login. Everything else does.
var publicMethods = map[string]bool{
	"GetInfo": true, "GetMechanismList": true, "GetMechanismInfo": true, "Login": true,
	"Digest": true, "GenerateRandom": true, "ListTrustAnchors": true, "GetPinStatus": true,
}

// publicReadMethods may also be called without a login, as from a PKCS#11 public session: the
// caller is then anonymous and sees the token's public objects (CKA_PRIVATE false) only.
var publicReadMethods = map[string]bool{"FindObjects": true, "GetAttributes": true, "GetObjectSize": true}

// anonymous is the caller of a public session that names none (MDPublicSession). Its user has no
// name, so token.Object.VisibleTo grants it the public objects alone, and its login has no id, so
// it owns no session object.
var anonymous = &caller{login: &token.Login{}, user: &token.User{}}

// publicWorkMethods may also be called without a login by a public session that names itself
// (MDPublicSession), in the PKCS#11 module's profile standard: PKCS#11 the v2.40 Usage Guide's session states give a
// public session R/W access to public session objects (and, R/W, to public token objects), and
// the crypto functions work with the keys a session can access. The node enforces what is
// public: private objects need a login (CKR_USER_NOT_LOGGED_IN).
var publicWorkMethods = map[string]bool{
	"CreateObject": true, "CopyObject": true, "DestroyObject": true, "SetAttributes": true,
	"GenerateKey": true, "GenerateKeyPair": true, "WrapKey": true, "UnwrapKey": true, "DeriveKey": true,
	"Encrypt": true, "Decrypt": true, "Sign": true, "Verify": true, "CheckKeyUse": true,
}

// publicKeyPrefix marks the session-object owner keys of public sessions, apart from login ids.
const publicKeyPrefix = "public:"

// maxPublicID bounds the public-session id a client sends (it makes one of 22 characters).
const maxPublicID = 64

// publicKey is the session-object owner key of the public session a call names, "" for none.
func publicKey(md incomingMD) string {
	v := md.get(MDPublicSession)
	if v == "" || len(v) > maxPublicID {
		return ""
	}
	return publicKeyPrefix + v
}

// publicCaller is the caller of a call without a credential: the public session it names, which
// owns the session objects it makes (its login id is the session's key), or anonymous.
func publicCaller(md incomingMD) *caller {
	k := publicKey(md)
	if k == "" {
		return anonymous
	}
	return &caller{login: &token.Login{ID: k}, user: &token.User{}, public: k}
}

// unactivatedMethods are all an unactivated admin may do: anything else answers CKR_PIN_EXPIRED
// until it changes its password, as the spec says of an expired PIN.
var unactivatedMethods = map[string]bool{"ChangePassword": true, "Logout": true, "RenewLogin": true}

// UnaryInterceptor is the one place where requests meet the node: it waits for the client's
// last-seen index, resolves the credential, runs the call, stamps the applied index on the
// response, and turns any error into a gRPC status carrying the CK_RV.
func (n *Node) UnaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	method, ok := nodeMethod(info.FullMethod)
	if !ok {
		return h(ctx, req) // another service on the same server (the cluster's own) does its own checks
	}
	obs := n.obs.p.Load()
	var start time.Time
	if obs != nil {
		start = time.Now()
	}
	var idx atomic.Uint64
	ctx = context.WithValue(ctx, indexKey, &idx)
	md := incoming(ctx)
	if v := md.get(MDRequestID); v != "" {
		ctx = context.WithValue(ctx, requestIDKey, v)
	}
	resp, err := n.serve(ctx, md, method, req, h)
	if s := n.State(); s != nil {
		wrote := idx.Load()
		hdr := metadata.Pairs(MDIndex, strconv.FormatUint(max(s.Applied(), wrote), 10))
		if wrote > 0 {
			if l := n.leaderID(); l != "" {
				hdr.Set(MDLeader, l)
			}
		}
		_ = grpc.SetHeader(ctx, hdr)
	}
	if obs != nil {
		(*obs).ObserveRPC(method, p11.Code(err), time.Since(start))
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}

func (n *Node) serve(ctx context.Context, md incomingMD, method string, req any, h grpc.UnaryHandler) (any, error) {
	if v := md.get(MDMinIndex); v != "" {
		want, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "bad %s", MDMinIndex)
		}
		s, err := n.ready()
		if err != nil {
			return nil, err
		}
		if s.Applied() < want { // the usual case needs no wait, and no timer
			wctx, cancel := context.WithTimeout(ctx, n.cfg.IndexWait)
			err = s.WaitApplied(wctx, want)
			cancel()
			if err != nil {
				return nil, &nodeBehind{err}
			}
		}
	}
	if k := publicKey(md); k != "" {
		n.sess.touch(k)
	}
	if method == batchMethod {
		// A batch may mix items that need a login with items that do not (Digest, random):
		// the login is checked here once, and its outcome judged per item (batch.go).
		if md.get(MDAuthorization) == "" && publicKey(md) != "" {
			return h(withBatchAuth(ctx, publicCaller(md), nil), req)
		}
		c, err := n.login(md, method)
		if c != nil {
			c.public = publicKey(md)
		}
		return h(withBatchAuth(ctx, c, err), req)
	}
	if md.get(MDAuthorization) == "" && (publicReadMethods[method] || publicWorkMethods[method] && publicKey(md) != "") {
		ctx = context.WithValue(ctx, callerKey, publicCaller(md))
	} else if !publicMethods[method] {
		c, err := n.login(md, method)
		if err != nil {
			return nil, err
		}
		c.public = publicKey(md)
		ctx = context.WithValue(ctx, callerKey, c)
	}
	return h(ctx, req)
}

// login resolves the credential of a call that needs one: the caller, or the exact error the
// call answers without one.
func (n *Node) login(md incomingMD, method string) (*caller, error) {
	c, err := n.authorize(md.get(MDAuthorization))
	if err != nil {
		return nil, err
	}
	if c.user.Role == token.RoleUnactivatedAdmin && !unactivatedMethods[method] {
		return nil, p11.Errorf(p11.CKR_PIN_EXPIRED, "the admin must change its password before anything else")
	}
	return c, nil
}

// Full method prefixes of the node's own services; anything else on the server (the cluster's
// service) is passed through.
var (
	hsmPrefix   = "/" + hsmpb.HSM_ServiceDesc.ServiceName + "/"
	batchPrefix = "/" + hsmpb.HSMBatch_ServiceDesc.ServiceName + "/"
)

// nodeMethod returns the method name of a call to the node API (HSM or HSMBatch).
func nodeMethod(full string) (string, bool) {
	if m, ok := strings.CutPrefix(full, hsmPrefix); ok {
		return m, true
	}
	if m, ok := strings.CutPrefix(full, batchPrefix); ok {
		return m, true
	}
	return "", false
}

func (n *Node) authenticate(md metadata.MD) (*caller, error) {
	var v string
	if vs := md.Get(MDAuthorization); len(vs) > 0 {
		v = vs[0]
	}
	return n.authorize(v)
}

// authorize resolves an authorization value ("hsm <credential>").
func (n *Node) authorize(v string) (*caller, error) {
	s, err := n.ready()
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(v, authScheme) {
		return nil, p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "no credential")
	}
	l, u, ok := s.Login(strings.TrimPrefix(v, authScheme))
	if !ok {
		return nil, p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "credential not known (logged out, or this node has not seen the login yet)")
	}
	return &caller{login: l, user: u}, nil
}

func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey).(*caller)
	return c
}

// cryptoUser returns the caller if it is a crypto user. Admins manage users but cannot use or
// see keys; for them the key functions answer CKR_USER_NOT_LOGGED_IN (no normal user is logged in).
func cryptoUser(ctx context.Context) (*caller, error) {
	c := callerOf(ctx)
	if c == nil || c.user.Role != token.RoleCryptoUser {
		return nil, p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "only a crypto user can use keys")
	}
	return c, nil
}

// reader returns the caller of a call that only reads objects: a crypto user, or a public
// session (publicSession).
func reader(ctx context.Context) (*caller, error) {
	if c := publicSession(callerOf(ctx)); c != nil {
		return c, nil
	}
	return cryptoUser(ctx)
}

// keyUser returns the caller of a call that makes or uses objects: a crypto user, or a public
// session that names itself, which sees its own session objects and the token's public objects
// only.
func keyUser(ctx context.Context) (*caller, error) {
	if c := publicSession(callerOf(ctx)); c != nil && c.login.ID != "" {
		return c, nil
	}
	return cryptoUser(ctx)
}

// publicSession returns the public session a call acts as, or nil: the caller without a login,
// or an admin logged in from a public session. The admin is PKCS#11's security officer (CKU_SO),
// whose sessions have the access of public sessions to objects (the v2.40 Usage Guide's "R/W SO
// Functions" state: R/W access to public objects, none to private ones), so its object calls act as
// the public session of its application. An admin calling without a public session (the CLI)
// keeps CloudHSM's rule: no key functions at all.
func publicSession(c *caller) *caller {
	switch {
	case c == nil:
		return nil
	case c.isPublic():
		return c
	case c.user.Role == token.RoleAdmin && c.public != "":
		return &caller{login: &token.Login{ID: c.public}, user: &token.User{}, public: c.public}
	}
	return nil
}

func adminUser(ctx context.Context) (*caller, error) {
	c := callerOf(ctx)
	if c == nil || c.user.Role != token.RoleAdmin {
		return nil, p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "only an admin can manage users")
	}
	return c, nil
}

func noteIndex(ctx context.Context, i uint64) {
	if p, ok := ctx.Value(indexKey).(*atomic.Uint64); ok {
		for {
			cur := p.Load()
			if i <= cur || p.CompareAndSwap(cur, i) {
				return
			}
		}
	}
}

func requestID(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey).(string)
	return v
}

// incomingMD reads a call's metadata in place: metadata.FromIncomingContext copies the whole
// map on every call (it showed in the profile), and the node reads three keys.
type incomingMD struct{ ctx context.Context }

func incoming(ctx context.Context) incomingMD { return incomingMD{ctx} }

// get is the first value of key k (lower case), "" when absent.
func (m incomingMD) get(k string) string {
	if v := metadata.ValueFromIncomingContext(m.ctx, k); len(v) > 0 {
		return v[0]
	}
	return ""
}

// nodeBehind is a read-your-writes wait that ran out: the client should try another node.
type nodeBehind struct{ err error }

func (e *nodeBehind) Error() string { return e.err.Error() }
func (e *nodeBehind) Unwrap() error { return e.err }

// Unavailable marks an error as "this node cannot serve that now, another may": the cluster
// layer wraps its not-leader and no-quorum errors in it, and clients fail over on it.
type Unavailable struct{ Err error }

func (e *Unavailable) Error() string { return e.Err.Error() }
func (e *Unavailable) Unwrap() error { return e.Err }

// toStatus is where node errors become wire errors: a gRPC status whose detail is the CK_RV.
func toStatus(err error) error {
	if _, ok := status.FromError(err); ok && !isP11(err) {
		return err // already a status (e.g. a canceled context)
	}
	rv := p11.Code(err)
	code := codes.FailedPrecondition
	var nb *nodeBehind
	var un *Unavailable
	switch {
	case errors.As(err, &nb), errors.As(err, &un):
		code, rv = codes.Unavailable, p11.CKR_DEVICE_ERROR
		if r := p11.Code(err); r != p11.CKR_GENERAL_ERROR {
			rv = r
		}
	case errors.Is(err, context.DeadlineExceeded):
		code, rv = codes.DeadlineExceeded, p11.CKR_DEVICE_ERROR
	case errors.Is(err, context.Canceled):
		code, rv = codes.Canceled, p11.CKR_FUNCTION_CANCELED
	case rv == p11.CKR_GENERAL_ERROR:
		code = codes.Internal
	case rv == p11.CKR_USER_NOT_LOGGED_IN || rv == p11.CKR_PIN_INCORRECT || rv == p11.CKR_PIN_LOCKED:
		code = codes.Unauthenticated
	case rv == p11.CKR_ARGUMENTS_BAD:
		code = codes.InvalidArgument
	}
	st, derr := status.New(code, err.Error()).WithDetails(&hsmpb.Error{Rv: rv, Message: err.Error(), Reason: p11.Reason(err)})
	if derr != nil {
		return status.Error(code, err.Error())
	}
	return st.Err()
}

func isP11(err error) bool {
	var e p11.Error
	return errors.As(err, &e)
}
