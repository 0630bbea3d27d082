package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect/inbox"
	"github.com/deflectd/deflectd/deflect/notify"
	"github.com/deflectd/deflectd/deflect/store"
)

// InboxOptions wires the conversation side of the API: the agent console, the conversation and
// agent endpoints, the external-desk endpoints and batch notifications.
type InboxOptions struct {
	Inbox    *inbox.Service
	Desk     *inbox.Desk         // nil: the dead-letter endpoints list nothing
	Sessions inbox.SessionGetter // for the call's wait estimate; nil leaves it out
	// Templates are the template names the console offers when the 24-hour window is closed.
	Templates []string

	// Notifications: POST /api/v1/notifications. A nil NotifySender answers 503.
	NotifySender notify.Sender
	NotifyStore  notify.Store
	NotifyConfig notify.Config // Languages, DefaultLanguage, Concurrency, Retention, RequireOptIn

	// Heartbeat is the interval of SSE keep-alive comments (default 15 s).
	Heartbeat time.Duration

	// SignIn holds one-time console sign-in links (the embedded default's demo accounts); nil:
	// POST /api/v1/signin knows no code.
	SignIn *SignInLinks
}

// NewWithInbox is New with the inbox routes (RegisterInbox) added to the same router.
func NewWithInbox(o Options, in InboxOptions) http.Handler {
	h := New(o)
	if r, ok := h.(*gin.Engine); ok {
		RegisterInbox(r, o, in)
	}
	return h
}

// RegisterInbox adds /console and the inbox, desk and notification endpoints under /api/v1 to
// r, with the same bearer tokens and body limit as New.
func RegisterInbox(r gin.IRouter, o Options, in InboxOptions) {
	if in.Heartbeat <= 0 {
		in.Heartbeat = 15 * time.Second
	}
	s := newServer(o)
	ib := &inboxAPI{s: s, in: in}

	registerConsole(r)

	v1 := r.Group("/api/v1", s.limitBody)
	agent := s.auth(ScopeAgent)
	v1.POST("/signin", ib.redeemSignIn)
	v1.GET("/agents", agent, ib.needInbox, ib.listAgents)
	v1.GET("/agents/me", agent, ib.needInbox, ib.me)
	v1.PUT("/agents/me/presence", agent, ib.needInbox, ib.setPresence)
	v1.GET("/inbox/templates", agent, ib.needInbox, ib.templates)
	v1.GET("/inbox/events", agent, ib.needInbox, ib.events)
	v1.GET("/inbox/search", agent, ib.needInbox, ib.search)
	v1.GET("/inbox/canned-responses", agent, ib.needInbox, ib.canned)
	v1.GET("/conversations", agent, ib.needInbox, ib.listConversations)
	v1.GET("/conversations/:id", agent, ib.needInbox, ib.getConversation)
	v1.POST("/conversations/:id/messages", agent, ib.needInbox, ib.postMessage)
	v1.POST("/conversations/:id/claim", agent, ib.needInbox, ib.claim)
	v1.POST("/conversations/:id/takeover", agent, ib.needInbox, ib.takeover)
	v1.GET("/conversations/:id/media/:media_id", agent, ib.needInbox, ib.media)
	// Uploads are larger than the API's body limit: this route has its own (inbox.max_media_bytes).
	r.POST("/api/v1/conversations/:id/media", agent, ib.needInbox, ib.uploadMedia)
	v1.POST("/conversations/:id/transfer", agent, ib.needInbox, ib.transfer)
	v1.POST("/conversations/:id/close", agent, ib.needInbox, ib.close)
	v1.GET("/desk/dead-letters", s.auth(ScopeAdmin), ib.deadLetters)
	v1.POST("/desk/dead-letters/:id/replay", s.auth(ScopeAdmin), ib.replay)
	v1.POST("/notifications", s.auth(ScopeAdmin), ib.notifications)
}

type inboxAPI struct {
	s  *server
	in InboxOptions
}

func (ib *inboxAPI) needInbox(c *gin.Context) {
	if ib.in.Inbox == nil {
		fail(c, http.StatusServiceUnavailable, "inbox not available")
		return
	}
	c.Next()
}

