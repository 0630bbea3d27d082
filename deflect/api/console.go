package api

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

// The agent console: plain HTML, CSS and JavaScript embedded in the binary (no build step).
//
//go:embed console
var consoleFS embed.FS

// consoleCSP allows only the console's own files: no inline script or style, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src blob:; connect-src 'self'; " +
	"font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders are set on every console response.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	c.Next()
}

var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// registerConsole serves /console (the page) and /console/<asset>.
func registerConsole(r gin.IRouter) {
	sub, err := fs.Sub(consoleFS, "console")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	serve := func(c *gin.Context) {
		name := strings.TrimPrefix(path.Clean("/"+c.Param("file")), "/")
		switch name {
		case "", ".":
			name = "index.html"
		case "supervisor": // the supervisor view (admin scope)
			name = "supervisor.html"
		}
		data, err := fs.ReadFile(sub, name)
		ctype, known := consoleTypes[path.Ext(name)]
		if err != nil || !known {
			c.Header("Content-Type", "text/plain; charset=utf-8")
			c.String(http.StatusNotFound, "not found\n")
			return
		}
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, ctype, data)
	}
	g := r.Group("/console", securityHeaders)
	g.GET("", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/console/") })
	g.GET("/*file", serve)
}
