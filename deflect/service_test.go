package deflect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/deflect/store/memstore"
	"github.com/deflectd/deflectd/deploy/testkit"
	"github.com/deflectd/deflectd/ivr"
	"github.com/deflectd/deflectd/lookup"
)

// fakeSender stands in for the WhatsApp client in unit tests (the end-to-end tests use the real
// client against the sandbox). send decides what happens to each message.
type fakeSender struct {
	mu   sync.Mutex
	got  []Template
	n    atomic.Int64
	send func(ctx context.Context, t Template, id string) (Sent, error)
}

func (f *fakeSender) SendTemplate(ctx context.Context, t Template) (Sent, error) {
	f.mu.Lock()
	f.got = append(f.got, t)
	f.mu.Unlock()
	id := fmt.Sprintf("wamid.TEST%d", f.n.Add(1))
	if f.send != nil {
		return f.send(ctx, t, id)
	}
	return Sent{MessageID: id, WAID: strings.TrimPrefix(t.To, "+")}, nil
}

func (f *fakeSender) sent() []Template {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Template(nil), f.got...)
}

type staticPresence map[string]lookup.Status

func (p staticPresence) Status(_ context.Context, e164 string) (lookup.Answer, error) {
	return lookup.Answer{Status: p[e164], Source: "test"}, nil
}

type harness struct {
	svc    *Service
	mem    *memstore.Mem
	sender *fakeSender
	reg    *prometheus.Registry
}

func newHarness(t *testing.T, tweak func(*configs.Config, *Options)) *harness {
	t.Helper()
	cfg := configs.Default()
	cfg.Deflect.ConfirmTimeout = 2 * time.Second
	cfg.Deflect.Template.Params = []string{"{{.Queue}}", "{{.Context.Account}}", "{{.CustomerID}}"}
	mem := memstore.New(memstore.Options{})
	t.Cleanup(func() { mem.Close() })
	h := &harness{mem: mem, sender: &fakeSender{}, reg: prometheus.NewRegistry()}
	o := Options{Config: cfg, Store: mem, Sender: h.sender, Registry: h.reg, Instance: "test"}
	if tweak != nil {
		tweak(&o.Config, &o)
	}
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go svc.Run(ctx)
	deadline := time.Now().Add(2 * time.Second)
	for !svc.Listening() {
		if time.Now().After(deadline) {
			t.Fatal("status hub never subscribed")
		}
		time.Sleep(time.Millisecond)
	}
	return h
}

// deliverAfter makes the fake sender's messages get a status webhook after d (like the sandbox).
func (h *harness) deliverAfter(d time.Duration, status string, code int) {
	h.sender.send = func(_ context.Context, tpl Template, id string) (Sent, error) {
		go func() {
			time.Sleep(d)
			_ = h.svc.OnStatus(context.Background(), StatusUpdate{MessageID: id, Status: status, ErrorCode: code, RecipientID: strings.TrimPrefix(tpl.To, "+")})
		}()
		return Sent{MessageID: id, WAID: strings.TrimPrefix(tpl.To, "+")}, nil
	}
}

func call(number string) *ivr.CallInfo {
	n, err := lookup.Normalize(number, "SA")
	if err != nil {
		n = lookup.Number{Raw: number}
	}
	return &ivr.CallInfo{
		CallID: "call-" + NewSessionID(), CallerRaw: number, Caller: n, Queue: "billing", WaitEstimate: 300,
		CustomerID: "C-42", Language: "ar", Context: map[string]string{"Account": "ACC-7"},
	}
}

func (h *harness) session(t *testing.T, id string) *store.Session {
	t.Helper()
	s, err := h.mem.GetSession(context.Background(), id)
	if err != nil {
		t.Fatalf("get session %s: %v", id, err)
	}
	return s
}

