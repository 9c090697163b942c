package token

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/hsmsim/hsmsim/hsmd/hsmpb"
	"github.com/hsmsim/hsmsim/hsmd/store"
)

// Snapshot is the whole state at its applied index, with key material sealed under the cluster
// key: what Raft ships to a lagging node and what a cluster backup holds.
func (s *State) Snapshot() (*hsmpb.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	snap := &hsmpb.Snapshot{Meta: proto.Clone(s.meta).(*hsmpb.StoredMeta), Index: s.applied}
	for _, h := range slices.Sorted(maps.Keys(s.objects)) {
		so, err := s.objectToStored(s.objects[h])
		if err != nil {
			return nil, err
		}
		snap.Objects = append(snap.Objects, so)
	}
	for _, name := range slices.Sorted(maps.Keys(s.users)) {
		snap.Users = append(snap.Users, userToStored(s.users[name]))
	}
	for _, id := range slices.Sorted(maps.Keys(s.logins)) {
		l := s.logins[id]
		snap.Logins = append(snap.Logins, loginToStored(l))
	}
	for _, id := range s.reqFIFO {
		snap.Requests = append(snap.Requests, s.reqs[id])
	}
	return snap, nil
}

// Restore replaces the whole state with snap, in the store (one transaction) and in memory.
func (s *State) Restore(snap *hsmpb.Snapshot) error {
	n := &State{st: s.st, ck: s.ck}
	n.reset()
	if snap.Meta != nil {
		n.meta = proto.Clone(snap.Meta).(*hsmpb.StoredMeta)
	}
	// Every token bucket is named, empty or not, so Replace drops all of the old token and
	// nothing else (the node's own records live in buckets the token does not name).
	data := map[string][]store.KV{bucketObjects: nil, bucketUsers: nil, bucketLogins: nil, bucketMeta: nil, bucketRequests: nil}
	put := func(bucket string, key []byte, m proto.Message) error {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		data[bucket] = append(data[bucket], store.KV{Key: key, Value: b})
		return err
	}
	if err := put(bucketMeta, metaKey, n.meta); err != nil {
		return err
	}
	for _, so := range snap.Objects {
		o, err := n.objectFromStored(so)
		if err != nil {
			return fmt.Errorf("token: restore: %w", err)
		}
		n.setObject(o)
		if err := put(bucketObjects, handleKey(o.Handle), so); err != nil {
			return err
		}
	}
	for _, su := range snap.Users {
		n.users[su.Name] = userFromStored(su)
		if err := put(bucketUsers, []byte(su.Name), su); err != nil {
			return err
		}
	}
	for _, sl := range snap.Logins {
		n.logins[sl.Id] = loginFromStored(sl)
		if err := put(bucketLogins, []byte(sl.Id), sl); err != nil {
			return err
		}
	}
	for _, r := range snap.Requests {
		n.reqs[r.Id] = r
		n.reqFIFO = append(n.reqFIFO, r.Id)
		if err := put(bucketRequests, []byte(r.Id), r); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.Replace(snap.Index, data); err != nil {
		return fmt.Errorf("%w: %v", ErrStore, err)
	}
	s.meta, s.objects, s.index, s.users, s.logins, s.reqs, s.reqFIFO = n.meta, n.objects, n.index, n.users, n.logins, n.reqs, n.reqFIFO
	s.applied = snap.Index
	close(s.notify)
	s.notify = make(chan struct{})
	return nil
}

// Digest is a SHA-256 over a canonical encoding of the token (objects with their material,
// users, logins, meta), for checking that replicas agree: two nodes that applied the same
// commands have equal digests. The index and the idempotency memory are left out, so a refused
// request provably changed nothing a user can see. Material enters the hash opened, since its
// sealing is randomized; only the hash leaves.
func (s *State) Digest() ([]byte, error) {
	snap, err := s.Snapshot()
	if err != nil {
		return nil, err
	}
	snap.Index, snap.Requests = 0, nil
	for _, o := range snap.Objects {
		mat, err := s.ck.OpenMaterial(o.SealedMaterial, materialAAD(o.Owner))
		if err != nil {
			return nil, err
		}
		o.SealedMaterial = nil
		o.Public = append(o.Public, hsmpb.AttrsToPB(mat)...)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(snap)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	return sum[:], nil
}
