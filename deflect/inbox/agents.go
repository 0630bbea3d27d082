package inbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/inbox/bot"
	"github.com/deflectd/deflectd/deflect/stats"
	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/lookup/redact"
)

// Presence of an agent.
const (
	PresenceOnline  = "online"
	PresenceAway    = "away"
	PresenceOffline = "offline"
)

// Errors callers decide on.
var (
	ErrNoSuchAgent = errors.New("no such agent")
	ErrNotYours    = errors.New("conversation is assigned to another agent")
	ErrTaken       = errors.New("conversation was taken by someone else")
	ErrFull        = errors.New("agent has no free chat slot")
	ErrBadState    = errors.New("conversation is not in a state that allows this")
	ErrUnavailable = errors.New("agent is offline")
)

// Agent is someone who may answer conversations: one per API token with scope agent (or admin).
type Agent struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Admin bool   `json:"admin,omitempty"`
}

// AgentsFromConfig lists the console's agents: every API token with scope agent or admin (by
// token name) and the admin token ("admin").
func AgentsFromConfig(c configs.APIConfig) []Agent {
	var out []Agent
	if c.AdminToken.IsSet() {
		out = append(out, Agent{ID: "admin", Name: "admin", Admin: true})
	}
	for _, t := range c.Tokens {
		admin := slices.Contains(t.Scopes, "admin")
		if t.Name == "" || !t.Token.IsSet() || (!admin && !slices.Contains(t.Scopes, "agent")) {
			continue
		}
		if slices.ContainsFunc(out, func(a Agent) bool { return a.ID == t.Name }) {
			continue
		}
		out = append(out, Agent{ID: t.Name, Name: t.Name, Admin: admin})
	}
	return out
}

// agentDoc is one agent's shared state (collection "inbox_agents").
type agentDoc struct {
	ID       string `json:"id"`
	Presence string `json:"presence"`
	// Chats are the conversations (wa_id) holding one of the agent's slots; Token identifies
	// the reservation so that only its maker releases it.
	Chats     map[string]slot `json:"chats"`
	LastSeen  time.Time       `json:"last_seen,omitzero"` // set by SetPresence and Touch
	UpdatedAt time.Time       `json:"updated_at"`
}

// presence is the agent's effective presence: with a PresenceTTL, an agent whose console has
// not been seen for that long counts as offline (a closed laptop gets no new chats).
func (s *Service) presence(a *agentDoc) string {
	if a == nil {
		return PresenceOffline
	}
	if s.presenceTTL > 0 && a.Presence != PresenceOffline && s.now().Sub(a.LastSeen) > s.presenceTTL {
		return PresenceOffline
	}
	return a.Presence
}

type slot struct {
	Token string    `json:"token"`
	At    time.Time `json:"at"`
}

// AgentView is an agent with presence and load.
type AgentView struct {
	Agent
	Presence string `json:"presence"`
	Chats    int    `json:"chats"`
	Max      int    `json:"max"`
}

// Agent returns the agent with id.
func (s *Service) Agent(id string) (Agent, bool) {
	for _, a := range s.agents {
		if a.ID == id {
			return a, true
		}
	}
	return Agent{}, false
}

// Agents lists every agent with presence and load.
func (s *Service) Agents(ctx context.Context) ([]AgentView, error) {
	docs, err := s.agentDocs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AgentView, 0, len(s.agents))
	for _, a := range s.agents {
		d := docs[a.ID]
		v := AgentView{Agent: a, Presence: PresenceOffline, Max: s.max}
		if d.doc != nil {
			v.Presence, v.Chats = s.presence(d.doc), len(d.doc.Chats)
		}
		out = append(out, v)
	}
	return out, nil
}

type versioned struct {
	doc     *agentDoc
	version int64
}

func (s *Service) agentDocs(ctx context.Context) (map[string]versioned, error) {
	docs, err := s.st.ListDocs(ctx, AgentsCollection)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	out := make(map[string]versioned, len(docs))
	for _, d := range docs {
		var a agentDoc
		if json.Unmarshal(d.Data, &a) == nil {
			out[d.ID] = versioned{&a, d.Version}
		}
	}
	return out, nil
}

