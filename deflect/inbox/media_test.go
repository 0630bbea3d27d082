package inbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// lastMessage is the conversation's latest message in direction dir.
func (h *harness) lastMessage(waID, dir string) deflect.ConversationMessage {
	h.t.Helper()
	v, err := h.in.Get(h.t.Context(), waID, nil)
	if err != nil {
		h.t.Fatalf("conversation %s: %v", waID, err)
	}
	for i := len(v.Messages) - 1; i >= 0; i-- {
		if v.Messages[i].Direction == dir {
			return v.Messages[i]
		}
	}
	h.t.Fatalf("conversation %s has no %s message", waID, dir)
	return deflect.ConversationMessage{}
}

// TestInboundMediaKinds: what a customer sends is kept as WhatsApp carries it (media id, type,
// file name, voice note; coordinates; contact cards), the media bytes come back through the
// Graph API, and a reaction lands on the message it reacts to.
func TestInboundMediaKinds(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "966501230701"
	h.deflected("+"+waID, "en")
	h.text(waID, "hello")
	ctx := t.Context()

	jpeg := []byte("\xff\xd8\xff\xe0 a photo of the meter")
	if _, err := h.sb.CustomerMedia(ctx, waID, "image", sandbox.MediaFile{MimeType: "image/jpeg", Data: jpeg, Caption: "meter"}); err != nil {
		t.Fatal(err)
	}
	img := h.lastMessage(waID, "in")
	if img.Type != "image" || img.Media == nil || img.Media.ID == "" || img.Media.MimeType != "image/jpeg" || img.Text != "meter" {
		t.Fatalf("image recorded as %+v (media %+v)", img, img.Media)
	}
	m, err := h.in.OpenMedia(ctx, waID, img.Media.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if !bytes.Equal(got, jpeg) || m.MimeType != "image/jpeg" {
		t.Fatalf("media = %q (%s)", got, m.MimeType)
	}
	if _, err := h.in.OpenMedia(ctx, waID, "1234567890123456"); !errors.Is(err, ErrNoMedia) {
		t.Fatalf("a media id not in the conversation: %v, want ErrNoMedia", err)
	}

	tests := []struct {
		name  string
		send  func() error
		check func(deflect.ConversationMessage) bool
	}{
		{"document", func() error {
			_, err := h.sb.CustomerMedia(ctx, waID, "document", sandbox.MediaFile{MimeType: "application/pdf", Data: []byte("%PDF"), Filename: "bill.pdf"})
			return err
		}, func(m deflect.ConversationMessage) bool { return m.Media != nil && m.Media.Filename == "bill.pdf" }},
		{"voice note", func() error {
			_, err := h.sb.CustomerMedia(ctx, waID, "audio", sandbox.MediaFile{MimeType: "audio/ogg; codecs=opus", Data: []byte("OggS"), Voice: true})
			return err
		}, func(m deflect.ConversationMessage) bool { return m.Type == "audio" && m.Media != nil && m.Media.Voice }},
		{"location", func() error {
			_, err := h.sb.CustomerLocation(ctx, waID, sandbox.Location{Latitude: 24.7136, Longitude: 46.6753, Name: "Branch", Address: "King Fahd Rd"})
			return err
		}, func(m deflect.ConversationMessage) bool {
			return m.Location != nil && m.Location.Latitude == 24.7136 && m.Location.Longitude == 46.6753 && m.Location.Name == "Branch"
		}},
		{"contact card", func() error {
			_, err := h.sb.CustomerContact(ctx, waID, sandbox.Contact{Name: "Sara", Phones: []string{"+966501112233"}})
			return err
		}, func(m deflect.ConversationMessage) bool {
			return len(m.Contacts) == 1 && m.Contacts[0].Name == "Sara" && len(m.Contacts[0].Phones) == 1
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.send(); err != nil {
				t.Fatal(err)
			}
			if m := h.lastMessage(waID, "in"); !tc.check(m) {
				t.Fatalf("recorded as %+v", m)
			}
		})
	}

	n := len(h.lastConversation(waID).Messages)
	if _, err := h.sb.CustomerReaction(ctx, waID, img.ID, "👍"); err != nil {
		t.Fatal(err)
	}
	c := h.lastConversation(waID)
	if len(c.Messages) != n {
		t.Fatalf("the reaction became a message of its own (%d → %d)", n, len(c.Messages))
	}
	for _, x := range c.Messages {
		if x.ID == img.ID && x.Reaction != "👍" {
			t.Fatalf("image's reaction = %q", x.Reaction)
		}
	}
}

func (h *harness) lastConversation(waID string) *View {
	h.t.Helper()
	v, err := h.in.Get(h.t.Context(), waID, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

// TestAgentSendsFile: the file is uploaded to the Graph API and sent by its media id; the
// conversation shows it, and its bytes come back through OpenMedia.
func TestAgentSendsFile(t *testing.T) {
	h := newHarness(t, nil)
	const waID = "966501230702"
	h.deflected("+"+waID, "en")
	h.text(waID, "hello")
	if err := h.in.Takeover(t.Context(), "alice", waID); err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.4 renewal form")
	if _, err := h.in.SendFile(t.Context(), "alice", waID, pdf, "../../form.pdf", "application/pdf", "Please fill this in"); err != nil {
		t.Fatal(err)
	}
	got := h.received(waID)
	if last := got[len(got)-1]; last.Type != "document" {
		t.Fatalf("phone got %+v", last)
	}
	m := h.lastMessage(waID, "out")
	if m.Media == nil || m.Media.Filename != "form.pdf" || m.Text != "Please fill this in" {
		t.Fatalf("recorded as %+v (media %+v)", m, m.Media)
	}
	if data, _, ok := h.sb.MediaBytes(m.Media.ID); !ok || !bytes.Equal(data, pdf) {
		t.Fatalf("the sandbox holds %q for %s", data, m.Media.ID)
	}
	if _, err := h.in.SendFile(t.Context(), "bob", waID, pdf, "x.pdf", "application/pdf", ""); !errors.Is(err, ErrNotYours) {
		t.Fatalf("bob sending into alice's conversation: %v", err)
	}
	if _, err := h.in.SendFile(t.Context(), "alice", waID, make([]byte, DefaultMaxMediaBytes+1), "big.bin", "application/octet-stream", ""); !errors.Is(err, ErrMediaTooLarge) {
		t.Fatalf("file over the cap: %v", err)
	}
}

// countingGraph counts the Graph API's media look-ups of the real client it wraps.
type countingGraph struct {
	MediaGraph
	lookups atomic.Int64
}

func (g *countingGraph) Media(ctx context.Context, id string) (whatsapp.MediaObject, error) {
	g.lookups.Add(1)
	return g.MediaGraph.Media(ctx, id)
}

// TestMediaCache: a file read whole is served from the disk cache the next time (no Graph API
// call); a partly read one is not kept; past the TTL it is fetched again.
func TestMediaCache(t *testing.T) {
	var graph *countingGraph
	// The webhook handler reads the clock on its own goroutine while the test moves it.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h := newHarness(t, nil, func(_ *configs.Config, o *Options) {
		graph = &countingGraph{MediaGraph: o.Media}
		o.Media = graph
		o.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	const waID = "966501230703"
	h.deflected("+"+waID, "en")
	h.text(waID, "hello")
	data := bytes.Repeat([]byte("voice "), 5000)
	if _, err := h.sb.CustomerMedia(t.Context(), waID, "audio", sandbox.MediaFile{MimeType: "audio/ogg", Data: data, Voice: true}); err != nil {
		t.Fatal(err)
	}
	id := h.lastMessage(waID, "in").Media.ID
	read := func(n int64) []byte {
		m, err := h.in.OpenMedia(t.Context(), waID, id)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Body.Close()
		r := io.Reader(m.Body)
		if n >= 0 {
			r = io.LimitReader(m.Body, n)
		}
		b, _ := io.ReadAll(r)
		if m.MimeType != "audio/ogg" {
			t.Fatalf("type %q", m.MimeType)
		}
		return b
	}
	steps := []struct {
		name    string
		advance time.Duration
		readN   int64
		lookups int
	}{
		{"first view: partly read", 0, 10, 1},
		{"not cached after a partial read", 0, -1, 2},
		{"whole read: cached", 0, -1, 2},
		{"past the TTL: fetched again", 25 * time.Hour, -1, 3},
	}
	for _, st := range steps {
		clock.Add(int64(st.advance))
		got := read(st.readN)
		if st.readN < 0 && !bytes.Equal(got, data) {
			t.Fatalf("%s: read %d bytes, want %d", st.name, len(got), len(data))
		}
		if n := graph.lookups.Load(); n != int64(st.lookups) {
			t.Fatalf("%s: %d Graph API look-ups, want %d", st.name, n, st.lookups)
		}
	}
}
