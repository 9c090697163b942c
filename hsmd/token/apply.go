package token

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/p11"
	"github.com/hsmsim/hsmsim/hsmd/store"
)

// txn collects what commands change: the store writes (committed with the index in one
// transaction) and the in-memory changes (made once the handler has decided, so that the next
// command of a batch sees them).
type txn struct {
	s      *State
	writes []store.Write
	after  []func()
}

func (t *txn) putObject(o *Object) error {
	so, err := t.s.objectToStored(o)
	if err != nil {
		return err
	}
	if err := t.put(bucketObjects, handleKey(o.Handle), so); err != nil {
		return err
	}
	t.after = append(t.after, func() { t.s.setObject(o) })
	return nil
}

func (t *txn) deleteObject(h uint32) {
	t.writes = append(t.writes, store.Write{Bucket: bucketObjects, Key: handleKey(h)})
	t.after = append(t.after, func() { t.s.dropObject(h) })
}

func (t *txn) putUser(u *User) error {
	if err := t.put(bucketUsers, []byte(u.Name), userToStored(u)); err != nil {
		return err
	}
	t.after = append(t.after, func() { t.s.users[u.Name] = u })
	return nil
}

func (t *txn) deleteUser(name string) {
	t.writes = append(t.writes, store.Write{Bucket: bucketUsers, Key: []byte(name)})
	t.after = append(t.after, func() { delete(t.s.users, name) })
}

func (t *txn) putLogin(l *Login) error {
	if err := t.put(bucketLogins, []byte(l.ID), loginToStored(l)); err != nil {
		return err
	}
	t.after = append(t.after, func() { t.s.logins[l.ID] = l })
	return nil
}

func (t *txn) deleteLogin(id string) {
	t.writes = append(t.writes, store.Write{Bucket: bucketLogins, Key: []byte(id)})
	t.after = append(t.after, func() { delete(t.s.logins, id) })
}

func (t *txn) putMeta(m *hsmpb.StoredMeta) error {
	if err := t.put(bucketMeta, metaKey, m); err != nil {
		return err
	}
	t.after = append(t.after, func() { t.s.meta = m })
	return nil
}

func (t *txn) put(bucket string, key []byte, m proto.Message) error {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err
	}
	t.writes = append(t.writes, store.Write{Bucket: bucket, Key: key, Value: b})
	return nil
}

// handler applies one command type. It validates everything first and only then records
// changes in t: a handler that fails leaves t empty (except where failing is itself a change,
// as a failed login). A returned error is fatal (the store or sealing broke), a Result with a
// non-OK RV is an ordinary refusal that every replica reaches identically.
type handler func(s *State, t *txn, msg proto.Message) (Result, error)

var handlers = map[CommandType]handler{}

func register(ct CommandType, h handler) {
	if _, dup := handlers[ct]; dup {
		panic(fmt.Sprintf("token: handler for command %d registered twice", ct))
	}
	handlers[ct] = h
}

func init() {
	register(CmdBootstrap, applyBootstrap)
	register(CmdCreateObjects, applyCreateObjects)
	register(CmdDestroyObject, applyDestroyObject)
	register(CmdSetAttributes, applySetAttributes)
	register(CmdShareKey, applyShareKey)
	register(CmdCreateUser, applyCreateUser)
	register(CmdDeleteUser, applyDeleteUser)
	register(CmdSetPassword, applySetPassword)
	register(CmdLoginAttempt, applyLoginAttempt)
	register(CmdLogout, applyLogout)
	register(CmdRenewLogin, applyRenewLogin)
	register(CmdExpireLogins, applyExpireLogins)
	register(CmdRegisterTrustAnchor, applyRegisterTrustAnchor)
	register(CmdDeregisterTrustAnchor, applyDeregisterTrustAnchor)
	register(CmdSetMTLSEnforcement, applySetMTLSEnforcement)
}

// Entry is one log entry for ApplyBatch.
type Entry struct {
	Index uint64
	Data  []byte
}

// Apply applies the command data at log index. It is deterministic. An error (ErrBadCommand,
// ErrStore) means this replica cannot go on without diverging and must stop; every other outcome,
// refusals included, is a Result that every replica computes alike.
func (s *State) Apply(index uint64, data []byte) (Result, error) {
	rs, err := s.ApplyBatch([]Entry{{Index: index, Data: data}})
	if err != nil {
		return Result{}, err
	}
	return rs[0], nil
}

