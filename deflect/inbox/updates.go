package inbox

import (
	"context"
	"encoding/json"
	"fmt"
)

// UpdatesChannel is the store pub/sub channel of console updates (shared by every instance).
const UpdatesChannel = "inbox:updates"

// Update kinds.
const (
	UpdateMessage  = "message"  // a message arrived or was sent in conversation WAID
	UpdateQueue    = "queue"    // the waiting queue changed
	UpdateAssigned = "assigned" // WAID was assigned, transferred, closed or handed back to the bot
	UpdateAgent    = "agent"    // an agent's presence changed
)

// Update is a small change notice; consoles re-read what they show. It carries no message text
// or phone number beyond the conversation id.
type Update struct {
	Type   string `json:"type"`
	WAID   string `json:"wa_id,omitempty"`
	Agent  string `json:"agent,omitempty"`
	Status string `json:"status,omitempty"`
}

// publish tells every instance's consoles; a lost update is repaired by the consoles' next read.
func (s *Service) publish(ctx context.Context, u Update) {
	data, _ := json.Marshal(u)
	if err := s.st.Publish(ctx, UpdatesChannel, data); err != nil {
		s.log.Warn("publish inbox update", "type", u.Type, "err", err)
	}
}

// Subscribe delivers updates published after it returns, until ctx ends (then the channel is
// closed). A slow reader may lose updates.
func (s *Service) Subscribe(ctx context.Context) (<-chan Update, error) {
	raw, err := s.st.Subscribe(ctx, UpdatesChannel)
	if err != nil {
		return nil, fmt.Errorf("subscribe inbox updates: %w", err)
	}
	out := make(chan Update, 16)
	go func() {
		defer close(out)
		for b := range raw {
			var u Update
			if json.Unmarshal(b, &u) != nil {
				continue
			}
			select {
			case out <- u:
			default: // slow reader: it re-reads on the next update anyway
			}
		}
	}()
	return out, nil
}
