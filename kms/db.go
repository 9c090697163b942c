package kms

import (
	"github.com/hsmsim/hsmsim/kms/keymaterial"
	"github.com/hsmsim/hsmsim/kms/multiregion"
	"github.com/hsmsim/hsmsim/kms/record"
)

// The records (package kms/record) live in memory under s.mu and are written through to bbolt.

type (
	keyRec   = record.Key
	aliasRec = record.Alias
	tag      = record.Tag
)

// matVersion is one generation of a key's material.
type matVersion = keymaterial.Version

// load reads every record into s's maps.
func (s *Server) load() error {
	l, err := s.db.Load()
	if err != nil {
		return err
	}
	s.keys, s.aliases = l.Keys, l.Aliases
	s.sets = multiregion.NewIndex()
	for _, k := range s.keys {
		s.indexKey(k)
	}
	for _, g := range l.Grants {
		s.grants.Put(g)
	}
	return record.Each(s.db, record.BucketStores, s.hsm.Load)
}

// keyAt is the key id of account and region (callers hold s.mu).
func (s *Server) keyAt(account, region, id string) *keyRec {
	return s.keys[record.Ref(account, region, id)]
}

// saveKey persists k and installs it (callers hold s.mu for writing). The primary key of a
// multi-Region set passes its shared properties on to its replicas (multiregion.go).
func (s *Server) saveKey(k *keyRec) error {
	if err := s.db.Put(record.BucketKeys, k.Ref(), k); err != nil {
		return err
	}
	s.keys[k.Ref()] = k
	s.indexKey(k)
	return s.shareWithReplicas(k)
}

// indexKey notes k in the index of multi-Region sets (callers hold s.mu for writing).
func (s *Server) indexKey(k *keyRec) {
	if k.MultiRegion {
		s.sets.Add(k.Account, k.ID, k.Region)
	}
}

// dropKey forgets a deleted key (callers hold s.mu for writing).
func (s *Server) dropKey(k *keyRec) {
	delete(s.keys, k.Ref())
	s.sets.Remove(k.Account, k.ID, k.Region)
}
