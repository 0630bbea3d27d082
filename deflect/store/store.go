// Package store is deflectd's persistence contract. Implementations: memstore (one process) and
// redisstore (shared by every instance). One suite, storetest, runs against both.
//
// Method signatures use only primitives and this package's record types, so that packages which
// must not import deflect (whatsapp, lookup) can declare the small interfaces they need and be
// handed a Store.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers decide on (use errors.Is).
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict is returned by UpdateSession when the update function keeps losing races.
	ErrConflict = errors.New("concurrent update conflict")
	// ErrUnavailable wraps backend failures (Redis down, timeouts): retryable by the caller.
	ErrUnavailable = errors.New("store unavailable")
)

// Store is everything deflectd persists.
type Store interface {
	Sessions
	Once
	Offers
	OptOuts
	PresenceFacts
	Limiter
	Events
	Streams
	Docs
	Counters
	// Ping checks the backend; /readyz uses it.
	Ping(ctx context.Context) error
	Close() error
}

// Session is one queued caller's deflection attempt, from INVITE to outcome.
type Session struct {
	ID      string `json:"id"`
	CallID  string `json:"call_id"`
	Version int64  `json:"version"` // bumped by every update; maintained by the store

	CallerRaw  string `json:"caller_raw"`
	Caller     string `json:"caller"` // E.164
	Region     string `json:"region"`
	NumberType string `json:"number_type"`

	Queue        string            `json:"queue"`
	WaitEstimate int               `json:"wait_estimate"` // seconds; -1 when the header was absent
	CustomerID   string            `json:"customer_id"`
	Language     string            `json:"language"`
	Context      map[string]string `json:"context"` // X-Context-<Name> values, by Name
	UserToUser   string            `json:"user_to_user"`
	ReturnTo     string            `json:"return_to"`
	Instance     string            `json:"instance"` // which deflectd holds the call

	State   string   `json:"state"`   // new, offered, sending, confirming, ended
	Outcome string   `json:"outcome"` // ineligible:<reason>, declined, timeout, deflected, failed:<reason>, abandoned
	Reason  string   `json:"reason"`
	IVRPath []string `json:"ivr_path"` // digits and prompt steps, for the agent

	WAMessageID string `json:"wa_message_id"`
	WAStatus    string `json:"wa_status"`
	WAID        string `json:"wa_id"`
	// PresencePrior is what presence said at Decide time (yes, no, unknown; empty when the
	// number's own rules refused it first): scored against the delivery outcome.
	PresencePrior string `json:"presence_prior,omitempty"`
	// Variant is the offer experiment's variant the caller was assigned (empty: none runs).
	Variant string `json:"variant,omitempty"`

	Steps     map[string]time.Time `json:"steps"` // step name → when (invite, answered, offered, dtmf, sent, delivered, ended...)
	CreatedAt time.Time            `json:"created_at"`
	UpdatedAt time.Time            `json:"updated_at"`
	ExpiresAt time.Time            `json:"expires_at"` // retention; the store deletes it after this (zero = keep)
}

// SessionFilter selects sessions for the results API; zero fields match everything.
type SessionFilter struct {
	Caller  string    // E.164
	Since   time.Time // CreatedAt >= Since
	Until   time.Time // CreatedAt < Until
	Outcome string    // prefix match: "failed" matches "failed:api-error"
	Limit   int       // 0 = 100
}

// Sessions persists sessions with optimistic concurrency.
type Sessions interface {
	// CreateSession stores s (Version becomes 1); ErrExists if the id is taken.
	CreateSession(ctx context.Context, s *Session) error
	GetSession(ctx context.Context, id string) (*Session, error)
	// UpdateSession reads the session, applies fn and writes it back only if nobody wrote in
	// between, retrying fn on a lost race (ErrConflict after several). fn must be idempotent.
	// Returning an error from fn aborts without writing. fn gets a copy; changes it makes to
	// ID and Version are ignored. After ErrUnavailable the write may or may not have happened.
	UpdateSession(ctx context.Context, id string, fn func(*Session) error) (*Session, error)
	// FindSessionByMessage returns the session whose WAMessageID is msgID.
	FindSessionByMessage(ctx context.Context, msgID string) (*Session, error)
	// ListSessions returns matches newest first.
	ListSessions(ctx context.Context, f SessionFilter) ([]*Session, error)
}

