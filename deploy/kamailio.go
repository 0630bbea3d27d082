package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// KamailioConfig writes a copy of the shipped Kamailio config with its listen address, port and
// dispatcher list replaced (port 0 keeps the shipped port), for tests that run Kamailio on loopback.
func KamailioConfig(t testing.TB, src, addr string, port int, dsList string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dsList)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, `#!substdef "!LISTEN_ADDR!`):
			line = `#!substdef "!LISTEN_ADDR!` + addr + `!g"`
		case strings.HasPrefix(line, `#!substdef "!LISTEN_PORT!`) && port != 0:
			line = `#!substdef "!LISTEN_PORT!` + strconv.Itoa(port) + `!g"`
		case strings.HasPrefix(line, `#!substdef "!DS_LIST!`):
			line = `#!substdef "!DS_LIST!` + abs + `!g"`
		}
		out = append(out, line)
	}
	p := filepath.Join(t.TempDir(), "kamailio.cfg")
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
