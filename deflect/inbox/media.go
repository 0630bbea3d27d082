package inbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/lookup/redact"
	"github.com/deflectd/deflectd/whatsapp"
)

// MediaGraph is the Graph API's media side (*whatsapp.Client).
type MediaGraph interface {
	Media(ctx context.Context, id string) (whatsapp.MediaObject, error)
	Download(ctx context.Context, mediaURL string, maxBytes int64) (io.ReadCloser, string, error)
	UploadMedia(ctx context.Context, data []byte, filename, mimeType string) (string, error)
}

var _ MediaGraph = (*whatsapp.Client)(nil)

// Errors of media.
var (
	ErrNoMedia       = errors.New("no such media in this conversation")
	ErrMediaDisabled = errors.New("media is not available (no Graph API media client)")
	ErrMediaTooLarge = errors.New("media is larger than inbox.max_media_bytes")
	ErrMediaGraph    = errors.New("WhatsApp did not serve the media")
)

// DefaultMaxMediaBytes caps media through the console when inbox.max_media_bytes is unset.
const DefaultMaxMediaBytes = 16 << 20

// Media is an open media stream with Meta's content type.
type Media struct {
	Body     io.ReadCloser
	MimeType string
	Filename string
	Size     int64 // 0 when Meta did not say
}

// messageFrom turns an inbound webhook message into the conversation's record of it.
func messageFrom(m *whatsapp.Message, text, replyID string, at time.Time) deflect.ConversationMessage {
	out := deflect.ConversationMessage{ID: m.ID, Direction: "in", Type: m.Type, Text: text, Payload: replyID, At: at}
	if md := m.Media; md != nil && md.ID != "" {
		out.Media = &deflect.MessageMedia{ID: md.ID, MimeType: md.MimeType, Filename: md.Filename, Voice: md.Voice}
	}
	if l := m.Location; l != nil {
		out.Location = &deflect.MessageLocation{Latitude: l.Latitude, Longitude: l.Longitude, Name: l.Name, Address: l.Address}
		if out.Text == "" {
			out.Text = strings.TrimSpace(l.Name + " " + l.Address)
		}
	}
	for _, c := range m.Contacts {
		out.Contacts = append(out.Contacts, deflect.MessageContact{Name: c.Name, Phones: c.Phones})
	}
	return out
}

// mergeMessage adds m to the conversation, or completes the record deflect's handler already
// made of it (deflect keeps the text; the inbox adds media, location and contacts).
func mergeMessage(c *deflect.Conversation, m deflect.ConversationMessage) {
	for i := range c.Messages {
		x := &c.Messages[i]
		if m.ID == "" || x.ID != m.ID || x.Direction != m.Direction {
			continue
		}
		if x.Media == nil {
			x.Media = m.Media
		}
		if x.Location == nil {
			x.Location = m.Location
		}
		if x.Contacts == nil {
			x.Contacts = m.Contacts
		}
		if x.Text == "" {
			x.Text = m.Text
		}
		return
	}
	addMessage(c, m)
}

// onReaction puts the customer's emoji on the message it reacts to (an empty emoji removes it);
// the reaction itself is not a message of the conversation.
func (s *Service) onReaction(ctx context.Context, waID string, m *whatsapp.Message) error {
	if m.Reaction == nil {
		return nil
	}
	changed := false
	if _, err := s.updateConversation(ctx, waID, func(c *deflect.Conversation, isNew bool) error {
		changed = false
		if isNew {
			return errSkipWrite
		}
		kept := c.Messages[:0:0]
		for _, x := range c.Messages {
			if x.ID == m.ID && x.Direction == "in" {
				changed = true // deflect's handler recorded the reaction as a message
				continue
			}
			if x.ID == m.Reaction.MessageID && x.Reaction != m.Reaction.Emoji {
				x.Reaction, changed = m.Reaction.Emoji, true
			}
			kept = append(kept, x)
		}
		if !changed {
			return errSkipWrite
		}
		c.Messages = kept
		return nil
	}); err != nil {
		return err
	}
	if changed {
		s.publish(ctx, Update{Type: UpdateMessage, WAID: waID})
	}
	return nil
}

func (s *Service) maxMedia() int64 {
	if s.cfg.Inbox.MaxMediaBytes > 0 {
		return s.cfg.Inbox.MaxMediaBytes
	}
	return DefaultMaxMediaBytes
}