// ApplyBatch applies consecutive entries and makes them durable in one store transaction, so a
// burst of writes costs one fsync, not one each. Every entry is decoded before any is applied:
// an undecodable entry fails the whole batch with ErrBadCommand and changes nothing. Entries at
// or below the applied index (replayed after a restart) are answered without applying again.
func (s *State) ApplyBatch(entries []Entry) ([]Result, error) {
	cmds := make([]Command, len(entries))
	for i, e := range entries {
		c, err := Decode(e.Data)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", e.Index, err)
		}
		cmds[i] = c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &txn{s: s}
	results := make([]Result, len(entries))
	last := s.applied
	var audit []Applied
	for i, c := range cmds {
		idx := entries[i].Index
		r, seen := s.reqs[c.RequestID]
		seen = seen && c.RequestID != ""
		subject := s.subjectOf(c)
		before := s.users[subject]
		switch {
		case idx <= last:
			if seen {
				results[i] = Result{RV: r.Rv, Handles: r.Handles, Value: r.Value}
			}
			continue
		case seen:
			// A client retry of a write that already happened: answer as the first time.
			results[i] = Result{RV: r.Rv, Handles: r.Handles, Value: r.Value}
		default:
			res, err := handlers[c.Type](s, t, c.Msg)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrStore, err)
			}
			if c.RequestID != "" {
				if err := t.rememberRequest(c.RequestID, idx, c.Time, res); err != nil {
					return nil, fmt.Errorf("%w: %v", ErrStore, err)
				}
			}
			results[i] = res
		}
		// Later entries of the batch see this one's effects; the store sees them all at once.
		for _, f := range t.after {
			f()
		}
		t.after = t.after[:0]
		if !seen && s.auditor != nil {
			audit = append(audit, s.audited(idx, c, results[i], subject, before))
		}
		last = idx
	}
	if last == s.applied {
		return results, nil
	}
	auditWait := func() error { return nil }
	if len(audit) > 0 {
		var err error
		if auditWait, err = s.auditor.Applied(audit); err != nil {
			return nil, fmt.Errorf("%w: audit: %v", ErrStore, err)
		}
	}
	if err := s.st.Commit(last, t.writes); err != nil {
		// Memory is ahead of disk now: the caller must stop this replica.
		return nil, fmt.Errorf("%w: %v", ErrStore, err)
	}
	if err := auditWait(); err != nil {
		return nil, fmt.Errorf("%w: audit: %v", ErrStore, err)
	}
	s.applied = last
	close(s.notify)
	s.notify = make(chan struct{})
	return results, nil
}

// rememberRequest records the answer to request id so a retry gets it again, and forgets ids
// older than DedupeWindow in the log's clock: at is the command's stamped time, never below the
// newest remembered request's, so the table stays in time order and eviction from its front is
// the same on every replica. An unstamped (version 1) command keeps the old count bound.
func (t *txn) rememberRequest(id string, index uint64, at int64, r Result) error {
	fifo := t.s.reqFIFO
	if len(fifo) > 0 {
		at = max(at, t.s.reqs[fifo[len(fifo)-1]].TimeMs)
	}
	sr := &hsmpb.StoredRequest{Id: id, Index: index, Rv: r.RV, Handles: r.Handles, Value: r.Value, TimeMs: at}
	if err := t.put(bucketRequests, []byte(id), sr); err != nil {
		return err
	}
	evict := 0
	if at == 0 {
		if len(fifo) >= requestMemory {
			evict = 1
		}
	} else {
		for evict < len(fifo) && t.s.reqs[fifo[evict]].TimeMs+DedupeWindow.Milliseconds() < at {
			evict++
		}
	}
	for _, old := range fifo[:evict] {
		t.writes = append(t.writes, store.Write{Bucket: bucketRequests, Key: []byte(old)})
	}
	t.after = append(t.after, func() {
		for _, old := range t.s.reqFIFO[:evict] {
			delete(t.s.reqs, old)
		}
		t.s.reqFIFO = append(t.s.reqFIFO[evict:], id)
		t.s.reqs[id] = sr
	})
	return nil
}

