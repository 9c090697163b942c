package kms

import (
	"github.com/hsmsim/hsmsim/kms/keymaterial"
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
	return s.shareWithReplicas(k)
}