func TestDecideOffersAndRecords(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	d, err := h.svc.Decide(ctx, call("+966501234567"))
	if err != nil || !d.Offer || d.SessionID == "" || d.Language != "ar" {
		t.Fatalf("Decide = %+v, %v; want an offer in ar", d, err)
	}
	s := h.session(t, d.SessionID)
	if s.State != StateOffered || s.Caller != "+966501234567" || s.Queue != "billing" || s.Context["Account"] != "ACC-7" || s.Instance != "test" {
		t.Errorf("session = %+v", s)
	}
	if s.ExpiresAt.Sub(s.CreatedAt) != configs.Default().Deflect.SessionTTL {
		t.Errorf("retention = %v", s.ExpiresAt.Sub(s.CreatedAt))
	}
	if _, ok := s.Steps[StepInvite]; !ok {
		t.Errorf("steps = %v", s.Steps)
	}
	offers, _ := h.mem.OffersSince(ctx, "+966501234567", time.Now().Add(-time.Hour))
	if len(offers) != 1 {
		t.Errorf("offers recorded = %d, want 1", len(offers))
	}
	// The same number again: cooldown, recorded on its own session.
	d2, err := h.svc.Decide(ctx, call("+966501234567"))
	if err != nil || d2.Offer || d2.Reason != ReasonCooldown {
		t.Fatalf("second Decide = %+v, %v; want cooldown", d2, err)
	}
	if s2 := h.session(t, d2.SessionID); s2.Outcome != "ineligible:cooldown" || s2.State != StateEnded {
		t.Errorf("second session outcome = %q state %q", s2.Outcome, s2.State)
	}
	if got := counterValue(t, h.svc.m.decisions.WithLabelValues("ineligible", ReasonCooldown)); got != 1 {
		t.Errorf("cooldown decisions metric = %v", got)
	}
	if got := counterValue(t, h.svc.m.offers); got != 1 {
		t.Errorf("offers metric = %v", got)
	}
}

func TestDecideIneligible(t *testing.T) {
	tests := []struct {
		name   string
		number string
		setup  func(*harness)
		tweak  func(*configs.Config, *Options)
		want   string
	}{
		{name: "landline", number: "+966112345678", want: ReasonNotMobile},
		{name: "invalid", number: "12", want: ReasonInvalidNumber},
		{name: "opted out", number: "+966501234567", setup: func(h *harness) {
			_ = h.mem.SetOpt(context.Background(), store.OptRecord{E164: "+966501234567", OptOut: true, Source: "test", At: time.Now()})
		}, want: ReasonOptedOut},
		{name: "known not on whatsapp", number: "+966501234567", tweak: func(_ *configs.Config, o *Options) {
			o.Presence = staticPresence{"+966501234567": lookup.No}
		}, want: ReasonNotOnWhatsApp},
		{name: "unknown presence skipped", number: "+966501234567", tweak: func(c *configs.Config, _ *Options) {
			c.Deflect.UnknownPresence = "skip"
		}, want: ReasonPresenceUnknown},
		{name: "chat capacity", number: "+966501234567", tweak: func(c *configs.Config, o *Options) {
			c.Deflect.ChatCapacity = 2
			o.Chats = chatCount(2)
		}, want: ReasonChatCapacity},
		{name: "queue never deflected (X-Queue billing)", number: "+966501234567", tweak: func(c *configs.Config, _ *Options) {
			c.Deflect.Queues = map[string]configs.QueueConfig{"Billing": {Skip: true}}
		}, want: ReasonQueue},
		{name: "queue's own min wait (X-Wait-Estimate 300)", number: "+966501234567", tweak: func(c *configs.Config, _ *Options) {
			c.Deflect.Queues = map[string]configs.QueueConfig{"billing": {MinWait: 10 * time.Minute}}
		}, want: ReasonWaitTooShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.tweak)
			if tt.setup != nil {
				tt.setup(h)
			}
			d, err := h.svc.Decide(context.Background(), call(tt.number))
			if err != nil || d.Offer || d.Reason != tt.want {
				t.Fatalf("Decide = %+v, %v; want reason %s", d, err, tt.want)
			}
			if s := h.session(t, d.SessionID); s.Outcome != "ineligible:"+tt.want {
				t.Errorf("outcome = %q", s.Outcome)
			}
		})
	}
}

