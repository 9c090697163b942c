package pkcs11shim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/ckm"
	"github.com/hsmsim/hsmsim/hsmd/client"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// SlotID is the module's one slot: one config names one cluster, and the cluster is one token.
const SlotID = 1

// MaxSessions is how many sessions one application may have open, CloudHSM's per-application
// limit; both profiles keep it, so C_GetTokenInfo can state it.
const MaxSessions = 1024

// firstAdmin is the admin every cluster starts with (hsmd/token's AdminName): the SO whose
// wrong-PIN count C_GetTokenInfo shows until the application names another.
const firstAdmin = "admin"

// cur is the initialized module, nil between C_Finalize and C_Initialize. initMu serializes
// C_Initialize and C_Finalize; every other call only loads cur.
var (
	initMu sync.Mutex
	cur    atomic.Pointer[module]
)

// module is everything that lives from C_Initialize to C_Finalize.
type module struct {
	cfg    *Config
	log    *slog.Logger
	logC   io.Closer
	cl     *client.Client
	pid    int           // the process that called C_Initialize: a forked child is not initialized
	closed chan struct{} // closed by C_Finalize (wakes C_WaitForSlotEvent)

	mu       sync.Mutex
	sessions map[uint64]*session
	nextSH   uint64
	login    *loginState      // nil: public sessions only
	owners   map[uint32]owned // session object handle → the session that created it
	// lastUser and lastSO are the users this application last named in a CKU_USER and a CKU_SO
	// PIN: C_GetTokenInfo shows their wrong-password counts.
	lastUser, lastSO string
	mechs            map[uint32]uint64 // mechanism type → CKF_* flags, fetched once from the node
	loginMu          sync.Mutex        // serializes C_Login / C_Logout (each is an RPC)
	uses             keyUses           // what C_*Init found the node allows (keyuse.go)
}

// loginState is the application's login: all its sessions share it, as the spec says.
type loginState struct {
	user    string
	so      bool     // CKU_SO: an admin, whose object calls act as the public session's
	pinHash [32]byte // for C_Login(CKU_CONTEXT_SPECIFIC) and C_SetPIN's old PIN
}

// owned is a session object the module made: the session it belongs to, and whether it was
// made without a user's login (in a public or SO session), so that a logout, which ends the
// login's session objects, leaves it be (v2.40 §5.6 C_Logout: the handles to private objects
// become invalid; public session objects stay with their session).
type owned struct {
	session uint64
	public  bool
}

// active returns the initialized module, or CKR_CRYPTOKI_NOT_INITIALIZED (also in a child
// process forked after C_Initialize: the Go runtime's threads do not survive fork).
func active() (*module, error) {
	m := cur.Load()
	if m == nil || m.pid != os.Getpid() {
		return nil, p11.Error(p11.CKR_CRYPTOKI_NOT_INITIALIZED)
	}
	return m, nil
}

// initialize is C_Initialize after its argument checks.
func initialize(getenv func(string) string) error {
	initMu.Lock()
	defer initMu.Unlock()
	if m := cur.Load(); m != nil {
		if m.pid == os.Getpid() {
			return p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)
		}
		// A forked child starts over; the parent's connections are the parent's.
		cur.Store(nil)
	}
	path := ConfigPath(getenv)
	cfg, err := LoadConfig(path, getenv)
	if err != nil {
		return p11.Errorf(p11.CKR_GENERAL_ERROR, "%v", err) // logged to stderr by call
	}
	log, logC, err := cfg.openLog()
	if err != nil {
		return p11.Errorf(p11.CKR_GENERAL_ERROR, "%v", err)
	}
	cl, err := client.DialConfig(cfg.FileConfig, func(c *client.Config) {
		// All the application's sessions share this client: their concurrent crypto calls
		// go to the nodes in batches (hsmd/client/batch.go).
		c.Batch = cfg.Batching()
		// Every call into the module comes from a C thread, to which its goroutine is locked:
		// it waits for a node's answer on the local wire in that thread.
		c.ThreadWait = true
		c.OnSocket = func(path string, err error) {
			log.Warn("not using the node's Unix socket; using TCP with TLS", "socket", path, "err", err)
		}
		c.Observe = func(a client.Attempt) {
			if a.Err != nil && client.Retryable(a.Err) {
				log.Warn("a node did not serve a call; trying another", "node", a.Node, "call", a.Method, "after", a.Took, "err", a.Err)
			}
		}
	})
	if err != nil {
		log.Error("C_Initialize: cannot set up the cluster client", "config", path, "err", err)
		logC.Close()
		return p11.Errorf(p11.CKR_GENERAL_ERROR, "client: %v", err)
	}
	m := &module{cfg: cfg, log: log, logC: logC, cl: cl, pid: os.Getpid(), closed: make(chan struct{}),
		sessions: map[uint64]*session{}, owners: map[uint32]owned{}, lastUser: cfg.User, lastSO: firstAdmin}
	if cfg.Profile == client.ProfileStandard {
		// Public sessions make and use public objects (the v2.40 Usage Guide's session states); profile cloudhsm has none.
		cl.Session().SetPublic()
	}
	cur.Store(m)
	log.Info("initialized", "config", path, "profile", cfg.Profile, "nodes", len(cfg.Nodes))
	return nil
}

