package media

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/pion/rtp"
)

// maxReadsPerWake bounds how many datagrams one stream's socket gives per wake-up, so a flooded
// socket cannot starve the others on the same receiver (epoll is level-triggered: the rest
// waits for the next round).
const maxReadsPerWake = 16

// receiver reads many streams' sockets from one goroutine: an epoll set (level-triggered)
// instead of one goroutine parked in ReadFrom per stream. Under load that saves a goroutine
// stack per call (the runtime starts goroutines at the average stack size, several KiB), the
// GC's scan of those stacks, and a wake-up per packet.
//
// The sockets are raw (socket_linux.go), outside the Go netpoller. Streams are read only while
// mu is held, and remove takes mu, so once remove returns the receiver never touches the stream
// again and its socket can be closed (its fd number reused).
type receiver struct {
	epfd int
	wake [2]int // pipe: stop writes, EpollWait returns
	done chan struct{}

	mu      sync.Mutex
	streams map[int32]*Stream // by socket fd; a stream is removed before its socket closes

	// Used only by the receiving goroutine.
	h    rtp.Header
	buf  [readBuffer]byte
	rsa  syscall.RawSockaddrAny
	rlen uint32
}

func newReceiver() (*receiver, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("new rtp receiver: epoll: %w", err)
	}
	r := &receiver{epfd: epfd, done: make(chan struct{}), streams: map[int32]*Stream{}}
	if err := syscall.Pipe2(r.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("new rtp receiver: pipe: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(r.wake[0])}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, r.wake[0], &ev); err != nil {
		r.closeFDs()
		return nil, fmt.Errorf("new rtp receiver: watch pipe: %w", err)
	}
	go r.run()
	return r, nil
}

func (r *receiver) closeFDs() {
	_ = syscall.Close(r.wake[0])
	_ = syscall.Close(r.wake[1])
	_ = syscall.Close(r.epfd)
}

// add starts reading s's socket.
func (r *receiver) add(s *Stream) error {
	fd := s.sock.fd
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
	if err := syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("watch rtp socket: %w", err)
	}
	r.streams[int32(fd)] = s
	return nil
}

// remove stops reading s; once it returns, the receiver never touches s again.
func (r *receiver) remove(s *Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams[int32(s.sock.fd)] != s {
		return
	}
	delete(r.streams, int32(s.sock.fd))
	_ = syscall.EpollCtl(r.epfd, syscall.EPOLL_CTL_DEL, s.sock.fd, nil)
}

func (r *receiver) stop() {
	_, _ = syscall.Write(r.wake[1], []byte{0})
	<-r.done
	r.closeFDs()
}

func (r *receiver) run() {
	defer close(r.done)
	var events [128]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(r.epfd, events[:], -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return // EBADF/EINVAL: the set is gone
		}
		now := time.Now()
		for _, ev := range events[:n] {
			if ev.Fd == int32(r.wake[0]) {
				return
			}
			r.mu.Lock()
			if s := r.streams[ev.Fd]; s != nil {
				r.drain(s, now)
			}
			r.mu.Unlock()
		}
	}
}

// drain reads what s's socket holds (up to maxReadsPerWake datagrams).
func (r *receiver) drain(s *Stream, now time.Time) {
	for range maxReadsPerWake {
		n, from, err := r.recvfrom(s.sock.fd)
		if err != nil {
			return // EAGAIN: drained; anything else (a pending ICMP error) was consumed by the read
		}
		s.receive(&r.h, r.buf[:n], from, now)
	}
}

// recvfrom reads one datagram into r.buf without allocating (syscall.Recvfrom allocates the
// source address on every call).
func (r *receiver) recvfrom(fd int) (int, netip.AddrPort, error) {
	r.rlen = syscall.SizeofSockaddrAny
	n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
		0, uintptr(unsafe.Pointer(&r.rsa)), uintptr(unsafe.Pointer(&r.rlen)))
	if e != 0 {
		return 0, netip.AddrPort{}, e
	}
	var from netip.AddrPort
	switch r.rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.rsa))
		from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&r.rsa))
		from = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return int(n), from, nil
}

// ntohs reads a port stored in network byte order.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}
