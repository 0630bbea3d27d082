package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/stats"
	"github.com/deflectd/deflectd/lookup/redact"
	"github.com/deflectd/deflectd/whatsapp"
)

// Preview is the last message of a conversation in a list.
type Preview struct {
	Direction string    `json:"direction"`
	Type      string    `json:"type"`
	Text      string    `json:"text,omitempty"`
	At        time.Time `json:"at"`
}

// withBot lists the conversations the bot is answering: a deflected customer the bot greeted
// (whether or not they answered yet) or a customer who wrote and did not ask for a person.
// Closed ones are left out (done); newest activity first, at most MaxListed.
func (s *Service) withBot(ctx context.Context) ([]Summary, int, error) {
	docs, err := s.st.ListDocs(ctx, deflect.ConversationsCollection)
	if err != nil {
		return nil, 0, fmt.Errorf("list conversations: %w", err)
	}
	recs, err := s.st.ListDocs(ctx, RecordsCollection)
	if err != nil {
		return nil, 0, fmt.Errorf("list inbox records: %w", err)
	}
	status := make(map[string]Record, len(recs))
	for _, d := range recs {
		var r Record
		if json.Unmarshal(d.Data, &r) == nil {
			status[d.ID] = r
		}
	}
	out := []Summary{}
	for _, d := range docs {
		var c deflect.Conversation
		if json.Unmarshal(d.Data, &c) != nil || c.State != deflect.ConversationBot {
			continue
		}
		r, known := status[d.ID]
		if known && r.Status != StatusBot {
			continue
		}
		v := s.summaryOf(d.ID, &c)
		v.Since = c.CreatedAt
		if known {
			v.LastInbound, v.WindowOpen = r.LastInbound, s.WindowOpen(&r)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	total := len(out)
	if len(out) > MaxListed {
		out = out[:MaxListed]
	}
	return out, total, nil
}

// summaryOf is the list entry of a conversation document (status bot; the record refines it).
func (s *Service) summaryOf(waID string, c *deflect.Conversation) Summary {
	v := Summary{ID: waID, Name: c.Name, Caller: c.Caller, Status: StatusBot, Queue: c.Queue,
		CustomerID: c.CustomerID, Language: c.Language, IVRPath: c.IVRPath, Context: c.Context,
		UserToUser: c.UserToUser, SessionID: c.SessionID, UpdatedAt: c.UpdatedAt}
	if v.Caller == "" && !whatsapp.IsBSUID(waID) {
		v.Caller = "+" + waID
	}
	if n := len(c.Messages); n > 0 {
		m := c.Messages[n-1]
		v.LastMessage = &Preview{Direction: m.Direction, Type: m.Type, Text: m.Text, At: m.At}
	}
	for _, m := range c.Messages {
		if m.Direction == "in" {
			v.Inbound++
		}
	}
	return v
}

// Takeover gives a conversation the bot is answering (or one waiting, or closed) to agent at
// once: the bot stops answering it, and the customer's messages go to the agent. The agent's
// chat limit holds, but not presence: taking a chat is the agent's own choice (a supervisor
// takes chats only this way).
func (s *Service) Takeover(ctx context.Context, agentID, waID string) error {
	if _, ok := s.Agent(agentID); !ok {
		return ErrNoSuchAgent
	}
	conv, err := s.getConversation(ctx, waID)
	if err != nil {
		return err
	}
	token, err := s.reserve(ctx, agentID, waID, ruleTakeover)
	if err != nil {
		return err
	}
	rec, err := s.updateRecord(ctx, waID, func(r *Record, isNew bool) error {
		if r.Status == StatusAssigned {
			return ErrTaken
		}
		if isNew {
			r.Bot.Language = s.bot.Language(conv.Language)
			r.SessionID = conv.SessionID
		}
		r.Status, r.Agent, r.AssignedAt = StatusAssigned, agentID, s.now()
		r.Disposition, r.ClosedBy, r.ClosedAt = "", "", time.Time{}
		r.Bot.Handoff, r.Pending = true, nil
		return nil
	})
	if err != nil {
		s.release(ctx, agentID, waID, token)
		return err
	}
	_ = s.st.DeleteDoc(ctx, QueueCollection, waID) // it may have been waiting
	if conv, err = s.updateConversation(ctx, waID, func(c *deflect.Conversation, _ bool) error {
		if c.State == deflect.ConversationAgent {
			return errSkipWrite
		}
		c.State = deflect.ConversationAgent
		return nil
	}); err != nil {
		return err
	}
	s.log.Info("conversation taken over from the bot", "wa_id", redact.Mask(waID), "agent", agentID)
	s.count(ctx, rec.SessionID, stats.HandedOff)
	s.desk.emit(ctx, EventConversationHandoff, waID+":"+rec.AssignedAt.Format(time.RFC3339Nano), s.deskConversation(conv, rec))
	s.publish(ctx, Update{Type: UpdateAssigned, WAID: waID, Agent: agentID, Status: StatusAssigned})
	return nil
}
