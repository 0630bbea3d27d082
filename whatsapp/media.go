package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
)

// Media on the Graph API, as Meta serves it: a media id (from an inbound message's webhook, or
// from an upload) is resolved with GET /{media-id} to a short-lived URL (about five minutes),
// which is downloaded with the same bearer token; an upload is a multipart POST
// /{phone-number-id}/media that answers the new id. See Meta's Cloud API media reference
// (developers.facebook.com/docs/whatsapp/cloud-api/reference/media).

// MediaObject is Meta's answer to GET /{media-id}.
type MediaObject struct {
	ID       string `json:"id"`
	URL      string `json:"url"`
	MimeType string `json:"mime_type"`
	SHA256   string `json:"sha256"`
	FileSize int64  `json:"-"` // Meta sends a string; 0 when absent
}

// ErrMediaTooLarge is returned when media exceeds the caller's size cap.
var ErrMediaTooLarge = errors.New("media is larger than the size cap")

func (c *Client) graphURL(parts ...string) string {
	u := strings.TrimRight(c.cfg.BaseURL, "/")
	for _, p := range parts {
		u += "/" + url.PathEscape(p)
	}
	return u
}

// Media resolves a media id to its download URL, type and size.
func (c *Client) Media(ctx context.Context, id string) (MediaObject, error) {
	if id == "" {
		return MediaObject{}, &ValidationError{Field: "media id", Limit: "set"}
	}
	resp, err := c.graphDo(ctx, "media_url", http.MethodGet, c.graphURL(id), nil, "")
	if err != nil {
		return MediaObject{}, err
	}
	defer resp.Body.Close()
	var raw struct {
		MediaObject
		FileSize json.RawMessage `json:"file_size"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&raw); err != nil {
		return MediaObject{}, fmt.Errorf("get media %s: parse response: %w", id, err)
	}
	m := raw.MediaObject
	if n, err := strconv.ParseInt(strings.Trim(string(raw.FileSize), `"`), 10, 64); err == nil {
		m.FileSize = n
	}
	if m.URL == "" {
		return MediaObject{}, fmt.Errorf("get media %s: response without url", id)
	}
	return m, nil
}

// Download fetches a media URL from Media with the bearer token. It refuses media over
// maxBytes (by the announced length, and while reading); the caller closes the body.
func (c *Client) Download(ctx context.Context, mediaURL string, maxBytes int64) (io.ReadCloser, string, error) {
	resp, err := c.graphDo(ctx, "media_download", http.MethodGet, mediaURL, nil, "")
	if err != nil {
		return nil, "", err
	}
	if maxBytes > 0 && resp.ContentLength > maxBytes {
		resp.Body.Close()
		return nil, "", fmt.Errorf("download media: %d bytes: %w", resp.ContentLength, ErrMediaTooLarge)
	}
	body := resp.Body
	if maxBytes > 0 {
		body = &cappedBody{ReadCloser: resp.Body, left: maxBytes}
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// cappedBody fails with ErrMediaTooLarge once more than its budget was read.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, ErrMediaTooLarge
	}
	return n, err
}

// UploadMedia uploads a file for sending (POST /{phone-number-id}/media) and returns its id.
func (c *Client) UploadMedia(ctx context.Context, data []byte, filename, mimeType string) (string, error) {
	if len(data) == 0 || mimeType == "" {
		return "", &ValidationError{Field: "media", Limit: "a file and its type"}
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.WriteField("messaging_product", "whatsapp")
	_ = w.WriteField("type", mimeType)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, strings.ReplaceAll(filename, `"`, "")))
	h.Set("Content-Type", mimeType)
	part, err := w.CreatePart(h)
	if err != nil {
		return "", fmt.Errorf("upload media: %w", err)
	}
	_, _ = part.Write(data)
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("upload media: %w", err)
	}
	resp, err := c.graphDo(ctx, "media_upload", http.MethodPost, c.graphURL(c.cfg.PhoneNumberID, "media"), buf.Bytes(), w.FormDataContentType())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.ID == "" {
		return "", fmt.Errorf("upload media: response without id: %v", err)
	}
	return out.ID, nil
}

// graphDo makes one Graph API request with the bearer token; a non-2xx answer is an *APIError.
// The caller closes the body of the returned response.
func (c *Client) graphDo(ctx context.Context, op, method, u string, body []byte, contentType string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("%s: build request: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.m.requests.WithLabelValues(op, "transport").Inc()
		return nil, &TransportError{Op: op, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		ae := parseAPIError(resp, data)
		c.m.requests.WithLabelValues(op, ae.label()).Inc()
		return nil, ae
	}
	c.m.requests.WithLabelValues(op, "ok").Inc()
	return resp, nil
}
