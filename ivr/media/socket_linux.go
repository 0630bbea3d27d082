package media

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"
)

// rtpSocket is a call's UDP socket, made with raw syscalls and kept out of the Go netpoller.
// A net.UDPConn registers with the runtime's epoll (edge-triggered, reads and writes): every
// packet sent then makes the runtime's netpoll handle a write-ready event nobody waits for,
// and each send pays net's fd locking and deadline checks. At 250 000 packets/s (5000 calls)
// that was a fifth of the process's CPU (pprof under run.sh load). The receiver reads these
// sockets through its own epoll set; sends are one sendto each.
type rtpSocket struct {
	fd  int
	v6  bool // AF_INET6 (dual-stack when bound to the unspecified address)
	sa4 syscall.RawSockaddrInet4
	sa6 syscall.RawSockaddrInet6
}

// listenRTP binds a non-blocking UDP socket to ip:port (port 0: the OS picks); an invalid ip
// binds every address, IPv4 and IPv6 alike when the host has IPv6. Errors wrap the
// syscall.Errno (EADDRINUSE, EACCES, EMFILE…).
func listenRTP(ip netip.Addr, port int) (*rtpSocket, int, error) {
	v6 := !ip.IsValid() || (ip.Is6() && !ip.Is4In6())
	fd, err := socket(v6)
	if err != nil && !ip.IsValid() && errors.Is(err, syscall.EAFNOSUPPORT) {
		v6 = false // no IPv6 on this host: IPv4 only
		fd, err = socket(false)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("socket: %w", err)
	}
	s := &rtpSocket{fd: fd, v6: v6}
	var sa syscall.Sockaddr
	switch {
	case v6:
		if !ip.IsValid() {
			// Dual-stack, as net.ListenUDP("udp", ":port") does.
			if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0); err != nil {
				_ = syscall.Close(fd)
				return nil, 0, fmt.Errorf("setsockopt IPV6_V6ONLY: %w", err)
			}
			sa = &syscall.SockaddrInet6{Port: port}
		} else {
			sa = &syscall.SockaddrInet6{Port: port, Addr: ip.As16()}
		}
	default:
		sa = &syscall.SockaddrInet4{Port: port, Addr: ip.Unmap().As4()}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, 0, fmt.Errorf("bind: %w", err)
	}
	if port == 0 {
		got, err := syscall.Getsockname(fd)
		if err != nil {
			_ = syscall.Close(fd)
			return nil, 0, fmt.Errorf("getsockname: %w", err)
		}
		switch a := got.(type) {
		case *syscall.SockaddrInet4:
			port = a.Port
		case *syscall.SockaddrInet6:
			port = a.Port
		}
	}
	if v6 {
		s.sa6.Family = syscall.AF_INET6
	} else {
		s.sa4.Family = syscall.AF_INET
	}
	return s, port, nil
}

func socket(v6 bool) (int, error) {
	family := syscall.AF_INET
	if v6 {
		family = syscall.AF_INET6
	}
	return syscall.Socket(family, syscall.SOCK_DGRAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_UDP)
}

// sendTo sends one datagram without allocating. Only the stream's scheduler calls it (the
// sockaddr buffers are its own). A full socket buffer (EAGAIN) is an error: the packet is
// dropped, as late audio would be useless anyway.
func (s *rtpSocket) sendTo(b []byte, to netip.AddrPort) error {
	var sa unsafe.Pointer
	var salen uintptr
	addr := to.Addr()
	switch {
	case s.v6:
		s.sa6.Addr = addr.As16() // an IPv4 address comes out v4-mapped, as a dual-stack socket wants
		putPort(&s.sa6.Port, to.Port())
		sa, salen = unsafe.Pointer(&s.sa6), unsafe.Sizeof(s.sa6)
	case addr.Unmap().Is4():
		s.sa4.Addr = addr.Unmap().As4()
		putPort(&s.sa4.Port, to.Port())
		sa, salen = unsafe.Pointer(&s.sa4), unsafe.Sizeof(s.sa4)
	default:
		return syscall.EAFNOSUPPORT // IPv6 peer on an IPv4 socket
	}
	// RawSyscall: a non-blocking sendto returns at once, so the runtime need not be told.
	_, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
		0, uintptr(sa), salen)
	if e != 0 {
		return e
	}
	return nil
}

func (s *rtpSocket) close() error { return syscall.Close(s.fd) }

// putPort stores a port in network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
