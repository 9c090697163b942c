package pkcs11shim

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"os"
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
	login    *loginState       // nil: public sessions only
	owners   map[uint32]uint64 // session object handle → the session that created it
	mechs    map[uint32]uint64 // mechanism type → CKF_* flags, fetched once from the node
	loginMu  sync.Mutex        // serializes C_Login / C_Logout (each is an RPC)
	uses     keyUses           // what C_*Init found the node allows (keyuse.go)
}

// loginState is the application's login: all its sessions share it, as the spec says.
type loginState struct {
	user    string
	pinHash [32]byte // for C_Login(CKU_CONTEXT_SPECIFIC) and C_SetPIN's old PIN
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
		sessions: map[uint64]*session{}, owners: map[uint32]uint64{}}
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
	m.sessions, m.login, m.owners = map[uint64]*session{}, nil, map[uint32]uint64{}
	m.mu.Unlock()
	if logged {
		// Logging out drops this login's session objects on the node too.
		ctx, cancel := m.ctx()
		_ = m.cl.Logout(ctx)
		cancel()
	}
	_ = m.cl.Close()
	m.log.Info("finalized")
	_ = m.logC.Close()
	return nil
}

func (m *module) cloudHSM() bool { return m.cfg.Profile == client.ProfileCloudHSM }

// seesPublicObjects says whether the application may find and read objects now: after a login,
// or in a public session of profile standard, which sees the token's public objects (CKA_PRIVATE
// false) as the spec says. The CloudHSM library shows nothing before a login.
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
		if owner == s.h {
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

// login is C_Login / C_LoginUser for CKU_USER with a CloudHSM PIN, "user:password" (or the user
// name apart, from C_LoginUser).
func (m *module) loginUser(user, pin string) error {
	m.loginMu.Lock()
	defer m.loginMu.Unlock()
	if m.loggedIn() {
		return p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)
	}
	full := pin
	if user == "" {
		var ok bool
		user, pin, ok = strings.Cut(pin, ":")
		if !ok || user == "" {
			return p11.Errorf(p11.CKR_PIN_INCORRECT, "the PIN is user:password")
		}
	} else {
		full = user + ":" + pin
	}
	ctx, cancel := m.ctx()
	defer cancel()
	if _, err := m.cl.Login(ctx, user, pin); err != nil {
		m.log.Info("login failed", "user", user, "err", err)
		return err
	}
	m.mu.Lock()
	m.login = &loginState{user: user, pinHash: sha256.Sum256([]byte(full))}
	m.mu.Unlock()
	m.uses.forget()
	m.log.Debug("logged in", "user", user)
	return nil
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
	m.owners = map[uint32]uint64{}
	m.mu.Unlock()
	m.uses.forget()
}

// noteObject records a new object: a session object belongs to the session that made it.
func (m *module) noteObject(s *session, h uint32) {
	if hsmpb.IsSessionHandle(h) {
		m.mu.Lock()
		m.owners[h] = s.h
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
	t.sessions, t.rwSessions = m.sessionCounts()
	t.maxObjects = uint64(info.MaxObjects)
	t.used = uint64(info.TokenObjects) + uint64(info.SessionObjects)
	return t, nil
}

func (m *module) String() string { return fmt.Sprintf("hsmsim-pkcs11(%s)", m.cfg.Path) }
