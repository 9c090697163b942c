package server

import (
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/token"
)

// sessionObjects are the CKA_TOKEN=false objects. As on CloudHSM they live on the one node
// that created them and are not replicated; each belongs to the login that made it and goes
// away at its logout.
type sessionObjects struct {
	mu    sync.RWMutex
	next  uint32
	objs  map[uint32]*token.Object
	login map[uint32]string
	// seen is when a call last named each public session that has objects here (Unix
	// nanoseconds): a public session has no login to end with its client, so its objects end
	// when its client stops showing it is alive (publicIdle).
	seen map[string]*atomic.Int64
}

// publicIdle is how long a public session's objects outlive the last call that named it: its
// client keeps it alive while it holds objects here (hsmd/client, keepPublicAlive), so this is
// the time an application that died without C_Finalize leaves them behind.
func publicIdle(loginLease time.Duration) time.Duration { return 8 * max(loginLease, time.Second) }

// newSessionObjects starts the handle counter at a random point of the session range, so two
// nodes rarely hand out the same session handle and a client can tell by handle which node holds
// which session object.
func newSessionObjects() *sessionObjects {
	return &sessionObjects{next: hsmpb.SessionHandleBit | rand.Uint32N(1<<30), objs: map[uint32]*token.Object{}, login: map[uint32]string{},
		seen: map[string]*atomic.Int64{}}
}

func (s *sessionObjects) add(loginID, owner string, a attr.Set) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	if s.next == 0 { // wrapped past the top: back to the start of the session range
		s.next = hsmpb.SessionHandleBit + 1
	}
	h := s.next
	s.objs[h] = &token.Object{Handle: h, Attrs: attr.Pack(a), Owner: owner}
	s.login[h] = loginID
	if strings.HasPrefix(loginID, publicKeyPrefix) {
		if s.seen[loginID] == nil {
			s.seen[loginID] = new(atomic.Int64)
		}
		s.seen[loginID].Store(time.Now().UnixNano())
	}
	return h
}

// touch notes that a call named public session k: its objects here live on.
func (s *sessionObjects) touch(k string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.seen[k]; t != nil {
		t.Store(time.Now().UnixNano())
	}
}

// get returns a session object if c made it (its login, or its public session).
func (s *sessionObjects) get(c *caller, h uint32) (*token.Object, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.objs[h]
	if !ok || !c.owns(s.login[h]) {
		return nil, false
	}
	return o, true
}

func (s *sessionObjects) replace(h uint32, a attr.Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.objs[h]; ok {
		s.objs[h] = &token.Object{Handle: h, Attrs: attr.Pack(a), Owner: o.Owner}
	}
}

func (s *sessionObjects) remove(h uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objs, h)
	delete(s.login, h)
}

func (s *sessionObjects) dropLogin(loginID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, l := range s.login {
		if l == loginID {
			delete(s.objs, h)
			delete(s.login, h)
		}
	}
}

func (s *sessionObjects) find(c *caller, tmpl []attr.Attribute) []uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []uint32
	for h, o := range s.objs {
		if c.owns(s.login[h]) && attr.Match(o.Attrs, tmpl) {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (s *sessionObjects) count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.objs)
}

// dropEnded drops the session objects of logins the token no longer has: a login can end on
// another node (a logout there, or its lease running out) while its session objects live here.
// A public session's objects are not a login's: its application destroys them as it closes its
// sessions (C_CloseSession, C_Finalize), and they end here when no call has named it for idle.
func (s *sessionObjects) dropEnded(st *token.State, idle time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := time.Now().Add(-idle).UnixNano()
	for h, l := range s.login {
		ended := false
		if t := s.seen[l]; t != nil {
			ended = t.Load() < before
		} else if _, _, ok := st.Login(l); !ok {
			ended = true
		}
		if ended {
			delete(s.objs, h)
			delete(s.login, h)
		}
	}
	for k, t := range s.seen {
		if t.Load() < before {
			delete(s.seen, k)
		}
	}
}
