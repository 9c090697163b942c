package server

import (
	"context"
	"crypto/rand"
	"runtime"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/audit"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/mech"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// Firmware is what GetInfo reports as the node's version.
const Firmware = "hsmsim-1"

// maxRandom bounds one GenerateRandom call.
const maxRandom = 1 << 20

// service implements hsmpb.HSMServer on a Node.
type service struct {
	hsmpb.UnimplementedHSMServer
	n *Node
}

// Register puts the node's API on a server built with n.UnaryInterceptor (a gRPC server, or the
// local wire's, hsmd/localwire): HSM, and HSMBatch beside it (batch.go).
func (n *Node) Register(s grpc.ServiceRegistrar) {
	v := &service{n: n}
	hsmpb.RegisterHSMServer(s, v)
	v.registerBatch(s)
}

// ServerOptions are the options a gRPC server of this node needs besides its credentials.
func (n *Node) ServerOptions() []grpc.ServerOption {
	// Stream workers: a call runs on a long-lived goroutine whose stack has already grown
	// through the crypto code, instead of a new goroutine per call (its stack growth showed in
	// the profile, docs/BENCHMARKS.md); gRPC falls back to a new goroutine when all are busy.
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(n.UnaryInterceptor), grpc.MaxRecvMsgSize(8 << 20),
		grpc.NumStreamWorkers(uint32(4 * runtime.GOMAXPROCS(0)))}
}

func (v *service) GetInfo(ctx context.Context, _ *hsmpb.Empty) (*hsmpb.InfoResponse, error) {
	n := v.n
	r := &hsmpb.InfoResponse{NodeId: n.cfg.NodeID, Az: n.cfg.AZ, Serial: n.cfg.NodeID, Firmware: Firmware,
		MaxObjects: token.MaxObjects, SessionObjects: uint32(n.sess.count()), LoginLeaseSeconds: n.leaseSeconds()}
	if s := n.State(); s != nil {
		r.ClusterId, r.Label = s.Meta()
		r.AppliedIndex = s.Applied()
		objs, users, logins := s.Counts()
		r.TokenObjects, r.Users, r.ActiveLogins = uint32(objs), uint32(users), uint32(logins)
		if u, ok := s.User(token.AdminName); ok {
			r.Initialized = u.Role == token.RoleAdmin
		}
	}
	n.mu.RLock()
	members := n.members
	n.mu.RUnlock()
	r.LeaderId = n.leaderID()
	if members != nil {
		r.Members = members()
	}
	return r, nil
}

func (v *service) GetMechanismList(context.Context, *hsmpb.Empty) (*hsmpb.MechanismListResponse, error) {
	return &hsmpb.MechanismListResponse{Types: mech.Types()}, nil
}

func (v *service) GetMechanismInfo(_ context.Context, r *hsmpb.MechanismInfoRequest) (*hsmpb.MechanismInfo, error) {
	i, err := mech.Lookup(r.Type)
	if err != nil {
		return nil, err
	}
	return &hsmpb.MechanismInfo{MinKeySize: i.MinKeySize, MaxKeySize: i.MaxKeySize, Flags: i.Flags}, nil
}