// Once is idempotency: the first SetOnce of a key within ttl wins (ttl must be positive).
type Once interface {
	SetOnce(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
}

// Offers records offers per number for cooldown and daily caps.
type Offers interface {
	// RecordOffer adds an offer at at, drops this number's offers older than at-keep, and
	// forgets the number entirely keep after its last recorded offer.
	RecordOffer(ctx context.Context, e164 string, at time.Time, keep time.Duration) error
	// OffersSince returns the times of offers to e164 at or after since, oldest first.
	OffersSince(ctx context.Context, e164 string, since time.Time) ([]time.Time, error)
}

// OptRecord is an opt-out or opt-in with where it came from.
type OptRecord struct {
	E164   string    `json:"e164"`
	OptOut bool      `json:"opt_out"`
	Source string    `json:"source"` // keyword, api, csv, console...
	At     time.Time `json:"at"`
}

// OptOuts keeps the opt-out set and the opt-in history.
type OptOuts interface {
	SetOpt(ctx context.Context, r OptRecord) error
	// GetOpt returns ErrNotFound when the number never opted in or out.
	GetOpt(ctx context.Context, e164 string) (OptRecord, error)
}

// PresenceFact is what deflectd knows about a number being on WhatsApp.
type PresenceFact struct {
	E164    string    `json:"e164"`
	Status  string    `json:"status"` // yes|no
	Source  string    `json:"source"` // learned, import, api, http-checker...
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
}

// PresenceFacts stores facts until they expire.
type PresenceFacts interface {
	SetPresence(ctx context.Context, f PresenceFact) error
	// GetPresence returns ErrNotFound when nothing (unexpired) is known.
	GetPresence(ctx context.Context, e164 string) (PresenceFact, error)
	DeletePresence(ctx context.Context, e164 string) error
}

// Limiter is a token bucket shared by every instance using the same backend.
type Limiter interface {
	// Take takes one token from bucket key (rate tokens per second, burst capacity). When none
	// is available it takes nothing and returns how long until one will be. rate must be > 0
	// and burst >= 1.
	Take(ctx context.Context, key string, rate float64, burst int) (ok bool, wait time.Duration, err error)
}

// Events is fire-and-forget pub/sub across instances (e.g. "status for message X arrived").
type Events interface {
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe delivers messages published after it returns, until ctx ends; then the
	// channel is closed. A slow reader may lose messages.
	Subscribe(ctx context.Context, channel string) (<-chan []byte, error)
}

// StreamMessage is one entry of a durable stream.
type StreamMessage struct {
	ID      string
	Payload []byte
}

// Streams is an at-least-once queue with consumer groups (Redis Streams semantics).
type Streams interface {
	StreamAdd(ctx context.Context, stream string, payload []byte) (id string, err error)
	// StreamAddBatch adds payloads in order in one round trip (a webhook's batch of events);
	// on error some may have been added (the caller's retry makes duplicates, deduplicated
	// downstream).
	StreamAddBatch(ctx context.Context, stream string, payloads [][]byte) (ids []string, err error)
	// StreamRead returns up to count new messages for consumer in group (creating the group if
	// needed, from the start of the stream), waiting up to block when there are none (block <= 0:
	// no wait). Messages stay pending for the group until StreamAck.
	StreamRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]StreamMessage, error)
	StreamAck(ctx context.Context, stream, group string, ids ...string) error
	// StreamClaim takes over messages pending longer than minIdle in group (a dead consumer's),
	// oldest first; claiming resets their idle time.
	StreamClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]StreamMessage, error)
}

// Doc is a versioned JSON document in a collection (conversations, agents, notifications...).
type Doc struct {
	ID      string
	Data    []byte
	Version int64
}

// Docs is a small document store with compare-and-set, for the later domain types.
type Docs interface {
	// PutDoc writes data if the current version equals version (0 = must not exist) and returns
	// the new version; ErrConflict otherwise. ttl 0 keeps it forever.
	PutDoc(ctx context.Context, coll, id string, data []byte, version int64, ttl time.Duration) (int64, error)
	GetDoc(ctx context.Context, coll, id string) (Doc, error)
	DeleteDoc(ctx context.Context, coll, id string) error
	// ListDocs returns the collection's live documents ordered by ID.
	ListDocs(ctx context.Context, coll string) ([]Doc, error)
}

// Counters are integer fields grouped under a key (a Redis hash), added to atomically by every
// instance: the statistics' daily aggregates.
type Counters interface {
	// IncrCounters adds each delta to its field of key and keeps key for ttl from now (0 =
	// forever). An empty deltas map does nothing.
	IncrCounters(ctx context.Context, key string, deltas map[string]int64, ttl time.Duration) error
	// GetCounters returns key's fields; an empty map when key does not exist.
	GetCounters(ctx context.Context, key string) (map[string]int64, error)
}
