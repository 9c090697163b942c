// Package keymaterial is the key material of one KMS key as a set of versions: the oldest first
// and the last one current (it encrypts; the others only decrypt), with, for a key of imported key
// material (Origin EXTERNAL), whether each version's material is imported now, when it expires,
// and new material waiting for an on-demand rotation (PENDING_ROTATION). It holds the rules AWS
// documents for that set: where ImportKeyMaterial puts material by its ImportType, what
// DeleteImportedKeyMaterial and expiry remove, what RotateKeyOnDemand promotes, and the states
// ListKeyRotations reports. Package kms keeps a Set in every key record and persists it; the
// material itself stays sealed here (Version.Sealed), never in the clear.
//
// Sources: ImportKeyMaterial, DeleteImportedKeyMaterial, RotateKeyOnDemand and ListKeyRotations
// in the AWS KMS API Reference, and "Importing key material" in the developer guide:
// https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
package keymaterial

import (
	"errors"
	"fmt"
	"time"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// ExpirationModel values.
const (
	Expires       = "KEY_MATERIAL_EXPIRES"
	DoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"
)

// ImportType values.
const (
	ImportNew      = "NEW_KEY_MATERIAL"
	ImportExisting = "EXISTING_KEY_MATERIAL"
)

// KeyMaterialState values (ListKeyRotations).
const (
	Current         = "CURRENT"
	NonCurrent      = "NON_CURRENT"
	PendingRotation = "PENDING_ROTATION"
)

var (
	// ErrNotThisKeys: material that is not one the key had ("it is not the same key material that
	// was previously imported"): IncorrectKeyMaterialException.
	ErrNotThisKeys = errors.New("the key material is not the key material previously imported into this KMS key")
	// ErrAlreadyThisKeys: NEW_KEY_MATERIAL that the key holds already: IncorrectKeyMaterialException.
	ErrAlreadyThisKeys = errors.New("NEW_KEY_MATERIAL was expected, but this key material is already associated with the KMS key")
	// ErrRotationPending: new material while other new material waits for its rotation.
	ErrRotationPending = errors.New("the KMS key already has key material pending rotation: rotate to it or delete it first")
	// ErrUnknown: a KeyMaterialId that names none of the key's material.
	ErrUnknown = errors.New("the key material id is not associated with the KMS key")
)

// Version is one generation of a key's material.
type Version struct {
	N        uint32    `json:"n"`  // from 1; every ciphertext names the version it was made with
	ID       string    `json:"id"` // KeyMaterialId: 64 hex digits
	Created  time.Time `json:"created"`
	Rotation string    `json:"rotation,omitempty"` // "", AUTOMATIC or ON_DEMAND
	Sealed   []byte    `json:"sealed,omitempty"`   // the material, sealed; nil while imported material is deleted
	Handle   uint32    `json:"handle,omitempty"`   // custom key store: the key object in the cluster
	// Imported material only: its last import's ExpirationModel and ValidTo, and description.
	Expiration string    `json:"expiration,omitempty"`
	ValidTo    time.Time `json:"valid_to,omitzero"`
	Desc       string    `json:"description,omitempty"`
}

// Set is a key's material. It is a value: Clone before changing a copy that others read.
type Set struct {
	Versions        []Version `json:"versions"`
	PendingRotation *Version  `json:"pending_material,omitempty"`
}

// Clone is a deep copy of s.
func (s Set) Clone() Set {
	c := Set{Versions: append([]Version(nil), s.Versions...)}
	if s.PendingRotation != nil {
		p := *s.PendingRotation
		c.PendingRotation = &p
	}
	return c
}

// Missing reports whether a key of imported material lacks material: it has none yet, or any of
// its versions was deleted or expired. Such a key is PendingImport ("When any key material for an
// imported key is deleted or it expires, then the state changes from Enabled to PendingImport").
func (s *Set) Missing() bool {
	for _, v := range s.Versions {
		if v.Sealed == nil {
			return true
		}
	}
	return len(s.Versions) == 0
}

// Expiry is KeyMetadata's ExpirationModel and ValidTo for imported material: the earliest expiry
// of the material present, or the model of the last import when none is present.
func (s *Set) Expiry() (string, *awsapi.Timestamp) {
	model := ""
	var earliest time.Time
	for _, v := range s.Versions {
		switch {
		case v.Sealed == nil:
		case v.Expiration == Expires:
			model = Expires
			if earliest.IsZero() || v.ValidTo.Before(earliest) {
				earliest = v.ValidTo
			}
		case model == "":
			model = DoesNotExpire
		}
	}
	if model == "" && len(s.Versions) > 0 {
		model = s.Versions[len(s.Versions)-1].Expiration
	}
	return model, awsapi.Time(earliest)
}

// Place finds the version that imported material id goes into. importType "" is
// NEW_KEY_MATERIAL for a key that never had material and EXISTING_KEY_MATERIAL after. Existing
// material must be one of the key's (and the one wantID names, if given); new material becomes
// the first version, or, once the key has material, waits for an on-demand rotation (symmetric
// keys only: the caller refuses ImportType for the others).
func (s *Set) Place(importType, wantID, id string, now time.Time) (*Version, error) {
	var known *Version
	for i := range s.Versions {
		if s.Versions[i].ID == id {
			known = &s.Versions[i]
		}
	}
	if p := s.PendingRotation; p != nil && p.ID == id {
		known = p
	}
	if importType == "" {
		importType = ImportExisting
		if len(s.Versions) == 0 && s.PendingRotation == nil {
			importType = ImportNew
		}
	}
	switch {
	case importType == ImportExisting && (known == nil || (wantID != "" && wantID != id)):
		return nil, ErrNotThisKeys
	case importType == ImportExisting:
		return known, nil
	case known != nil:
		return nil, ErrAlreadyThisKeys
	case len(s.Versions) == 0:
		s.Versions = []Version{{N: 1, ID: id, Created: now}}
		return &s.Versions[0], nil
	case s.PendingRotation != nil:
		return nil, ErrRotationPending
	}
	s.PendingRotation = &Version{N: uint32(len(s.Versions) + 1), ID: id, Created: now}
	return s.PendingRotation, nil
}

// Delete removes imported material id ("" for the current material) and returns the version it
// was: material pending rotation is dropped altogether (it is not yet the key's), any other
// version keeps its place without material. A key without material yet is left as it is (nil).
func (s *Set) Delete(id string) (*Version, error) {
	if p := s.PendingRotation; p != nil && p.ID == id {
		s.PendingRotation = nil
		return p, nil
	}
	if id == "" && len(s.Versions) == 0 {
		return nil, nil
	}
	if id == "" {
		id = s.Versions[len(s.Versions)-1].ID
	}
	for i := range s.Versions {
		if v := &s.Versions[i]; v.ID == id {
			v.Sealed, v.ValidTo = nil, time.Time{}
			return v, nil
		}
	}
	return nil, ErrUnknown
}

// Expire deletes the material whose ValidTo has come ("KMS deletes the key material from the KMS
// key on the specified date") and returns the versions it deleted.
func (s *Set) Expire(now time.Time) []Version {
	due := func(v *Version) bool {
		return v != nil && v.Sealed != nil && v.Expiration == Expires && !now.Before(v.ValidTo)
	}
	var out []Version
	for i := range s.Versions {
		if due(&s.Versions[i]) {
			out = append(out, s.Versions[i])
			_, _ = s.Delete(s.Versions[i].ID)
		}
	}
	if due(s.PendingRotation) {
		out = append(out, *s.PendingRotation)
		s.PendingRotation = nil
	}
	return out
}

// Rotate makes the material pending rotation current (RotateKeyOnDemand on a key of imported
// material); false when there is none.
func (s *Set) Rotate(now time.Time) bool {
	p := s.PendingRotation
	if p == nil {
		return false
	}
	v := *p
	v.Rotation, v.Created = "ON_DEMAND", now
	s.Versions, s.PendingRotation = append(s.Versions, v), nil
	return true
}

// Entry is a version as ListKeyRotations reports it (RotationsListEntry); the fields of imported
// material (description, import state, expiry) only for a key of imported material.
type Entry struct {
	KeyId                  string
	KeyMaterialId          string
	KeyMaterialDescription string `json:",omitempty"`
	ImportState            string `json:",omitempty"` // IMPORTED or PENDING_IMPORT
	KeyMaterialState       string
	ExpirationModel        string            `json:",omitempty"`
	ValidTo                *awsapi.Timestamp `json:",omitempty"`
	RotationDate           *awsapi.Timestamp `json:",omitempty"` // not for the first material, nor pending
	RotationType           string            `json:",omitempty"`
	n                      uint32
}

// Order is the entry's place in the list: its version number, as text that sorts.
func (e Entry) Order() string { return fmt.Sprintf("%010d", e.n) }

// List is the versions made by rotations, or with all every version and the material pending
// rotation (IncludeKeyMaterial ALL_KEY_MATERIAL), in version order, for the key arn.
func (s *Set) List(arn string, imported, all bool) []Entry {
	entry := func(v Version, st string) Entry {
		e := Entry{KeyId: arn, KeyMaterialId: v.ID, KeyMaterialState: st, RotationType: v.Rotation, n: v.N}
		if v.Rotation != "" {
			e.RotationDate = awsapi.Time(v.Created)
		}
		if imported {
			e.KeyMaterialDescription, e.ExpirationModel, e.ImportState = v.Desc, v.Expiration, "IMPORTED"
			if v.Sealed == nil {
				e.ImportState = "PENDING_IMPORT"
			} else if v.Expiration == Expires {
				e.ValidTo = awsapi.Time(v.ValidTo)
			}
		}
		return e
	}
	var out []Entry
	for i, v := range s.Versions {
		if v.Rotation == "" && !all {
			continue
		}
		st := NonCurrent
		if i == len(s.Versions)-1 {
			st = Current
		}
		out = append(out, entry(v, st))
	}
	if p := s.PendingRotation; p != nil && all {
		out = append(out, entry(*p, PendingRotation))
	}
	return out
}
