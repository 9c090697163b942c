package token

import (
	"slices"
	"sort"

	"github.com/hsmsim/hsmsim/hsmd/attr"
	"github.com/hsmsim/hsmsim/hsmd/p11"
)

// indexedTypes are the attributes a find is answered from without a scan: what applications
// look keys up by (CKA_LABEL, CKA_ID: crypto11's FindKeyPair, pkcs11-tool's --label and --id;
// the KMS key store names its keys with both) and what they narrow a kind of object by
// (CKA_CLASS, CKA_KEY_TYPE). A template that names none of them is answered by the scan.
var indexedTypes = [...]uint32{p11.CKA_LABEL, p11.CKA_ID, p11.CKA_CLASS, p11.CKA_KEY_TYPE}

// objectIndex maps each indexed attribute's value to the objects holding it, sorted by handle.
// It is a candidate list, never the answer: Find still checks visibility and the whole template
// on every candidate (attr.Match, which also hides a protected object's material from a
// template), so an index can only make a find cheaper, not different. It is changed only under
// State.mu held for writing, and only through setObject and dropObject, which every change to
// State.objects goes through (apply, Open, Restore).
type objectIndex struct {
	by [len(indexedTypes)]map[string][]*Object
}

func newObjectIndex() *objectIndex {
	x := &objectIndex{}
	for i := range x.by {
		x.by[i] = map[string][]*Object{}
	}
	return x
}

func (x *objectIndex) add(o *Object) {
	// Handles grow with every creation, so this is an append except when an object is replaced
	// (a changed attribute) or a state is loaded out of order.
	x.each(o, func(m map[string][]*Object, key string, l []*Object, j int) { m[key] = slices.Insert(l, j, o) })
}

func (x *objectIndex) remove(o *Object) {
	x.each(o, func(m map[string][]*Object, key string, l []*Object, j int) {
		switch {
		case j == len(l) || l[j].Handle != o.Handle:
		case len(l) == 1:
			delete(m, key) // a label's list goes with its last object
		default:
			m[key] = slices.Delete(l, j, j+1)
		}
	})
}

// each calls fn for every index o's attributes put it in: the index, o's value as its key, the
// list under that key and where o's handle is or goes in it.
func (x *objectIndex) each(o *Object, fn func(m map[string][]*Object, key string, l []*Object, j int)) {
	for i, t := range indexedTypes {
		v, ok := o.Attrs.Get(t)
		if !ok {
			continue
		}
		l := x.by[i][string(v)]
		j := sort.Search(len(l), func(k int) bool { return l[k].Handle >= o.Handle })
		fn(x.by[i], string(v), l, j)
	}
}

// candidates returns the shortest list of objects that holds every object matching tmpl, and
// whether an index covered tmpl at all (false: only a scan can answer it). An indexed attribute
// in tmpl whose value no object holds makes the answer the empty list: attr.Match compares
// indexed attributes (none is a CK_BBOOL) byte for byte, so no object could match.
func (x *objectIndex) candidates(tmpl []attr.Attribute) ([]*Object, bool) {
	var best []*Object
	covered := false
	for _, a := range tmpl {
		for i, t := range indexedTypes {
			if a.Type != t {
				continue
			}
			l := x.by[i][string(a.Value)]
			if !covered || len(l) < len(best) {
				best, covered = l, true
			}
		}
	}
	return best, covered
}

// setObject puts o into the token in memory, replacing the object with its handle.
func (s *State) setObject(o *Object) {
	if old, ok := s.objects[o.Handle]; ok {
		s.index.remove(old)
	}
	s.objects[o.Handle] = o
	s.index.add(o)
}

// dropObject removes the object with handle h from the token in memory.
func (s *State) dropObject(h uint32) {
	if old, ok := s.objects[h]; ok {
		s.index.remove(old)
		delete(s.objects, h)
	}
}

// Find returns the handles, sorted, of the objects user sees that match tmpl. A template naming
// an indexed attribute is answered from the index (the cost follows the shortest list, not the
// token's size); any other is answered by the scan. Both answer exactly the same: the property
// test in index_test.go holds them to it.
func (s *State) Find(user string, tmpl []attr.Attribute) []uint32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.index.candidates(tmpl)
	if !ok {
		return s.scan(user, tmpl)
	}
	var out []uint32
	for _, o := range l {
		if o.VisibleTo(user) && attr.Match(o.Attrs, tmpl) {
			out = append(out, o.Handle)
		}
	}
	return out
}

// scan is Find without the index: every object is checked. s.mu must be held.
func (s *State) scan(user string, tmpl []attr.Attribute) []uint32 {
	var out []uint32
	for h, o := range s.objects {
		if o.VisibleTo(user) && attr.Match(o.Attrs, tmpl) {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