// finalize is C_Finalize: sessions close, the login ends (best effort, bounded), the client closes.
func finalize() error {
	initMu.Lock()
	defer initMu.Unlock()
	m, err := active()
	if err != nil {
		return err
	}
	cur.Store(nil)
	close(m.closed)
	m.mu.Lock()
	logged := m.login != nil
	var public []uint32
	for h, o := range m.owners {
		if o.public {
			public = append(public, h)
		}
	}
	m.sessions, m.login, m.owners = map[uint64]*session{}, nil, map[uint32]owned{}
	m.mu.Unlock()
	ctx, cancel := m.ctx()
	if logged {
		// Logging out drops this login's session objects on the node too.
		_ = m.cl.Logout(ctx)
	}
	// The public session's objects are no login's: they go as their sessions close.
	for _, h := range public {
		_ = m.cl.DestroyObject(ctx, h)
	}
	cancel()
	_ = m.cl.Close()
	m.log.Info("finalized")
	_ = m.logC.Close()
	return nil
}

func (m *module) cloudHSM() bool { return m.cfg.Profile == client.ProfileCloudHSM }

// seesPublicObjects says whether the application may find, read, make and use objects now: after
// a login, or in a public session of profile standard, which has the token's public objects
// (CKA_PRIVATE false) as the v2.40 Usage Guide's session states say (the node keeps private objects from it:
// CKR_USER_NOT_LOGGED_IN). The CloudHSM library does nothing with objects before a login: AWS
// documents no public-session access for Client SDK 5 (docs/PKCS11.md, "Public sessions").
func (m *module) seesPublicObjects() bool { return m.loggedIn() || !m.cloudHSM() }

// ctx bounds one module call that reaches the cluster: every attempt on every node plus the
// client's backoff between rounds, so an application never hangs on a dead cluster.
func (m *module) ctx() (context.Context, context.CancelFunc) {
	n := len(m.cl.Nodes())
	return context.WithTimeout(context.Background(), m.cfg.AttemptTimeout*time.Duration(n+2)+time.Second)
}

// session returns an open session or CKR_SESSION_HANDLE_INVALID.
func (m *module) session(h uint64) (*session, error) {
	m.mu.Lock()
	s := m.sessions[h]
	m.mu.Unlock()
	if s == nil {
		return nil, p11.Error(p11.CKR_SESSION_HANDLE_INVALID)
	}
	return s, nil
}

func (m *module) loggedIn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.login != nil
}

// userLoggedIn says whether a normal user (CKU_USER) is logged in.
func (m *module) userLoggedIn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.login != nil && !m.login.so
}

// soLoggedIn says whether the SO is logged in.
func (m *module) soLoggedIn() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.login != nil && m.login.so
}

