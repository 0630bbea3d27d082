package deflect

import (
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store/memstore"
)

func TestResolveCustomer(t *testing.T) {
	const b, p = "SA.1502576394655843", "966501234567"
	type step struct {
		phone, bsuid   string
		key, wantPhone string
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"number only: its own key, no link", []step{{p, "", p, p}, {p, "", p, p}}},
		{"BSUID alone, then with the number, then alone", []step{{"", b, b, ""}, {p, b, b, p}, {"", b, b, p}, {p, "", b, p}}},
		{"number with BSUID, then BSUID alone", []step{{p, b, p, p}, {"", b, p, p}, {p, "", p, p}}},
		{"+ in from is ignored", []step{{"+" + p, b, p, p}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := memstore.New(memstore.Options{})
			defer st.Close()
			now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range tt.steps {
				c, err := ResolveCustomer(t.Context(), st, time.Hour, now, s.phone, s.bsuid)
				if err != nil || c.Key != s.key || c.Phone != s.wantPhone {
					t.Fatalf("step %d (%q, %q) = %+v, %v; want key %q phone %q", i, s.phone, s.bsuid, c, err, s.key, s.wantPhone)
				}
				if got, err := CustomerPhone(t.Context(), st, c.Key); err != nil || got != s.wantPhone {
					t.Fatalf("step %d: CustomerPhone(%q) = %q, %v", i, c.Key, got, err)
				}
			}
		})
	}
}

func TestLookupCustomerRecordsNothing(t *testing.T) {
	st := memstore.New(memstore.Options{})
	defer st.Close()
	const b = "SA.1502576394655843"
	if c, err := LookupCustomer(t.Context(), st, "", b); err != nil || c.Key != b {
		t.Fatalf("unknown BSUID: %+v %v", c, err)
	}
	if docs, _ := st.ListDocs(t.Context(), LinksCollection); len(docs) != 0 {
		t.Fatalf("lookup wrote %d links", len(docs))
	}
	if _, err := ResolveCustomer(t.Context(), st, time.Hour, time.Now(), "966501234567", b); err != nil {
		t.Fatal(err)
	}
	if c, err := LookupCustomer(t.Context(), st, "", b); err != nil || c.Key != "966501234567" {
		t.Fatalf("linked BSUID: %+v %v", c, err)
	}
}

// A link read within half its TTL is not written again; after that it is, so it lives as long
// as the conversation it points to.
func TestCustomerLinkRefresh(t *testing.T) {
	st := memstore.New(memstore.Options{})
	defer st.Close()
	const b = "SA.1502576394655843"
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	version := func() int64 {
		d, err := st.GetDoc(t.Context(), LinksCollection, b)
		if err != nil {
			t.Fatal(err)
		}
		return d.Version
	}
	for _, step := range []struct {
		after time.Duration
		wrote bool
	}{{0, true}, {10 * time.Minute, false}, {40 * time.Minute, true}} {
		before := int64(0)
		if step.after > 0 {
			before = version()
		}
		if _, err := ResolveCustomer(t.Context(), st, time.Hour, now.Add(step.after), "", b); err != nil {
			t.Fatal(err)
		}
		if wrote := version() != before; wrote != step.wrote {
			t.Fatalf("after %v: wrote %v, want %v", step.after, wrote, step.wrote)
		}
	}
}