type chatCount int

func (c chatCount) OpenAgentChats(context.Context) (int, error) { return int(c), nil }

// failingStore fails every call once broken is set: a store that went away.
type failingStore struct {
	*memstore.Mem
	broken atomic.Bool
}

func (f *failingStore) err() error {
	if f.broken.Load() {
		return fmt.Errorf("redis: connection refused: %w", store.ErrUnavailable)
	}
	return nil
}

func (f *failingStore) GetOpt(ctx context.Context, e string) (store.OptRecord, error) {
	if err := f.err(); err != nil {
		return store.OptRecord{}, err
	}
	return f.Mem.GetOpt(ctx, e)
}

func (f *failingStore) CreateSession(ctx context.Context, s *store.Session) error {
	if err := f.err(); err != nil {
		return err
	}
	return f.Mem.CreateSession(ctx, s)
}

func (f *failingStore) UpdateSession(ctx context.Context, id string, fn func(*store.Session) error) (*store.Session, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.Mem.UpdateSession(ctx, id, fn)
}

func TestStoreFailures(t *testing.T) {
	fs := &failingStore{Mem: memstore.New(memstore.Options{})}
	t.Cleanup(func() { fs.Close() })
	h := newHarness(t, func(_ *configs.Config, o *Options) { o.Store = fs })
	ctx := context.Background()

	fs.broken.Store(true)
	if _, err := h.svc.Decide(ctx, call("+966501234567")); err == nil {
		t.Fatal("Decide with the store down: no error, want one (the IVR answers 503)")
	}
	// Static verdicts still answer without the store.
	if d, err := h.svc.Decide(ctx, call("+966112345678")); err != nil || d.Reason != ReasonNotMobile {
		t.Fatalf("landline with store down = %+v, %v", d, err)
	}

	fs.broken.Store(false)
	d, err := h.svc.Decide(ctx, call("+966501234568"))
	if err != nil || !d.Offer {
		t.Fatalf("Decide after recovery = %+v, %v", d, err)
	}
	fs.broken.Store(true)
	r := h.svc.Accept(ctx, d.SessionID)
	if r.Deflected || r.Reason != "store-unavailable" {
		t.Fatalf("Accept with store down = %+v, want failed store-unavailable", r)
	}
	if n := len(h.sender.sent()); n != 0 {
		t.Errorf("sent %d messages with the store down", n)
	}
}