func applyBootstrap(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdBootstrap)
	if s.meta.ClusterId != "" {
		return fail(p11.CKR_FUNCTION_FAILED, "token already initialized for %s", s.meta.ClusterId), nil
	}
	if c.ClusterId == "" || checkHash(c.AdminHash) != nil {
		return fail(p11.CKR_ARGUMENTS_BAD, "bootstrap needs a cluster id and an admin password hash"), nil
	}
	meta := &hsmpb.StoredMeta{ClusterId: c.ClusterId, Label: c.Label, NextHandle: s.meta.NextHandle}
	if err := t.putMeta(meta); err != nil {
		return Result{}, err
	}
	return Result{}, t.putUser(&User{Name: AdminName, Role: RoleUnactivatedAdmin, Hash: c.AdminHash})
}

// cryptoUser checks that actor is a crypto user, the only role that owns and uses keys.
func (s *State) cryptoUser(actor string) (*User, *Result) {
	u, ok := s.users[actor]
	if !ok || u.Role != RoleCryptoUser {
		r := fail(p11.CKR_USER_NOT_LOGGED_IN, "%q is not a crypto user", actor)
		return nil, &r
	}
	return u, nil
}

// Nobody is the owner of the token objects a PKCS#11 public session (no login) makes: public
// objects only (PKCS#11 the v2.40 Usage Guide's session states give a R/W public session R/W access to public token
// objects, and none to private ones).
const Nobody = ""

// manager checks that actor may manage token objects: a crypto user, or Nobody, a public
// session, which manages Nobody's objects alone (ownedObject).
func (s *State) manager(actor string) *Result {
	if actor == Nobody {
		return nil
	}
	_, r := s.cryptoUser(actor)
	return r
}

// ownedObject finds an object actor may manage: CKR_OBJECT_HANDLE_INVALID if actor cannot see it,
// CKR_ACTION_PROHIBITED if actor sees but does not own it (only the owner manages a key).
// Nobody's objects are public token objects made without a login: any crypto user or public
// session may manage them, as the spec's R/W sessions may.
func (s *State) ownedObject(actor string, h uint32) (*Object, *Result) {
	o, ok := s.objects[h]
	if !ok || !o.VisibleTo(actor) {
		r := fail(p11.CKR_OBJECT_HANDLE_INVALID, "no object %d for %q", h, actor)
		return nil, &r
	}
	if o.Owner != actor && o.Owner != Nobody {
		r := fail(p11.CKR_ACTION_PROHIBITED, "object %d belongs to %q", h, o.Owner)
		return nil, &r
	}
	return o, nil
}

func applyCreateObjects(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdCreateObjects)
	if r := s.manager(c.Owner); r != nil {
		return *r, nil
	}
	if len(c.Objects) == 0 || len(c.Objects) > 2 {
		return fail(p11.CKR_ARGUMENTS_BAD, "a command creates one object or a key pair"), nil
	}
	if len(s.objects)+len(c.Objects) > MaxObjects {
		return fail(p11.CKR_DEVICE_MEMORY, "token holds %d objects, the limit is %d", len(s.objects), MaxObjects), nil
	}
	next := s.meta.NextHandle
	var handles []uint32
	var objs []*Object
	for _, no := range c.Objects {
		mat, err := s.ck.OpenMaterial(no.SealedMaterial, materialAAD(c.Owner))
		if err != nil {
			return fail(p11.CKR_FUNCTION_FAILED, "key material does not open under the cluster key"), nil
		}
		a := hsmpb.AttrsFromPB(no.Public)
		for k, v := range mat {
			a[k] = v
		}
		if _, ok := a.Ulong(p11.CKA_CLASS); !ok {
			return fail(p11.CKR_TEMPLATE_INCOMPLETE, "object without CKA_CLASS"), nil
		}
		if c.Owner == Nobody && private(a) {
			return fail(p11.CKR_USER_NOT_LOGGED_IN, "a private object needs a login"), nil
		}
		if next == 0 || next >= 1<<31 { // the high half is for session objects
			return fail(p11.CKR_DEVICE_MEMORY, "object handles exhausted"), nil
		}
		objs = append(objs, &Object{Handle: next, Attrs: attr.Pack(a), Owner: c.Owner})
		handles = append(handles, next)
		next++
	}
	for _, o := range objs {
		if err := t.putObject(o); err != nil {
			return Result{}, err
		}
	}
	meta := proto.Clone(s.meta).(*hsmpb.StoredMeta)
	meta.NextHandle = next
	return Result{Handles: handles}, t.putMeta(meta)
}