// Login checks the password here and records the outcome through the log, so a failed attempt
// counts on every node and a success yields a credential every node accepts.
func (v *service) Login(ctx context.Context, r *hsmpb.LoginRequest) (*hsmpb.LoginResponse, error) {
	s, err := v.n.ready()
	if err != nil {
		return nil, err
	}
	u, ok := s.User(r.User)
	good := ok && !u.Locked && token.VerifyPassword(r.Password, u.Hash)
	if !good && v.n.catchUp(ctx) {
		// This node may not have applied the user's creation, password change or unlock yet,
		// though the cluster acknowledged it to another session (whose read-your-writes index
		// this caller does not carry): judge again on what the leader had committed.
		u, ok = s.User(r.User)
		good = ok && !u.Locked && token.VerifyPassword(r.Password, u.Hash)
	}
	if !ok {
		v.n.auditLocal(audit.Event{Opcode: audit.OpLogin, Response: "CKR_PIN_INCORRECT", User: r.User, Detail: "user not found"})
		return nil, p11.WithReason(p11.Errorf(p11.CKR_PIN_INCORRECT, "user not found"), p11.ReasonUserNotFound)
	}
	if u.Locked {
		// Refused here, before the log: this HSM alone records it (see package audit).
		v.n.auditLocal(audit.Event{Opcode: audit.OpLogin, Response: "CKR_PIN_LOCKED", User: u.Name, UserType: audit.UserType(u.Role), Detail: "user is locked"})
		return nil, p11.Errorf(p11.CKR_PIN_LOCKED, "user %q is locked; an admin must reset its password", u.Name)
	}
	res, _, err := v.n.propose(ctx, token.Command{Type: token.CmdLoginAttempt, Msg: &hsmpb.CmdLoginAttempt{
		User: u.Name, Ok: good, LoginId: newID(), Generation: u.Generation, AtUnix: time.Now().Unix(),
	}})
	if err != nil {
		return nil, err
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	return &hsmpb.LoginResponse{Credential: res.Value, User: u.Name, Role: uint32(u.Role),
		LeaseSeconds: v.n.leaseSeconds()}, nil
}

func (v *service) Logout(ctx context.Context, _ *hsmpb.Empty) (*hsmpb.Empty, error) {
	c := callerOf(ctx)
	res, _, err := v.n.propose(ctx, token.Command{Type: token.CmdLogout, Msg: &hsmpb.CmdLogout{LoginId: c.login.ID}})
	if err != nil {
		return nil, err
	}
	v.n.sess.dropLogin(c.login.ID)
	return &hsmpb.Empty{}, res.Err()
}

func (v *service) ChangePassword(ctx context.Context, r *hsmpb.ChangePasswordRequest) (*hsmpb.Empty, error) {
	c := callerOf(ctx)
	target := r.User
	if target == "" {
		target = c.user.Name
	}
	if err := token.CheckPassword(r.NewPassword); err != nil {
		return nil, err
	}
	h, err := token.HashPassword(r.NewPassword, v.n.cfg.KDF)
	if err != nil {
		return nil, err
	}
	return v.apply(ctx, token.CmdSetPassword, &hsmpb.CmdSetPassword{Actor: c.user.Name, Name: target, Hash: h})
}

func (v *service) CreateUser(ctx context.Context, r *hsmpb.CreateUserRequest) (*hsmpb.Empty, error) {
	c, err := adminUser(ctx)
	if err != nil {
		return nil, err
	}
	if err := token.CheckUserName(r.User); err != nil {
		return nil, err
	}
	if err := token.CheckPassword(r.Password); err != nil {
		return nil, err
	}
	h, err := token.HashPassword(r.Password, v.n.cfg.KDF)
	if err != nil {
		return nil, err
	}
	return v.apply(ctx, token.CmdCreateUser, &hsmpb.CmdCreateUser{Actor: c.user.Name, Name: r.User, Role: r.Role, Hash: h})
}

func (v *service) DeleteUser(ctx context.Context, r *hsmpb.DeleteUserRequest) (*hsmpb.Empty, error) {
	c, err := adminUser(ctx)
	if err != nil {
		return nil, err
	}
	return v.apply(ctx, token.CmdDeleteUser, &hsmpb.CmdDeleteUser{Actor: c.user.Name, Name: r.User})
}

// ListUsers is open to every logged-in user, as CloudHSM's "user list".
func (v *service) ListUsers(ctx context.Context, _ *hsmpb.Empty) (*hsmpb.ListUsersResponse, error) {
	users, logins, owned := v.n.State().Users()
	out := &hsmpb.ListUsersResponse{}
	for _, u := range users {
		out.Users = append(out.Users, &hsmpb.UserInfo{User: u.Name, Role: u.Role, Locked: u.Locked, FailedLogins: u.Failed,
			ActiveLogins: uint32(logins[u.Name]), OwnedKeys: uint32(owned[u.Name])})
	}
	return out, nil
}

// maxPinStatusUsers bounds one GetPinStatus request.
const maxPinStatusUsers = 8

// GetPinStatus answers the wrong-password counts of the named users, which the cluster keeps
// (CmdLoginAttempt counts every failure on every node), for the PKCS#11 token flags of
// C_GetTokenInfo (v2.40 §5.5: CKF_USER_PIN_COUNT_LOW, _FINAL_TRY, _LOCKED and the SO's). It needs
// no login, as C_GetTokenInfo does not; a name that is no user answers as one without failures.
func (v *service) GetPinStatus(_ context.Context, r *hsmpb.PinStatusRequest) (*hsmpb.PinStatusResponse, error) {
	if len(r.Users) > maxPinStatusUsers {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "at most %d users", maxPinStatusUsers)
	}
	s, err := v.n.ready()
	if err != nil {
		return nil, err
	}
	out := &hsmpb.PinStatusResponse{MaxFailed: token.MaxFailedLogins}
	for _, name := range r.Users {
		ps := &hsmpb.PinStatus{User: name}
		if u, ok := s.User(name); ok {
			ps.Failed, ps.Locked = u.Failed, u.Locked
		}
		out.Users = append(out.Users, ps)
	}
	return out, nil
}

// apply proposes a command whose only answer is success or its CK_RV.
func (v *service) apply(ctx context.Context, t token.CommandType, m proto.Message) (*hsmpb.Empty, error) {
	res, _, err := v.n.propose(ctx, token.Command{Type: t, Msg: m})
	if err != nil {
		return nil, err
	}
	return &hsmpb.Empty{}, res.Err()
}

