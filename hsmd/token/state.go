// Package token is the replicated heart of an hsmsim node: its objects, users and logins, and the
// state machine that changes them. Every change is a typed Command applied by State.Apply, which
// is deterministic (no clock, no randomness, no I/O but the store) so that every replica that
// applies the same log holds the same token: same objects, same handles, same users.
//
// Readers (the node's crypto and lookup paths) take a read lock and get immutable values: an
// Object or User in State is replaced, never modified in place, so a pointer stays valid.
package token

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/mech"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/store"
)

// Store buckets.
const (
	bucketObjects  = "objects"
	bucketUsers    = "users"
	bucketLogins   = "logins"
	bucketMeta     = "meta"
	bucketRequests = "requests"
)

var metaKey = []byte("meta")

// MaxObjects is the token object capacity, hsm2m.medium's 16,666 keys.
const MaxObjects = 16666

// requestMemory is how many idempotency ids State remembered before commands carried a time
// (version 1): it still bounds the table while only unstamped commands are applied, so an old log
// replays as it did. Stamped commands are remembered for DedupeWindow instead.
const requestMemory = 4096

// Object is a token object. Attrs holds key material in memory only; at rest and in snapshots the
// material is sealed. Values are immutable once in State. Attrs is packed (attr.Packed, not a
// map) because an object lives as long as the token and memory per key is a goal (issue 17).
type Object struct {
	Handle uint32
	Attrs  attr.Packed
	Owner  string
	Shared []string // sorted

	keyOnce sync.Once
	key     *mech.Key
	keyErr  error
}

// Key returns the object parsed for the mechanisms, parsed once per object value.
func (o *Object) Key() (*mech.Key, error) {
	o.keyOnce.Do(func() {
		o.key, o.keyErr = mech.NewKey(o.Attrs.Set())
		if o.keyErr == nil {
			// The Key reads the object's packed attributes, not the map it was parsed from:
			// kept, that map would cost every key in use 2.4 KB more (issue 17).
			o.key.Attrs = o.Attrs
		}
	})
	return o.key, o.keyErr
}

// Private reports CKA_PRIVATE (true when absent, the spec's default).
func (o *Object) Private() bool { return private(o.Attrs) }

func private(a attr.Reader) bool {
	v, ok := a.Bool(p11.CKA_PRIVATE)
	return v || !ok
}

// SharedWith reports whether user may use (not manage) the object.
func (o *Object) SharedWith(user string) bool {
	i := sort.SearchStrings(o.Shared, user)
	return i < len(o.Shared) && o.Shared[i] == user
}

// VisibleTo says whether a crypto user sees the object: its owner, a user it is shared with, or
// anyone for a public (CKA_PRIVATE false) object.
func (o *Object) VisibleTo(user string) bool {
	return o.Owner == user || o.SharedWith(user) || !o.Private()
}

// Result is what applying a command produced. RV is the PKCS#11 outcome; a command can change
// state and still fail (a wrong password counts a failed login and answers CKR_PIN_INCORRECT).
type Result struct {
	RV      uint32
	Msg     string
	Handles []uint32
	Value   string // the login id, for a login
}

// Err is the result as a Go error, nil on CKR_OK.
func (r Result) Err() error {
	if r.RV == p11.CKR_OK {
		return nil
	}
	if r.Msg == "" {
		return p11.Error(r.RV)
	}
	return p11.Errorf(r.RV, "%s", r.Msg)
}

func fail(rv uint32, format string, args ...any) Result {
	return Result{RV: rv, Msg: fmt.Sprintf(format, args...)}
}

// State is the token: what every replica holds identically.
type State struct {
	mu      sync.RWMutex
	st      *store.Store
	ck      *ClusterKey
	meta    *hsmpb.StoredMeta
	objects map[uint32]*Object
	index   *objectIndex // over objects; see setObject
	users   map[string]*User
	logins  map[string]*Login
	reqs    map[string]*hsmpb.StoredRequest
	reqFIFO []string
	applied uint64
	notify  chan struct{} // closed and replaced after every Apply
	auditor Auditor
}