// updateAgent applies fn to the agent's document with compare-and-set.
func (s *Service) updateAgent(ctx context.Context, id string, fn func(a *agentDoc) error) (*agentDoc, error) {
	if _, ok := s.Agent(id); !ok {
		return nil, ErrNoSuchAgent
	}
	a, err := store.UpdateJSON(ctx, s.st, AgentsCollection, id, 0, 16,
		func() agentDoc { return agentDoc{ID: id, Presence: PresenceOffline} },
		func(a *agentDoc, _ bool) error {
			if a.Chats == nil {
				a.Chats = map[string]slot{}
			}
			if err := fn(a); err != nil {
				return err
			}
			a.UpdatedAt = s.now()
			return nil
		})
	return skipped(a, err)
}

// SetPresence sets an agent online, away or offline; coming online pulls waiting conversations.
func (s *Service) SetPresence(ctx context.Context, agentID, presence string) error {
	switch presence {
	case PresenceOnline, PresenceAway, PresenceOffline:
	default:
		return fmt.Errorf("set presence: %q is not online, away or offline", presence)
	}
	if _, err := s.updateAgent(ctx, agentID, func(a *agentDoc) error {
		a.Presence, a.LastSeen = presence, s.now()
		return nil
	}); err != nil {
		return err
	}
	s.publish(ctx, Update{Type: UpdateAgent, Agent: agentID})
	if presence == PresenceOnline {
		return s.Dispatch(ctx)
	}
	return nil
}

// Touch records that the agent's console is connected (the SSE stream calls it every
// heartbeat). An agent who was stale and is online again pulls waiting conversations.
func (s *Service) Touch(ctx context.Context, agentID string) error {
	var back bool
	if _, err := s.updateAgent(ctx, agentID, func(a *agentDoc) error {
		back = a.Presence == PresenceOnline && s.presence(a) != PresenceOnline
		a.LastSeen = s.now()
		return nil
	}); err != nil {
		return err
	}
	if back {
		s.publish(ctx, Update{Type: UpdateAgent, Agent: agentID})
		return s.Dispatch(ctx)
	}
	return nil
}

// reserveRule says what a reservation checks.
type reserveRule int

const (
	ruleDispatch reserveRule = iota // online and below the maximum (assignment, claim)
	ruleTransfer                    // not offline (a transfer may exceed the maximum)
	ruleTakeover                    // below the maximum, any presence: the agent chose to take it
)

// reserve takes one of the agent's slots for waID under rule. It fails with ErrTaken when the
// slot is already reserved by someone else.
func (s *Service) reserve(ctx context.Context, agentID, waID string, rule reserveRule) (string, error) {
	token := newToken()
	_, err := s.updateAgent(ctx, agentID, func(a *agentDoc) error {
		if _, ok := a.Chats[waID]; ok {
			return ErrTaken
		}
		switch {
		case rule == ruleDispatch && s.presence(a) != PresenceOnline, rule == ruleTransfer && s.presence(a) == PresenceOffline:
			return ErrUnavailable
		case rule != ruleTransfer && len(a.Chats) >= s.max:
			return ErrFull
		}
		a.Chats[waID] = slot{Token: token, At: s.now()}
		return nil
	})
	return token, err
}

