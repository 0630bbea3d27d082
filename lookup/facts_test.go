package lookup

import (
	"context"
	"errors"

	"github.com/deflectd/deflectd/deflect/store"
)

// storeFacts adapts a real store (memstore, redisstore) to Facts for these tests, as
// deflect.PresenceFacts does in the gateway (lookup's tests cannot import deflect: it imports
// lookup).
type storeFacts struct{ s store.PresenceFacts }

func (f storeFacts) GetPresence(ctx context.Context, e164 string) (Fact, error) {
	p, err := f.s.GetPresence(ctx, e164)
	if errors.Is(err, store.ErrNotFound) {
		return Fact{}, ErrNoFact
	}
	return Fact(p), err
}

func (f storeFacts) SetPresence(ctx context.Context, p Fact) error {
	return f.s.SetPresence(ctx, store.PresenceFact(p))
}

func (f storeFacts) DeletePresence(ctx context.Context, e164 string) error {
	if err := f.s.DeletePresence(ctx, e164); !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return ErrNoFact
}
