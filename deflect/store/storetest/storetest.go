// Package storetest is the one behaviour suite every store.Store implementation must pass.
//
//	func TestSuite(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... fresh, empty store closed at t.Cleanup ... })
//	}
//
// Subtests run in parallel, each on its own fresh store, so the TTL waits overlap.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

// Racers is how many goroutines the concurrency tests start.
const Racers = 50

// ttl is the short lifetime used by expiry tests; settle is how long past it we wait.
const (
	ttl    = 150 * time.Millisecond
	settle = 250 * time.Millisecond
)

// Run runs the whole suite. newStore must return an empty store for one subtest and arrange
// for it to be closed (t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"Session/CreateGet", testSessionCreateGet},
		{"Session/CreateDuplicate", testSessionCreateDuplicate},
		{"Session/GetMissing", testSessionGetMissing},
		{"Session/Update", testSessionUpdate},
		{"Session/UpdateAbort", testSessionUpdateAbort},
		{"Session/UpdateMissing", testSessionUpdateMissing},
		{"Session/UpdateRace", testSessionUpdateRace},
		{"Session/FindByMessage", testSessionFindByMessage},
		{"Session/List", testSessionList},
		{"Session/TTL", testSessionTTL},
		{"Once/FirstWins", testOnceFirstWins},
		{"Once/Race", testOnceRace},
		{"Once/TTL", testOnceTTL},
		{"Offers/Since", testOffersSince},
		{"Offers/Trim", testOffersTrim},
		{"Offers/TTL", testOffersTTL},
		{"Opt", testOpt},
		{"Presence/SetGetDelete", testPresence},
		{"Presence/TTL", testPresenceTTL},
		{"Limiter/Burst", testLimiterBurst},
		{"Limiter/Refill", testLimiterRefill},
		{"Limiter/BadArgs", testLimiterBadArgs},
		{"Events/Deliver", testEventsDeliver},
		{"Events/Unsubscribe", testEventsUnsubscribe},
		{"Streams/ReadAckClaim", testStreamsReadAckClaim},
		{"Streams/Groups", testStreamsGroups},
		{"Streams/BlockWakes", testStreamsBlockWakes},
		{"Streams/AddBatch", testStreamsAddBatch},
		{"Docs/CAS", testDocsCAS},
		{"Docs/Race", testDocsRace},
		{"Docs/List", testDocsList},
		{"Docs/TTL", testDocsTTL},
		{"Counters/Race", testCountersRace},
		{"Counters/TTL", testCountersTTL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// --- sessions ---

func sampleSession(id string) *store.Session {
	now := time.Now()
	return &store.Session{
		ID:           id,
		CallID:       "call-" + id,
		CallerRaw:    "sip:+447700900123@pbx;user=phone",
		Caller:       "+447700900123",
		Region:       "GB",
		NumberType:   "mobile",
		Queue:        "sales",
		WaitEstimate: 240,
		CustomerID:   "c-42",
		Language:     "en-GB",
		Context:      map[string]string{"Order": "A-1", "Tier": "gold"},
		UserToUser:   "04a1b2",
		ReturnTo:     "sip:queue@pbx",
		Instance:     "gw-1",
		State:        "new",
		IVRPath:      []string{"offer"},
		Steps:        map[string]time.Time{"invite": now},
		CreatedAt:    now,
		UpdatedAt:    now,
		ExpiresAt:    now.Add(time.Hour),
	}
}

// sameSession compares sessions through their JSON forms with times in UTC, so instants compare
// by value (nanoseconds included), not by monotonic reading or time zone representation.
func sameSession(t *testing.T, what string, got, want *store.Session) {
	t.Helper()
	norm := func(s *store.Session) string {
		c := *s
		c.CreatedAt, c.UpdatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.ExpiresAt.UTC()
		c.Steps = map[string]time.Time{}
		for k, v := range s.Steps {
			c.Steps[k] = v.UTC()
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func testSessionCreateGet(t *testing.T, s store.Store) {
	in := sampleSession("s1")
	if err := s.CreateSession(ctx(t), in); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	if in.Version != 1 {
		t.Errorf("Version after create = %d, want 1", in.Version)
	}
	got, err := s.GetSession(ctx(t), "s1")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	sameSession(t, "GetSession", got, in)

	// The returned value is a copy: changing it does not change the store.
	got.Context["Order"] = "changed"
	got.IVRPath[0] = "changed"
	again, err := s.GetSession(ctx(t), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Context["Order"] != "A-1" || again.IVRPath[0] != "offer" {
		t.Errorf("store shares memory with the caller: %+v", again)
	}
}

func testSessionCreateDuplicate(t *testing.T, s store.Store) {
	if err := s.CreateSession(ctx(t), sampleSession("dup")); err != nil {
		t.Fatal(err)
	}
	err := s.CreateSession(ctx(t), sampleSession("dup"))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateSession = %v, want ErrExists", err)
	}
}

func testSessionGetMissing(t *testing.T, s store.Store) {
	_, err := s.GetSession(ctx(t), "nope")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSession(missing) = %v, want ErrNotFound", err)
	}
	if errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetSession(missing) = %v, must not be ErrUnavailable", err)
	}
}

func testSessionUpdate(t *testing.T, s store.Store) {
	if err := s.CreateSession(ctx(t), sampleSession("u1")); err != nil {
		t.Fatal(err)
	}
	out, err := s.UpdateSession(ctx(t), "u1", func(x *store.Session) error {
		x.State = "offered"
		x.IVRPath = append(x.IVRPath, "1")
		x.Steps["dtmf"] = x.CreatedAt.Add(time.Second)
		x.ID = "moved" // must be ignored: the id is the key
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	if out.Version != 2 || out.ID != "u1" {
		t.Errorf("returned Version=%d ID=%q, want 2, u1", out.Version, out.ID)
	}
	got, err := s.GetSession(ctx(t), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || got.State != "offered" || !slices.Equal(got.IVRPath, []string{"offer", "1"}) || got.Steps["dtmf"].IsZero() {
		t.Errorf("after update: %+v", got)
	}
	if _, err := s.GetSession(ctx(t), "moved"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("fn changing ID created a session: %v", err)
	}
}

func testSessionUpdateAbort(t *testing.T, s store.Store) {
	if err := s.CreateSession(ctx(t), sampleSession("a1")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	_, err := s.UpdateSession(ctx(t), "a1", func(x *store.Session) error {
		x.State = "ended"
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateSession = %v, want fn's error", err)
	}
	got, err := s.GetSession(ctx(t), "a1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.State != "new" {
		t.Errorf("aborted update wrote: Version=%d State=%q", got.Version, got.State)
	}
}

func testSessionUpdateMissing(t *testing.T, s store.Store) {
	called := false
	_, err := s.UpdateSession(ctx(t), "ghost", func(*store.Session) error { called = true; return nil })
	if !errors.Is(err, store.ErrNotFound) || called {
		t.Fatalf("UpdateSession(missing) = %v (fn called: %v), want ErrNotFound without calling fn", err, called)
	}
}

// testSessionUpdateRace: every racer increments a counter; none may be lost.
func testSessionUpdateRace(t *testing.T, s store.Store) {
	in := sampleSession("race")
	in.Context = map[string]string{"n": "0"}
	if err := s.CreateSession(ctx(t), in); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, Racers)
	for range Racers {
		wg.Go(func() {
			_, err := s.UpdateSession(ctx(t), "race", func(x *store.Session) error {
				n, err := strconv.Atoi(x.Context["n"])
				if err != nil {
					return err
				}
				x.Context["n"] = strconv.Itoa(n + 1)
				return nil
			})
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing UpdateSession: %v", err)
	}
	got, err := s.GetSession(ctx(t), "race")
	if err != nil {
		t.Fatal(err)
	}
	if got.Context["n"] != strconv.Itoa(Racers) || got.Version != Racers+1 {
		t.Fatalf("after %d racing increments: n=%s Version=%d, want n=%d Version=%d",
			Racers, got.Context["n"], got.Version, Racers, Racers+1)
	}
}

func testSessionFindByMessage(t *testing.T, s store.Store) {
	if err := s.CreateSession(ctx(t), sampleSession("m1")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx(t), sampleSession("m2")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FindSessionByMessage(ctx(t), "wamid.A"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("before any message: %v, want ErrNotFound", err)
	}
	setMsg := func(id, msg string) {
		t.Helper()
		if _, err := s.UpdateSession(ctx(t), id, func(x *store.Session) error { x.WAMessageID = msg; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	setMsg("m1", "wamid.A")
	setMsg("m2", "wamid.B")
	for msg, want := range map[string]string{"wamid.A": "m1", "wamid.B": "m2"} {
		got, err := s.FindSessionByMessage(ctx(t), msg)
		if err != nil || got.ID != want {
			t.Errorf("FindSessionByMessage(%s) = %v, %v; want %s", msg, got, err, want)
		}
	}
	setMsg("m1", "wamid.C") // a resend replaces the message id
	if _, err := s.FindSessionByMessage(ctx(t), "wamid.A"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old message id still finds the session: %v", err)
	}
	if got, err := s.FindSessionByMessage(ctx(t), "wamid.C"); err != nil || got.ID != "m1" {
		t.Errorf("FindSessionByMessage(wamid.C) = %v, %v; want m1", got, err)
	}
}

func testSessionList(t *testing.T, s store.Store) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	type row struct {
		id, caller, outcome string
		age                 time.Duration // after base
	}
	rows := []row{
		{"l1", "+441", "deflected", 1 * time.Minute},
		{"l2", "+442", "failed:api-error", 2 * time.Minute},
		{"l3", "+441", "failed:send", 3 * time.Minute},
		{"l4", "+443", "declined", 4 * time.Minute},
		{"l5", "+441", "timeout", 5 * time.Minute},
		{"l6", "+442", "deflected", 6 * time.Minute},
	}
	for _, r := range rows {
		x := sampleSession(r.id)
		x.Caller, x.Outcome = r.caller, r.outcome
		x.CreatedAt = base.Add(r.age)
		if err := s.CreateSession(ctx(t), x); err != nil {
			t.Fatal(err)
		}
	}
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name string
		f    store.SessionFilter
		want []string
	}{
		{"all newest first", store.SessionFilter{}, []string{"l6", "l5", "l4", "l3", "l2", "l1"}},
		{"caller", store.SessionFilter{Caller: "+441"}, []string{"l5", "l3", "l1"}},
		{"since inclusive", store.SessionFilter{Since: at(4)}, []string{"l6", "l5", "l4"}},
		{"until exclusive", store.SessionFilter{Until: at(3)}, []string{"l2", "l1"}},
		{"window", store.SessionFilter{Since: at(2), Until: at(5)}, []string{"l4", "l3", "l2"}},
		{"outcome prefix", store.SessionFilter{Outcome: "failed"}, []string{"l3", "l2"}},
		{"outcome exact", store.SessionFilter{Outcome: "deflected"}, []string{"l6", "l1"}},
		{"caller and outcome", store.SessionFilter{Caller: "+441", Outcome: "failed"}, []string{"l3"}},
		{"limit", store.SessionFilter{Limit: 2}, []string{"l6", "l5"}},
		{"filtered limit", store.SessionFilter{Caller: "+442", Limit: 1}, []string{"l6"}},
		{"no match", store.SessionFilter{Caller: "+449"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListSessions(ctx(t), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, x := range got {
				ids = append(ids, x.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("ListSessions(%+v) = %v, want %v", tc.f, ids, tc.want)
			}
		})
	}
}

func testSessionTTL(t *testing.T, s store.Store) {
	x := sampleSession("ttl")
	x.ExpiresAt = time.Now().Add(ttl)
	x.WAMessageID = "wamid.TTL"
	if err := s.CreateSession(ctx(t), x); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx(t), "ttl"); err != nil {
		t.Fatalf("GetSession before expiry: %v", err)
	}
	time.Sleep(ttl + settle)
	if _, err := s.GetSession(ctx(t), "ttl"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession after expiry = %v, want ErrNotFound", err)
	}
	if _, err := s.FindSessionByMessage(ctx(t), "wamid.TTL"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FindSessionByMessage after expiry = %v, want ErrNotFound", err)
	}
	if l, err := s.ListSessions(ctx(t), store.SessionFilter{}); err != nil || len(l) != 0 {
		t.Errorf("ListSessions after expiry = %d sessions, %v; want none", len(l), err)
	}
	// The id is free again.
	if err := s.CreateSession(ctx(t), sampleSession("ttl")); err != nil {
		t.Errorf("CreateSession after expiry: %v", err)
	}
}

// --- once ---

func testOnceFirstWins(t *testing.T, s store.Store) {
	for i, want := range []bool{true, false, false} {
		first, err := s.SetOnce(ctx(t), "wamid.X", time.Minute)
		if err != nil || first != want {
			t.Fatalf("SetOnce #%d = %v, %v; want %v", i+1, first, err, want)
		}
	}
	if first, err := s.SetOnce(ctx(t), "wamid.Y", time.Minute); err != nil || !first {
		t.Fatalf("SetOnce(other key) = %v, %v; want true", first, err)
	}
}

func testOnceRace(t *testing.T, s store.Store) {
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range Racers {
		wg.Go(func() {
			first, err := s.SetOnce(ctx(t), "contested", time.Minute)
			if err != nil {
				t.Errorf("SetOnce: %v", err)
			}
			if first {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d racers won SetOnce, want exactly 1", n)
	}
}

func testOnceTTL(t *testing.T, s store.Store) {
	if first, err := s.SetOnce(ctx(t), "short", ttl); err != nil || !first {
		t.Fatalf("SetOnce = %v, %v", first, err)
	}
	time.Sleep(ttl + settle)
	if first, err := s.SetOnce(ctx(t), "short", ttl); err != nil || !first {
		t.Fatalf("SetOnce after ttl = %v, %v; want true", first, err)
	}
}

// --- offers ---

func testOffersSince(t *testing.T, s store.Store) {
	base := time.Now().Add(-time.Hour)
	times := []time.Time{base, base.Add(time.Minute), base.Add(2 * time.Minute)}
	for _, at := range []time.Time{times[2], times[0], times[1]} { // out of order on purpose
		if err := s.RecordOffer(ctx(t), "+441", at, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.OffersSince(ctx(t), "+441", times[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(times[1]) || !got[1].Equal(times[2]) {
		t.Errorf("OffersSince = %v, want %v oldest first", got, times[1:])
	}
	if got, err := s.OffersSince(ctx(t), "+449", time.Time{}); err != nil || len(got) != 0 {
		t.Errorf("OffersSince(unknown) = %v, %v; want none", got, err)
	}
}

func testOffersTrim(t *testing.T, s store.Store) {
	now := time.Now()
	old := now.Add(-2 * time.Hour)
	for _, at := range []time.Time{old, now} {
		if err := s.RecordOffer(ctx(t), "+441", at, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.OffersSince(ctx(t), "+441", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Equal(now) {
		t.Errorf("after recording with keep=1h: %v, want only %v", got, now)
	}
}

func testOffersTTL(t *testing.T, s store.Store) {
	if err := s.RecordOffer(ctx(t), "+441", time.Now(), ttl); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.OffersSince(ctx(t), "+441", time.Time{}); len(got) != 1 {
		t.Fatalf("OffersSince before expiry = %v", got)
	}
	time.Sleep(ttl + settle)
	if got, err := s.OffersSince(ctx(t), "+441", time.Time{}); err != nil || len(got) != 0 {
		t.Errorf("OffersSince after keep = %v, %v; want none", got, err)
	}
}

// --- opt-outs ---

func testOpt(t *testing.T, s store.Store) {
	if _, err := s.GetOpt(ctx(t), "+441"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetOpt(unknown) = %v, want ErrNotFound", err)
	}
	at := time.Now().Add(-time.Minute)
	for _, r := range []store.OptRecord{
		{E164: "+441", OptOut: true, Source: "keyword", At: at},
		{E164: "+441", OptOut: false, Source: "api", At: at.Add(time.Second)},
	} {
		if err := s.SetOpt(ctx(t), r); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetOpt(ctx(t), r.E164)
		if err != nil {
			t.Fatal(err)
		}
		if got.OptOut != r.OptOut || got.Source != r.Source || !got.At.Equal(r.At) || got.E164 != r.E164 {
			t.Errorf("GetOpt = %+v, want %+v", got, r)
		}
	}
}

// --- presence ---

func testPresence(t *testing.T, s store.Store) {
	f := store.PresenceFact{E164: "+441", Status: "yes", Source: "learned", Since: time.Now().Add(-time.Hour), Expires: time.Now().Add(time.Hour)}
	if _, err := s.GetPresence(ctx(t), f.E164); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetPresence(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.SetPresence(ctx(t), f); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetPresence(ctx(t), f.E164)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "yes" || got.Source != "learned" || !got.Since.Equal(f.Since) || !got.Expires.Equal(f.Expires) {
		t.Errorf("GetPresence = %+v, want %+v", got, f)
	}
	if err := s.DeletePresence(ctx(t), f.E164); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPresence(ctx(t), f.E164); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPresence after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeletePresence(ctx(t), "+449"); err != nil {
		t.Errorf("DeletePresence(unknown) = %v, want nil", err)
	}
}

func testPresenceTTL(t *testing.T, s store.Store) {
	f := store.PresenceFact{E164: "+441", Status: "no", Source: "learned", Since: time.Now(), Expires: time.Now().Add(ttl)}
	if err := s.SetPresence(ctx(t), f); err != nil {
		t.Fatal(err)
	}
	stale := store.PresenceFact{E164: "+442", Status: "yes", Source: "import", Since: time.Now().Add(-time.Hour), Expires: time.Now().Add(-time.Minute)}
	if err := s.SetPresence(ctx(t), stale); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPresence(ctx(t), stale.E164); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("already-expired fact: GetPresence = %v, want ErrNotFound", err)
	}
	if _, err := s.GetPresence(ctx(t), f.E164); err != nil {
		t.Fatalf("GetPresence before expiry: %v", err)
	}
	time.Sleep(ttl + settle)
	if _, err := s.GetPresence(ctx(t), f.E164); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetPresence after expiry = %v, want ErrNotFound", err)
	}
}

// --- limiter ---

func testLimiterBurst(t *testing.T, s store.Store) {
	for i := range 3 {
		ok, _, err := s.Take(ctx(t), "pair:+441", 1, 3)
		if err != nil || !ok {
			t.Fatalf("Take #%d within burst = %v, %v", i+1, ok, err)
		}
	}
	ok, wait, err := s.Take(ctx(t), "pair:+441", 1, 3)
	if err != nil || ok {
		t.Fatalf("Take beyond burst = %v, %v; want refusal", ok, err)
	}
	if wait <= 0 || wait > time.Second {
		t.Errorf("wait = %v, want in (0, 1s] at 1 token/s", wait)
	}
	if ok, _, err := s.Take(ctx(t), "pair:+442", 1, 3); err != nil || !ok {
		t.Errorf("another key is independent: %v, %v", ok, err)
	}
}

func testLimiterRefill(t *testing.T, s store.Store) {
	const rate = 20 // one token every 50 ms
	if ok, _, err := s.Take(ctx(t), "k", rate, 1); err != nil || !ok {
		t.Fatalf("first Take = %v, %v", ok, err)
	}
	ok, wait, err := s.Take(ctx(t), "k", rate, 1)
	if err != nil || ok || wait <= 0 || wait > 50*time.Millisecond {
		t.Fatalf("second Take = %v, wait %v, %v; want refusal with wait in (0, 50ms]", ok, wait, err)
	}
	time.Sleep(wait + 20*time.Millisecond)
	if ok, wait, err := s.Take(ctx(t), "k", rate, 1); err != nil || !ok {
		t.Fatalf("Take after waiting = %v (wait %v), %v; want a token", ok, wait, err)
	}
}

func testLimiterBadArgs(t *testing.T, s store.Store) {
	for _, c := range []struct {
		rate  float64
		burst int
	}{{0, 1}, {-1, 1}, {1, 0}} {
		if _, _, err := s.Take(ctx(t), "bad", c.rate, c.burst); err == nil {
			t.Errorf("Take(rate=%v, burst=%d) succeeded, want an error", c.rate, c.burst)
		}
	}
}

// --- events ---

func receive(t *testing.T, ch <-chan []byte) ([]byte, bool) {
	t.Helper()
	select {
	case p, ok := <-ch:
		return p, ok
	case <-time.After(3 * time.Second):
		t.Fatal("no message within 3s")
		return nil, false
	}
}

func testEventsDeliver(t *testing.T, s store.Store) {
	c := ctx(t)
	a, err := s.Subscribe(c, "status")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Subscribe(c, "status")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.Subscribe(c, "other")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Publish(c, "status", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for name, ch := range map[string]<-chan []byte{"a": a, "b": b} {
		for i := range 3 {
			if p, _ := receive(t, ch); string(p) != fmt.Sprintf("m%d", i) {
				t.Errorf("subscriber %s got %q, want m%d", name, p, i)
			}
		}
	}
	select {
	case p := <-other:
		t.Errorf("subscriber of another channel got %q", p)
	case <-time.After(100 * time.Millisecond):
	}
}

func testEventsUnsubscribe(t *testing.T, s store.Store) {
	c, cancel := context.WithCancel(ctx(t))
	ch, err := s.Subscribe(c, "ch")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, ok := receive(t, ch); !ok {
			break // closed: good
		}
	}
	if err := s.Publish(ctx(t), "ch", []byte("late")); err != nil {
		t.Errorf("Publish with no subscribers: %v", err)
	}
}

// --- streams ---

func payloads(ms []store.StreamMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Payload))
	}
	return out
}

func testStreamsReadAckClaim(t *testing.T, s store.Store) {
	var ids []string
	for _, p := range []string{"a", "b", "c"} {
		id, err := s.StreamAdd(ctx(t), "jobs", []byte(p))
		if err != nil || id == "" {
			t.Fatalf("StreamAdd = %q, %v", id, err)
		}
		ids = append(ids, id)
	}
	got, err := s.StreamRead(ctx(t), "jobs", "workers", "alice", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(payloads(got), []string{"a", "b", "c"}) || got[0].ID != ids[0] {
		t.Fatalf("StreamRead = %v, want a b c with ids %v", got, ids)
	}
	again, err := s.StreamRead(ctx(t), "jobs", "workers", "bob", 10, 50*time.Millisecond)
	if err != nil || len(again) != 0 {
		t.Fatalf("second StreamRead = %v, %v; want nothing new", again, err)
	}
	if err := s.StreamAck(ctx(t), "jobs", "workers", ids[0]); err != nil {
		t.Fatal(err)
	}
	// alice "dies" holding b and c. Too early to claim:
	if early, err := s.StreamClaim(ctx(t), "jobs", "workers", "bob", time.Minute, 10); err != nil || len(early) != 0 {
		t.Fatalf("StreamClaim before minIdle = %v, %v; want nothing", early, err)
	}
	time.Sleep(ttl)
	claimed, err := s.StreamClaim(ctx(t), "jobs", "workers", "bob", ttl/2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(payloads(claimed), []string{"b", "c"}) {
		t.Fatalf("StreamClaim = %v, want b c", payloads(claimed))
	}
	if err := s.StreamAck(ctx(t), "jobs", "workers", claimed[0].ID, claimed[1].ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl)
	if rest, err := s.StreamClaim(ctx(t), "jobs", "workers", "carol", 0, 10); err != nil || len(rest) != 0 {
		t.Fatalf("StreamClaim after acks = %v, %v; want nothing pending", payloads(rest), err)
	}
	if none, err := s.StreamClaim(ctx(t), "nostream", "nogroup", "bob", 0, 10); err != nil || len(none) != 0 {
		t.Fatalf("StreamClaim on unknown stream = %v, %v; want nothing", none, err)
	}
}

func testStreamsGroups(t *testing.T, s store.Store) {
	for _, p := range []string{"x", "y"} {
		if _, err := s.StreamAdd(ctx(t), "ev", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"g1", "g2"} {
		got, err := s.StreamRead(ctx(t), "ev", g, "c", 1, 0)
		if err != nil || !slices.Equal(payloads(got), []string{"x"}) {
			t.Fatalf("group %s first read (count 1) = %v, %v; want x", g, payloads(got), err)
		}
		got, err = s.StreamRead(ctx(t), "ev", g, "c", 5, 0)
		if err != nil || !slices.Equal(payloads(got), []string{"y"}) {
			t.Fatalf("group %s second read = %v, %v; want y", g, payloads(got), err)
		}
	}
}

func testStreamsBlockWakes(t *testing.T, s store.Store) {
	// Create the group first so the read below is a real wait for a new entry.
	if got, err := s.StreamRead(ctx(t), "wake", "g", "c", 1, 0); err != nil || len(got) != 0 {
		t.Fatalf("read of empty stream = %v, %v", got, err)
	}
	added := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		_, err := s.StreamAdd(context.Background(), "wake", []byte("late"))
		added <- err
	}()
	defer func() {
		if err := <-added; err != nil {
			t.Errorf("StreamAdd: %v", err)
		}
	}()
	start := time.Now()
	got, err := s.StreamRead(ctx(t), "wake", "g", "c", 1, 5*time.Second)
	if err != nil || !slices.Equal(payloads(got), []string{"late"}) {
		t.Fatalf("blocking StreamRead = %v, %v; want late", payloads(got), err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("blocking read returned after %v: it waited for the timeout, not the entry", d)
	}
}

// --- docs ---

func testDocsCAS(t *testing.T, s store.Store) {
	v, err := s.PutDoc(ctx(t), "conv", "d1", []byte(`{"a":1}`), 0, 0)
	if err != nil || v != 1 {
		t.Fatalf("PutDoc(new) = %d, %v; want 1", v, err)
	}
	if _, err := s.PutDoc(ctx(t), "conv", "d1", []byte(`{}`), 0, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutDoc(version 0 on existing) = %v, want ErrConflict", err)
	}
	if v, err = s.PutDoc(ctx(t), "conv", "d1", []byte(`{"a":2}`), 1, 0); err != nil || v != 2 {
		t.Fatalf("PutDoc(v1) = %d, %v; want 2", v, err)
	}
	if _, err := s.PutDoc(ctx(t), "conv", "d1", []byte(`{"a":3}`), 1, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutDoc(stale v1) = %v, want ErrConflict", err)
	}
	if _, err := s.PutDoc(ctx(t), "conv", "ghost", []byte(`{}`), 3, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutDoc(v3 on missing) = %v, want ErrConflict", err)
	}
	d, err := s.GetDoc(ctx(t), "conv", "d1")
	if err != nil || d.ID != "d1" || d.Version != 2 || string(d.Data) != `{"a":2}` {
		t.Fatalf("GetDoc = %+v, %v", d, err)
	}
	if _, err := s.GetDoc(ctx(t), "other", "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDoc(other collection) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteDoc(ctx(t), "conv", "d1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetDoc(ctx(t), "conv", "d1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDoc after delete = %v, want ErrNotFound", err)
	}
	if v, err := s.PutDoc(ctx(t), "conv", "d1", []byte(`{}`), 0, 0); err != nil || v != 1 {
		t.Errorf("PutDoc(new) after delete = %d, %v; want 1", v, err)
	}
}

func testDocsRace(t *testing.T, s store.Store) {
	if _, err := s.PutDoc(ctx(t), "agents", "a1", []byte(`{}`), 0, 0); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range Racers {
		wg.Go(func() {
			_, err := s.PutDoc(ctx(t), "agents", "a1", fmt.Appendf(nil, `{"by":%d}`, i), 1, 0)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("PutDoc: %v", err)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d racers won PutDoc at version 1, want exactly 1", n)
	}
	if d, err := s.GetDoc(ctx(t), "agents", "a1"); err != nil || d.Version != 2 {
		t.Fatalf("GetDoc after race = %+v, %v; want version 2", d, err)
	}
}

func testDocsList(t *testing.T, s store.Store) {
	if l, err := s.ListDocs(ctx(t), "empty"); err != nil || len(l) != 0 {
		t.Fatalf("ListDocs(empty) = %v, %v", l, err)
	}
	for _, id := range []string{"c", "a", "b"} {
		if _, err := s.PutDoc(ctx(t), "notif", id, []byte(id), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutDoc(ctx(t), "other", "z", []byte("z"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDoc(ctx(t), "notif", "b"); err != nil {
		t.Fatal(err)
	}
	l, err := s.ListDocs(ctx(t), "notif")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range l {
		if string(d.Data) != d.ID || d.Version != 1 {
			t.Errorf("listed doc %+v", d)
		}
		got = append(got, d.ID)
	}
	if !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("ListDocs = %v, want [a c]", got)
	}
}

func testDocsTTL(t *testing.T, s store.Store) {
	if _, err := s.PutDoc(ctx(t), "tmp", "short", []byte("x"), 0, ttl); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutDoc(ctx(t), "tmp", "long", []byte("y"), 0, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + settle)
	if _, err := s.GetDoc(ctx(t), "tmp", "short"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetDoc after ttl = %v, want ErrNotFound", err)
	}
	l, err := s.ListDocs(ctx(t), "tmp")
	if err != nil || len(l) != 1 || l[0].ID != "long" {
		t.Errorf("ListDocs after ttl = %v, %v; want only long", l, err)
	}
	if v, err := s.PutDoc(ctx(t), "tmp", "short", []byte("x"), 0, 0); err != nil || v != 1 {
		t.Errorf("PutDoc(new) over expired doc = %d, %v; want 1", v, err)
	}
}

// testCountersRace: increments from many goroutines (instances) all count.
func testCountersRace(t *testing.T, s store.Store) {
	if got, err := s.GetCounters(ctx(t), "day"); err != nil || len(got) != 0 {
		t.Fatalf("GetCounters(missing) = %v, %v; want empty", got, err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := s.IncrCounters(ctx(t), "day", map[string]int64{"offered": 1, "wait": 30}, time.Hour); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.IncrCounters(ctx(t), "day", map[string]int64{"offered": -1}, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCounters(ctx(t), "day")
	if err != nil || got["offered"] != workers*each-1 || got["wait"] != workers*each*30 || len(got) != 2 {
		t.Errorf("GetCounters = %v, %v; want offered %d, wait %d", got, err, workers*each-1, workers*each*30)
	}
}

func testCountersTTL(t *testing.T, s store.Store) {
	if err := s.IncrCounters(ctx(t), "short", map[string]int64{"n": 1}, ttl); err != nil {
		t.Fatal(err)
	}
	if err := s.IncrCounters(ctx(t), "long", map[string]int64{"n": 1}, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + settle)
	if got, err := s.GetCounters(ctx(t), "short"); err != nil || len(got) != 0 {
		t.Errorf("GetCounters after ttl = %v, %v; want empty", got, err)
	}
	if got, err := s.GetCounters(ctx(t), "long"); err != nil || got["n"] != 1 {
		t.Errorf("GetCounters(no ttl) = %v, %v; want n 1", got, err)
	}
}

// testStreamsAddBatch: a batch lands in order, after what was there, readable like single adds.
func testStreamsAddBatch(t *testing.T, s store.Store) {
	if _, err := s.StreamAdd(ctx(t), "batch", []byte("first")); err != nil {
		t.Fatal(err)
	}
	ids, err := s.StreamAddBatch(ctx(t), "batch", [][]byte{[]byte("a"), []byte("b"), []byte("c")})
	if err != nil || len(ids) != 3 {
		t.Fatalf("StreamAddBatch = %v, %v", ids, err)
	}
	if ids, err := s.StreamAddBatch(ctx(t), "batch", nil); err != nil || len(ids) != 0 {
		t.Errorf("empty batch = %v, %v", ids, err)
	}
	got, err := s.StreamRead(ctx(t), "batch", "g", "c1", 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p := payloads(got); strings.Join(p, ",") != "first,a,b,c" {
		t.Errorf("read %v, want first,a,b,c", p)
	}
	for i, m := range got[1:] {
		if m.ID != ids[i] {
			t.Errorf("entry %d id %s, batch said %s", i, m.ID, ids[i])
		}
	}
}