func TestAcceptDeflects(t *testing.T) {
	h := newHarness(t, nil)
	h.deliverAfter(50*time.Millisecond, StatusDelivered, 0)
	ctx := context.Background()
	d, err := h.svc.Decide(ctx, call("+966501234567"))
	if err != nil || !d.Offer {
		t.Fatal(d, err)
	}
	r := h.svc.Accept(ctx, d.SessionID)
	if !r.Deflected {
		t.Fatalf("Accept = %+v, want deflected", r)
	}
	sent := h.sender.sent()
	if len(sent) != 1 {
		t.Fatalf("sent %d templates", len(sent))
	}
	want := Template{
		To: "+966501234567", Name: "call_deflection", Language: "ar",
		BodyParams:         []string{"billing", "ACC-7", "C-42"},
		QuickReplyPayloads: []string{"deflect:" + d.SessionID + ":wa", "deflect:" + d.SessionID + ":agent"},
	}
	if fmt.Sprint(sent[0]) != fmt.Sprint(want) {
		t.Errorf("template = %+v\nwant %+v", sent[0], want)
	}
	h.svc.Finish(ctx, d.SessionID, ivr.Outcome{Result: "deflected", Path: []string{"offer", "1"}})
	s := h.session(t, d.SessionID)
	if s.Outcome != "deflected" || s.State != StateEnded || s.WAMessageID == "" || s.WAStatus != StatusDelivered || len(s.IVRPath) != 2 {
		t.Errorf("session = %+v", s)
	}
	for _, step := range []string{StepAccepted, StepSent, StepConfirmed, StepEnded} {
		if _, ok := s.Steps[step]; !ok {
			t.Errorf("step %s missing: %v", step, s.Steps)
		}
	}
	doc, err := h.mem.GetDoc(ctx, ConversationsCollection, "966501234567")
	if err != nil {
		t.Fatalf("conversation not seeded: %v", err)
	}
	if !strings.Contains(string(doc.Data), `"session_id":"`+d.SessionID) || !strings.Contains(string(doc.Data), `"Account":"ACC-7"`) || !strings.Contains(string(doc.Data), `"state":"bot"`) {
		t.Errorf("conversation = %s", doc.Data)
	}
	// The webhook handler publishes first (the call is waiting) and learns presence after.
	deadline := time.Now().Add(2 * time.Second)
	for {
		p, err := h.mem.GetPresence(ctx, "+966501234567")
		if err == nil && p.Status == "yes" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("presence after delivered = %+v, %v", p, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := counterValue(t, h.svc.m.outcomes.WithLabelValues("deflected", "")); got != 1 {
		t.Errorf("outcome metric = %v", got)
	}
	if n := histogramCount(t, h.svc.m.confirm.WithLabelValues("deflected")); n != 1 {
		t.Errorf("confirmation histogram count = %d", n)
	}
}

// A status may arrive before SendTemplate has returned (Meta is fast, the network slow): the
// hub keeps it for the waiter.
func TestAcceptStatusBeforeSendReturns(t *testing.T) {
	h := newHarness(t, nil)
	h.sender.send = func(_ context.Context, _ Template, id string) (Sent, error) {
		if err := h.svc.OnStatus(context.Background(), StatusUpdate{MessageID: id, Status: StatusSent}); err != nil {
			t.Error(err)
		}
		time.Sleep(50 * time.Millisecond) // let the hub take it before anyone waits
		return Sent{MessageID: id}, nil
	}
	d, _ := h.svc.Decide(context.Background(), call("+966501234567"))
	start := time.Now()
	if r := h.svc.Accept(context.Background(), d.SessionID); !r.Deflected {
		t.Fatalf("Accept = %+v", r)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("Accept took %v: it waited for a status it had already received", el)
	}
}

func TestAcceptFailures(t *testing.T) {
	apiDown := errors.New("connect: connection refused")
	tests := []struct {
		name       string
		tweak      func(*configs.Config, *Options)
		arrange    func(*harness)
		wantReason string
		learnedNo  bool
	}{
		{name: "failed status 131026", arrange: func(h *harness) { h.deliverAfter(20*time.Millisecond, StatusFailed, 131026) }, wantReason: ReasonNotOnWhatsApp, learnedNo: true},
		{name: "send error not on whatsapp", arrange: func(h *harness) {
			h.sender.send = func(context.Context, Template, string) (Sent, error) {
				return Sent{}, &SendError{Reason: ReasonNotOnWhatsApp, Recipient: true, Err: errors.New("131026")}
			}
		}, wantReason: ReasonNotOnWhatsApp, learnedNo: true},
		{name: "api down", arrange: func(h *harness) {
			h.sender.send = func(context.Context, Template, string) (Sent, error) { return Sent{}, apiDown }
		}, wantReason: "api-error"},
		{name: "no status and on_no_status failed", tweak: func(c *configs.Config, _ *Options) {
			c.Deflect.OnNoStatus = "failed"
			c.Deflect.ConfirmTimeout = 200 * time.Millisecond
		}, wantReason: "no-status"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.tweak)
			if tt.arrange != nil {
				tt.arrange(h)
			}
			ctx := context.Background()
			d, _ := h.svc.Decide(ctx, call("+966501234567"))
			r := h.svc.Accept(ctx, d.SessionID)
			if r.Deflected || r.Reason != tt.wantReason {
				t.Fatalf("Accept = %+v, want failed %s", r, tt.wantReason)
			}
			h.svc.Finish(ctx, d.SessionID, ivr.Outcome{Result: "failed", Reason: r.Reason})
			if s := h.session(t, d.SessionID); s.Outcome != "failed:"+tt.wantReason {
				t.Errorf("outcome = %q", s.Outcome)
			}
			// A failed status is learned by OnStatus after it published the status, so the
			// fact may land just after Accept returned.
			deadline := time.Now().Add(2 * time.Second)
			p, err := h.mem.GetPresence(ctx, "+966501234567")
			for tt.learnedNo && (err != nil || p.Status != "no") && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
				p, err = h.mem.GetPresence(ctx, "+966501234567")
			}
			if tt.learnedNo && (err != nil || p.Status != "no") {
				t.Errorf("presence = %+v, %v; want learned no", p, err)
			}
			if !tt.learnedNo && err == nil {
				t.Errorf("presence learned %+v from a non-recipient failure", p)
			}
		})
	}
}