// agentID is the signed-in agent: the token's name (the admin token is "admin").
func (ib *inboxAPI) agentID(c *gin.Context) (string, bool) {
	id := c.GetString("token")
	if _, ok := ib.in.Inbox.Agent(id); !ok {
		fail(c, http.StatusForbidden, "this token is not an agent's")
		return "", false
	}
	return id, true
}

// inboxError maps inbox errors to HTTP answers.
func (ib *inboxAPI) inboxError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, inbox.ErrNotYours), errors.Is(err, inbox.ErrNoSuchAgent):
		fail(c, http.StatusForbidden, err.Error())
	case errors.Is(err, inbox.ErrOptedOut):
		fail(c, http.StatusForbidden, err.Error())
	case errors.Is(err, inbox.ErrWindowClosed), errors.Is(err, inbox.ErrTaken), errors.Is(err, inbox.ErrFull),
		errors.Is(err, inbox.ErrBadState), errors.Is(err, inbox.ErrUnavailable):
		fail(c, http.StatusConflict, err.Error())
	case errors.Is(err, inbox.ErrBadReply):
		fail(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		fail(c, http.StatusNotFound, "no such conversation")
	case errors.Is(err, inbox.ErrSend):
		ib.s.log.Warn("send reply failed", "err", err)
		fail(c, http.StatusBadGateway, err.Error())
	default:
		ib.s.storeError(c, err)
	}
}

type meResponse struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Admin    bool   `json:"admin"`
	Presence string `json:"presence"`
	Chats    int    `json:"chats"`
	Max      int    `json:"max"`
	Calls    bool   `json:"calls"` // WhatsApp call buttons can be sent (voice.enabled)
}

func (ib *inboxAPI) me(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	views, err := ib.in.Inbox.Agents(ctx)
	if err != nil {
		ib.inboxError(c, err)
		return
	}
	for _, v := range views {
		if v.ID == id {
			c.JSON(http.StatusOK, meResponse{ID: v.ID, Name: v.Name, Admin: v.Admin, Presence: v.Presence, Chats: v.Chats, Max: v.Max,
				Calls: ib.in.Inbox.CallsEnabled()})
			return
		}
	}
	fail(c, http.StatusForbidden, "this token is not an agent's")
}

func (ib *inboxAPI) listAgents(c *gin.Context) {
	if _, ok := ib.agentID(c); !ok {
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	views, err := ib.in.Inbox.Agents(ctx)
	if err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"agents": views})
}

func (ib *inboxAPI) setPresence(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	var req struct {
		Presence string `json:"presence"`
	}
	if !bindJSON(c, &req) {
		return
	}
	switch req.Presence {
	case inbox.PresenceOnline, inbox.PresenceAway, inbox.PresenceOffline:
	default:
		fail(c, http.StatusBadRequest, "presence must be online, away or offline")
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	if err := ib.in.Inbox.SetPresence(ctx, id, req.Presence); err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"presence": req.Presence})
}

func (ib *inboxAPI) templates(c *gin.Context) {
	t := ib.in.Templates
	if t == nil {
		t = []string{}
	}
	texts := map[string]map[string]string{}
	if ib.in.Inbox != nil {
		texts = ib.in.Inbox.TemplateTexts()
	}
	c.JSON(http.StatusOK, gin.H{"templates": t, "texts": texts})
}

// search finds conversations by number, name or customer id (?q=).
func (ib *inboxAPI) search(c *gin.Context) {
	if _, ok := ib.agentID(c); !ok {
		return
	}
	q := c.Query("q")
	if len([]rune(q)) > 100 {
		fail(c, http.StatusBadRequest, "q is at most 100 characters")
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	res, err := ib.in.Inbox.Search(ctx, q)
	if err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"results": res})
}

// canned lists the ready answers by language (inbox.canned_responses).
func (ib *inboxAPI) canned(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"responses": ib.in.Inbox.CannedResponses()})
}

