// Package memstore is store.Store in process memory: for the embedded default, single-instance
// deployments and tests. Everything is lost on exit.
//
// Expiry is checked on every read; a janitor goroutine (stopped by Close) also sweeps expired
// entries so memory does not grow with dead keys.
package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
)

var _ store.Store = (*Mem)(nil)

// Defaults for Options' zero values.
const (
	DefaultJanitorInterval = 10 * time.Second
	DefaultStreamMaxLen    = 100_000
	DefaultMaxOffers       = 1000
	subscriberBuffer       = 256
	maxUpdateAttempts      = 100
)

// Options tune a Mem; the zero value is fine.
type Options struct {
	JanitorInterval time.Duration // how often expired entries are swept
	StreamMaxLen    int           // oldest stream entries beyond this are dropped
	MaxOffers       int           // per number
	// Caps on the number of records of each kind (0 = the Default… value); beyond them the
	// oldest go first (see bounds.go).
	MaxSessions     int
	MaxOnceKeys     int
	MaxPresence     int
	MaxDocs         int // all collections together
	MaxOfferNumbers int
	// OnEvict is called (under the store's lock: keep it short) for every record evicted by a
	// cap or a dropped stream entry, with its kind (Evict…).
	OnEvict func(kind string)
}

// Mem is an in-memory store.Store. Create it with New and Close it when done.
type Mem struct {
	opts Options
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	closed    bool
	sessions  map[string]*store.Session // id → private copy
	byMessage map[string]string         // WA message id → session id
	once      map[string]time.Time      // key → expiry
	offers    map[string]*offerList
	optRecs   map[string]store.OptRecord
	presence  map[string]store.PresenceFact
	buckets   map[string]*bucket
	subs      map[string]map[*subscriber]struct{}
	streams   map[string]*stream
	docs      map[string]map[string]*doc // coll → id → doc
	counters  map[string]*counterHash

	// Insertion order of each capped kind, for oldest-first eviction.
	sessionOrder, onceOrder, presenceOrder, docOrder, offerOrder order
	docCount                                                     int
}

// New returns an empty store with its janitor running.
func New(o Options) *Mem {
	if o.JanitorInterval <= 0 {
		o.JanitorInterval = DefaultJanitorInterval
	}
	if o.StreamMaxLen <= 0 {
		o.StreamMaxLen = DefaultStreamMaxLen
	}
	if o.MaxOffers <= 0 {
		o.MaxOffers = DefaultMaxOffers
	}
	o.MaxSessions = cmp.Or(max(o.MaxSessions, 0), DefaultMaxSessions)
	o.MaxOnceKeys = cmp.Or(max(o.MaxOnceKeys, 0), DefaultMaxOnceKeys)
	o.MaxPresence = cmp.Or(max(o.MaxPresence, 0), DefaultMaxPresence)
	o.MaxDocs = cmp.Or(max(o.MaxDocs, 0), DefaultMaxDocs)
	o.MaxOfferNumbers = cmp.Or(max(o.MaxOfferNumbers, 0), DefaultMaxOfferNumbers)
	m := &Mem{
		opts:      o,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		sessions:  map[string]*store.Session{},
		byMessage: map[string]string{},
		once:      map[string]time.Time{},
		offers:    map[string]*offerList{},
		optRecs:   map[string]store.OptRecord{},
		presence:  map[string]store.PresenceFact{},
		buckets:   map[string]*bucket{},
		subs:      map[string]map[*subscriber]struct{}{},
		streams:   map[string]*stream{},
		docs:      map[string]map[string]*doc{},
		counters:  map[string]*counterHash{},
	}
	go m.janitor()
	return m
}

// Ping fails only after Close.
func (m *Mem) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("ping: %w", store.ErrUnavailable)
	}
	return nil
}

// Close stops the janitor and ends every subscription. Calls after Close keep working on the
// data (tests may read after Close) except Ping; closing twice is fine.
func (m *Mem) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, set := range m.subs {
		for s := range set {
			s.close()
		}
	}
	m.subs = map[string]map[*subscriber]struct{}{}
	m.mu.Unlock()
	close(m.stop)
	<-m.done
	return nil
}

