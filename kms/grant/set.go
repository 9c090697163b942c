package grant

import "maps"

// Key names the key a grant belongs to: its account, region and key id (the keys of a
// multi-Region set share their id).
type Key struct{ Account, Region, ID string }

// KeyOf is the key g belongs to.
func (g *Grant) KeyOf() Key { return Key{g.Account, g.Region, g.KeyID} }

// Set is a server's grants in memory, by id and by key: authorization looks at a key's grants on
// every request a key policy does not allow. It does no locking: its owner's lock guards it.
type Set struct {
	byID  map[string]*Grant
	byKey map[Key]map[string]*Grant
}

// NewSet is an empty Set.
func NewSet() *Set { return &Set{byID: map[string]*Grant{}, byKey: map[Key]map[string]*Grant{}} }

// Put records g.
func (s *Set) Put(g *Grant) {
	s.byID[g.ID] = g
	m := s.byKey[g.KeyOf()]
	if m == nil {
		m = map[string]*Grant{}
		s.byKey[g.KeyOf()] = m
	}
	m[g.ID] = g
}

// Drop forgets g.
func (s *Set) Drop(g *Grant) {
	delete(s.byID, g.ID)
	delete(s.byKey[g.KeyOf()], g.ID)
	if len(s.byKey[g.KeyOf()]) == 0 {
		delete(s.byKey, g.KeyOf())
	}
}

// Get is the grant with id id, or nil.
func (s *Set) Get(id string) *Grant { return s.byID[id] }

// Of is the grants of key k, by id (callers must not change the map).
func (s *Set) Of(k Key) map[string]*Grant { return s.byKey[k] }

// All is every grant, in no order.
func (s *Set) All() func(yield func(*Grant) bool) { return maps.Values(s.byID) }
