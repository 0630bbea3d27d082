package whatsapp_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deflectd/deflectd/whatsapp"
	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// webhookSink collects the events the sandbox posts.
func webhookSink(t *testing.T) (string, func() []whatsapp.Event) {
	t.Helper()
	var got []whatsapp.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		evs, err := whatsapp.ParseWebhook(body)
		if err != nil {
			t.Errorf("parse webhook: %v", err)
		}
		got = append(got, evs...)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []whatsapp.Event { return got }
}

// TestMediaRoundTripThroughGraph: a customer's image arrives as a media id in the webhook; the
// client resolves it (GET /{media-id}) and downloads the URL with the bearer token; an upload
// (POST /{phone-number-id}/media) gets an id that can be resolved the same way.
func TestMediaRoundTripThroughGraph(t *testing.T) {
	hook, events := webhookSink(t)
	sb, base := newSandbox(t, func(c *sandbox.Config) { c.WebhookURL, c.AppSecret = hook, secret })
	c := sandboxClient(t, base, nil, nil)
	png := []byte("\x89PNG\r\n\x1a\nfake image bytes")
	if _, err := sb.CustomerMedia(t.Context(), "447700900123", "image", sandbox.MediaFile{MimeType: "image/png", Data: png, Caption: "my meter"}); err != nil {
		t.Fatal(err)
	}
	evs := events()
	if len(evs) != 1 || evs[0].Message == nil || evs[0].Message.Media == nil || evs[0].Message.Media.ID == "" || evs[0].Message.Media.Caption != "my meter" {
		t.Fatalf("webhook events = %+v", evs)
	}
	obj, err := c.Media(t.Context(), evs[0].Message.Media.ID)
	if err != nil {
		t.Fatal(err)
	}
	if obj.MimeType != "image/png" || obj.FileSize != int64(len(png)) || obj.SHA256 != evs[0].Message.Media.SHA256 {
		t.Fatalf("media object = %+v", obj)
	}
	body, ctype, err := c.Download(t.Context(), obj.URL, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(body)
	body.Close()
	if !bytes.Equal(got, png) || ctype != "image/png" {
		t.Fatalf("downloaded %q (%s)", got, ctype)
	}

	// The URL needs the token, and a forged one is refused.
	if resp, err := http.Get(obj.URL); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("download without the token: %v %v", resp.StatusCode, err)
	}
	if _, _, err := c.Download(t.Context(), strings.Replace(obj.URL, "hash=", "hash=0", 1), 1<<20); err == nil {
		t.Fatal("a forged URL was served")
	}
	// The size cap holds.
	if _, _, err := c.Download(t.Context(), obj.URL, 4); !errors.Is(err, whatsapp.ErrMediaTooLarge) {
		t.Fatalf("download over the cap: %v", err)
	}
	if _, err := c.Media(t.Context(), "1234567890123456"); err == nil {
		t.Fatal("an unknown media id resolved")
	}

	pdf := []byte("%PDF-1.4 agent's form")
	id, err := c.UploadMedia(t.Context(), pdf, "form.pdf", "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	if data, typ, ok := sb.MediaBytes(id); !ok || !bytes.Equal(data, pdf) || typ != "application/pdf" {
		t.Fatalf("uploaded media %s = %q %s %v", id, data, typ, ok)
	}
	if _, err := c.SendMedia(t.Context(), "447700900123", whatsapp.Media{Kind: whatsapp.MediaDocument, ID: id, Filename: "form.pdf"}); err != nil {
		t.Fatalf("send the upload by id: %v", err)
	}
}
