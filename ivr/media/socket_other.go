//go:build !linux

package media

import (
	"net"
	"net/netip"
)

// rtpSocket, outside Linux, is a net.UDPConn (socket_linux.go keeps sockets out of the Go
// netpoller).
type rtpSocket struct{ conn *net.UDPConn }

func listenRTP(ip netip.Addr, port int) (*rtpSocket, int, error) {
	addr := &net.UDPAddr{Port: port}
	if ip.IsValid() {
		addr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
	}
	c, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, 0, err
	}
	return &rtpSocket{conn: c}, c.LocalAddr().(*net.UDPAddr).Port, nil
}

func (s *rtpSocket) sendTo(b []byte, to netip.AddrPort) error {
	_, err := s.conn.WriteToUDPAddrPort(b, to)
	return err
}

func (s *rtpSocket) close() error { return s.conn.Close() }
