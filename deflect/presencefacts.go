package deflect

import (
	"context"
	"errors"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup"
)

// PresenceFacts adapts the store's presence facts to lookup.Facts, the storage the presence
// chain reads (lookup depends on no store package): the same fields, and the store's
// ErrNotFound as lookup.ErrNoFact. Other errors pass as they are, so an unavailable backend
// still matches store.ErrUnavailable.
func PresenceFacts(s store.PresenceFacts) lookup.Facts {
	if s == nil {
		return nil
	}
	return presenceFacts{s}
}

type presenceFacts struct{ s store.PresenceFacts }

func (p presenceFacts) GetPresence(ctx context.Context, e164 string) (lookup.Fact, error) {
	f, err := p.s.GetPresence(ctx, e164)
	if errors.Is(err, store.ErrNotFound) {
		return lookup.Fact{}, lookup.ErrNoFact
	}
	return lookup.Fact(f), err
}

func (p presenceFacts) SetPresence(ctx context.Context, f lookup.Fact) error {
	return p.s.SetPresence(ctx, store.PresenceFact(f))
}

func (p presenceFacts) DeletePresence(ctx context.Context, e164 string) error {
	err := p.s.DeletePresence(ctx, e164)
	if errors.Is(err, store.ErrNotFound) {
		return lookup.ErrNoFact
	}
	return err
}
