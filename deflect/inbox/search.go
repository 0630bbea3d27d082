package inbox

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/deflectd/deflectd/deflect"
)

// MaxSearchResults bounds Search.
const MaxSearchResults = 50

// Search finds conversations by phone number (any part of the digits), WhatsApp profile name or
// customer id (case-insensitive), newest activity first. Every conversation the store keeps is
// searched, closed ones included.
func (s *Service) Search(ctx context.Context, q string) ([]Summary, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return []Summary{}, nil
	}
	lq := strings.ToLower(q)
	digits := strings.Map(func(r rune) rune {
		if unicode.IsDigit(r) {
			return r
		}
		return -1
	}, q)
	isNumber := len(digits) >= 3 && strings.TrimLeft(q, "+0123456789 -()") == ""
	docs, err := s.st.ListDocs(ctx, deflect.ConversationsCollection)
	if err != nil {
		return nil, fmt.Errorf("search conversations: %w", err)
	}
	out := []Summary{}
	for _, d := range docs {
		var c deflect.Conversation
		if json.Unmarshal(d.Data, &c) != nil {
			continue
		}
		match := isNumber && strings.Contains(d.ID, digits) ||
			c.Name != "" && strings.Contains(strings.ToLower(c.Name), lq) ||
			c.CustomerID != "" && strings.Contains(strings.ToLower(c.CustomerID), lq)
		if !match {
			continue
		}
		v := s.summaryOf(d.ID, &c)
		v.Since = c.CreatedAt
		if r, _, err := s.getRecord(ctx, d.ID); err == nil {
			v.Status, v.Agent, v.AssignedAt, v.LastInbound, v.WindowOpen = r.Status, r.Agent, r.AssignedAt, r.LastInbound, s.WindowOpen(r)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UpdatedAt.After(out[j].UpdatedAt) })
	if len(out) > MaxSearchResults {
		out = out[:MaxSearchResults]
	}
	return out, nil
}

// CannedResponses are the console's ready answers by language (inbox.canned_responses).
func (s *Service) CannedResponses() map[string][]string {
	out := make(map[string][]string, len(s.cfg.Inbox.CannedResponses))
	for lang, texts := range s.cfg.Inbox.CannedResponses {
		out[lang] = append([]string(nil), texts...)
	}
	return out
}
