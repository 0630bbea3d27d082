package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"testing"
	"time"

	"github.com/deflectd/deflectd/whatsapp/sandbox"
)

// TestMediaEndpoints: GET /conversations/{id}/media/{media_id} returns the bytes of the image
// the sandbox customer sent, with its type; POST /conversations/{id}/media sends an agent's file.
func TestMediaEndpoints(t *testing.T) {
	f := newInboxFixture(t, "")
	const waID = "966501239601"
	f.deflectedCustomer(waID, "en", "hello")
	png := []byte("\x89PNG\r\n\x1a\n a screenshot of the error")
	if _, err := f.sb.CustomerMedia(t.Context(), waID, "image", sandbox.MediaFile{MimeType: "image/png", Data: png}); err != nil {
		t.Fatal(err)
	}
	v, err := f.in.Get(t.Context(), waID, nil)
	if err != nil {
		t.Fatal(err)
	}
	mediaID := ""
	for _, m := range v.Messages {
		if m.Media != nil {
			mediaID = m.Media.ID
		}
	}
	if mediaID == "" {
		t.Fatalf("no media in %+v", v.Messages)
	}

	get := func(path, token string) (*http.Response, []byte) {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("/api/v1/conversations/"+waID+"/media/"+mediaID, ibAlice)
	if resp.StatusCode != 200 || !bytes.Equal(body, png) || resp.Header.Get("Content-Type") != "image/png" ||
		resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("media: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	tests := []struct {
		name, path, token string
		want              int
	}{
		{"media of another conversation", "/api/v1/conversations/966501239602/media/" + mediaID, ibAlice, 404},
		{"unknown media id", "/api/v1/conversations/" + waID + "/media/1234567890123456", ibAlice, 404},
		{"pbx token", "/api/v1/conversations/" + waID + "/media/" + mediaID, ibPBX, 403},
	}
	for _, tc := range tests {
		if resp, body := get(tc.path, tc.token); resp.StatusCode != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
		}
	}

	if err := f.in.Takeover(t.Context(), "alice", waID); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="file"; filename="form.pdf"`)
	h.Set("Content-Type", "application/pdf")
	part, _ := w.CreatePart(h)
	_, _ = part.Write([]byte("%PDF-1.4 form"))
	_ = w.WriteField("caption", "the form")
	_ = w.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", f.srv.URL+"/api/v1/conversations/"+waID+"/media", &buf)
	req.Header.Set("Authorization", "Bearer "+ibAlice)
	req.Header.Set("Content-Type", w.FormDataContentType())
	up, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer up.Body.Close()
	var out struct {
		MessageID string `json:"message_id"`
	}
	_ = json.NewDecoder(up.Body).Decode(&out)
	if up.StatusCode != 201 || out.MessageID == "" {
		t.Fatalf("upload: %d", up.StatusCode)
	}
	sent := f.sb.Sent(waID)
	if last := sent[len(sent)-1]; last.Type != "document" {
		t.Fatalf("the phone got %+v", last)
	}
	if code, body := f.do("POST", "/api/v1/conversations/"+waID+"/media", ibAlice, `{"x":1}`); code != 400 {
		t.Fatalf("upload without a form: %d %s", code, body)
	}
}
