package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// UpdateJSON is the read-modify-write of a JSON document with compare-and-set that every
// document owner needs (conversations, inbox records, agents): it reads coll/id into a T (a
// missing document starts as fresh(), with isNew true), applies fn, and writes the result back
// at the version read, retrying up to attempts times when another writer got there first (then
// ErrConflict). fn may run several times, each on a freshly read value.
//
// When fn returns an error nothing is written and UpdateJSON returns the value as fn left it
// together with that error unchanged, so an owner can use a sentinel error to mean "leave it as
// it is" and still get the current value.
func UpdateJSON[T any](ctx context.Context, d Docs, coll, id string, ttl time.Duration, attempts int,
	fresh func() T, fn func(v *T, isNew bool) error) (*T, error) {
	for range max(attempts, 1) {
		var version int64
		v := fresh()
		doc, err := d.GetDoc(ctx, coll, id)
		switch {
		case err == nil:
			var cur T // decoded into a zero value: fresh() defaults must not leak into stored fields
			if err := json.Unmarshal(doc.Data, &cur); err != nil {
				return nil, fmt.Errorf("decode %s %s: %w", coll, id, err)
			}
			v, version = cur, doc.Version
		case errors.Is(err, ErrNotFound):
		default:
			return nil, fmt.Errorf("get %s %s: %w", coll, id, err)
		}
		if err := fn(&v, version == 0); err != nil {
			return &v, err
		}
		data, err := json.Marshal(&v)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", coll, id, err)
		}
		_, err = d.PutDoc(ctx, coll, id, data, version, ttl)
		if errors.Is(err, ErrConflict) || errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("put %s %s: %w", coll, id, err)
		}
		return &v, nil
	}
	return nil, fmt.Errorf("put %s %s: %w", coll, id, ErrConflict)
}
