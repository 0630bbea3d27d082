package testkit

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
)

func TestFreeUDPPort(t *testing.T) {
	tests := []struct {
		name string
		pair bool
	}{
		{"single", false},
		{"pair", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := FreeUDPPort(t, tc.pair)
			ports := []int{p}
			if tc.pair {
				if p%2 != 0 {
					t.Fatalf("pair port %d is odd", p)
				}
				ports = append(ports, p+2)
			}
			for _, port := range ports {
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopback, Port: port})
				if err != nil {
					t.Fatalf("port %d not free: %v", port, err)
				}
				c.Close()
			}
		})
	}
}

func TestFreeUDPTCPPort(t *testing.T) {
	p := FreeUDPTCPPort(t)
	u, err := net.ListenUDP("udp", &net.UDPAddr{IP: loopback, Port: p})
	if err != nil {
		t.Fatalf("udp %d: %v", p, err)
	}
	defer u.Close()
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: loopback, Port: p})
	if err != nil {
		t.Fatalf("tcp %d: %v", p, err)
	}
	l.Close()
}

func TestRequireToolFindsAlternative(t *testing.T) {
	// "go" runs these tests, so it is on PATH; the first name is one no machine has.
	if p := RequireTool(t, "deflectd-no-such-tool", "go"); p == "" {
		t.Fatal("empty path for go")
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			b.Write([]byte("x"))
		}
	}()
	for range 100 {
		_ = b.String()
		_ = b.Bytes()
	}
	<-done
	if got := b.String(); len(got) != 100 {
		t.Fatalf("wrote 100 bytes, buffer has %d", len(got))
	}
	got := b.Bytes()
	got[0] = 'y' // a copy: the buffer keeps what was written
	if b.String()[0] != 'x' {
		t.Fatal("Bytes shares the buffer's memory")
	}
}

func TestSelfSignedCert(t *testing.T) {
	certFile, keyFile, pool := SelfSignedCert(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"}); err != nil {
		t.Fatalf("pool does not verify the certificate for 127.0.0.1: %v", err)
	}
}