func (m *Mem) janitor() {
	defer close(m.done)
	t := time.NewTicker(m.opts.JanitorInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case now := <-t.C:
			m.sweep(now)
		}
	}
}

// sweep drops everything expired at now.
func (m *Mem) sweep(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, s := range m.sessions {
		if expired(s.ExpiresAt, now) {
			m.deleteSessionLocked(id)
		}
	}
	for k, exp := range m.once {
		if !now.Before(exp) {
			delete(m.once, k)
		}
	}
	for k, l := range m.offers {
		if !now.Before(l.expires) {
			delete(m.offers, k)
		}
	}
	for k, f := range m.presence {
		if expired(f.Expires, now) {
			delete(m.presence, k)
		}
	}
	for k, b := range m.buckets {
		if !now.Before(b.fullAt) {
			delete(m.buckets, k) // a full bucket is the same as no bucket
		}
	}
	for k, c := range m.counters {
		if expired(c.expires, now) {
			delete(m.counters, k)
		}
	}
	for coll, docs := range m.docs {
		for id, d := range docs {
			if expired(d.expires, now) {
				m.deleteDocLocked(coll, id)
			}
		}
	}
}

// expired reports whether an optional deadline (zero = never) has passed.
func expired(deadline, now time.Time) bool {
	return !deadline.IsZero() && !now.Before(deadline)
}

// --- sessions ---

func (m *Mem) CreateSession(_ context.Context, s *store.Session) error {
	if s == nil || s.ID == "" {
		return errors.New("create session: empty id")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.sessions[s.ID]; ok && !expired(old.ExpiresAt, time.Now()) {
		return fmt.Errorf("create session %s: %w", s.ID, store.ErrExists)
	}
	s.Version = 1
	if _, ok := m.sessions[s.ID]; !ok {
		m.sessionOrder.push(s.ID)
	}
	m.putSessionLocked(cloneSession(s), "")
	m.evictLocked(&m.sessionOrder, EvictSession, func() bool { return len(m.sessions) > m.opts.MaxSessions },
		func(id string) bool {
			_, ok := m.sessions[id]
			m.deleteSessionLocked(id)
			return ok
		})
	return nil
}

func (m *Mem) GetSession(_ context.Context, id string) (*store.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, err := m.getSessionLocked(id)
	if err != nil {
		return nil, fmt.Errorf("get session %s: %w", id, err)
	}
	return cloneSession(s), nil
}

func (m *Mem) getSessionLocked(id string) (*store.Session, error) {
	s, ok := m.sessions[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	if expired(s.ExpiresAt, time.Now()) {
		m.deleteSessionLocked(id)
		return nil, store.ErrNotFound
	}
	return s, nil
}

func (m *Mem) putSessionLocked(s *store.Session, oldMessageID string) {
	if oldMessageID != "" && oldMessageID != s.WAMessageID && m.byMessage[oldMessageID] == s.ID {
		delete(m.byMessage, oldMessageID)
	}
	if s.WAMessageID != "" {
		m.byMessage[s.WAMessageID] = s.ID
	}
	m.sessions[s.ID] = s
}

func (m *Mem) deleteSessionLocked(id string) {
	if s, ok := m.sessions[id]; ok && s.WAMessageID != "" && m.byMessage[s.WAMessageID] == id {
		delete(m.byMessage, s.WAMessageID)
	}
	delete(m.sessions, id)
}

// UpdateSession runs fn outside the lock (fn may call the store) and writes only if the version
// did not move meanwhile, retrying otherwise.
func (m *Mem) UpdateSession(ctx context.Context, id string, fn func(*store.Session) error) (*store.Session, error) {
	for range maxUpdateAttempts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("update session %s: %w: %w", id, store.ErrUnavailable, err)
		}
		cur, err := m.GetSession(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("update session: %w", err)
		}
		oldVersion, oldMessageID := cur.Version, cur.WAMessageID
		if err := fn(cur); err != nil {
			return nil, err
		}
		cur.ID = id // the id is the key; fn cannot move it
		m.mu.Lock()
		now, err := m.getSessionLocked(id)
		if err != nil {
			m.mu.Unlock()
			return nil, fmt.Errorf("update session %s: %w", id, err)
		}
		if now.Version != oldVersion {
			m.mu.Unlock()
			continue
		}
		cur.Version = oldVersion + 1
		m.putSessionLocked(cloneSession(cur), oldMessageID)
		m.mu.Unlock()
		return cur, nil
	}
	return nil, fmt.Errorf("update session %s: %w", id, store.ErrConflict)
}