// release frees the agent's slot for waID if token is the reservation's (empty token: any).
func (s *Service) release(ctx context.Context, agentID, waID, token string) {
	if agentID == "" {
		return
	}
	if _, err := s.updateAgent(ctx, agentID, func(a *agentDoc) error {
		sl, ok := a.Chats[waID]
		if !ok || (token != "" && sl.Token != token) {
			return errSkipWrite
		}
		delete(a.Chats, waID)
		return nil
	}); err != nil {
		s.log.Warn("release agent slot", "agent", agentID, "wa_id", redact.Mask(waID), "err", err)
	}
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// queueEntry is one waiting conversation (collection "inbox_queue").
type queueEntry struct {
	WAID     string    `json:"wa_id"`
	QueuedAt time.Time `json:"queued_at"`
}

// handoff moves a bot (or closed) conversation to the waiting queue.
func (s *Service) handoff(ctx context.Context, waID, by string) error {
	var queued bool
	rec, err := s.updateRecord(ctx, waID, func(r *Record, _ bool) error {
		queued = false
		if r.Status == StatusWaiting || r.Status == StatusAssigned {
			return errSkipWrite
		}
		r.Status, r.Agent, r.QueuedAt, r.Disposition, r.ClosedBy, r.ClosedAt = StatusWaiting, "", s.now(), "", "", time.Time{}
		r.Bot.Handoff = true
		queued = true
		return nil
	})
	if err != nil {
		return err
	}
	if !queued {
		return s.enqueue(ctx, rec) // make sure the queue entry exists (a crash may have lost it)
	}
	conv, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, _ bool) error {
		if c.State == deflect.ConversationAgent {
			return errSkipWrite
		}
		c.State = deflect.ConversationAgent
		return nil
	})
	if err != nil {
		return err
	}
	if err := s.enqueue(ctx, rec); err != nil {
		return err
	}
	s.log.Info("conversation handed off", "wa_id", redact.Mask(waID), "by", by)
	s.count(ctx, rec.SessionID, stats.HandedOff)
	s.desk.emit(ctx, EventConversationHandoff, waID+":"+rec.QueuedAt.Format(time.RFC3339Nano), s.deskConversation(conv, rec))
	s.publish(ctx, Update{Type: UpdateQueue, WAID: waID, Status: StatusWaiting})
	return nil
}

func (s *Service) enqueue(ctx context.Context, rec *Record) error {
	if rec.Status != StatusWaiting {
		return nil
	}
	data, _ := json.Marshal(queueEntry{WAID: rec.WAID, QueuedAt: rec.QueuedAt})
	_, err := s.st.PutDoc(ctx, QueueCollection, rec.WAID, data, 0, s.ttl)
	if err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrExists) {
		return fmt.Errorf("queue conversation: %w", err)
	}
	return nil
}

// Queue returns the waiting conversations, oldest first.
func (s *Service) Queue(ctx context.Context) ([]queueEntry, error) {
	docs, err := s.st.ListDocs(ctx, QueueCollection)
	if err != nil {
		return nil, fmt.Errorf("list queue: %w", err)
	}
	q := make([]queueEntry, 0, len(docs))
	for _, d := range docs {
		var e queueEntry
		if json.Unmarshal(d.Data, &e) == nil {
			e.WAID = d.ID
			q = append(q, e)
		}
	}
	sort.SliceStable(q, func(i, j int) bool { return q[i].QueuedAt.Before(q[j].QueuedAt) })
	return q, nil
}

// Dispatch assigns waiting conversations, oldest first, to the least-loaded online agent with
// a free slot, until the queue is empty or every online agent is full. Safe to run on every
// instance at once: reservations and claims are compare-and-set.
func (s *Service) Dispatch(ctx context.Context) error {
	q, err := s.Queue(ctx)
	if err != nil {
		return err
	}
	for _, e := range q {
		for attempt := 0; ; attempt++ {
			agent, err := s.leastLoaded(ctx)
			if err != nil {
				return err
			}
			if agent == "" {
				return nil // nobody free: the rest waits
			}
			err = s.assign(ctx, agent, e.WAID)
			if err == nil || errors.Is(err, ErrTaken) || errors.Is(err, ErrBadState) || attempt >= 5 {
				break
			}
			if !errors.Is(err, ErrFull) && !errors.Is(err, ErrUnavailable) {
				return err
			}
			// The agent filled up or left meanwhile: pick again.
		}
	}
	return nil
}

// leastLoaded returns the online agent with the fewest chats below the maximum ("" if none).
func (s *Service) leastLoaded(ctx context.Context) (string, error) {
	docs, err := s.agentDocs(ctx)
	if err != nil {
		return "", err
	}
	best, load := "", s.max
	for _, a := range s.agents { // configuration order breaks ties
		d := docs[a.ID].doc
		if d == nil || s.presence(d) != PresenceOnline {
			continue
		}
		if n := len(d.Chats); n < load {
			best, load = a.ID, n
		}
	}
	return best, nil
}