// Open loads the state persisted in st. ck opens the key material.
func Open(st *store.Store, ck *ClusterKey) (*State, error) {
	s := &State{st: st, ck: ck, notify: make(chan struct{})}
	s.reset()
	if b, err := st.Get(bucketMeta, metaKey); err == nil {
		if err := proto.Unmarshal(b, s.meta); err != nil {
			return nil, fmt.Errorf("token: meta: %w", err)
		}
	}
	err := st.ForEach(bucketObjects, func(_, v []byte) error {
		var so hsmpb.StoredObject
		if err := proto.Unmarshal(v, &so); err != nil {
			return err
		}
		o, err := s.objectFromStored(&so)
		if err != nil {
			return err
		}
		s.setObject(o)
		return nil
	})
	if err == nil {
		err = st.ForEach(bucketUsers, func(_, v []byte) error {
			var su hsmpb.StoredUser
			if err := proto.Unmarshal(v, &su); err != nil {
				return err
			}
			s.users[su.Name] = userFromStored(&su)
			return nil
		})
	}
	if err == nil {
		err = st.ForEach(bucketLogins, func(_, v []byte) error {
			var sl hsmpb.StoredLogin
			if err := proto.Unmarshal(v, &sl); err != nil {
				return err
			}
			s.logins[sl.Id] = loginFromStored(&sl)
			return nil
		})
	}
	if err == nil {
		var rs []*hsmpb.StoredRequest
		err = st.ForEach(bucketRequests, func(_, v []byte) error {
			var r hsmpb.StoredRequest
			if err := proto.Unmarshal(v, &r); err != nil {
				return err
			}
			rs = append(rs, &r)
			return nil
		})
		sort.Slice(rs, func(i, j int) bool { return rs[i].Index < rs[j].Index })
		for _, r := range rs {
			s.reqs[r.Id] = r
			s.reqFIFO = append(s.reqFIFO, r.Id)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("token: loading state: %w", err)
	}
	s.applied = st.AppliedIndex()
	return s, nil
}

func (s *State) reset() {
	s.meta = &hsmpb.StoredMeta{NextHandle: 1}
	s.objects = map[uint32]*Object{}
	s.index = newObjectIndex()
	s.users = map[string]*User{}
	s.logins = map[string]*Login{}
	s.reqs = map[string]*hsmpb.StoredRequest{}
	s.reqFIFO = nil
}

// ClusterKey is the key material is sealed under in commands and snapshots.
func (s *State) ClusterKey() *ClusterKey { return s.ck }

// materialAAD binds sealed material to the object's owner: material sealed for one user's
// command cannot be replayed into another user's object.
func materialAAD(owner string) []byte { return []byte("hsmsim/material/v1/" + owner) }

// SealObject splits a new object into the public part and its sealed material, for a command.
func (s *State) SealObject(owner string, obj attr.Set) (*hsmpb.NewObject, error) {
	pub, mat := attr.Split(obj)
	sealed, err := s.ck.SealMaterial(mat, materialAAD(owner))
	if err != nil {
		return nil, err
	}
	return &hsmpb.NewObject{Public: hsmpb.AttrsToPB(pub), SealedMaterial: sealed}, nil
}

func (s *State) objectFromStored(so *hsmpb.StoredObject) (*Object, error) {
	mat, err := s.ck.OpenMaterial(so.SealedMaterial, materialAAD(so.Owner))
	if err != nil {
		return nil, fmt.Errorf("object %d: %w", so.Handle, err)
	}
	a := hsmpb.AttrsFromPB(so.Public)
	for t, v := range mat {
		a[t] = v
	}
	return &Object{Handle: so.Handle, Attrs: attr.Pack(a), Owner: so.Owner, Shared: append([]string(nil), so.Shared...)}, nil
}

func (s *State) objectToStored(o *Object) (*hsmpb.StoredObject, error) {
	pub, mat := attr.Split(o.Attrs.Set())
	sealed, err := s.ck.SealMaterial(mat, materialAAD(o.Owner))
	if err != nil {
		return nil, err
	}
	return &hsmpb.StoredObject{Handle: o.Handle, Public: hsmpb.AttrsToPB(pub), Owner: o.Owner, Shared: o.Shared, SealedMaterial: sealed}, nil
}

func userFromStored(su *hsmpb.StoredUser) *User {
	return &User{Name: su.Name, Role: su.Role, Hash: su.Hash, Failed: su.FailedLogins, Locked: su.Locked, Generation: su.Generation}
}

func userToStored(u *User) *hsmpb.StoredUser {
	return &hsmpb.StoredUser{Name: u.Name, Role: u.Role, Hash: u.Hash, FailedLogins: u.Failed, Locked: u.Locked, Generation: u.Generation}
}

func handleKey(h uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], h)
	return b[:]
}

// Applied is the index of the last applied command.
func (s *State) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// WaitApplied blocks until index is applied or ctx ends (then ErrIndexTimeout). It is the
// read-your-writes wait: a client that saw index n on one node sends n to the next.
func (s *State) WaitApplied(ctx context.Context, index uint64) error {
	for {
		s.mu.RLock()
		done, ch := s.applied >= index, s.notify
		s.mu.RUnlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: want %d, have %d", ErrIndexTimeout, index, s.Applied())
		}
	}
}

// Initialized reports whether the token was bootstrapped.
func (s *State) Initialized() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta.ClusterId != ""
}

// Meta returns the cluster id and token label.
func (s *State) Meta() (clusterID, label string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.meta.ClusterId, s.meta.Label
}

// Object returns the object with handle h, whoever may see it.
func (s *State) Object(h uint32) (*Object, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.objects[h]
	return o, ok
}

// Counts reports objects, users and logins.
func (s *State) Counts() (objects, users, logins int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.objects), len(s.users), len(s.logins)
}

// User returns a user by name.
func (s *State) User(name string) (*User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[name]
	return u, ok
}

// Users returns every user, sorted by name, with its active login and owned object counts.
func (s *State) Users() (users []*User, logins, owned map[string]int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	logins, owned = map[string]int{}, map[string]int{}
	for _, l := range s.logins {
		logins[l.User]++
	}
	for _, o := range s.objects {
		owned[o.Owner]++
	}
	for _, u := range s.users {
		users = append(users, u)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	return users, logins, owned
}

// ExpiredLogins counts the logins last alive before the given time: what CmdExpireLogins with
// that time would end.
func (s *State) ExpiredLogins(before int64) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, l := range s.logins {
		if l.Last() < before {
			n++
		}
	}
	return n
}

// Login resolves a credential to its login and user.
func (s *State) Login(id string) (*Login, *User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.logins[id]
	if !ok {
		return nil, nil, false
	}
	u, ok := s.users[l.User]
	return l, u, ok
}
