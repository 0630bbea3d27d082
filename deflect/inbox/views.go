package inbox

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/inbox/bot"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp"
)

// SessionGetter reads the call's session for the context the conversation does not copy (the
// wait estimate). The store is one; nil leaves it out.
type SessionGetter interface {
	GetSession(ctx context.Context, id string) (*store.Session, error)
}

// Summary is one conversation in the console's lists, with the call's context.
type Summary struct {
	ID           string            `json:"id"` // wa_id
	Name         string            `json:"name,omitempty"`
	Caller       string            `json:"caller,omitempty"`
	Status       string            `json:"status"`
	Agent        string            `json:"agent,omitempty"`
	Queue        string            `json:"queue,omitempty"`
	WaitEstimate *int              `json:"wait_estimate,omitempty"` // seconds, from the call
	CustomerID   string            `json:"customer_id,omitempty"`
	Language     string            `json:"language,omitempty"`
	IVRPath      []string          `json:"ivr_path,omitempty"`
	Context      map[string]string `json:"context,omitempty"` // every X-Context-<Name> value
	UserToUser   string            `json:"user_to_user,omitempty"`
	SessionID    string            `json:"session_id,omitempty"`
	Position     int               `json:"position,omitempty"` // 1-based place in the waiting queue
	QueuedAt     time.Time         `json:"queued_at,omitzero"`
	AssignedAt   time.Time         `json:"assigned_at,omitzero"`
	LastInbound  time.Time         `json:"last_inbound,omitzero"`
	WindowOpen   bool              `json:"window_open"`
	Disposition  string            `json:"disposition,omitempty"`
	UpdatedAt    time.Time         `json:"updated_at"`
	// Since is when the conversation began (the bot list's "since when").
	Since       time.Time `json:"since,omitzero"`
	LastMessage *Preview  `json:"last_message,omitempty"`
	// Inbound counts the customer's messages kept: a console compares it with what the agent
	// has seen for its unread count.
	Inbound int `json:"inbound"`
}

// View is a conversation with its history.
type View struct {
	Summary
	Messages []deflect.ConversationMessage `json:"messages"`
}

// Lists is what an agent's console shows.
type Lists struct {
	Waiting []Summary `json:"waiting"` // the oldest MaxListed
	// WaitingTotal is the whole queue's length.
	WaitingTotal int       `json:"waiting_total"`
	Mine         []Summary `json:"mine"`
	Others       []Summary `json:"others,omitempty"` // assigned to other agents (admins only)
	// Bot are the conversations the bot is answering (newest first, at most MaxListed):
	// anyone may take one over.
	Bot      []Summary `json:"bot"`
	BotTotal int       `json:"bot_total"`
	Presence string    `json:"presence"`
}

// MaxListed bounds the waiting conversations List returns.
const MaxListed = 100

