package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
)

type counter struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

func TestUpdateJSON(t *testing.T) {
	ctx := context.Background()
	m := memstore.New(memstore.Options{})
	t.Cleanup(func() { m.Close() })
	fresh := func() counter { return counter{Name: "new"} }
	inc := func(c *counter, _ bool) error { c.N++; return nil }

	var sawNew []bool
	for range 2 {
		if _, err := store.UpdateJSON(ctx, m, "c", "a", 0, 3, fresh, func(c *counter, isNew bool) error {
			sawNew = append(sawNew, isNew)
			return inc(c, isNew)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if len(sawNew) != 2 || !sawNew[0] || sawNew[1] {
		t.Errorf("isNew = %v, want [true false]", sawNew)
	}

	t.Run("fn error writes nothing and returns the value", func(t *testing.T) {
		skip := errors.New("skip")
		c, err := store.UpdateJSON(ctx, m, "c", "a", 0, 3, fresh, func(c *counter, _ bool) error { c.N = 99; return skip })
		if !errors.Is(err, skip) || c == nil || c.N != 99 {
			t.Fatalf("= %+v, %v; want the value fn saw and its error", c, err)
		}
		doc, _ := m.GetDoc(ctx, "c", "a")
		if string(doc.Data) != `{"name":"new","n":2}` || doc.Version != 2 {
			t.Errorf("stored %s v%d, want n 2 at version 2", doc.Data, doc.Version)
		}
	})
	t.Run("racing writers all land", func(t *testing.T) {
		const writers = 20
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				if _, err := store.UpdateJSON(ctx, m, "c", "race", 0, 100, fresh, inc); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		c, err := store.UpdateJSON(ctx, m, "c", "race", 0, 1, fresh, func(*counter, bool) error { return errors.New("read only") })
		if c == nil || c.N != writers {
			t.Errorf("n = %+v (%v), want %d", c, err, writers)
		}
	})
	t.Run("a race lost every time is ErrConflict", func(t *testing.T) {
		_, err := store.UpdateJSON(ctx, m, "c", "a", 0, 2, fresh, func(c *counter, _ bool) error {
			// Another writer gets in between our read and our write.
			doc, _ := m.GetDoc(ctx, "c", "a")
			if _, err := m.PutDoc(ctx, "c", "a", doc.Data, doc.Version, 0); err != nil {
				t.Fatal(err)
			}
			c.N++
			return nil
		})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("err = %v, want ErrConflict", err)
		}
	})
}
