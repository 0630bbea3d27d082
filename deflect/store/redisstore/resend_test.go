package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/redisstore"
	"github.com/deflectd/deflectd/deflect/store/redistest"
)

// resendHook sends every script call twice, as go-redis does when a reply is lost after the
// server already ran the command.
type resendHook struct{}

func (resendHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (resendHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (resendHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := strings.ToLower(cmd.Name()); name == "evalsha" || name == "eval" {
			_ = next(ctx, cmd)
		}
		return next(ctx, cmd)
	}
}

// TestCASResend: a re-sent write is recognised as already applied, so an update is applied
// once, a create does not report ErrExists and a doc put does not report ErrConflict.
func TestCASResend(t *testing.T) {
	opts, err := redis.ParseURL(redistest.Start(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	c.AddHook(resendHook{})
	r := redisstore.NewFromClient(c, redistest.Prefix(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if err := r.CreateSession(ctx, &store.Session{ID: "x", Context: map[string]string{"n": "0"}, CreatedAt: time.Now()}); err != nil {
		t.Fatalf("CreateSession with a re-sent write: %v", err)
	}
	calls := 0
	s, err := r.UpdateSession(ctx, "x", func(s *store.Session) error { calls++; s.Context["n"] += "1"; return nil })
	if err != nil || calls != 1 || s.Version != 2 || s.Context["n"] != "01" {
		t.Fatalf("UpdateSession with a re-sent write: fn ran %d times, %+v, %v", calls, s, err)
	}
	if v, err := r.PutDoc(ctx, "c", "d", []byte("x"), 0, 0); err != nil || v != 1 {
		t.Fatalf("PutDoc with a re-sent write = %d, %v", v, err)
	}
	if _, err := r.PutDoc(ctx, "c", "d", []byte("y"), 0, 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a genuinely second PutDoc(version 0) = %v, want ErrConflict", err)
	}
}