// openSession is C_OpenSession after the handle checks.
func (m *module) openSession(flags uint64) (uint64, error) {
	if flags&p11.CKF_SERIAL_SESSION == 0 {
		return 0, p11.Error(p11.CKR_SESSION_PARALLEL_NOT_SUPPORTED)
	}
	rw := flags&p11.CKF_RW_SESSION != 0
	if !rw && m.cloudHSM() {
		// CloudHSM known issue: read-only sessions are not supported.
		return 0, p11.Errorf(p11.CKR_FUNCTION_FAILED, "read-only sessions are not supported (profile cloudhsm)")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !rw && m.login != nil && m.login.so {
		// v2.40 §5.6 C_OpenSession: an SO login has R/W sessions only.
		return 0, p11.Error(p11.CKR_SESSION_READ_WRITE_SO_EXISTS)
	}
	if len(m.sessions) >= MaxSessions {
		return 0, p11.Error(p11.CKR_SESSION_COUNT)
	}
	m.nextSH++
	s := &session{m: m, h: m.nextSH, rw: rw}
	m.sessions[s.h] = s
	return s.h, nil
}

// closeSession is C_CloseSession: the session's objects are destroyed, and closing the last
// session ends the login.
func (m *module) closeSession(s *session) {
	m.mu.Lock()
	delete(m.sessions, s.h)
	var objs []uint32
	for h, owner := range m.owners {
		if owner.session == s.h {
			objs = append(objs, h)
			delete(m.owners, h)
		}
	}
	last := len(m.sessions) == 0
	m.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if len(objs) > 0 {
		m.uses.forget(objs...)
		ctx, cancel := m.ctx()
		for _, h := range objs {
			if err := m.cl.DestroyObject(ctx, h); err != nil {
				m.log.Debug("closing a session: its session object is already gone", "handle", h, "err", err)
			}
		}
		cancel()
	}
	if last {
		m.logoutLocal(true)
	}
}

// closeAll is C_CloseAllSessions.
func (m *module) closeAll() {
	m.mu.Lock()
	all := make([]*session, 0, len(m.sessions))
	for _, s := range m.sessions {
		all = append(all, s)
	}
	m.mu.Unlock()
	for _, s := range all {
		m.closeSession(s)
	}
	m.logoutLocal(true)
}

// loginAs is C_Login / C_LoginUser for CKU_USER (so false) or CKU_SO with a CloudHSM PIN,
// "user:password" (or the user name apart, from C_LoginUser). The codes and their order are
// v2.40 §5.6's C_Login: the same user again is CKR_USER_ALREADY_LOGGED_IN, the other type
// CKR_USER_ANOTHER_ALREADY_LOGGED_IN; an SO login with a R/O session open is
// CKR_SESSION_READ_ONLY_EXISTS. A PIN whose user has another role (an admin's as CKU_USER, a
// crypto user's as CKU_SO) is not that user type's PIN: CKR_PIN_INCORRECT.
func (m *module) loginAs(so bool, user, pin string) error {
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	m.mu.Lock()
	l := m.login
	m.mu.Unlock()
	if l != nil {
		if l.so == so {
			return p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)
		}
		return p11.Error(p11.CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
	}
	if so {
		if all, rw := m.sessionCounts(); all > rw {
			return p11.Error(p11.CKR_SESSION_READ_ONLY_EXISTS)
		}
	}
	user, pw, err := m.splitPIN(so, user, pin)
	if err != nil {
		return err
	}
	ctx, cancel := m.ctx()
	defer cancel()
	r, err := m.cl.Login(ctx, user, pw)
	if err != nil {
		m.log.Info("login failed", "user", user, "so", so, "err", err)
		return err
	}
	if !slices.Contains(roleOf(so), hsmpb.Role(r.Role)) {
		m.logoutLocked(true)
		return p11.Errorf(p11.CKR_PIN_INCORRECT, "%q is not a %s", user, map[bool]string{true: "security officer (admin)", false: "normal user (crypto user)"}[so])
	}
	m.mu.Lock()
	m.login = &loginState{user: user, so: so, pinHash: sha256.Sum256([]byte(user + ":" + pw))}
	m.mu.Unlock()
	m.uses.forget()
	m.log.Debug("logged in", "user", user, "so", so)
	return nil
}

// splitPIN returns the user and password of a PIN: "user:password", the user apart (C_LoginUser),
// or a password alone, which is the password of the user of that type this application last
// named (so that an application that logged in once may give the password alone, as PKCS#11
// PINs are). It remembers the user named, whose wrong-password count C_GetTokenInfo shows.
func (m *module) splitPIN(so bool, user, pin string) (string, string, error) {
	if user == "" {
		if u, p, ok := strings.Cut(pin, ":"); ok {
			user, pin = u, p
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	named := &m.lastUser
	if so {
		named = &m.lastSO
	}
	if user == "" {
		user = *named
	}
	if user == "" {
		return "", "", p11.Errorf(p11.CKR_PIN_INCORRECT, "the PIN is user:password")
	}
	*named = user
	return user, pin, nil
}

// checkPIN compares a PIN with the login's ("user:password", or the password alone).
func (m *module) checkPIN(pin string) error {
	m.mu.Lock()
	l := m.login
	m.mu.Unlock()
	if l == nil {
		return p11.Error(p11.CKR_USER_NOT_LOGGED_IN)
	}
	if !strings.Contains(pin, ":") {
		pin = l.user + ":" + pin
	}
	h := sha256.Sum256([]byte(pin))
	if subtle.ConstantTimeCompare(h[:], l.pinHash[:]) != 1 {
		return p11.Error(p11.CKR_PIN_INCORRECT)
	}
	return nil
}

// logout is C_Logout.
func (m *module) logout() error {
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	if !m.loggedIn() {
		return p11.Error(p11.CKR_USER_NOT_LOGGED_IN)
	}
	m.logoutLocked(true)
	return nil
}

func (m *module) logoutLocal(remote bool) {
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	if m.loggedIn() {
		m.logoutLocked(remote)
	}
}

// logoutLocked ends the login here whatever the node answers: the node drops the login's
// session objects, and an unreachable node cannot keep the application logged in.
func (m *module) logoutLocked(remote bool) {
	if remote {
		ctx, cancel := m.ctx()
		if err := m.cl.Logout(ctx); err != nil {
			m.log.Warn("logout: the cluster did not confirm", "err", err)
		}
		cancel()
	}
	m.cl.Session().SetCredential("")
	m.mu.Lock()
	m.login = nil
	for h, o := range m.owners {
		if !o.public {
			delete(m.owners, h)
		}
	}
	m.mu.Unlock()
	m.uses.forget()
}

// noteObject records a new object: a session object belongs to the session that made it.
func (m *module) noteObject(s *session, h uint32) {
	if hsmpb.IsSessionHandle(h) {
		m.mu.Lock()
		m.owners[h] = owned{session: s.h, public: m.login == nil || m.login.so}
		m.mu.Unlock()
	}
}

func (m *module) forgetObject(h uint32) {
	m.mu.Lock()
	delete(m.owners, h)
	m.mu.Unlock()
	m.uses.forget(h)
}

// sessionCounts is (all, read-write) open sessions.
func (m *module) sessionCounts() (all, rw int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		if s.rw {
			rw++
		}
	}
	return len(m.sessions), rw
}

// mechanisms returns the node's mechanisms and their flags, asked once per C_Initialize.
func (m *module) mechanisms() (map[uint32]uint64, error) {
	m.mu.Lock()
	mm := m.mechs
	m.mu.Unlock()
	if mm != nil {
		return mm, nil
	}
	ctx, cancel := m.ctx()
	defer cancel()
	list, err := m.cl.API().GetMechanismList(ctx, &hsmpb.Empty{})
	if err != nil {
		return nil, err
	}
	mm = make(map[uint32]uint64, len(list.Types))
	for _, t := range list.Types {
		info, err := m.cl.API().GetMechanismInfo(ctx, &hsmpb.MechanismInfoRequest{Type: t})
		if err != nil {
			return nil, err
		}
		mm[t] = info.Flags
	}
	m.mu.Lock()
	m.mechs = mm
	m.mu.Unlock()
	return mm, nil
}

// mechanismList is C_GetMechanismList: the node's list, less what the profile does not offer.
func (m *module) mechanismList() ([]uint32, error) {
	ctx, cancel := m.ctx()
	defer cancel()
	list, err := m.cl.API().GetMechanismList(ctx, &hsmpb.Empty{})
	if err != nil {
		return nil, err
	}
	out := make([]uint32, 0, len(list.Types))
	for _, t := range list.Types {
		if m.offers(t) == nil {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// mechanismInfo is C_GetMechanismInfo, from the node for a mechanism the profile offers.
func (m *module) mechanismInfo(t uint32) (*hsmpb.MechanismInfo, error) {
	if err := m.offers(t); err != nil {
		return nil, err
	}
	ctx, cancel := m.ctx()
	defer cancel()
	info, err := m.cl.API().GetMechanismInfo(ctx, &hsmpb.MechanismInfoRequest{Type: t})
	if err != nil {
		return nil, err
	}
	info.MinKeySize = m.minKeySize(t, info.MinKeySize)
	info.Flags = m.mechanismFlags(t, info.Flags)
	return info, nil
}

// checkMechanism answers CKR_MECHANISM_INVALID at *Init for a mechanism the node lacks or that
// cannot do the operation (flag is CKF_ENCRYPT, CKF_SIGN, ...).
func (m *module) checkMechanism(mc ckm.Mechanism, flag uint64) error {
	if err := m.offers(mc.Type); err != nil {
		return err
	}
	mm, err := m.mechanisms()
	if err != nil {
		return err
	}
	f, ok := mm[mc.Type]
	if !ok || f&flag == 0 {
		return p11.Errorf(p11.CKR_MECHANISM_INVALID, "%s cannot do this", p11.MechName(mc.Type))
	}
	return nil
}

// tokenInfo is what C_GetTokenInfo reports, from the node's GetInfo.
type tokenInfo struct {
	label, serial, model string
	flags                uint64
	sessions, rwSessions int
	maxObjects, used     uint64
}

func (m *module) tokenInfo() (*tokenInfo, error) {
	ctx, cancel := m.ctx()
	defer cancel()
	info, err := m.cl.Info(ctx)
	if err != nil {
		return nil, err
	}
	t := &tokenInfo{label: m.cfg.Label, serial: m.cfg.ClusterID, model: "hsmsim " + m.cfg.Profile}
	if t.label == "" {
		t.label = info.Label
	}
	if t.label == "" {
		t.label = info.ClusterId
	}
	if t.serial == "" {
		t.serial = info.ClusterId
	}
	t.flags = p11.CKF_RNG | p11.CKF_LOGIN_REQUIRED | p11.CKF_USER_PIN_INITIALIZED
	if info.Initialized {
		t.flags |= p11.CKF_TOKEN_INITIALIZED
	}
	pins, err := m.pinFlags(ctx)
	if err != nil {
		return nil, err
	}
	t.flags |= pins
	t.sessions, t.rwSessions = m.sessionCounts()
	t.maxObjects = uint64(info.MaxObjects)
	t.used = uint64(info.TokenObjects) + uint64(info.SessionObjects)
	return t, nil
}

// pinFlags are the token's PIN flags (v2.40 §3.2, CK_TOKEN_INFO): CKF_*_PIN_COUNT_LOW once a
// wrong PIN has been entered since the last good one, CKF_*_PIN_FINAL_TRY when one more locks
// the user, CKF_*_PIN_LOCKED when it is locked, for the normal user and the SO this application
// last named (the token has many users; those are the ones its PINs are). The counts are the
// cluster's, as every node counts a failed login (hsmd/token, CmdLoginAttempt).
func (m *module) pinFlags(ctx context.Context) (uint64, error) {
	m.mu.Lock()
	user, so := m.lastUser, m.lastSO
	m.mu.Unlock()
	st, err := m.cl.PinStatus(ctx, user, so)
	if err != nil || len(st.Users) != 2 {
		return 0, err
	}
	flags := func(ps *hsmpb.PinStatus, low, final, locked uint64) uint64 {
		switch {
		case ps.Locked:
			return locked
		case ps.Failed > 0 && ps.Failed+1 >= st.MaxFailed:
			return low | final
		case ps.Failed > 0:
			return low
		}
		return 0
	}
	var f uint64
	if user != "" {
		f |= flags(st.Users[0], p11.CKF_USER_PIN_COUNT_LOW, p11.CKF_USER_PIN_FINAL_TRY, p11.CKF_USER_PIN_LOCKED)
	}
	return f | flags(st.Users[1], p11.CKF_SO_PIN_COUNT_LOW, p11.CKF_SO_PIN_FINAL_TRY, p11.CKF_SO_PIN_LOCKED), nil
}

func (m *module) String() string { return fmt.Sprintf("hsmsim-pkcs11(%s)", m.cfg.Path) }
