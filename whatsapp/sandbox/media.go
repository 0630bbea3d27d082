package sandbox

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Media as Meta serves it (Cloud API media reference): every file has a numeric media id. An
// inbound message's webhook carries the id; GET /{media-id} with the bearer token answers
// {"messaging_product","url","mime_type","sha256","file_size","id"}; the url works for about
// five minutes and only with the same bearer token. POST /{phone-number-id}/media (multipart:
// messaging_product, type, file) stores an upload and answers {"id"}; a message may then send
// it by id.
const (
	mediaURLTTL   = 5 * time.Minute
	maxMediaBytes = 16 << 20 // the sandbox's cap (Meta: 5 MB images, 16 MB audio and video)
	maxMediaFiles = 256      // oldest forgotten beyond this
)

type mediaFile struct {
	id, mimeType, filename, sha string
	data                        []byte
}

// MediaFile is a file a simulated customer sends.
type MediaFile struct {
	MimeType string `json:"mime_type"`
	Data     []byte `json:"data"` // base64 in JSON
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"` // documents
	Voice    bool   `json:"voice,omitempty"`    // audio recorded in WhatsApp (a voice note)
}

// addMedia stores a file and returns its new media id.
func (s *Sandbox) addMedia(mimeType, filename string, data []byte) (string, error) {
	if len(data) == 0 {
		return "", errors.New("media file is empty")
	}
	if len(data) > maxMediaBytes {
		return "", fmt.Errorf("media file of %d bytes is over the %d byte limit", len(data), maxMediaBytes)
	}
	if _, _, err := mime.ParseMediaType(mimeType); err != nil || !strings.Contains(mimeType, "/") {
		return "", fmt.Errorf("media type %q is not a MIME type", mimeType)
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(9e15))
	id := strconv.FormatInt(1e15+n.Int64(), 10) // Meta's media ids are 16-digit numbers
	sum := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.media == nil {
		s.media = map[string]*mediaFile{}
	}
	s.media[id] = &mediaFile{id: id, mimeType: mimeType, filename: filename, sha: hex.EncodeToString(sum[:]), data: append([]byte(nil), data...)}
	s.mediaOrder = append(s.mediaOrder, id)
	if len(s.mediaOrder) > maxMediaFiles {
		delete(s.media, s.mediaOrder[0])
		s.mediaOrder = s.mediaOrder[1:]
	}
	return id, nil
}

func (s *Sandbox) mediaByID(id string) *mediaFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.media[id]
}

// MediaBytes returns a stored file (what an agent uploaded, for tests), or false.
func (s *Sandbox) MediaBytes(id string) ([]byte, string, bool) {
	f := s.mediaByID(id)
	if f == nil {
		return nil, "", false
	}
	return f.data, f.mimeType, true
}

// mediaHash signs a download URL: only URLs this sandbox handed out, until ext, are served.
func (s *Sandbox) mediaHash(id string, ext int64) string {
	m := hmac.New(sha256.New, []byte("media\x00"+s.cfg.AccessToken))
	fmt.Fprintf(m, "%s:%d", id, ext)
	return hex.EncodeToString(m.Sum(nil))[:32]
}

