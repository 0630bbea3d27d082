package store

import (
	"slices"
	"strings"
)

// MatchFilter reports whether s passes f's field filters (Limit is not applied). Both backends
// use it so that they agree on the semantics.
func MatchFilter(s *Session, f SessionFilter) bool {
	switch {
	case f.Caller != "" && s.Caller != f.Caller:
		return false
	case !f.Since.IsZero() && s.CreatedAt.Before(f.Since):
		return false
	case !f.Until.IsZero() && !s.CreatedAt.Before(f.Until):
		return false
	case f.Outcome != "" && !strings.HasPrefix(s.Outcome, f.Outcome):
		return false
	}
	return true
}

// SortNewestFirst orders sessions by CreatedAt descending, then by ID descending, so that
// listings are stable across backends.
func SortNewestFirst(ss []*Session) {
	slices.SortFunc(ss, func(a, b *Session) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
}
