// Package redisstore is store.Store on Redis (go-redis/v9 UniversalClient: a single node, Sentinel
// or Cluster), shared by every deflectd instance.
//
// Cluster safety: every Lua script and MULTI touches either one key or keys sharing a hash tag
// ({sidx} for the session indexes, {<collection>} for a document collection). The key prefix
// must therefore not contain '{'. Session secondary indexes are written after the session itself
// and are only hints: readers re-check the session and drop stale entries.
//
// Every backend failure is wrapped so that errors.Is(err, store.ErrUnavailable) holds.
package redisstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
)

var _ store.Store = (*Redis)(nil)

const (
	// StreamMaxLen caps each stream (XADD MAXLEN ~): old entries go, acked or not.
	StreamMaxLen = 100_000
	// MaxOffers caps the offers kept per number.
	MaxOffers = 1000

	maxUpdateAttempts = 100
	listBatch         = 100
	defaultListLimit  = 100
)

// Redis is a store.Store on a Redis deployment.
type Redis struct {
	c         redis.UniversalClient
	p         string // key prefix
	ownClient bool
}

// New connects per cfg: Addrs (several = Cluster, or Sentinel with MasterName) win over URL (a
// single node; redis://, rediss:// or unix://). It does not contact Redis; use Ping.
func New(cfg configs.RedisConfig) (*Redis, error) {
	var c redis.UniversalClient
	if len(cfg.Addrs) > 0 {
		c = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:                 cfg.Addrs,
			MasterName:            cfg.MasterName,
			Password:              cfg.Password.Reveal(),
			DialTimeout:           cfg.DialTimeout,
			ReadTimeout:           cfg.ReadTimeout,
			WriteTimeout:          cfg.WriteTimeout,
			PoolSize:              cfg.PoolSize,
			MaxRetries:            1,
			DialerRetries:         1,
			ContextTimeoutEnabled: true,
		})
	} else if isFailoverURL(cfg.URL) {
		o, err := redis.ParseFailoverURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("parse store.redis.url (Sentinel form): %w", err)
		}
		if cfg.Password.IsSet() {
			o.Password = cfg.Password.Reveal()
		}
		o.DialTimeout = cmp.Or(cfg.DialTimeout, o.DialTimeout)
		o.ReadTimeout = cmp.Or(cfg.ReadTimeout, o.ReadTimeout)
		o.WriteTimeout = cmp.Or(cfg.WriteTimeout, o.WriteTimeout)
		o.PoolSize = cmp.Or(cfg.PoolSize, o.PoolSize)
		o.MaxRetries, o.DialerRetries, o.ContextTimeoutEnabled = 1, 1, true
		c = redis.NewFailoverClient(o)
	} else {
		o, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("parse store.redis.url: %w", err)
		}
		if cfg.Password.IsSet() {
			o.Password = cfg.Password.Reveal()
		}
		if cfg.DialTimeout > 0 {
			o.DialTimeout = cfg.DialTimeout
		}
		if cfg.ReadTimeout > 0 {
			o.ReadTimeout = cfg.ReadTimeout
		}
		if cfg.WriteTimeout > 0 {
			o.WriteTimeout = cfg.WriteTimeout
		}
		if cfg.PoolSize > 0 {
			o.PoolSize = cfg.PoolSize
		}
		// Fail fast when Redis is down: one retry covers a pooled connection that died with
		// a Redis restart; more only delays the ErrUnavailable callers act on.
		o.MaxRetries = 1
		o.DialerRetries = 1
		o.ContextTimeoutEnabled = true
		c = redis.NewClient(o)
	}
	if strings.Contains(cfg.KeyPrefix, "{") {
		c.Close()
		return nil, errors.New("store.redis.key_prefix must not contain '{' (it would break Cluster hash tags)")
	}
	r := NewFromClient(c, cfg.KeyPrefix)
	r.ownClient = true
	return r, nil
}