// List returns the waiting queue and the agent's conversations (admins also see everyone's).
func (s *Service) List(ctx context.Context, agentID string, sessions SessionGetter) (*Lists, error) {
	a, ok := s.Agent(agentID)
	if !ok {
		return nil, ErrNoSuchAgent
	}
	q, err := s.Queue(ctx)
	if err != nil {
		return nil, err
	}
	out := &Lists{Waiting: []Summary{}, Mine: []Summary{}, Presence: PresenceOffline, WaitingTotal: len(q)}
	if len(q) > MaxListed {
		q = q[:MaxListed] // each entry costs store reads; consoles show the head of the queue
	}
	for i, e := range q {
		v, err := s.view(ctx, e.WAID, sessions)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		v.Position = i + 1
		out.Waiting = append(out.Waiting, v.Summary)
	}
	docs, err := s.agentDocs(ctx)
	if err != nil {
		return nil, err
	}
	if d := docs[agentID].doc; d != nil {
		out.Presence = s.presence(d)
	}
	for id, d := range docs {
		if id != agentID && !a.Admin {
			continue
		}
		for waID := range d.doc.Chats {
			v, err := s.view(ctx, waID, sessions)
			if err != nil {
				if isNotFound(err) {
					continue
				}
				return nil, err
			}
			if v.Status != StatusAssigned || v.Agent != id {
				continue // reserved but not (or no longer) assigned
			}
			if id == agentID {
				out.Mine = append(out.Mine, v.Summary)
			} else {
				out.Others = append(out.Others, v.Summary)
			}
		}
	}
	byTime := func(l []Summary) {
		sort.Slice(l, func(i, j int) bool { return l[i].AssignedAt.Before(l[j].AssignedAt) })
	}
	byTime(out.Mine)
	byTime(out.Others)
	if out.Bot, out.BotTotal, err = s.withBot(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// Get returns one conversation with its messages.
func (s *Service) Get(ctx context.Context, waID string, sessions SessionGetter) (*View, error) {
	return s.view(ctx, waID, sessions)
}

func (s *Service) view(ctx context.Context, waID string, sessions SessionGetter) (*View, error) {
	c, err := s.getConversation(ctx, waID)
	if err != nil {
		return nil, err
	}
	v := &View{Summary: s.summaryOf(waID, c), Messages: s.rendered(c.Messages, c.Language)}
	v.Since = c.CreatedAt
	if v.Messages == nil {
		v.Messages = []deflect.ConversationMessage{}
	}
	if r, _, err := s.getRecord(ctx, waID); err == nil {
		v.Status, v.Agent, v.QueuedAt, v.AssignedAt = r.Status, r.Agent, r.QueuedAt, r.AssignedAt
		v.LastInbound, v.WindowOpen, v.Disposition = r.LastInbound, s.WindowOpen(r), r.Disposition
	} else if !isNotFound(err) {
		return nil, err
	}
	if sessions != nil && c.SessionID != "" {
		if sess, err := sessions.GetSession(ctx, c.SessionID); err == nil && sess.WaitEstimate >= 0 {
			w := sess.WaitEstimate
			v.WaitEstimate = &w
		}
	}
	return v, nil
}

// Reply is a message from an agent or an external desk.
type Reply struct {
	Type     string   `json:"type"` // text|template|call_button
	Text     string   `json:"text,omitempty"`
	Buttons  []string `json:"buttons,omitempty"`  // quick replies with a text (at most 3)
	Template string   `json:"template,omitempty"` // template name
	Language string   `json:"language,omitempty"` // template language code; default the conversation's
	Params   []string `json:"params,omitempty"`   // template body parameters
}

// Errors of Send.
var (
	ErrWindowClosed = errors.New("the 24-hour window is closed: only a template can be sent")
	ErrOptedOut     = errors.New("the customer opted out: no templates")
	ErrBadReply     = errors.New("invalid reply")
	ErrSend         = errors.New("WhatsApp refused the message")
)

// Send sends an agent's (or desk's) reply. key, when set, makes the send idempotent (a retried
// request with the same key sends nothing and returns ""). Free-form text needs the 24-hour
// window; templates are refused to numbers that opted out.
func (s *Service) Send(ctx context.Context, by, waID string, r Reply, key string) (string, error) {
	rec, _, err := s.getRecord(ctx, waID)
	if err != nil && !isNotFound(err) {
		return "", err
	}
	if rec == nil {
		// A conversation a call seeded but the customer never answered: window closed.
		if _, err := s.getConversation(ctx, waID); err != nil {
			return "", err
		}
		rec = &Record{WAID: waID}
	}
	if err := s.mayAct(by, rec); err != nil {
		return "", err
	}
	switch r.Type {
	case "", "text":
		if strings.TrimSpace(r.Text) == "" || len(r.Buttons) > 3 {
			return "", fmt.Errorf("%w: text is required, at most 3 quick replies", ErrBadReply)
		}
		if !s.WindowOpen(rec) {
			return "", ErrWindowClosed
		}
	case "call_button":
		if s.calls == nil {
			return "", fmt.Errorf("%w: %w", ErrBadReply, ErrCallsOff)
		}
		if strings.TrimSpace(r.Text) == "" {
			return "", fmt.Errorf("%w: text (the call button's message) is required", ErrBadReply)
		}
		if !s.WindowOpen(rec) {
			return "", ErrWindowClosed
		}
	case "template":
		if r.Template == "" {
			return "", fmt.Errorf("%w: template name is required", ErrBadReply)
		}
		out, err := s.OptedOut(ctx, waID)
		if err != nil {
			return "", err
		}
		if out {
			return "", ErrOptedOut
		}
	default:
		return "", fmt.Errorf("%w: type must be text, template or call_button", ErrBadReply)
	}
	if key != "" {
		first, err := s.st.SetOnce(ctx, "inbox:reply:"+waID+":"+key, 48*time.Hour)
		if err != nil {
			return "", fmt.Errorf("claim reply: %w", err)
		}
		if !first {
			return "", nil
		}
	}
	var res whatsapp.SendResult
	m := deflect.ConversationMessage{Direction: "out", At: s.now(), Payload: "agent:" + by}
	switch {
	case r.Type == "template":
		lang := r.Language
		if lang == "" {
			lang = s.templateLanguage(ctx, waID)
		}
		res, err = s.send.SendTemplate(ctx, waID, whatsapp.Template{Name: r.Template, Language: lang, BodyParams: r.Params})
		m.Type, m.Text, m.Template, m.Params, m.Lang = "template", r.Template, r.Template, r.Params, lang
	case r.Type == "call_button":
		res, m.Text, err = s.sendCallButton(ctx, waID, r.Text)
		m.Type = "interactive"
	case len(r.Buttons) > 0:
		bs := make([]whatsapp.Button, 0, len(r.Buttons))
		for i, t := range r.Buttons {
			bs = append(bs, whatsapp.Button{ID: fmt.Sprintf("agent:%d", i+1), Title: t})
		}
		res, err = s.send.SendButtons(ctx, waID, r.Text, bs)
		m.Type, m.Text = "interactive", withChoices(botActionOf(r))
	default:
		res, err = s.send.SendText(ctx, waID, r.Text, strings.Contains(r.Text, "://"))
		m.Type, m.Text = "text", r.Text
	}
	if err != nil {
		var ae *whatsapp.APIError
		if errors.As(err, &ae) {
			// Meta refused it: the agent sees the message marked failed, with the reason.
			m.Status, m.Error = "failed", messageError([]whatsapp.EventError{{Code: ae.Code, Message: ae.Message}})
			s.recordOutbound(ctx, waID, m)
		}
		if whatsapp.IsWindowClosed(err) {
			return "", ErrWindowClosed
		}
		return "", fmt.Errorf("send reply: %w: %w", ErrSend, err)
	}
	m.ID = res.MessageID
	s.recordOutbound(ctx, waID, m)
	return res.MessageID, nil
}

// templateLanguage maps the conversation language through deflect.template.languages.
func (s *Service) templateLanguage(ctx context.Context, waID string) string {
	lang := s.cfg.IVR.DefaultLanguage
	if c, err := s.getConversation(ctx, waID); err == nil && c.Language != "" {
		lang = c.Language
	}
	if code, ok := s.cfg.Deflect.Template.Languages[lang]; ok {
		return code
	}
	if p, _, ok := strings.Cut(lang, "-"); ok {
		if code, ok := s.cfg.Deflect.Template.Languages[p]; ok {
			return code
		}
		return p
	}
	if lang == "" {
		return "en"
	}
	return lang
}

func botActionOf(r Reply) bot.Action {
	a := bot.Action{Text: r.Text}
	for _, t := range r.Buttons {
		a.Choices = append(a.Choices, bot.Choice{Title: t})
	}
	return a
}
