package kms

import (
	"encoding/base64"
	"sort"

	"github.com/hsmsim/hsmsim/kms/awsapi"
)

// page returns one page of items ordered by sortKey. A marker is the opaque (base64) sort key of
// the last item of the previous page; one that does not decode is InvalidMarkerException.
func page[T any](items []T, sortKey func(T) string, limit *int, def int, marker *string) ([]T, string, bool, *awsapi.Error) {
	sort.Slice(items, func(i, j int) bool { return sortKey(items[i]) < sortKey(items[j]) })
	n := def
	if limit != nil {
		n = *limit
	}
	start := 0
	if marker != nil {
		after, err := base64.RawURLEncoding.DecodeString(*marker)
		if err != nil || len(after) == 0 {
			return nil, "", false, awsapi.NewError(errInvalidMarker, "Invalid marker %s", *marker)
		}
		start = sort.Search(len(items), func(i int) bool { return sortKey(items[i]) > string(after) })
	}
	end := min(start+n, len(items))
	out := items[start:end]
	if end < len(items) {
		return out, base64.RawURLEncoding.EncodeToString([]byte(sortKey(items[end-1]))), true, nil
	}
	return out, "", false, nil
}
