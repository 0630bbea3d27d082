package inbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// mediaCache keeps media downloaded from the Graph API on disk for a while: Meta's download
// URLs last minutes and every view would fetch the file again. Files are named by a hash of
// the media id, written owner-only, and a file is kept only once it was read whole.
type mediaCache struct {
	dir string
	ttl time.Duration
	now func() time.Time
}

// cachedMeta is stored next to a cached file.
type cachedMeta struct {
	MimeType string `json:"mime_type"`
	Size     int64  `json:"size"`
}

func newMediaCache(dir string, ttl time.Duration, now func() time.Time) *mediaCache {
	if ttl <= 0 {
		return nil
	}
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "deflectd-media")
	}
	return &mediaCache{dir: dir, ttl: ttl, now: now}
}

func (c *mediaCache) path(mediaID string) string {
	sum := sha256.Sum256([]byte(mediaID))
	return filepath.Join(c.dir, hex.EncodeToString(sum[:16]))
}

// get opens a cached file younger than the TTL.
func (c *mediaCache) get(mediaID string) (io.ReadCloser, cachedMeta, bool) {
	if c == nil {
		return nil, cachedMeta{}, false
	}
	p := c.path(mediaID)
	raw, err := os.ReadFile(p + ".json")
	if err != nil {
		return nil, cachedMeta{}, false
	}
	var m cachedMeta
	f, err := os.Open(p)
	if err != nil || json.Unmarshal(raw, &m) != nil {
		return nil, cachedMeta{}, false
	}
	if st, err := f.Stat(); err != nil || c.now().Sub(st.ModTime()) > c.ttl || st.Size() != m.Size {
		f.Close()
		return nil, cachedMeta{}, false
	}
	return f, m, true
}

// put returns body with its bytes copied into the cache as they are read; the copy is kept
// when the body was read to its end and dropped otherwise. Old files are swept first.
func (c *mediaCache) put(mediaID, mimeType string, body io.ReadCloser) io.ReadCloser {
	if c == nil {
		return body
	}
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return body
	}
	c.sweep()
	tmp, err := os.CreateTemp(c.dir, "incoming-*")
	if err != nil {
		return body
	}
	return &teeToCache{body: body, tmp: tmp, final: c.path(mediaID), mimeType: mimeType}
}

// sweep removes files older than the TTL (and partial downloads a crash left).
func (c *mediaCache) sweep() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		info, err := e.Info()
		if err == nil && c.now().Sub(info.ModTime()) > c.ttl {
			_ = os.Remove(filepath.Join(c.dir, e.Name()))
		}
	}
}

type teeToCache struct {
	body     io.ReadCloser
	tmp      *os.File
	final    string
	mimeType string
	n        int64
	complete bool
	failed   bool
}

func (t *teeToCache) Read(p []byte) (int, error) {
	n, err := t.body.Read(p)
	if n > 0 && !t.failed {
		if _, werr := t.tmp.Write(p[:n]); werr != nil {
			t.failed = true
		}
		t.n += int64(n)
	}
	if errors.Is(err, io.EOF) {
		t.complete = true
	}
	return n, err
}

func (t *teeToCache) Close() error {
	err := t.body.Close()
	name := t.tmp.Name()
	cerr := t.tmp.Close()
	if !t.complete || t.failed || cerr != nil {
		_ = os.Remove(name)
		return err
	}
	meta, _ := json.Marshal(cachedMeta{MimeType: t.mimeType, Size: t.n})
	if os.WriteFile(t.final+".json", meta, 0o600) != nil || os.Rename(name, t.final) != nil {
		_ = os.Remove(name)
		_ = os.Remove(t.final + ".json")
	}
	return err
}
