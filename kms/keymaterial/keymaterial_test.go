package keymaterial

import (
	"errors"
	"testing"
	"time"
)

// TestImportTypesRotationAndDeletion walks a set through the life ImportKeyMaterial,
// RotateKeyOnDemand, DeleteImportedKeyMaterial and expiry give it.
func TestImportTypesRotationAndDeletion(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s Set
	if !s.Missing() {
		t.Fatal("a set without versions is not missing material")
	}
	if _, err := s.Place(ImportExisting, "", "a", now); !errors.Is(err, ErrNotThisKeys) {
		t.Fatalf("EXISTING into an empty set: %v", err)
	}
	v, err := s.Place("", "", "a", now) // NEW by default
	if err != nil || v.N != 1 || len(s.Versions) != 1 {
		t.Fatalf("first import: %+v %v", v, err)
	}
	v.Sealed, v.Expiration, v.ValidTo = []byte("sealed a"), Expires, now.Add(time.Hour)
	if s.Missing() {
		t.Fatal("imported material is missing")
	}
	if m, at := s.Expiry(); m != Expires || at == nil || !time.Time(*at).Equal(now.Add(time.Hour)) {
		t.Fatalf("Expiry: %s %v", m, at)
	}
	if _, err := s.Place("", "", "b", now); !errors.Is(err, ErrNotThisKeys) {
		t.Fatalf("EXISTING is the default after the first import: %v", err)
	}
	if _, err := s.Place(ImportNew, "", "a", now); !errors.Is(err, ErrAlreadyThisKeys) {
		t.Fatalf("NEW with the key's material: %v", err)
	}
	if v, err := s.Place(ImportExisting, "a", "a", now); err != nil || v != &s.Versions[0] {
		t.Fatalf("EXISTING a: %v", err)
	}
	p, err := s.Place(ImportNew, "", "b", now)
	if err != nil || p != s.PendingRotation || p.N != 2 {
		t.Fatalf("NEW b: %+v %v", p, err)
	}
	p.Sealed = []byte("sealed b")
	if _, err := s.Place(ImportNew, "", "c", now); !errors.Is(err, ErrRotationPending) {
		t.Fatalf("a second NEW: %v", err)
	}
	if l := s.List("arn", true, true); len(l) != 2 || l[0].KeyMaterialState != Current || l[1].KeyMaterialState != PendingRotation ||
		l[0].ImportState != "IMPORTED" || l[0].ValidTo == nil || l[0].RotationDate != nil || l[0].Order() >= l[1].Order() {
		t.Fatalf("List(all): %+v", l)
	}
	c := s.Clone()
	if !s.Rotate(now.Add(time.Minute)) || len(s.Versions) != 2 || s.PendingRotation != nil || s.Versions[1].Rotation != "ON_DEMAND" {
		t.Fatalf("Rotate: %+v", s)
	}
	if c.PendingRotation == nil || len(c.Versions) != 1 {
		t.Fatal("Rotate changed a clone")
	}
	if l := s.List("arn", false, false); len(l) != 1 || l[0].KeyMaterialId != "b" || l[0].KeyMaterialState != Current || l[0].RotationType != "ON_DEMAND" ||
		l[0].RotationDate == nil || l[0].ImportState != "" {
		t.Fatalf("List(rotations): %+v", l)
	}
	if s.Rotate(now) {
		t.Fatal("rotated with nothing pending")
	}
	// a expires; the key lacks material until a comes back.
	if gone := s.Expire(now.Add(time.Hour)); len(gone) != 1 || gone[0].ID != "a" || !s.Missing() {
		t.Fatalf("Expire: %+v", gone)
	}
	if _, err := s.Delete("nope"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Delete unknown: %v", err)
	}
	if v, err := s.Delete(""); err != nil || v.ID != "b" || v.Sealed != nil {
		t.Fatalf("Delete current: %+v %v", v, err)
	}
	var empty Set
	if v, err := empty.Delete(""); v != nil || err != nil {
		t.Fatalf("Delete on a key without material: %v %v", v, err)
	}
}
