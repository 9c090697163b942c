package client

import (
	"errors"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
)

// Read-your-writes by what an operation touches (docs/CONSISTENCY.md). A crypto read needs the
// node to have applied every write of this session to the keys it names, and the login; not
// the session's newest write to anything. So a node that lags (a minority partition, a slow
// follower) serves reads on keys that have not changed since at once, and only reads on keys
// changed after what it has applied wait for it (or go elsewhere: pick prefers a node known to
// have applied the index).
//
// A write waits for the same: the login and the keys it names. Its outcome is decided where
// Raft orders it (the leader applies it after everything committed before), so what the node it
// reaches must have applied is only what that node checks before proposing: the caller's login
// and the objects the write names. A follower learns that an entry is committed only with the
// leader's next message, up to Raft's commit timeout later; waiting for the session's newest
// write made each of a session's consecutive creations on a follower wait that long
// (docs/BENCHMARKS.md). Lookups (find, attributes) keep the session's newest index, and what a
// search finds raises the found objects' indexes, so a key found on one node is not used, or
// destroyed, on a node that has not applied it yet.

// keyReads are the reads whose index is that of their keys and the login.
var keyReads = map[string]bool{
	"Sign": true, "Verify": true, "Encrypt": true, "Decrypt": true, "Digest": true,
	"GenerateRandom": true, "WrapKey": true, "CheckKeyUse": true, "Batch": true,
}

// handlesOf lists the object handles a request names (every item of a batch).
func handlesOf(req any) []uint32 {
	var hs []uint32
	add := func(h uint32) {
		if h != 0 {
			hs = append(hs, h)
		}
	}
	if r, ok := req.(*hsmpb.BatchRequest); ok {
		for _, it := range r.Items {
			add(it.GetSign().GetKey())
			add(it.GetEncrypt().GetKey())
			add(it.GetDecrypt().GetKey())
			add(it.GetVerify().GetKey())
		}
		return hs
	}
	if r, ok := req.(handleRequest); ok {
		add(r.GetHandle())
	}
	if r, ok := req.(keyRequest); ok {
		add(r.GetKey())
	}
	if r, ok := req.(wrapRequest); ok {
		add(r.GetWrappingKey())
	}
	if r, ok := req.(unwrapRequest); ok {
		add(r.GetUnwrappingKey())
	}
	if r, ok := req.(deriveRequest); ok {
		add(r.GetBaseKey())
	}
	return hs
}

// repliedHandles lists the handles a write's reply names (the objects it made).
func repliedHandles(reply any) []uint32 {
	switch r := reply.(type) {
	case *hsmpb.HandleResponse:
		return []uint32{r.Handle}
	case *hsmpb.KeyPairResponse:
		return []uint32{r.PublicHandle, r.PrivateHandle}
	}
	return nil
}

// readIndex is the index a node must have applied before it serves this call: for a crypto
// read or a write, the highest index at which this session changed (or saw changed, or found)
// the keys it names, or its login (for a credential adopted with SetCredential, the session's
// newest index); for anything else (lookups), the session's newest index.
func (s *Session) readIndex(name string, req any) uint64 {
	if !keyReads[name] && !writeMethods[name] {
		return s.Index()
	}
	m := s.login.Load()
	if s.adopted.Load() {
		m = max(m, s.Index())
	}
	hs := handlesOf(req)
	if len(hs) == 0 {
		return m
	}
	s.kmu.RLock()
	for _, h := range hs {
		m = max(m, s.keys[h])
	}
	s.kmu.RUnlock()
	return m
}

// learn records what an answer at index i (the node's x-hsm-index) says about the keys: a write
// changed the objects it names or made at an index at most i, and a write that names none
// (login, logout, users) changed the login. A crypto read that the node refused (the key is
// gone, or not usable) saw the key as of i: later reads must not see it older. RenewLogin only
// extends a lease every node already holds, so it does not hold reads back.
func (s *Session) learn(name string, req, reply any, err error, i uint64) {
	if i == 0 {
		return
	}
	switch {
	case writeMethods[name] && err == nil:
		hs := append(handlesOf(req), repliedHandles(reply)...)
		if len(hs) == 0 {
			if name != "RenewLogin" {
				raise(&s.login, i)
			}
			return
		}
		s.raiseKeys(i, hs...)
	case name == "FindObjects" && err == nil:
		// A search found these objects as of i: later calls on them must not find them
		// missing (a key another session made, found on one node, used on another). Reading
		// an object's attributes raises nothing: like a use that worked, it does not hold
		// later reads back (docs/CONSISTENCY.md).
		if r, ok := reply.(*hsmpb.FindResponse); ok {
			s.raiseKeys(i, r.Handles...)
		}
	case keyReads[name] && err != nil:
		var e *Error
		if errors.As(err, &e) && e.remote && !Retryable(err) {
			s.raiseKeys(i, handlesOf(req)...)
		}
	case name == "Batch" && err == nil:
		r, _ := reply.(*hsmpb.BatchResponse)
		q, _ := req.(*hsmpb.BatchRequest)
		if r == nil || q == nil || len(r.Results) != len(q.Items) {
			return
		}
		for n, res := range r.Results {
			if e := ItemError(res); e != nil && !Retryable(e) {
				s.raiseKeys(i, handlesOf(&hsmpb.BatchRequest{Items: q.Items[n : n+1]})...)
			}
		}
	}
}

// raiseKeys records that the session saw the token objects hs as of index i. Session objects
// are left out: one lives on one node, outside the log, and calls on it go to that node, which
// an index from elsewhere says nothing about.
func (s *Session) raiseKeys(i uint64, hs ...uint32) {
	if len(hs) == 0 {
		return
	}
	s.kmu.Lock()
	if s.keys == nil {
		s.keys = map[uint32]uint64{}
	}
	for _, h := range hs {
		if !hsmpb.IsSessionHandle(h) {
			s.keys[h] = max(s.keys[h], i)
		}
	}
	s.kmu.Unlock()
}

// noteApplied records that the node at addr has applied index i.
func (s *Session) noteApplied(addr string, i uint64) {
	if s.appliedBy(addr) >= i { // the usual case: no write lock
		return
	}
	s.kmu.Lock()
	if s.applied == nil {
		s.applied = map[string]uint64{}
	}
	s.applied[addr] = max(s.applied[addr], i)
	s.kmu.Unlock()
}

// appliedBy is the highest index the node at addr reported.
func (s *Session) appliedBy(addr string) uint64 {
	s.kmu.RLock()
	defer s.kmu.RUnlock()
	return s.applied[addr]
}