func applyDestroyObject(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdDestroyObject)
	if r := s.manager(c.Actor); r != nil {
		return *r, nil
	}
	o, r := s.ownedObject(c.Actor, c.Handle)
	if r != nil {
		return *r, nil
	}
	if v, ok := o.Attrs.Bool(p11.CKA_DESTROYABLE); ok && !v {
		return fail(p11.CKR_ACTION_PROHIBITED, "object %d has CKA_DESTROYABLE false", c.Handle), nil
	}
	t.deleteObject(c.Handle)
	return Result{}, nil
}

func applySetAttributes(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdSetAttributes)
	tmpl := hsmpb.TemplateFromPB(c.Template)
	var o *Object
	if u, ok := s.users[c.Actor]; ok && u.Role == RoleAdmin && OnlyTrusted(tmpl) {
		// An admin vouches for (or stops vouching for) any token key by its handle.
		if o, ok = s.objects[c.Handle]; !ok {
			return fail(p11.CKR_OBJECT_HANDLE_INVALID, "no object %d", c.Handle), nil
		}
	} else {
		if r := s.manager(c.Actor); r != nil {
			return *r, nil
		}
		if err := CheckTrusted(RoleCryptoUser, tmpl); err != nil {
			return Result{RV: p11.Code(err), Msg: err.Error()}, nil
		}
		var r *Result
		if o, r = s.ownedObject(c.Actor, c.Handle); r != nil {
			return *r, nil
		}
	}
	na, err := attr.Modify(o.Attrs.Set(), tmpl)
	if err != nil {
		return Result{RV: p11.Code(err), Msg: err.Error()}, nil
	}
	return Result{}, t.putObject(&Object{Handle: o.Handle, Attrs: attr.Pack(na), Owner: o.Owner, Shared: o.Shared})
}

func applyShareKey(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdShareKey)
	if _, r := s.cryptoUser(c.Actor); r != nil {
		return *r, nil
	}
	o, r := s.ownedObject(c.Actor, c.Handle)
	if r != nil {
		return *r, nil
	}
	if u, ok := s.users[c.User]; !ok || u.Role != RoleCryptoUser || c.User == c.Actor {
		return fail(p11.CKR_ARGUMENTS_BAD, "%q is not another crypto user", c.User), nil
	}
	shared := make([]string, 0, len(o.Shared)+1)
	for _, u := range o.Shared {
		if u != c.User {
			shared = append(shared, u)
		}
	}
	if c.Share {
		shared = append(shared, c.User)
		sort.Strings(shared)
	}
	return Result{}, t.putObject(&Object{Handle: o.Handle, Attrs: o.Attrs, Owner: o.Owner, Shared: shared})
}

// admin checks that actor is an activated admin (crypto officer).
func (s *State) admin(actor string) *Result {
	u, ok := s.users[actor]
	if !ok || u.Role != RoleAdmin {
		r := fail(p11.CKR_USER_NOT_LOGGED_IN, "%q is not an activated admin", actor)
		return &r
	}
	return nil
}

func applyCreateUser(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdCreateUser)
	if r := s.admin(c.Actor); r != nil {
		return *r, nil
	}
	if err := CheckUserName(c.Name); err != nil {
		return Result{RV: p11.Code(err), Msg: err.Error()}, nil
	}
	if c.Role != RoleAdmin && c.Role != RoleCryptoUser {
		return fail(p11.CKR_USER_TYPE_INVALID, "role %v cannot be created", c.Role), nil
	}
	if _, exists := s.users[c.Name]; exists {
		return fail(p11.CKR_ARGUMENTS_BAD, "user %q exists", c.Name), nil
	}
	if checkHash(c.Hash) != nil {
		return fail(p11.CKR_ARGUMENTS_BAD, "malformed password hash"), nil
	}
	return Result{}, t.putUser(&User{Name: c.Name, Role: c.Role, Hash: c.Hash})
}