// assign gives a waiting conversation to agent: reserve a slot, then claim the record (waiting →
// assigned) with compare-and-set; a lost claim gives the slot back.
func (s *Service) assign(ctx context.Context, agentID, waID string) error {
	token, err := s.reserve(ctx, agentID, waID, ruleDispatch)
	if err != nil {
		return err
	}
	_, err = s.updateRecord(ctx, waID, func(r *Record, isNew bool) error {
		if isNew || r.Status != StatusWaiting {
			return ErrBadState
		}
		r.Status, r.Agent, r.AssignedAt = StatusAssigned, agentID, s.now()
		return nil
	})
	if err != nil {
		s.release(ctx, agentID, waID, token)
		if errors.Is(err, ErrBadState) {
			_ = s.st.DeleteDoc(ctx, QueueCollection, waID) // no longer waiting
		}
		return err
	}
	if err := s.st.DeleteDoc(ctx, QueueCollection, waID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("dequeue conversation", "wa_id", redact.Mask(waID), "err", err)
	}
	s.log.Info("conversation assigned", "wa_id", redact.Mask(waID), "agent", agentID)
	s.publish(ctx, Update{Type: UpdateAssigned, WAID: waID, Agent: agentID, Status: StatusAssigned})
	return nil
}

// Claim lets an agent take a waiting conversation (the console's "take" button); it honours
// the agent's chat limit.
func (s *Service) Claim(ctx context.Context, agentID, waID string) error {
	return s.assign(ctx, agentID, waID)
}

// Transfer hands an assigned (or waiting) conversation to another agent, or back to the bot
// when to is "bot". by must hold the conversation unless admin.
func (s *Service) Transfer(ctx context.Context, by, waID, to string) error {
	rec, _, err := s.getRecord(ctx, waID)
	if err != nil {
		return err
	}
	if err := s.mayAct(by, rec); err != nil {
		return err
	}
	if rec.Status != StatusAssigned && rec.Status != StatusWaiting {
		return ErrBadState
	}
	from := rec.Agent
	if to == "bot" {
		if _, err := s.updateRecord(ctx, waID, func(r *Record, _ bool) error {
			if r.Agent != from || (r.Status != StatusAssigned && r.Status != StatusWaiting) {
				return ErrTaken
			}
			r.Status, r.Agent = StatusBot, ""
			lang := r.Bot.Language
			r.Bot = toBotState(lang)
			return nil
		}); err != nil {
			return err
		}
		_ = s.st.DeleteDoc(ctx, QueueCollection, waID)
		s.release(ctx, from, waID, "")
		if _, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, _ bool) error {
			c.State = deflect.ConversationBot
			return nil
		}); err != nil {
			return err
		}
		s.publish(ctx, Update{Type: UpdateAssigned, WAID: waID, Agent: from, Status: StatusBot})
		return s.Dispatch(ctx)
	}
	if _, ok := s.Agent(to); !ok {
		return ErrNoSuchAgent
	}
	if to == from {
		return nil
	}
	token, err := s.reserve(ctx, to, waID, ruleTransfer)
	if err != nil {
		return err
	}
	if _, err := s.updateRecord(ctx, waID, func(r *Record, _ bool) error {
		if r.Agent != from || (r.Status != StatusAssigned && r.Status != StatusWaiting) {
			return ErrTaken
		}
		r.Status, r.Agent, r.AssignedAt = StatusAssigned, to, s.now()
		return nil
	}); err != nil {
		s.release(ctx, to, waID, token)
		return err
	}
	_ = s.st.DeleteDoc(ctx, QueueCollection, waID)
	s.release(ctx, from, waID, "")
	s.log.Info("conversation transferred", "wa_id", redact.Mask(waID), "from", from, "to", to)
	s.publish(ctx, Update{Type: UpdateAssigned, WAID: waID, Agent: to, Status: StatusAssigned})
	s.publish(ctx, Update{Type: UpdateAssigned, WAID: waID, Agent: from, Status: StatusAssigned})
	return s.Dispatch(ctx)
}

