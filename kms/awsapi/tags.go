package awsapi

import "slices"

// MergeTags applies the tags add to have as KMS's TagResource and IAM's TagUser and TagRole do:
// a tag whose key (key) is present replaces the present one in place, a new key is appended.
// have is not changed. One helper for the two services' tag types.
func MergeTags[T any](have, add []T, key func(T) string) []T {
	out := slices.Clone(have)
	for _, t := range add {
		if i := slices.IndexFunc(out, func(o T) bool { return key(o) == key(t) }); i >= 0 {
			out[i] = t
		} else {
			out = append(out, t)
		}
	}
	return out
}