func applyDeleteUser(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdDeleteUser)
	if r := s.admin(c.Actor); r != nil {
		return *r, nil
	}
	if _, ok := s.users[c.Name]; !ok {
		return fail(p11.CKR_ARGUMENTS_BAD, "no user %q", c.Name), nil
	}
	if c.Name == c.Actor {
		return fail(p11.CKR_ACTION_PROHIBITED, "an admin cannot delete itself"), nil
	}
	for _, o := range s.objects {
		if o.Owner == c.Name {
			return fail(p11.CKR_ACTION_PROHIBITED, "user %q owns keys; delete them first", c.Name), nil
		}
	}
	t.deleteUser(c.Name)
	for id, l := range s.logins {
		if l.User == c.Name {
			t.deleteLogin(id)
		}
	}
	return Result{}, nil
}

func applySetPassword(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdSetPassword)
	u, ok := s.users[c.Name]
	if !ok {
		return fail(p11.CKR_ARGUMENTS_BAD, "no user %q", c.Name), nil
	}
	if c.Actor != c.Name {
		if r := s.admin(c.Actor); r != nil {
			return *r, nil
		}
	}
	if checkHash(c.Hash) != nil {
		return fail(p11.CKR_ARGUMENTS_BAD, "malformed password hash"), nil
	}
	nu := *u
	nu.Hash, nu.Failed, nu.Locked = c.Hash, 0, false
	nu.Generation++
	if nu.Role == RoleUnactivatedAdmin && c.Actor == c.Name {
		nu.Role = RoleAdmin // the first password change activates the admin, as on CloudHSM
	}
	return Result{}, t.putUser(&nu)
}

func applyLoginAttempt(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdLoginAttempt)
	u, ok := s.users[c.User]
	if !ok {
		return fail(p11.CKR_PIN_INCORRECT, "user not found"), nil
	}
	if u.Locked {
		return fail(p11.CKR_PIN_LOCKED, "user %q is locked after %d failed logins; an admin must reset its password", u.Name, u.Failed), nil
	}
	nu := *u
	if !c.Ok || c.Generation != u.Generation {
		// A wrong password, or one checked against a hash that has since changed.
		nu.Failed++
		nu.Locked = nu.Failed >= MaxFailedLogins
		if err := t.putUser(&nu); err != nil {
			return Result{}, err
		}
		return fail(p11.CKR_PIN_INCORRECT, "wrong password for %q (%d of %d attempts)", u.Name, nu.Failed, MaxFailedLogins), nil
	}
	if c.LoginId == "" || s.logins[c.LoginId] != nil {
		return fail(p11.CKR_ARGUMENTS_BAD, "bad login id"), nil
	}
	if nu.Failed != 0 {
		nu.Failed = 0
		if err := t.putUser(&nu); err != nil {
			return Result{}, err
		}
	}
	return Result{Value: c.LoginId}, t.putLogin(&Login{ID: c.LoginId, User: u.Name, At: c.AtUnix})
}

// applyRenewLogin extends a login's lease. A login that has already ended answers
// CKR_USER_NOT_LOGGED_IN, which tells its client to stop renewing.
func applyRenewLogin(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdRenewLogin)
	l, ok := s.logins[c.LoginId]
	if !ok {
		return fail(p11.CKR_USER_NOT_LOGGED_IN, "not logged in"), nil
	}
	if c.AtUnix <= l.Last() {
		return Result{}, nil // an older or repeated renewal changes nothing
	}
	nl := *l
	nl.Renewed = c.AtUnix
	return Result{}, t.putLogin(&nl)
}

// applyExpireLogins ends the logins whose lease ran out before the command's time.
func applyExpireLogins(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdExpireLogins)
	n := 0
	for _, id := range slices.Sorted(maps.Keys(s.logins)) { // sorted: the same writes everywhere
		if s.logins[id].Last() < c.BeforeUnix {
			t.deleteLogin(id)
			n++
		}
	}
	return Result{Msg: fmt.Sprintf("%d logins expired", n)}, nil
}

func applyLogout(s *State, t *txn, m proto.Message) (Result, error) {
	c := m.(*hsmpb.CmdLogout)
	if _, ok := s.logins[c.LoginId]; !ok {
		return fail(p11.CKR_USER_NOT_LOGGED_IN, "not logged in"), nil
	}
	t.deleteLogin(c.LoginId)
	return Result{}, nil
}
