package memstore_test

import (
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deflect/store/storetest"
)

func TestSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		// A fast janitor so the sweep path runs during the TTL tests too.
		m := memstore.New(memstore.Options{JanitorInterval: 50 * time.Millisecond})
		t.Cleanup(func() { m.Close() })
		return m
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		m := memstore.New(memstore.Options{})
		b.Cleanup(func() { m.Close() })
		return m
	})
}
