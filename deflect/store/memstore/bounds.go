package memstore

// Bounds: the embedded store keeps at most so many of each kind of record, so a long-running
// gateway on the memory store grows to a ceiling instead of with every call. When a map is over
// its cap the records inserted first go first (an order queue per kind); evictions are reported
// through Options.OnEvict.

// Eviction kinds, as reported to OnEvict (and in deflectd_store_evictions_total{kind}).
const (
	EvictSession  = "session"
	EvictOnce     = "once"
	EvictPresence = "presence"
	EvictDoc      = "document"
	EvictOffers   = "offers"
	EvictStream   = "stream_entry"
)

// Default caps, sized for a laptop: a few tens of MiB at most.
const (
	DefaultMaxSessions     = 10_000
	DefaultMaxOnceKeys     = 50_000
	DefaultMaxPresence     = 50_000
	DefaultMaxDocs         = 20_000
	DefaultMaxOfferNumbers = 50_000
)

// order remembers the order keys were first inserted in, for oldest-first eviction. A key that
// was deleted meanwhile (expired, or deleted by its owner) is skipped when it comes up.
type order struct {
	keys []string
	head int
}

func (o *order) push(k string) { o.keys = append(o.keys, k) }

func (o *order) pop() (string, bool) {
	if o.head >= len(o.keys) {
		return "", false
	}
	k := o.keys[o.head]
	o.keys[o.head] = ""
	o.head++
	if o.head >= len(o.keys)-o.head { // the dead prefix is as long as the live part: compact
		n := copy(o.keys, o.keys[o.head:])
		clear(o.keys[n:])
		o.keys, o.head = o.keys[:n], 0
	}
	return k, true
}

// evictLocked pops keys oldest first while over() holds, removing each with drop (which says
// whether the key still existed) and counting the evictions of kind.
func (m *Mem) evictLocked(o *order, kind string, over func() bool, drop func(string) bool) {
	for over() {
		k, ok := o.pop()
		if !ok {
			return
		}
		if drop(k) && m.opts.OnEvict != nil {
			m.opts.OnEvict(kind)
		}
	}
}
