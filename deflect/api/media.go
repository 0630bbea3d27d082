package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect/inbox"
)

// mediaCSP: a media response is never a page of ours, whatever type a customer's file claims.
const mediaCSP = "default-src 'none'; sandbox"

// inline reports whether the console may show a type in place; anything else is a download.
func inline(mimeType string) bool {
	mt, _, _ := mime.ParseMediaType(mimeType)
	return strings.HasPrefix(mt, "image/") && mt != "image/svg+xml" || strings.HasPrefix(mt, "audio/") ||
		strings.HasPrefix(mt, "video/") || mt == "application/pdf"
}

// media streams a conversation's media file from the Graph API (GET /{media-id}, then the
// download with the bearer token) with Meta's content type.
func (ib *inboxAPI) media(c *gin.Context) {
	if _, ok := ib.agentID(c); !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 60*time.Second)
	defer cancel()
	m, err := ib.in.Inbox.OpenMedia(ctx, c.Param("id"), c.Param("media_id"))
	if err != nil {
		ib.mediaError(c, err)
		return
	}
	defer m.Body.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", m.MimeType)
	h.Set("Content-Security-Policy", mediaCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, max-age=300")
	disp := "attachment"
	if inline(m.MimeType) {
		disp = "inline"
	}
	if m.Filename != "" {
		disp = mime.FormatMediaType(disp, map[string]string{"filename": m.Filename})
	}
	h.Set("Content-Disposition", disp)
	if m.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	}
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, m.Body); err != nil {
		ib.s.log.Warn("stream media", "err", err) // headers are out: the client sees a short body
	}
}

// uploadMedia sends an agent's file (multipart: file, caption): uploaded to the Graph API, then
// sent by its media id.
func (ib *inboxAPI) uploadMedia(c *gin.Context) {
	id, ok := ib.agentID(c)
	if !ok {
		return
	}
	limit := ib.in.Inbox.MaxMediaBytes()
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+64<<10)
	fh, err := c.FormFile("file")
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %d bytes (inbox.max_media_bytes)", limit))
			return
		}
		fail(c, http.StatusBadRequest, "a multipart form with a file field is required")
		return
	}
	f, err := fh.Open()
	if err != nil {
		fail(c, http.StatusBadRequest, "read file: "+err.Error())
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		fail(c, http.StatusBadRequest, "read file: "+err.Error())
		return
	}
	mimeType := fh.Header.Get("Content-Type")
	if mimeType == "" || mimeType == "application/octet-stream" {
		mimeType = http.DetectContentType(data)
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 60*time.Second)
	defer cancel()
	msgID, err := ib.in.Inbox.SendFile(ctx, id, c.Param("id"), data, fh.Filename, mimeType, c.PostForm("caption"))
	if err != nil {
		ib.mediaError(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"message_id": msgID})
}

func (ib *inboxAPI) mediaError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, inbox.ErrNoMedia):
		fail(c, http.StatusNotFound, err.Error())
	case errors.Is(err, inbox.ErrMediaTooLarge):
		fail(c, http.StatusRequestEntityTooLarge, err.Error())
	case errors.Is(err, inbox.ErrMediaDisabled):
		fail(c, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, inbox.ErrSend), errors.Is(err, inbox.ErrNotYours), errors.Is(err, inbox.ErrWindowClosed),
		errors.Is(err, inbox.ErrBadReply), errors.Is(err, inbox.ErrNoSuchAgent):
		ib.inboxError(c, err)
	case errors.Is(err, inbox.ErrMediaGraph):
		ib.s.log.Warn("media from the graph api", "err", err)
		fail(c, http.StatusBadGateway, err.Error())
	default:
		ib.inboxError(c, err)
	}
}