func (m *Mem) FindSessionByMessage(ctx context.Context, msgID string) (*store.Session, error) {
	m.mu.Lock()
	id, ok := m.byMessage[msgID]
	m.mu.Unlock()
	if !ok || msgID == "" {
		return nil, fmt.Errorf("find session by message: %w", store.ErrNotFound)
	}
	return m.GetSession(ctx, id)
}

func (m *Mem) ListSessions(_ context.Context, f store.SessionFilter) ([]*store.Session, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	now := time.Now()
	m.mu.Lock()
	var out []*store.Session
	for _, s := range m.sessions {
		if expired(s.ExpiresAt, now) || !store.MatchFilter(s, f) {
			continue
		}
		out = append(out, cloneSession(s))
	}
	m.mu.Unlock()
	store.SortNewestFirst(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func cloneSession(s *store.Session) *store.Session {
	c := *s
	c.Context = maps.Clone(s.Context)
	c.IVRPath = slices.Clone(s.IVRPath)
	c.Steps = maps.Clone(s.Steps)
	return &c
}

// --- once ---

func (m *Mem) SetOnce(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("set once %q: ttl must be positive", key)
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.once[key]
	if ok && now.Before(exp) {
		return false, nil
	}
	if !ok {
		m.onceOrder.push(key)
	}
	m.once[key] = now.Add(ttl)
	m.evictLocked(&m.onceOrder, EvictOnce, func() bool { return len(m.once) > m.opts.MaxOnceKeys },
		func(k string) bool { _, ok := m.once[k]; delete(m.once, k); return ok })
	return true, nil
}

// --- offers ---

type offerList struct {
	times   []time.Time // oldest first
	expires time.Time
}

func (m *Mem) RecordOffer(_ context.Context, e164 string, at time.Time, keep time.Duration) error {
	if keep <= 0 {
		return fmt.Errorf("record offer: keep must be positive")
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.offers[e164]
	if !ok || !now.Before(l.expires) {
		if !ok {
			// Room first, so the number being recorded is never the one evicted.
			m.evictLocked(&m.offerOrder, EvictOffers, func() bool { return len(m.offers) >= m.opts.MaxOfferNumbers },
				func(k string) bool { _, ok := m.offers[k]; delete(m.offers, k); return ok })
			m.offerOrder.push(e164)
		}
		l = &offerList{}
		m.offers[e164] = l
	}
	i, _ := slices.BinarySearchFunc(l.times, at, func(a, b time.Time) int { return a.Compare(b) })
	l.times = slices.Insert(l.times, i, at)
	cut := at.Add(-keep)
	l.times = slices.DeleteFunc(l.times, func(t time.Time) bool { return t.Before(cut) })
	if over := len(l.times) - m.opts.MaxOffers; over > 0 {
		l.times = l.times[over:]
	}
	l.expires = now.Add(keep)
	return nil
}

func (m *Mem) OffersSince(_ context.Context, e164 string, since time.Time) ([]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.offers[e164]
	if !ok || !time.Now().Before(l.expires) {
		return nil, nil
	}
	var out []time.Time
	for _, t := range l.times {
		if !t.Before(since) {
			out = append(out, t)
		}
	}
	return out, nil
}

// --- opt-outs ---

func (m *Mem) SetOpt(_ context.Context, r store.OptRecord) error {
	if r.E164 == "" {
		return errors.New("set opt: empty number")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.optRecs[r.E164] = r
	return nil
}

func (m *Mem) GetOpt(_ context.Context, e164 string) (store.OptRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.optRecs[e164]
	if !ok {
		return store.OptRecord{}, fmt.Errorf("get opt: %w", store.ErrNotFound)
	}
	return r, nil
}

// --- presence ---

func (m *Mem) SetPresence(_ context.Context, f store.PresenceFact) error {
	if f.E164 == "" {
		return errors.New("set presence: empty number")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if expired(f.Expires, time.Now()) {
		delete(m.presence, f.E164) // an already-expired fact replaces nothing with nothing
		return nil
	}
	if _, ok := m.presence[f.E164]; !ok {
		m.presenceOrder.push(f.E164)
	}
	m.presence[f.E164] = f
	m.evictLocked(&m.presenceOrder, EvictPresence, func() bool { return len(m.presence) > m.opts.MaxPresence },
		func(k string) bool { _, ok := m.presence[k]; delete(m.presence, k); return ok })
	return nil
}

func (m *Mem) GetPresence(_ context.Context, e164 string) (store.PresenceFact, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.presence[e164]
	if !ok || expired(f.Expires, time.Now()) {
		delete(m.presence, e164)
		return store.PresenceFact{}, fmt.Errorf("get presence: %w", store.ErrNotFound)
	}
	return f, nil
}

func (m *Mem) DeletePresence(_ context.Context, e164 string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.presence, e164)
	return nil
}

// --- limiter ---

type bucket struct {
	tokens float64
	last   time.Time
	fullAt time.Time // when the bucket refills completely; the janitor drops it then
}

func (m *Mem) Take(_ context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	if rate <= 0 || burst < 1 {
		return false, 0, fmt.Errorf("take %q: rate must be > 0 and burst >= 1 (got %v, %d)", key, rate, burst)
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.buckets[key]
	if !ok {
		b = &bucket{tokens: float64(burst), last: now}
		m.buckets[key] = b
	}
	b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	ok = b.tokens >= 1
	var wait time.Duration
	if ok {
		b.tokens--
	} else {
		wait = time.Duration((1 - b.tokens) / rate * float64(time.Second))
	}
	b.fullAt = now.Add(time.Duration((float64(burst) - b.tokens) / rate * float64(time.Second)))
	return ok, wait, nil
}

// --- events ---

type subscriber struct {
	ch     chan []byte
	closed bool
}

// close is called with Mem.mu held.
func (s *subscriber) close() {
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// Publish never blocks: a subscriber that is subscriberBuffer messages behind loses messages,
// as Events is fire-and-forget.
func (m *Mem) Publish(_ context.Context, channel string, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for s := range m.subs[channel] {
		select {
		case s.ch <- slices.Clone(payload):
		default:
		}
	}
	return nil
}

// Subscribe's channel is closed when ctx ends or the store is closed.
func (m *Mem) Subscribe(ctx context.Context, channel string) (<-chan []byte, error) {
	s := &subscriber{ch: make(chan []byte, subscriberBuffer)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fmt.Errorf("subscribe %q: %w", channel, store.ErrUnavailable)
	}
	if m.subs[channel] == nil {
		m.subs[channel] = map[*subscriber]struct{}{}
	}
	m.subs[channel][s] = struct{}{}
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		if set := m.subs[channel]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(m.subs, channel)
			}
		}
		s.close()
	}()
	return s.ch, nil
}

// --- streams ---

type stream struct {
	// buf[head:] are the live entries, ascending id. Trimming advances head (O(1)); the dead
	// prefix is compacted away once it outgrows the live part, so each add costs O(1)
	// amortised however long the stream is allowed to grow.
	buf     []entry
	head    int
	lastMs  int64
	lastSeq int64
	groups  map[string]*group
	wake    chan struct{} // closed and replaced on every add
}

type entry struct {
	ms, seq int64
	payload []byte
}

func (e entry) id() string { return fmt.Sprintf("%d-%d", e.ms, e.seq) }

type group struct {
	lastMs, lastSeq int64 // last delivered id
	pending         map[string]*pendingEntry
}

type pendingEntry struct {
	e         entry
	consumer  string
	delivered time.Time
}

func (m *Mem) streamLocked(name string) *stream {
	st, ok := m.streams[name]
	if !ok {
		st = &stream{groups: map[string]*group{}, wake: make(chan struct{})}
		m.streams[name] = st
	}
	return st
}

func (m *Mem) StreamAdd(_ context.Context, name string, payload []byte) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.streamLocked(name)
	ms := time.Now().UnixMilli()
	var seq int64
	if ms <= st.lastMs {
		ms, seq = st.lastMs, st.lastSeq+1
	}
	st.lastMs, st.lastSeq = ms, seq
	e := entry{ms: ms, seq: seq, payload: slices.Clone(payload)}
	st.buf = append(st.buf, e)
	if dropped := st.trim(m.opts.StreamMaxLen); dropped > 0 && m.opts.OnEvict != nil {
		for range dropped {
			m.opts.OnEvict(EvictStream)
		}
	}
	close(st.wake)
	st.wake = make(chan struct{})
	return e.id(), nil
}

// StreamAddBatch adds payloads in order.
func (m *Mem) StreamAddBatch(ctx context.Context, name string, payloads [][]byte) ([]string, error) {
	ids := make([]string, 0, len(payloads))
	for _, p := range payloads {
		id, err := m.StreamAdd(ctx, name, p)
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// StreamRead delivers entries after the group's last delivered one. A new group starts at the
// beginning of the stream, so nothing added before the first reader is lost.
func (m *Mem) StreamRead(ctx context.Context, name, grp, consumer string, count int, block time.Duration) ([]store.StreamMessage, error) {
	if count <= 0 {
		count = 1
	}
	var timer <-chan time.Time
	if block > 0 {
		t := time.NewTimer(block)
		defer t.Stop()
		timer = t.C
	}
	for {
		m.mu.Lock()
		st := m.streamLocked(name)
		g, ok := st.groups[grp]
		if !ok {
			g = &group{pending: map[string]*pendingEntry{}}
			st.groups[grp] = g
		}
		var out []store.StreamMessage
		now := time.Now()
		live := st.entries()
		for _, e := range live[st.after(g.lastMs, g.lastSeq):] {
			if len(out) == count {
				break
			}
			g.lastMs, g.lastSeq = e.ms, e.seq
			id := e.id()
			g.pending[id] = &pendingEntry{e: e, consumer: consumer, delivered: now}
			out = append(out, store.StreamMessage{ID: id, Payload: slices.Clone(e.payload)})
		}
		wake := st.wake
		m.mu.Unlock()
		if len(out) > 0 || timer == nil {
			return out, nil
		}
		select {
		case <-wake:
		case <-timer:
			return nil, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("stream read %q: %w: %w", name, store.ErrUnavailable, ctx.Err())
		}
	}
}

func (m *Mem) StreamAck(_ context.Context, name, grp string, ids ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.streams[name]
	if !ok {
		return nil
	}
	if g, ok := st.groups[grp]; ok {
		for _, id := range ids {
			delete(g.pending, id)
		}
	}
	return nil
}

func (m *Mem) StreamClaim(_ context.Context, name, grp, consumer string, minIdle time.Duration, count int) ([]store.StreamMessage, error) {
	if count <= 0 {
		count = 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.streams[name]
	if !ok {
		return nil, nil
	}
	g, ok := st.groups[grp]
	if !ok {
		return nil, nil
	}
	pend := slices.Collect(maps.Values(g.pending))
	sort.Slice(pend, func(i, j int) bool {
		a, b := pend[i].e, pend[j].e
		return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq)
	})
	now := time.Now()
	var out []store.StreamMessage
	for _, p := range pend {
		if len(out) == count {
			break
		}
		if now.Sub(p.delivered) < minIdle {
			continue
		}
		if !st.has(p.e) { // trimmed away meanwhile: drop it, as Redis does
			delete(g.pending, p.e.id())
			continue
		}
		p.consumer, p.delivered = consumer, now
		out = append(out, store.StreamMessage{ID: p.e.id(), Payload: slices.Clone(p.e.payload)})
	}
	return out, nil
}

// entries are the live entries, ascending id.
func (st *stream) entries() []entry { return st.buf[st.head:] }

// trim drops the oldest entries beyond maxLen.
func (st *stream) trim(maxLen int) int {
	over := len(st.buf) - st.head - maxLen
	if over <= 0 {
		return 0
	}
	clear(st.buf[st.head : st.head+over]) // release the payloads now
	st.head += over
	if st.head >= len(st.buf)-st.head { // the dead prefix is as long as the live part: compact
		n := copy(st.buf, st.buf[st.head:])
		clear(st.buf[n:])
		st.buf, st.head = st.buf[:n], 0
	}
	return over
}

// after is the index in entries() of the first entry with an id above ms-seq.
func (st *stream) after(ms, seq int64) int {
	i, found := slices.BinarySearchFunc(st.entries(), entry{ms: ms, seq: seq}, compareEntry)
	if found {
		i++
	}
	return i
}

func (st *stream) has(e entry) bool {
	_, ok := slices.BinarySearchFunc(st.entries(), e, compareEntry)
	return ok
}

func compareEntry(a, b entry) int {
	if c := cmp.Compare(a.ms, b.ms); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// --- docs ---

type doc struct {
	data    []byte
	version int64
	expires time.Time
}

func (m *Mem) PutDoc(_ context.Context, coll, id string, data []byte, version int64, ttl time.Duration) (int64, error) {
	if coll == "" || id == "" {
		return 0, errors.New("put doc: empty collection or id")
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	docs := m.docs[coll]
	if docs == nil {
		docs = map[string]*doc{}
		m.docs[coll] = docs
	}
	var cur int64
	if d, ok := docs[id]; ok && !expired(d.expires, now) {
		cur = d.version
	}
	if cur != version {
		return 0, fmt.Errorf("put doc %s/%s: version %d, have %d: %w", coll, id, version, cur, store.ErrConflict)
	}
	d := &doc{data: slices.Clone(data), version: cur + 1}
	if ttl > 0 {
		d.expires = now.Add(ttl)
	}
	if _, ok := docs[id]; !ok {
		m.docOrder.push(coll + "\x00" + id)
		m.docCount++
	}
	docs[id] = d
	m.evictLocked(&m.docOrder, EvictDoc, func() bool { return m.docCount > m.opts.MaxDocs },
		func(k string) bool {
			c, i, _ := strings.Cut(k, "\x00")
			return m.deleteDocLocked(c, i)
		})
	return d.version, nil
}

// deleteDocLocked removes a document, keeping the count; false when it was not there.
func (m *Mem) deleteDocLocked(coll, id string) bool {
	docs := m.docs[coll]
	if _, ok := docs[id]; !ok {
		return false
	}
	delete(docs, id)
	m.docCount--
	if len(docs) == 0 {
		delete(m.docs, coll)
	}
	return true
}

func (m *Mem) GetDoc(_ context.Context, coll, id string) (store.Doc, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.docs[coll][id]
	if !ok || expired(d.expires, time.Now()) {
		return store.Doc{}, fmt.Errorf("get doc %s/%s: %w", coll, id, store.ErrNotFound)
	}
	return store.Doc{ID: id, Data: slices.Clone(d.data), Version: d.version}, nil
}

func (m *Mem) DeleteDoc(_ context.Context, coll, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleteDocLocked(coll, id)
	return nil
}

// ListDocs returns the collection's live documents ordered by id.
func (m *Mem) ListDocs(_ context.Context, coll string) ([]store.Doc, error) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Doc
	for id, d := range m.docs[coll] {
		if expired(d.expires, now) {
			continue
		}
		out = append(out, store.Doc{ID: id, Data: slices.Clone(d.data), Version: d.version})
	}
	slices.SortFunc(out, func(a, b store.Doc) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// --- counters ---

type counterHash struct {
	fields  map[string]int64
	expires time.Time
}

func (m *Mem) IncrCounters(_ context.Context, key string, deltas map[string]int64, ttl time.Duration) error {
	if len(deltas) == 0 {
		return nil
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("incr counters: %w", store.ErrUnavailable)
	}
	c := m.counters[key]
	if c == nil || expired(c.expires, now) {
		c = &counterHash{fields: map[string]int64{}}
		m.counters[key] = c
	}
	for f, d := range deltas {
		c.fields[f] += d
	}
	c.expires = time.Time{}
	if ttl > 0 {
		c.expires = now.Add(ttl)
	}
	return nil
}

func (m *Mem) GetCounters(_ context.Context, key string) (map[string]int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("get counters: %w", store.ErrUnavailable)
	}
	out := map[string]int64{}
	if c := m.counters[key]; c != nil && !expired(c.expires, time.Now()) {
		maps.Copy(out, c.fields)
	}
	return out, nil
}