// OpenMedia streams a media file of the conversation from the Graph API: GET /{media-id} for
// its URL, then the download with the bearer token. Only media ids that appear in the
// conversation are served, up to inbox.max_media_bytes.
func (s *Service) OpenMedia(ctx context.Context, waID, mediaID string) (*Media, error) {
	if s.media == nil {
		return nil, ErrMediaDisabled
	}
	c, err := s.getConversation(ctx, waID)
	if err != nil {
		return nil, err
	}
	var known *deflect.MessageMedia
	for _, m := range c.Messages {
		if m.Media != nil && m.Media.ID == mediaID {
			known = m.Media
		}
	}
	if known == nil {
		return nil, ErrNoMedia
	}
	if body, meta, ok := s.mediaCache.get(mediaID); ok {
		return &Media{Body: body, MimeType: meta.MimeType, Filename: known.Filename, Size: meta.Size}, nil
	}
	obj, err := s.media.Media(ctx, mediaID)
	if err != nil {
		return nil, fmt.Errorf("%w: get media url: %w", ErrMediaGraph, err)
	}
	if obj.FileSize > s.maxMedia() {
		return nil, ErrMediaTooLarge
	}
	body, ctype, err := s.media.Download(ctx, obj.URL, s.maxMedia())
	if errors.Is(err, whatsapp.ErrMediaTooLarge) {
		return nil, ErrMediaTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("%w: download: %w", ErrMediaGraph, err)
	}
	mt := obj.MimeType
	if mt == "" {
		mt = ctype
	}
	body = s.mediaCache.put(mediaID, mt, body)
	return &Media{Body: body, MimeType: mt, Filename: known.Filename, Size: obj.FileSize}, nil
}

// mediaKind is how WhatsApp sends a file of this type: image (JPEG, PNG), video (MP4, 3GPP),
// audio, else a document.
func mediaKind(mimeType string) whatsapp.MediaKind {
	mt, _, _ := mime.ParseMediaType(mimeType)
	switch {
	case mt == "image/jpeg" || mt == "image/png":
		return whatsapp.MediaImage
	case mt == "video/mp4" || mt == "video/3gpp":
		return whatsapp.MediaVideo
	case strings.HasPrefix(mt, "audio/"):
		return whatsapp.MediaAudio
	}
	return whatsapp.MediaDocument
}

// SendFile uploads an agent's file (POST /{phone-number-id}/media) and sends it by its media id
// inside the 24-hour window, with an optional caption.
func (s *Service) SendFile(ctx context.Context, by, waID string, data []byte, filename, mimeType, caption string) (string, error) {
	if s.media == nil {
		return "", ErrMediaDisabled
	}
	if len(data) == 0 {
		return "", fmt.Errorf("%w: the file is empty", ErrBadReply)
	}
	if int64(len(data)) > s.maxMedia() {
		return "", ErrMediaTooLarge
	}
	rec, _, err := s.getRecord(ctx, waID)
	if err != nil {
		return "", err
	}
	if err := s.mayAct(by, rec); err != nil {
		return "", err
	}
	if !s.WindowOpen(rec) {
		return "", ErrWindowClosed
	}
	filename = path.Base(strings.ReplaceAll(filename, "\\", "/"))
	id, err := s.media.UploadMedia(ctx, data, filename, mimeType)
	if err != nil {
		return "", fmt.Errorf("upload file: %w: %w", ErrSend, err)
	}
	kind := mediaKind(mimeType)
	md := whatsapp.Media{Kind: kind, ID: id}
	if kind != whatsapp.MediaAudio {
		md.Caption = caption
	}
	if kind == whatsapp.MediaDocument {
		md.Filename = filename
	}
	res, err := s.send.SendMedia(ctx, waID, md)
	if err != nil {
		return "", fmt.Errorf("send file: %w: %w", ErrSend, err)
	}
	s.log.Info("agent sent a file", "wa_id", redact.Mask(waID), "agent", by, "kind", string(kind), "bytes", len(data))
	s.recordOutbound(ctx, waID, deflect.ConversationMessage{ID: res.MessageID, Direction: "out", Type: string(kind), Text: md.Caption,
		Payload: "agent:" + by, At: s.now(), Media: &deflect.MessageMedia{ID: id, MimeType: mimeType, Filename: filename}})
	return res.MessageID, nil
}

// MaxMediaBytes is the cap on one media file (inbox.max_media_bytes).
func (s *Service) MaxMediaBytes() int64 { return s.maxMedia() }