// toBotState restarts the bot for a conversation coming back from an agent.
func toBotState(lang string) (st bot.State) {
	st.Language = lang
	return st
}

// Close ends an agent conversation with a disposition; the customer's next message starts the
// bot again. by must hold the conversation unless admin.
func (s *Service) Close(ctx context.Context, by, waID, disposition string) error {
	rec, _, err := s.getRecord(ctx, waID)
	if err != nil {
		return err
	}
	if err := s.mayAct(by, rec); err != nil {
		return err
	}
	if rec.Status == StatusClosed {
		return nil
	}
	from := rec.Agent
	closed := false
	rec, err = s.updateRecord(ctx, waID, func(r *Record, _ bool) error {
		closed = false
		if r.Status == StatusClosed {
			return errSkipWrite // closed meanwhile (by someone else): nothing more to do
		}
		if r.Agent != from {
			return ErrTaken
		}
		r.Status, r.Agent, r.Disposition, r.ClosedBy, r.ClosedAt = StatusClosed, "", disposition, by, s.now()
		r.Bot = toBotState(r.Bot.Language)
		closed = true
		return nil
	})
	if err != nil || !closed {
		return err
	}
	_ = s.st.DeleteDoc(ctx, QueueCollection, waID)
	s.release(ctx, from, waID, "")
	conv, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, _ bool) error {
		c.State = deflect.ConversationBot
		return nil
	})
	if err != nil {
		return err
	}
	s.log.Info("conversation closed", "wa_id", redact.Mask(waID), "by", by, "disposition", disposition)
	s.count(ctx, rec.SessionID, stats.ResolvedByAgent)
	payload := s.deskConversation(conv, rec)
	payload["disposition"], payload["closed_by"] = disposition, by
	s.desk.emit(ctx, EventConversationClosed, waID+":"+rec.ClosedAt.Format(time.RFC3339Nano), payload)
	s.publish(ctx, Update{Type: UpdateAssigned, WAID: waID, Agent: from, Status: StatusClosed})
	return s.Dispatch(ctx)
}

// mayAct allows the conversation's agent, anyone on an unassigned one, and admins.
func (s *Service) mayAct(by string, r *Record) error {
	a, ok := s.Agent(by)
	if !ok {
		return ErrNoSuchAgent
	}
	if a.Admin || r.Agent == "" || r.Agent == by {
		return nil
	}
	return ErrNotYours
}

// OpenAgentChats counts conversations with or waiting for an agent (deflect.ChatCounter): the
// offer policy stops offering when they reach deflect.chat_capacity.
func (s *Service) OpenAgentChats(ctx context.Context) (int, error) {
	q, err := s.st.ListDocs(ctx, QueueCollection)
	if err != nil {
		return 0, fmt.Errorf("count open chats: %w", err)
	}
	docs, err := s.agentDocs(ctx)
	if err != nil {
		return 0, err
	}
	n := len(q)
	for _, d := range docs {
		n += len(d.doc.Chats)
	}
	return n, nil
}

// Reconcile frees agent slots that no assigned conversation backs (an instance died between
// reserving and claiming, or between closing and releasing), re-queues waiting conversations
// whose queue entry was lost, and dispatches. Run calls it periodically.
func (s *Service) Reconcile(ctx context.Context) error {
	docs, err := s.agentDocs(ctx)
	if err != nil {
		return err
	}
	for id, d := range docs {
		for waID, sl := range d.doc.Chats {
			if s.now().Sub(sl.At) < s.stale {
				continue
			}
			rec, _, err := s.getRecord(ctx, waID)
			if err == nil && rec.Status == StatusAssigned && rec.Agent == id {
				continue
			}
			if err != nil && !isNotFound(err) {
				return err
			}
			s.log.Warn("freeing stale agent slot", "agent", id, "wa_id", redact.Mask(waID))
			s.release(ctx, id, waID, sl.Token)
		}
	}
	return s.Dispatch(ctx)
}

// Run reconciles and dispatches every interval until ctx ends (every instance runs one).
func (s *Service) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reconcile inbox", "err", err)
			}
		}
	}
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
