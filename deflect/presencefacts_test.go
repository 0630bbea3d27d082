package deflect

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/lookup"
)

func TestPresenceFactsAdapter(t *testing.T) {
	t.Parallel()
	m := memstore.New(memstore.Options{})
	defer m.Close()
	f := PresenceFacts(m)
	ctx := context.Background()
	if _, err := f.GetPresence(ctx, "+966501234567"); !errors.Is(err, lookup.ErrNoFact) {
		t.Errorf("missing fact: err %v, want lookup.ErrNoFact", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	want := lookup.Fact{E164: "+966501234567", Status: "yes", Source: lookup.SourceImport, Since: now, Expires: now.Add(time.Hour)}
	if err := f.SetPresence(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := f.GetPresence(ctx, want.E164)
	if err != nil || !got.Since.Equal(want.Since) || !got.Expires.Equal(want.Expires) ||
		got.E164 != want.E164 || got.Status != want.Status || got.Source != want.Source {
		t.Errorf("round trip: %+v, %v; want %+v", got, err, want)
	}
	if err := f.DeletePresence(ctx, want.E164); err != nil {
		t.Fatal(err)
	}
	if _, err := f.GetPresence(ctx, want.E164); !errors.Is(err, lookup.ErrNoFact) {
		t.Errorf("after delete: err %v, want lookup.ErrNoFact", err)
	}
	if PresenceFacts(nil) != nil {
		t.Errorf("no store must give no facts (the chain then runs without learned facts)")
	}
}