func (ib *inboxAPI) listConversations(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	l, err := ib.in.Inbox.List(ctx, id, ib.in.Sessions)
	if err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

func (ib *inboxAPI) getConversation(c *gin.Context) {
	if _, ok := ib.agentID(c); !ok {
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	v, err := ib.in.Inbox.Get(ctx, c.Param("id"), ib.in.Sessions)
	if err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// postMessage sends a reply from an agent or an external desk: text (with optional quick
// replies) inside the 24-hour window, or a template. Idempotency-Key makes a retry send nothing.
func (ib *inboxAPI) postMessage(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	var req inbox.Reply
	if !bindJSON(c, &req) {
		return
	}
	// A send may retry against the Graph API: longer than the store-call timeout.
	ctx, cancel := context.WithTimeout(c.Request.Context(), 15*time.Second)
	defer cancel()
	msgID, err := ib.in.Inbox.Send(ctx, id, c.Param("id"), req, c.GetHeader("Idempotency-Key"))
	if err != nil {
		ib.inboxError(c, err)
		return
	}
	if msgID == "" {
		c.JSON(http.StatusOK, gin.H{"duplicate": true})
		return
	}
	c.JSON(http.StatusCreated, gin.H{"message_id": msgID})
}

func (ib *inboxAPI) claim(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	if err := ib.in.Inbox.Claim(ctx, id, c.Param("id")); err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"agent": id})
}

// takeover gives the agent a conversation the bot is answering; the bot stops answering it.
func (ib *inboxAPI) takeover(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	if err := ib.in.Inbox.Takeover(ctx, id, c.Param("id")); err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"agent": id})
}

func (ib *inboxAPI) transfer(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	var req struct {
		To string `json:"to"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.To == "" {
		fail(c, http.StatusBadRequest, `to is required: an agent id or "bot"`)
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	if err := ib.in.Inbox.Transfer(ctx, id, c.Param("id"), req.To); err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"to": req.To})
}

func (ib *inboxAPI) close(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	var req struct {
		Disposition string `json:"disposition"`
	}
	if !bindJSON(c, &req) {
		return
	}
	if req.Disposition == "" {
		fail(c, http.StatusBadRequest, "disposition is required")
		return
	}
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	if err := ib.in.Inbox.Close(ctx, id, c.Param("id"), req.Disposition); err != nil {
		ib.inboxError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"disposition": req.Disposition})
}

// events streams console updates as server-sent events ("event: update", JSON data) with
// keep-alive comments. The console reads it with fetch (EventSource cannot send the bearer).
func (ib *inboxAPI) events(c *gin.Context) {
	agentID, ok := ib.agentID(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	updates, err := ib.in.Inbox.Subscribe(ctx)
	if err != nil {
		ib.s.storeError(c, err)
		return
	}
	// The server's write timeout would cut the stream: this response has none.
	_ = http.NewResponseController(c.Writer).SetWriteDeadline(time.Time{})
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	fmt.Fprint(c.Writer, "retry: 2000\nevent: ready\ndata: {}\n\n")
	c.Writer.Flush()
	// The open stream is the agent's presence heartbeat (inbox PresenceTTL).
	touch := func() {
		tctx, cancel := ib.s.ctx(c)
		defer cancel()
		if err := ib.in.Inbox.Touch(tctx, agentID); err != nil && ctx.Err() == nil {
			ib.s.log.Warn("agent heartbeat", "agent", agentID, "err", err)
		}
	}
	touch()
	tick := time.NewTicker(ib.in.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			c.SSEvent("update", u)
			c.Writer.Flush()
		case <-tick.C:
			fmt.Fprint(c.Writer, ": keep-alive\n\n")
			c.Writer.Flush()
			touch()
		}
	}
}

func (ib *inboxAPI) deadLetters(c *gin.Context) {
	ctx, cancel := ib.s.ctx(c)
	defer cancel()
	dls, err := ib.in.Desk.DeadLetters(ctx)
	if err != nil {
		ib.s.storeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"dead_letters": dls})
}

func (ib *inboxAPI) replay(c *gin.Context) {
	if !ib.in.Desk.Enabled() {
		fail(c, http.StatusServiceUnavailable, "no desk webhook configured")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 30*time.Second)
	defer cancel()
	if err := ib.in.Desk.Replay(ctx, c.Param("id")); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fail(c, http.StatusNotFound, "no such dead letter")
			return
		}
		if errors.Is(err, store.ErrUnavailable) {
			ib.s.storeError(c, err)
			return
		}
		fail(c, http.StatusBadGateway, err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"replayed": c.Param("id")})
}