// countingLearner counts Learn calls on the way to a StoreLearner.
type countingLearner struct {
	StoreLearner
	mu sync.Mutex
	n  map[string]int // "+e164 yes|no" → calls
}

func (c *countingLearner) Learn(ctx context.Context, e164 string, yes bool, source string) error {
	c.mu.Lock()
	c.n[fmt.Sprintf("%s %v", e164, yes)]++
	c.mu.Unlock()
	return c.StoreLearner.Learn(ctx, e164, yes, source)
}

func (c *countingLearner) calls(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// A 131026 failed status teaches "no" once (presence_learned_total counts guesses): the webhook
// side learns it, the waiting call does not learn it again.
func TestFailedStatusLearnedOnce(t *testing.T) {
	var learner *countingLearner
	h := newHarness(t, func(c *configs.Config, o *Options) {
		learner = &countingLearner{StoreLearner: StoreLearner{Facts: o.Store.(store.PresenceFacts), YesTTL: time.Hour, NoTTL: time.Hour}, n: map[string]int{}}
		o.Learner = learner
	})
	h.deliverAfter(20*time.Millisecond, StatusFailed, 131026)
	ctx := context.Background()
	d, _ := h.svc.Decide(ctx, call("+966501234567"))
	if r := h.svc.Accept(ctx, d.SessionID); r.Deflected || r.Reason != ReasonNotOnWhatsApp {
		t.Fatalf("Accept = %+v", r)
	}
	h.svc.Finish(ctx, d.SessionID, ivr.Outcome{Result: "failed", Reason: ReasonNotOnWhatsApp})
	deadline := time.Now().Add(2 * time.Second)
	for learner.calls("+966501234567 false") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // room for a second, wrong, Learn
	if n := learner.calls("+966501234567 false"); n != 1 {
		t.Errorf("learned no %d times, want 1", n)
	}
}

func TestAcceptNoStatusTreatedAsSent(t *testing.T) {
	h := newHarness(t, func(c *configs.Config, _ *Options) { c.Deflect.ConfirmTimeout = 200 * time.Millisecond })
	d, _ := h.svc.Decide(context.Background(), call("+966501234567"))
	start := time.Now()
	r := h.svc.Accept(context.Background(), d.SessionID)
	if !r.Deflected {
		t.Fatalf("Accept = %+v; on_no_status sent should deflect", r)
	}
	if el := time.Since(start); el < 150*time.Millisecond || el > time.Second {
		t.Errorf("waited %v, want about the confirm timeout", el)
	}
}

func TestAcceptCallerHangsUp(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	d, _ := h.svc.Decide(ctx, call("+966501234567"))
	time.AfterFunc(100*time.Millisecond, cancel)
	r := h.svc.Accept(ctx, d.SessionID)
	if r.Deflected {
		t.Fatalf("Accept after hang-up = %+v", r)
	}
	h.svc.Finish(ctx, d.SessionID, ivr.Outcome{Result: "abandoned"})
	if s := h.session(t, d.SessionID); s.Outcome != "abandoned" || s.WAMessageID == "" {
		t.Errorf("session = %q %q; the record survives the cancelled context", s.Outcome, s.WAMessageID)
	}
}

func TestBreakerOpensAndMakesIneligible(t *testing.T) {
	h := newHarness(t, func(c *configs.Config, _ *Options) { c.Deflect.Cooldown = 0; c.Deflect.MaxOffersPerDay = 0 })
	h.sender.send = func(context.Context, Template, string) (Sent, error) {
		return Sent{}, &SendError{Reason: "api-error", Err: errors.New("500")}
	}
	ctx := context.Background()
	for i := range 5 {
		d, err := h.svc.Decide(ctx, call("+966501234567"))
		if err != nil || !d.Offer {
			t.Fatalf("Decide %d = %+v, %v", i, d, err)
		}
		if r := h.svc.Accept(ctx, d.SessionID); r.Reason != "api-error" {
			t.Fatalf("Accept %d = %+v", i, r)
		}
	}
	d, err := h.svc.Decide(ctx, call("+966501234567"))
	if err != nil || d.Offer || d.Reason != ReasonWhatsAppUnavailable {
		t.Fatalf("Decide with breaker open = %+v, %v", d, err)
	}
	// Recipient errors do not trip it.
	h2 := newHarness(t, func(c *configs.Config, _ *Options) { c.Deflect.Cooldown = 0; c.Deflect.MaxOffersPerDay = 0 })
	h2.sender.send = func(context.Context, Template, string) (Sent, error) {
		return Sent{}, &SendError{Reason: ReasonNotOnWhatsApp, Recipient: true, Err: errors.New("131026")}
	}
	for range 6 {
		d, _ := h2.svc.Decide(ctx, call("+966501234569"))
		h2.svc.Accept(ctx, d.SessionID)
		_ = h2.mem.DeletePresence(ctx, "+966501234569")
	}
	if !h2.svc.WhatsAppAvailable() {
		t.Error("breaker opened on recipient errors")
	}
}

func TestOnStatusMonotonic(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	d, _ := h.svc.Decide(ctx, call("+966501234567"))
	h.svc.Accept(ctx, d.SessionID) // no status: treated as sent after the timeout
	id := h.session(t, d.SessionID).WAMessageID
	steps := []struct{ status, want string }{
		{StatusRead, StatusRead},
		{StatusDelivered, StatusRead},
		{StatusSent, StatusRead},
		{StatusRead, StatusRead},
		{StatusFailed, StatusFailed},
		{StatusDelivered, StatusFailed},
	}
	for _, st := range steps {
		if err := h.svc.OnStatus(ctx, StatusUpdate{MessageID: id, Status: st.status}); err != nil {
			t.Fatal(err)
		}
		if got := h.session(t, d.SessionID).WAStatus; got != st.want {
			t.Errorf("after %s: status %q, want %q", st.status, got, st.want)
		}
	}
}

func TestOnMessageAttachesToConversation(t *testing.T) {
	h := newHarness(t, func(c *configs.Config, _ *Options) { c.Deflect.ConfirmTimeout = 100 * time.Millisecond })
	ctx := context.Background()
	d, _ := h.svc.Decide(ctx, call("+966501234567"))
	h.svc.Accept(ctx, d.SessionID)
	msgs := []InboundMessage{
		{ID: "wamid.IN1", From: "966501234567", Name: "Sara", Type: "button", Text: "Talk to an agent", Payload: ButtonPayload(d.SessionID, "agent")},
		{ID: "wamid.IN2", From: "966501234567", Type: "text", Text: "my bill is wrong"},
		{ID: "wamid.IN2", From: "966501234567", Type: "text", Text: "my bill is wrong"}, // redelivered
	}
	for _, m := range msgs {
		if err := h.svc.OnMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	doc, err := h.mem.GetDoc(ctx, ConversationsCollection, "966501234567")
	if err != nil {
		t.Fatal(err)
	}
	c := decodeConversation(t, doc.Data)
	if c.State != ConversationAgent || c.SessionID != d.SessionID || c.Name != "Sara" || c.Queue != "billing" {
		t.Errorf("conversation = %+v", c)
	}
	if len(c.Messages) != 3 { // template out + 2 in
		t.Errorf("messages = %+v", c.Messages)
	}

	// A message from someone who never called still gets a conversation, and teaches presence.
	if err := h.svc.OnMessage(ctx, InboundMessage{ID: "wamid.X", From: "447911123456", Type: "text", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if p, err := h.mem.GetPresence(ctx, "+447911123456"); err != nil || p.Status != "yes" {
		t.Errorf("presence from inbound = %+v, %v", p, err)
	}
}

func TestCheckCreatesNothing(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	n, _ := lookup.Normalize("+966501234567", "SA")
	for range 3 {
		e, err := h.svc.Check(ctx, n, "", 120)
		if err != nil || !e.Eligible || e.Language != "ar" {
			t.Fatalf("Check = %+v, %v", e, err)
		}
	}
	if list, _ := h.mem.ListSessions(ctx, store.SessionFilter{}); len(list) != 0 {
		t.Errorf("Check created %d sessions", len(list))
	}
	if offers, _ := h.mem.OffersSince(ctx, n.E164, time.Time{}); len(offers) != 0 {
		t.Errorf("Check recorded %d offers", len(offers))
	}
}

func TestTemplateLanguage(t *testing.T) {
	h := newHarness(t, func(c *configs.Config, _ *Options) {
		c.Deflect.Template.Languages = map[string]string{"en": "en_US", "ar": "ar"}
	})
	for lang, want := range map[string]string{"ar": "ar", "en": "en_US", "en-GB": "en_US", "fr": "en_US", "": "en_US"} {
		if got := h.svc.templateLanguage(lang); got != want {
			t.Errorf("templateLanguage(%q) = %q, want %q", lang, got, want)
		}
	}
}

// Phone numbers never reach the engine's logs, whatever happens to the call.
func TestLogsCarryNoPhoneNumbers(t *testing.T) {
	var buf testkit.Buffer
	h := newHarness(t, func(c *configs.Config, o *Options) {
		c.Deflect.ConfirmTimeout = 100 * time.Millisecond
		o.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	d, _ := h.svc.Decide(ctx, call("+966501234567"))
	h.svc.Accept(ctx, d.SessionID)
	h.svc.Finish(ctx, d.SessionID, ivr.Outcome{Result: "deflected"})
	h.svc.Decide(ctx, call("+966501234567")) // cooldown
	h.svc.Decide(ctx, call("+966112345678")) // landline
	_ = h.svc.OnMessage(ctx, InboundMessage{ID: "m1", From: "966501234567", Type: "text", Text: "hello"})
	_ = h.svc.OnStatus(ctx, StatusUpdate{MessageID: "x", Status: "failed", ErrorCode: 131026, RecipientID: "966501234567"})
	out := buf.String()
	if !strings.Contains(out, "session_id") {
		t.Fatalf("expected some logs, got %q", out)
	}
	for _, digits := range []string{"966501234567", "501234567", "966112345678", "hello"} {
		if strings.Contains(out, digits) {
			t.Errorf("log output contains %q:\n%s", digits, out)
		}
	}
}
