package main

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

func TestAdminServesPprofOnly(t *testing.T) {
	srv, addr, err := startAdmin("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := &http.Client{Timeout: 5 * time.Second}
	tests := []struct {
		name, path string
		want       int
	}{
		{name: "pprof index", path: "/debug/pprof/", want: http.StatusOK},
		{name: "heap profile", path: "/debug/pprof/heap", want: http.StatusOK},
		{name: "goroutines", path: "/debug/pprof/goroutine?debug=1", want: http.StatusOK},
		{name: "no metrics here", path: "/metrics", want: http.StatusNotFound},
		{name: "no api here", path: "/api/v1/sessions", want: http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Get("http://" + addr.String() + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("GET %s = %d, want %d", tt.path, res.StatusCode, tt.want)
			}
		})
	}
	if _, _, err := startAdmin(addr.String(), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a second admin listener on a taken port started")
	}
}