func (v *service) GenerateRandom(_ context.Context, r *hsmpb.RandomRequest) (*hsmpb.CryptResponse, error) {
	if r.Length == 0 || r.Length > maxRandom {
		return nil, p11.Errorf(p11.CKR_ARGUMENTS_BAD, "random length must be 1..%d", maxRandom)
	}
	b := make([]byte, r.Length)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &hsmpb.CryptResponse{Data: b}, nil
}

func (v *service) Digest(_ context.Context, r *hsmpb.DigestRequest) (*hsmpb.CryptResponse, error) {
	m, err := hsmpb.MechanismFromPB(r.Mechanism)
	if err != nil {
		return nil, err
	}
	d, err := mech.Digest(m, r.Data)
	if err != nil {
		return nil, err
	}
	return &hsmpb.CryptResponse{Data: d}, nil
}

// lookup finds an object the caller may see: its own or shared token objects, public ones, and
// the session objects its login made. notFound is the code to answer for a handle it cannot see
// (CKR_OBJECT_HANDLE_INVALID for object calls, CKR_KEY_HANDLE_INVALID and friends for crypto).
func (n *Node) lookup(c *caller, h uint32, notFound uint32) (*token.Object, error) {
	if hsmpb.IsSessionHandle(h) {
		if o, ok := n.sess.get(c, h); ok {
			return o, nil
		}
	} else if s := n.State(); s != nil {
		if o, ok := s.Object(h); ok && o.VisibleTo(c.user.Name) {
			return o, nil
		}
	}
	return nil, p11.Errorf(notFound, "no object %d visible to %q", h, c.user.Name)
}

// lookupToUse finds an object the caller may use as a key or copy: what lookup finds, except
// that a public session uses no login's object. It may read a crypto user's public token
// objects (their CKA_PRIVATE false says anyone may), but keys a login made are used, wrapped and
// copied under a login, as CloudHSM's roles have it: a public session's keys are its own session
// objects and the token objects made without a login (which belong to nobody).
func (n *Node) lookupToUse(c *caller, h uint32, notFound uint32) (*token.Object, error) {
	o, err := n.lookup(c, h, notFound)
	if err != nil {
		return nil, err
	}
	if c.isPublic() && !hsmpb.IsSessionHandle(h) && o.Owner != "" {
		return nil, p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "object %d is %q's: using it needs a login", h, o.Owner)
	}
	return o, nil
}

// makeObject is the one path from a template to a stored object for every call that makes one:
// the template checked for op, the material made (nil for C_CreateObject, whose template holds
// it), the token's derived attributes added, and the object stored.
func (n *Node) makeObject(ctx context.Context, c *caller, op attr.Op, tmpl []*hsmpb.Attribute, implied attr.Set, genMech uint64,
	material func(attr.Set) (attr.Set, error)) (*hsmpb.HandleResponse, error) {
	t := hsmpb.TemplateFromPB(tmpl)
	if err := token.CheckTrusted(c.user.Role, t); err != nil {
		return nil, err
	}
	a, err := attr.NewObject(op, t, implied)
	if err != nil {
		return nil, err
	}
	var mat attr.Set
	if material != nil {
		if mat, err = material(a); err != nil {
			return nil, err
		}
	}
	if a, err = attr.Complete(op, a, mat, genMech); err != nil {
		return nil, err
	}
	h, err := n.createObject(ctx, c, a)
	if err != nil {
		return nil, err
	}
	return &hsmpb.HandleResponse{Handle: h}, nil
}

// createObject stores a new object: token objects through the log, session objects here.
//
// A public session (no login) makes public objects only: PKCS#11 v2.40 §5.7 (C_CreateObject: "Only
// public objects can be created unless the normal user is logged in") and the v2.40 Usage Guide's session states give the others
// CKR_USER_NOT_LOGGED_IN. Its session objects belong to its public session; its token objects to
// nobody (token.State: any public session or crypto user may manage them, as the spec's R/W
// access to public token objects says).
func (n *Node) createObject(ctx context.Context, c *caller, a attr.Set) (uint32, error) {
	if c.isPublic() {
		if priv, ok := a.Bool(p11.CKA_PRIVATE); priv || !ok {
			return 0, p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "a private object needs a login")
		}
		if c.login.ID == "" {
			return 0, p11.Errorf(p11.CKR_USER_NOT_LOGGED_IN, "no login and no public session")
		}
	}
	if tok, _ := a.Bool(p11.CKA_TOKEN); !tok {
		return n.sess.add(c.login.ID, c.user.Name, a), nil
	}
	s, err := n.ready()
	if err != nil {
		return 0, err
	}
	no, err := s.SealObject(c.user.Name, a)
	if err != nil {
		return 0, err
	}
	res, _, err := n.propose(ctx, token.Command{Type: token.CmdCreateObjects, Msg: &hsmpb.CmdCreateObjects{Owner: c.user.Name, Objects: []*hsmpb.NewObject{no}}})
	if err != nil {
		return 0, err
	}
	if err := res.Err(); err != nil {
		return 0, err
	}
	return res.Handles[0], nil
}