// serveMediaObject is GET /{version?}/{media-id}: the file's short-lived download URL.
func (s *Sandbox) serveMediaObject(w http.ResponseWriter, r *http.Request, f *mediaFile) {
	if e := s.checkToken(r); e != nil {
		writeGraphError(w, e)
		return
	}
	if r.Method != http.MethodGet {
		writeGraphError(w, &apiError{code: 100, details: "Unsupported " + strings.ToLower(r.Method) + " request."})
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := r.URL.Path[:strings.LastIndex(r.URL.Path, "/")]
	ext := time.Now().Add(mediaURLTTL).Unix()
	u := fmt.Sprintf("%s://%s%s/_media/%s?ext=%d&hash=%s", scheme, r.Host, prefix, f.id, ext, s.mediaHash(f.id, ext))
	writeJSON(w, http.StatusOK, map[string]string{"messaging_product": "whatsapp", "url": u, "mime_type": f.mimeType,
		"sha256": f.sha, "file_size": strconv.Itoa(len(f.data)), "id": f.id})
}

// serveMediaDownload is the download URL: the bytes, with the bearer token, before expiry.
func (s *Sandbox) serveMediaDownload(w http.ResponseWriter, r *http.Request, id string) {
	if e := s.checkToken(r); e != nil {
		writeGraphError(w, e)
		return
	}
	ext, _ := strconv.ParseInt(r.URL.Query().Get("ext"), 10, 64)
	f := s.mediaByID(id)
	if f == nil || !hmac.Equal([]byte(r.URL.Query().Get("hash")), []byte(s.mediaHash(id, ext))) {
		http.Error(w, "URL signature mismatch", http.StatusForbidden)
		return
	}
	if time.Now().Unix() > ext {
		http.Error(w, "URL has expired", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", f.mimeType)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.data)))
	_, _ = w.Write(f.data)
}

// serveUpload is POST /{version?}/{phone_number_id}/media (multipart form).
func (s *Sandbox) serveUpload(w http.ResponseWriter, r *http.Request, phoneID string) {
	if e := s.checkToken(r); e != nil {
		writeGraphError(w, e)
		return
	}
	if r.Method != http.MethodPost {
		writeGraphError(w, &apiError{code: 100, details: "Unsupported " + strings.ToLower(r.Method) + " request."})
		return
	}
	if phoneID != s.cfg.PhoneNumberID {
		writeGraphError(w, &apiError{code: 100, details: "Unsupported post request. Object with ID '" + phoneID + "' does not exist."})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxMediaBytes+64<<10)
	if err := r.ParseMultipartForm(maxMediaBytes); err != nil {
		writeGraphError(w, errf(100, "Invalid multipart body: %v", err))
		return
	}
	if r.FormValue("messaging_product") != "whatsapp" {
		writeGraphError(w, errf(100, "The parameter messaging_product is required."))
		return
	}
	file, hdr, err := r.FormFile("file")
	if err != nil {
		writeGraphError(w, errf(100, "The parameter file is required."))
		return
	}
	defer file.Close()
	data, err := io.ReadAll(file)
	if err != nil {
		writeGraphError(w, errf(100, "read file: %v", err))
		return
	}
	typ := r.FormValue("type")
	if typ == "" {
		typ = hdr.Header.Get("Content-Type")
	}
	id, err := s.addMedia(typ, hdr.Filename, data)
	if err != nil {
		writeGraphError(w, errf(131053, "Media upload error: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// routeMedia serves the media paths; false when p is not one.
func (s *Sandbox) routeMedia(w http.ResponseWriter, r *http.Request, segs []string) bool {
	n := len(segs)
	switch {
	case n >= 2 && segs[n-2] == "_media":
		s.serveMediaDownload(w, r, segs[n-1])
	case n >= 2 && segs[n-1] == "media":
		s.serveUpload(w, r, segs[n-2])
	case n >= 1 && isMediaID(segs[n-1]) && s.mediaByID(segs[n-1]) != nil:
		s.serveMediaObject(w, r, s.mediaByID(segs[n-1]))
	default:
		return false
	}
	return true
}

// isMediaID: media ids are all digits (the messages path and others never are).
func isMediaID(seg string) bool {
	if seg == "" {
		return false
	}
	for _, r := range seg {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// CustomerMedia makes the customer send an image, document, audio (Voice: a voice note),
// video or sticker: the file gets a media id and the webhook carries it, as Meta's does.
func (s *Sandbox) CustomerMedia(ctx context.Context, waID, kind string, f MediaFile) (string, error) {
	switch kind {
	case "image", "document", "audio", "video", "sticker":
	default:
		return "", fmt.Errorf("customer media: kind %q is not image, document, audio, video or sticker", kind)
	}
	id, err := s.addMedia(f.MimeType, f.Filename, f.Data)
	if err != nil {
		return "", fmt.Errorf("customer media: %w", err)
	}
	file := s.mediaByID(id)
	wm := &whMedia{ID: id, MimeType: f.MimeType, SHA256: file.sha}
	if kind != "audio" && kind != "sticker" {
		wm.Caption = f.Caption
	}
	if kind == "document" {
		wm.Filename = f.Filename
	}
	if kind == "audio" && f.Voice {
		wm.Voice = true
	}
	if kind == "sticker" {
		animated := false // the sandbox's stickers are still images
		wm.Animated = &animated
	}
	m := whMessage{Type: kind}
	switch kind {
	case "image":
		m.Image = wm
	case "document":
		m.Document = wm
	case "audio":
		m.Audio = wm
	case "video":
		m.Video = wm
	case "sticker":
		m.Sticker = wm
	}
	return s.customer(ctx, waID, m, "")
}

// Location is a place a customer shares.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

// CustomerLocation makes the customer share a location.
func (s *Sandbox) CustomerLocation(ctx context.Context, waID string, l Location) (string, error) {
	if l.Latitude < -90 || l.Latitude > 90 || l.Longitude < -180 || l.Longitude > 180 {
		return "", errors.New("customer location: coordinates out of range")
	}
	return s.customer(ctx, waID, whMessage{Type: "location", Location: &whLocation{Latitude: l.Latitude, Longitude: l.Longitude, Name: l.Name, Address: l.Address}}, "")
}

// Contact is a contact card a customer shares.
type Contact struct {
	Name   string   `json:"name"`
	Phones []string `json:"phones"`
}

// CustomerContact makes the customer share a contact card.
func (s *Sandbox) CustomerContact(ctx context.Context, waID string, c Contact) (string, error) {
	if c.Name == "" {
		return "", errors.New("customer contact: name is required")
	}
	card := whContactCard{Name: whContactName{FormattedName: c.Name, FirstName: c.Name}}
	for _, p := range c.Phones {
		d, _ := normalizeNumber(p)
		card.Phones = append(card.Phones, whContactPhone{Phone: p, WaID: d, Type: "CELL"})
	}
	return s.customer(ctx, waID, whMessage{Type: "contacts", Contacts: []whContactCard{card}}, "")
}

// CustomerReaction makes the customer react to a message with an emoji ("" removes it).
func (s *Sandbox) CustomerReaction(ctx context.Context, waID, messageID, emoji string) (string, error) {
	if messageID == "" {
		return "", errors.New("customer reaction: message_id is required")
	}
	return s.customer(ctx, waID, whMessage{Type: "reaction", Reaction: &whReaction{MessageID: messageID, Emoji: emoji}}, "")
}

// Webhook shapes of media, location, contacts and reaction messages, from Meta's webhook
// examples.
type whMedia struct {
	Caption  string `json:"caption,omitempty"`
	Filename string `json:"filename,omitempty"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	ID       string `json:"id"`
	Voice    bool   `json:"voice,omitempty"`
	// Animated is set on stickers only: Meta's sticker webhook always carries it.
	Animated *bool `json:"animated,omitempty"`
}

type whLocation struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Name      string  `json:"name,omitempty"`
	Address   string  `json:"address,omitempty"`
}

type whContactCard struct {
	Name   whContactName    `json:"name"`
	Phones []whContactPhone `json:"phones,omitempty"`
}

type whContactName struct {
	FormattedName string `json:"formatted_name"`
	FirstName     string `json:"first_name,omitempty"`
}

type whContactPhone struct {
	Phone string `json:"phone"`
	WaID  string `json:"wa_id,omitempty"`
	Type  string `json:"type,omitempty"`
}

type whReaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}