// isFailoverURL: a Sentinel URL names the master to ask the Sentinels for
// (redis://sentinel:26379?master_name=mymaster&addr=sentinel2:26379), which go-redis's
// ParseFailoverURL reads and ParseURL refuses.
func isFailoverURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Query().Get("master_name") != ""
}

// NewFromClient uses an existing client; Close does not close it.
func NewFromClient(c redis.UniversalClient, prefix string) *Redis {
	return &Redis{c: c, p: prefix}
}

// Client exposes the underlying client (for metrics hooks and tests).
func (r *Redis) Client() redis.UniversalClient { return r.c }

func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return unavailable("ping redis", err)
	}
	return nil
}

func (r *Redis) Close() error {
	if !r.ownClient {
		return nil
	}
	if err := r.c.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("close redis client: %w", err)
	}
	return nil
}

// unavailable wraps a backend error: both ErrUnavailable and the cause stay visible to errors.Is.
func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, store.ErrUnavailable, err)
}

// --- keys ---

func (r *Redis) sessionKey(id string) string    { return r.p + "s:" + id }
func (r *Redis) messageKey(msg string) string   { return r.p + "sm:" + msg }
func (r *Redis) callerKey(e164 string) string   { return r.p + "sc:" + e164 }
func (r *Redis) createdKey() string             { return r.p + "{sidx}:c" }
func (r *Redis) expiresKey() string             { return r.p + "{sidx}:e" }
func (r *Redis) onceKey(k string) string        { return r.p + "o:" + k }
func (r *Redis) offersKey(e164 string) string   { return r.p + "of:" + e164 }
func (r *Redis) optKey(e164 string) string      { return r.p + "opt:" + e164 }
func (r *Redis) presenceKey(e164 string) string { return r.p + "pr:" + e164 }
func (r *Redis) bucketKey(k string) string      { return r.p + "lim:" + k }
func (r *Redis) channelKey(ch string) string    { return r.p + "ev:" + ch }
func (r *Redis) streamKey(s string) string      { return r.p + "st:" + s }
func (r *Redis) docIndexKey(coll string) string { return r.p + "d:{" + coll + "}" }
func (r *Redis) docKey(coll, id string) string  { return r.p + "d:{" + coll + "}:" + id }

// --- scripts ---

// casScript writes hash {v, d, t} at KEYS[1] if its version v equals ARGV[1] (0 = must not
// exist), bumps v and sets the expiry (ARGV[3] "at" = PEXPIREAT ARGV[4], "px" = PEXPIRE
// ARGV[4], else none). With KEYS[2] it also adds ARGV[5] to that set (same hash tag).
// ARGV[6] is a random token stored as t: when a reply is lost and the client re-sends the
// script, the token shows the write already happened and it succeeds instead of conflicting
// (otherwise UpdateSession would apply fn twice).
// Returns the new version, -1 if the key is missing, -2 on a version mismatch.
var casScript = redis.NewScript(`
local cur = redis.call('HMGET', KEYS[1], 'v', 't')
local v = cur[1]
local want = tonumber(ARGV[1])
if v and cur[2] == ARGV[6] and tonumber(v) == want + 1 then
  return want + 1
end
if want == 0 then
  if v then return -2 end
elseif not v then
  return -1
elseif tonumber(v) ~= want then
  return -2
end
local nv = want + 1
redis.call('HSET', KEYS[1], 'v', tostring(nv), 'd', ARGV[2], 't', ARGV[6])
if ARGV[3] == 'at' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[4])
elseif ARGV[3] == 'px' then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
else
  redis.call('PERSIST', KEYS[1])
end
if #KEYS > 1 then redis.call('SADD', KEYS[2], ARGV[5]) end
return nv
`)

