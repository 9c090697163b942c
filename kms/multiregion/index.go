package multiregion

import "slices"

// Index finds the keys of each multi-Region key set without looking at any other key: by
// account and key id, the regions that hold a key of the set. DescribeKey of a multi-Region key
// and every save of a primary key need the other keys of its set; with the index that costs the
// set's size, not the number of keys in the server. Its owner keeps it in step with its records
// (Add on save, Remove on delete, rebuilt on load) and guards it with the records' lock.
type Index struct {
	sets map[setID][]string // a set's regions: a handful, so a slice
}

type setID struct{ account, id string }

// NewIndex is an empty Index.
func NewIndex() *Index { return &Index{sets: map[setID][]string{}} }

// Add notes that region holds the key id of account's set.
func (x *Index) Add(account, id, region string) {
	s := setID{account, id}
	if !slices.Contains(x.sets[s], region) {
		x.sets[s] = append(x.sets[s], region)
	}
}

// Remove notes that region no longer holds it.
func (x *Index) Remove(account, id, region string) {
	s := setID{account, id}
	x.sets[s] = slices.DeleteFunc(x.sets[s], func(r string) bool { return r == region })
	if len(x.sets[s]) == 0 {
		delete(x.sets, s)
	}
}

// Regions are the regions that hold a key of the set of account's key id, in no order
// (callers must not change the slice).
func (x *Index) Regions(account, id string) []string { return x.sets[setID{account, id}] }