// globalIndexScript adds session ARGV[3] to the created-at index KEYS[1] (score ARGV[1]) and the
// expiry index KEYS[2] (score ARGV[2]), then drops up to 100 expired sessions from both.
var globalIndexScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('ZREM', KEYS[2], unpack(dead))
end
return #dead
`)

// callerIndexScript adds session ARGV[2] (score ARGV[1]) to one caller's index KEYS[1] and keeps
// the index alive as long as its longest-lived session (ARGV[3] ms since epoch, 0 = forever).
var callerIndexScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local at = tonumber(ARGV[3])
if at == 0 then
  redis.call('PERSIST', KEYS[1])
  return 1
end
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -1 then
  if redis.call('ZCARD', KEYS[1]) == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
else
  redis.call('PEXPIREAT', KEYS[1], ARGV[3], 'GT')
end
return 1
`)

// takeScript is a token bucket in hash KEYS[1] {tk tokens, ts µs}: ARGV[1] tokens/s, ARGV[2]
// burst. Redis's clock is used so that every instance agrees. Returns {ok, wait µs}.
var takeScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local s = redis.call('HMGET', KEYS[1], 'tk', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000000)
local ok, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
else
  wait = math.ceil((1 - tokens) * 1000000 / rate)
end
redis.call('HSET', KEYS[1], 'tk', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {ok, wait}
`)

// cas runs casScript; it returns the new version or -1 (missing) / -2 (mismatch).
func (r *Redis) cas(ctx context.Context, keys []string, want int64, data []byte, mode string, ms int64, member string) (int64, error) {
	return casScript.Run(ctx, r.c, keys, want, data, mode, ms, member, token()).Int64()
}

// token is a random write id for casScript.
func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// --- sessions ---

func expiryArgs(at time.Time) (mode string, ms int64) {
	if at.IsZero() {
		return "", 0
	}
	return "at", at.UnixMilli()
}

func (r *Redis) CreateSession(ctx context.Context, s *store.Session) error {
	if s == nil || s.ID == "" {
		return errors.New("create session: empty id")
	}
	s.Version = 1
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("create session %s: encode: %w", s.ID, err)
	}
	mode, ms := expiryArgs(s.ExpiresAt)
	v, err := r.cas(ctx, []string{r.sessionKey(s.ID)}, 0, data, mode, ms, "")
	if err != nil {
		return unavailable("create session "+s.ID, err)
	}
	if v == -2 {
		return fmt.Errorf("create session %s: %w", s.ID, store.ErrExists)
	}
	return r.writeIndexes(ctx, nil, s)
}

// writeIndexes brings the secondary indexes from old (nil on create) to s.
func (r *Redis) writeIndexes(ctx context.Context, old, s *store.Session) error {
	changed := func(f func(*store.Session) string) bool { return old == nil || f(old) != f(s) }
	timeKey := func(x *store.Session) string {
		return x.CreatedAt.String() + "|" + x.ExpiresAt.String()
	}
	_, expMs := expiryArgs(s.ExpiresAt)
	created := s.CreatedAt.UnixMilli()
	pipe := r.c.Pipeline()
	if changed(timeKey) {
		exp := "+inf"
		if expMs != 0 {
			exp = strconv.FormatInt(expMs, 10)
		}
		globalIndexScript.Eval(ctx, pipe, []string{r.createdKey(), r.expiresKey()}, created, exp, s.ID)
	}
	if s.Caller != "" && (changed(timeKey) || changed(func(x *store.Session) string { return x.Caller })) {
		callerIndexScript.Eval(ctx, pipe, []string{r.callerKey(s.Caller)}, created, s.ID, expMs)
	}
	if old != nil && old.Caller != "" && old.Caller != s.Caller {
		pipe.ZRem(ctx, r.callerKey(old.Caller), s.ID)
	}
	if s.WAMessageID != "" && (changed(timeKey) || changed(func(x *store.Session) string { return x.WAMessageID })) {
		if s.ExpiresAt.IsZero() {
			pipe.Set(ctx, r.messageKey(s.WAMessageID), s.ID, 0)
		} else {
			pipe.SetArgs(ctx, r.messageKey(s.WAMessageID), s.ID, redis.SetArgs{ExpireAt: s.ExpiresAt})
		}
	}
	if old != nil && old.WAMessageID != "" && old.WAMessageID != s.WAMessageID {
		pipe.Del(ctx, r.messageKey(old.WAMessageID))
	}
	if pipe.Len() == 0 {
		return nil
	}
	// EVAL, not EVALSHA: inside a pipeline go-redis cannot fall back on NOSCRIPT.
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable("index session "+s.ID, err)
	}
	return nil
}

// getSession reads a session; (nil, nil) when missing.
func (r *Redis) getSession(ctx context.Context, id string) (*store.Session, error) {
	vals, err := r.c.HMGet(ctx, r.sessionKey(id), "v", "d").Result()
	if err != nil {
		return nil, unavailable("get session "+id, err)
	}
	return decodeSession(id, vals)
}

func decodeSession(id string, vals []any) (*store.Session, error) {
	vs, ok1 := vals[0].(string)
	d, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return nil, nil
	}
	var s store.Session
	if err := json.Unmarshal([]byte(d), &s); err != nil {
		return nil, fmt.Errorf("decode session %s: %w", id, err)
	}
	v, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("decode session %s version: %w", id, err)
	}
	s.Version = v
	return &s, nil
}

func (r *Redis) GetSession(ctx context.Context, id string) (*store.Session, error) {
	s, err := r.getSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("get session %s: %w", id, store.ErrNotFound)
	}
	return s, nil
}

func (r *Redis) UpdateSession(ctx context.Context, id string, fn func(*store.Session) error) (*store.Session, error) {
	for attempt := range maxUpdateAttempts {
		old, err := r.GetSession(ctx, id)
		if err != nil {
			return nil, fmt.Errorf("update session: %w", err)
		}
		s := cloneForUpdate(old)
		if err := fn(s); err != nil {
			return nil, err
		}
		s.ID, s.Version = id, old.Version+1
		data, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("update session %s: encode: %w", id, err)
		}
		mode, ms := expiryArgs(s.ExpiresAt)
		v, err := r.cas(ctx, []string{r.sessionKey(id)}, old.Version, data, mode, ms, "")
		switch {
		case err != nil:
			return nil, unavailable("update session "+id, err)
		case v == -1:
			return nil, fmt.Errorf("update session %s: %w", id, store.ErrNotFound)
		case v == -2:
			// Lost the race: back off a little, with jitter, so racers spread out.
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return nil, unavailable("update session "+id, err)
			}
			continue
		}
		return s, r.writeIndexes(ctx, old, s)
	}
	return nil, fmt.Errorf("update session %s: %w", id, store.ErrConflict)
}

// cloneForUpdate gives fn a copy so that old stays intact for the index diff.
func cloneForUpdate(s *store.Session) *store.Session {
	c := *s
	c.Context = cloneMap(s.Context)
	c.Steps = cloneMap(s.Steps)
	c.IVRPath = slices.Clone(s.IVRPath)
	return &c
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func backoff(attempt int) time.Duration {
	ceil := time.Duration(min(attempt+1, 20)) * time.Millisecond
	return time.Duration(mrand.Int64N(int64(ceil)))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Redis) FindSessionByMessage(ctx context.Context, msgID string) (*store.Session, error) {
	id, err := r.c.Get(ctx, r.messageKey(msgID)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("find session by message: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("find session by message", err)
	}
	s, err := r.getSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if s == nil || s.WAMessageID != msgID { // stale pointer
		return nil, fmt.Errorf("find session by message: %w", store.ErrNotFound)
	}
	return s, nil
}

// ListSessions walks the created-at index (or the caller's) newest first, re-checking every
// session against the filter; index entries of sessions that have gone are removed.
func (r *Redis) ListSessions(ctx context.Context, f store.SessionFilter) ([]*store.Session, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultListLimit
	}
	key := r.createdKey()
	if f.Caller != "" {
		key = r.callerKey(f.Caller)
	}
	// Scores are UnixMilli (floor), so these bounds are inclusive supersets; MatchFilter is exact.
	rng := &redis.ZRangeBy{Min: "-inf", Max: "+inf", Count: listBatch}
	if !f.Since.IsZero() {
		rng.Min = strconv.FormatInt(f.Since.UnixMilli(), 10)
	}
	if !f.Until.IsZero() {
		rng.Max = strconv.FormatInt(f.Until.UnixMilli(), 10)
	}
	var out []*store.Session
	var stale []any
	for len(out) < limit {
		ids, err := r.c.ZRevRangeByScore(ctx, key, rng).Result()
		if err != nil {
			return nil, unavailable("list sessions", err)
		}
		if len(ids) == 0 {
			break
		}
		rng.Offset += int64(len(ids))
		pipe := r.c.Pipeline()
		cmds := make([]*redis.SliceCmd, len(ids))
		for i, id := range ids {
			cmds[i] = pipe.HMGet(ctx, r.sessionKey(id), "v", "d")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, unavailable("list sessions", err)
		}
		for i, cmd := range cmds {
			s, err := decodeSession(ids[i], cmd.Val())
			if err != nil {
				return nil, err
			}
			if s == nil || (s.Caller != f.Caller && f.Caller != "") {
				stale = append(stale, ids[i])
				continue
			}
			if store.MatchFilter(s, f) {
				out = append(out, s)
			}
		}
		if len(ids) < listBatch {
			break
		}
	}
	if len(stale) > 0 {
		// Best effort: a failure here leaves hints that the next listing skips again.
		_ = r.c.ZRem(ctx, key, stale...).Err()
	}
	store.SortNewestFirst(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// --- once ---

func (r *Redis) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, fmt.Errorf("set once %q: ttl must be positive", key)
	}
	first, err := r.c.SetNX(ctx, r.onceKey(key), 1, ttl).Result()
	if err != nil {
		return false, unavailable("set once", err)
	}
	return first, nil
}

// --- offers ---

// RecordOffer keeps offers in a sorted set scored by UnixMilli; the member carries the exact
// UnixNano plus a random suffix so two offers at one instant are both kept.
func (r *Redis) RecordOffer(ctx context.Context, e164 string, at time.Time, keep time.Duration) error {
	if keep <= 0 {
		return errors.New("record offer: keep must be positive")
	}
	key := r.offersKey(e164)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, key, redis.Z{Score: float64(at.UnixMilli()), Member: strconv.FormatInt(at.UnixNano(), 10) + ":" + token()})
		p.ZRemRangeByScore(ctx, key, "-inf", "("+strconv.FormatInt(at.Add(-keep).UnixMilli(), 10))
		p.ZRemRangeByRank(ctx, key, 0, -MaxOffers-1)
		p.PExpire(ctx, key, keep)
		return nil
	})
	if err != nil {
		return unavailable("record offer", err)
	}
	return nil
}

func (r *Redis) OffersSince(ctx context.Context, e164 string, since time.Time) ([]time.Time, error) {
	min := "-inf"
	if !since.IsZero() {
		min = strconv.FormatInt(since.UnixMilli(), 10)
	}
	members, err := r.c.ZRangeByScore(ctx, r.offersKey(e164), &redis.ZRangeBy{Min: min, Max: "+inf"}).Result()
	if err != nil {
		return nil, unavailable("offers since", err)
	}
	var out []time.Time
	for _, m := range members {
		ns, _, _ := strings.Cut(m, ":")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			continue // not ours
		}
		if t := time.Unix(0, n); !t.Before(since) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return out, nil
}

// --- opt-outs ---

func (r *Redis) SetOpt(ctx context.Context, rec store.OptRecord) error {
	if rec.E164 == "" {
		return errors.New("set opt: empty number")
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("set opt: encode: %w", err)
	}
	if err := r.c.Set(ctx, r.optKey(rec.E164), data, 0).Err(); err != nil {
		return unavailable("set opt", err)
	}
	return nil
}

func (r *Redis) GetOpt(ctx context.Context, e164 string) (store.OptRecord, error) {
	var rec store.OptRecord
	err := r.getJSON(ctx, r.optKey(e164), &rec)
	if err != nil {
		return store.OptRecord{}, fmt.Errorf("get opt: %w", err)
	}
	return rec, nil
}

// getJSON decodes the string at key; store.ErrNotFound when it is missing.
func (r *Redis) getJSON(ctx context.Context, key string, v any) error {
	b, err := r.c.Get(ctx, key).Bytes()
	if errors.Is(err, redis.Nil) {
		return store.ErrNotFound
	}
	if err != nil {
		return unavailable("get", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// --- presence ---

func (r *Redis) SetPresence(ctx context.Context, f store.PresenceFact) error {
	if f.E164 == "" {
		return errors.New("set presence: empty number")
	}
	key := r.presenceKey(f.E164)
	var err error
	switch {
	case f.Expires.IsZero():
		err = r.setJSON(ctx, key, f, redis.SetArgs{})
	case !time.Now().Before(f.Expires):
		err = r.c.Del(ctx, key).Err()
	default:
		err = r.setJSON(ctx, key, f, redis.SetArgs{ExpireAt: f.Expires})
	}
	if err != nil {
		return unavailable("set presence", err)
	}
	return nil
}

func (r *Redis) setJSON(ctx context.Context, key string, v any, a redis.SetArgs) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.c.SetArgs(ctx, key, data, a).Err()
}

func (r *Redis) GetPresence(ctx context.Context, e164 string) (store.PresenceFact, error) {
	var f store.PresenceFact
	if err := r.getJSON(ctx, r.presenceKey(e164), &f); err != nil {
		return store.PresenceFact{}, fmt.Errorf("get presence: %w", err)
	}
	if !f.Expires.IsZero() && !time.Now().Before(f.Expires) {
		return store.PresenceFact{}, fmt.Errorf("get presence: %w", store.ErrNotFound)
	}
	return f, nil
}

func (r *Redis) DeletePresence(ctx context.Context, e164 string) error {
	if err := r.c.Del(ctx, r.presenceKey(e164)).Err(); err != nil {
		return unavailable("delete presence", err)
	}
	return nil
}

// --- limiter ---

func (r *Redis) Take(ctx context.Context, key string, rate float64, burst int) (bool, time.Duration, error) {
	if rate <= 0 || burst < 1 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return false, 0, fmt.Errorf("take %q: rate must be > 0 and burst >= 1 (got %v, %d)", key, rate, burst)
	}
	res, err := takeScript.Run(ctx, r.c, []string{r.bucketKey(key)}, strconv.FormatFloat(rate, 'g', -1, 64), burst).Int64Slice()
	if err != nil {
		return false, 0, unavailable("take token", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("take token: unexpected reply %v", res)
	}
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// --- events ---

func (r *Redis) Publish(ctx context.Context, channel string, payload []byte) error {
	if err := r.c.Publish(ctx, r.channelKey(channel), payload).Err(); err != nil {
		return unavailable("publish", err)
	}
	return nil
}

// Subscribe returns once Redis has confirmed the subscription. The channel closes when ctx ends.
// go-redis re-subscribes after a connection loss; messages published meanwhile are lost, as
// Events is fire-and-forget.
func (r *Redis) Subscribe(ctx context.Context, channel string) (<-chan []byte, error) {
	ps := r.c.Subscribe(ctx, r.channelKey(channel))
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, unavailable("subscribe", err)
	}
	in := ps.Channel()
	out := make(chan []byte, 64)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- []byte(m.Payload):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// --- streams ---

const payloadField = "p"

func (r *Redis) StreamAdd(ctx context.Context, stream string, payload []byte) (string, error) {
	id, err := r.c.XAdd(ctx, &redis.XAddArgs{
		Stream: r.streamKey(stream),
		MaxLen: StreamMaxLen,
		Approx: true,
		Values: []any{payloadField, payload},
	}).Result()
	if err != nil {
		return "", unavailable("stream add", err)
	}
	return id, nil
}

// StreamAddBatch pipelines one XADD per payload: one round trip for a webhook's batch.
func (r *Redis) StreamAddBatch(ctx context.Context, stream string, payloads [][]byte) ([]string, error) {
	if len(payloads) == 0 {
		return nil, nil
	}
	cmds, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, payload := range payloads {
			p.XAdd(ctx, &redis.XAddArgs{Stream: r.streamKey(stream), MaxLen: StreamMaxLen, Approx: true, Values: []any{payloadField, payload}})
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("stream add batch", err)
	}
	ids := make([]string, 0, len(cmds))
	for _, c := range cmds {
		ids = append(ids, c.(*redis.StringCmd).Val())
	}
	return ids, nil
}

// StreamRead reads new entries for the group; a group is created on first use from the start of
// the stream, so entries added before any reader existed are still delivered.
func (r *Redis) StreamRead(ctx context.Context, stream, group, consumer string, count int, block time.Duration) ([]store.StreamMessage, error) {
	if count <= 0 {
		count = 1
	}
	args := &redis.XReadGroupArgs{
		Group:    group,
		Consumer: consumer,
		Streams:  []string{r.streamKey(stream), ">"},
		Count:    int64(count),
		Block:    -1, // go-redis: negative = no BLOCK; 0 would block forever
	}
	if block > 0 {
		args.Block = max(block, time.Millisecond)
	}
	res, err := r.c.XReadGroup(ctx, args).Result()
	if isNoGroup(err) {
		if err := r.createGroup(ctx, stream, group); err != nil {
			return nil, err
		}
		res, err = r.c.XReadGroup(ctx, args).Result()
	}
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("stream read", err)
	}
	var out []store.StreamMessage
	for _, s := range res {
		out = append(out, messages(s.Messages)...)
	}
	return out, nil
}

func (r *Redis) createGroup(ctx context.Context, stream, group string) error {
	err := r.c.XGroupCreateMkStream(ctx, r.streamKey(stream), group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return unavailable("create stream group", err)
	}
	return nil
}

func isNoGroup(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOGROUP") }

func messages(in []redis.XMessage) []store.StreamMessage {
	out := make([]store.StreamMessage, 0, len(in))
	for _, m := range in {
		p, _ := m.Values[payloadField].(string)
		out = append(out, store.StreamMessage{ID: m.ID, Payload: []byte(p)})
	}
	return out
}

func (r *Redis) StreamAck(ctx context.Context, stream, group string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	err := r.c.XAck(ctx, r.streamKey(stream), group, ids...).Err()
	if err != nil && !isNoGroup(err) {
		return unavailable("stream ack", err)
	}
	return nil
}

func (r *Redis) StreamClaim(ctx context.Context, stream, group, consumer string, minIdle time.Duration, count int) ([]store.StreamMessage, error) {
	if count <= 0 {
		count = 1
	}
	msgs, _, err := r.c.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream:   r.streamKey(stream),
		Group:    group,
		Consumer: consumer,
		MinIdle:  minIdle,
		Start:    "0-0",
		Count:    int64(count),
	}).Result()
	if isNoGroup(err) {
		return nil, nil // no group (or no stream): nothing is pending
	}
	if err != nil {
		return nil, unavailable("stream claim", err)
	}
	return messages(msgs), nil
}

// --- docs ---

func (r *Redis) PutDoc(ctx context.Context, coll, id string, data []byte, version int64, ttl time.Duration) (int64, error) {
	if coll == "" || id == "" {
		return 0, errors.New("put doc: empty collection or id")
	}
	if version < 0 {
		return 0, fmt.Errorf("put doc %s/%s: negative version: %w", coll, id, store.ErrConflict)
	}
	mode, ms := "", int64(0)
	if ttl > 0 {
		mode, ms = "px", max(ttl.Milliseconds(), 1)
	}
	v, err := r.cas(ctx, []string{r.docKey(coll, id), r.docIndexKey(coll)}, version, data, mode, ms, id)
	if err != nil {
		return 0, unavailable("put doc", err)
	}
	if v < 0 {
		return 0, fmt.Errorf("put doc %s/%s at version %d: %w", coll, id, version, store.ErrConflict)
	}
	return v, nil
}

func (r *Redis) GetDoc(ctx context.Context, coll, id string) (store.Doc, error) {
	vals, err := r.c.HMGet(ctx, r.docKey(coll, id), "v", "d").Result()
	if err != nil {
		return store.Doc{}, unavailable("get doc", err)
	}
	d, ok := decodeDoc(id, vals)
	if !ok {
		return store.Doc{}, fmt.Errorf("get doc %s/%s: %w", coll, id, store.ErrNotFound)
	}
	return d, nil
}

func decodeDoc(id string, vals []any) (store.Doc, bool) {
	vs, ok1 := vals[0].(string)
	d, ok2 := vals[1].(string)
	if !ok1 || !ok2 {
		return store.Doc{}, false
	}
	v, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		return store.Doc{}, false
	}
	return store.Doc{ID: id, Data: []byte(d), Version: v}, true
}

func (r *Redis) DeleteDoc(ctx context.Context, coll, id string) error {
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, r.docKey(coll, id))
		p.SRem(ctx, r.docIndexKey(coll), id)
		return nil
	})
	if err != nil {
		return unavailable("delete doc", err)
	}
	return nil
}

// ListDocs returns the collection's live documents ordered by id; ids of expired documents are
// dropped from the collection's index on the way.
func (r *Redis) ListDocs(ctx context.Context, coll string) ([]store.Doc, error) {
	ids, err := r.c.SMembers(ctx, r.docIndexKey(coll)).Result()
	if err != nil {
		return nil, unavailable("list docs", err)
	}
	slices.Sort(ids)
	out := make([]store.Doc, 0, len(ids))
	var stale []any
	for chunk := range slices.Chunk(ids, listBatch) {
		pipe := r.c.Pipeline()
		cmds := make([]*redis.SliceCmd, len(chunk))
		for i, id := range chunk {
			cmds[i] = pipe.HMGet(ctx, r.docKey(coll, id), "v", "d")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, unavailable("list docs", err)
		}
		for i, cmd := range cmds {
			if d, ok := decodeDoc(chunk[i], cmd.Val()); ok {
				out = append(out, d)
			} else {
				stale = append(stale, chunk[i])
			}
		}
	}
	if len(stale) > 0 {
		_ = r.c.SRem(ctx, r.docIndexKey(coll), stale...).Err() // best effort
	}
	return out, nil
}

// --- counters ---

func (r *Redis) countersKey(key string) string { return r.p + "counters:" + key }

// IncrCounters adds the deltas with HINCRBY and sets the expiry in one MULTI, so a crash
// between them cannot leave a hash that never expires.
func (r *Redis) IncrCounters(ctx context.Context, key string, deltas map[string]int64, ttl time.Duration) error {
	if len(deltas) == 0 {
		return nil
	}
	k := r.countersKey(key)
	_, err := r.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for f, d := range deltas {
			p.HIncrBy(ctx, k, f, d)
		}
		if ttl > 0 {
			p.PExpire(ctx, k, ttl)
		} else {
			p.Persist(ctx, k)
		}
		return nil
	})
	if err != nil {
		return unavailable("incr counters", err)
	}
	return nil
}

func (r *Redis) GetCounters(ctx context.Context, key string) (map[string]int64, error) {
	vals, err := r.c.HGetAll(ctx, r.countersKey(key)).Result()
	if err != nil {
		return nil, unavailable("get counters", err)
	}
	out := make(map[string]int64, len(vals))
	for f, v := range vals {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("get counters %s: field %s is %q, not a number", key, f, v)
		}
		out[f] = n
	}
	return out, nil
}
