//go:build !linux

package media

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// receiver, outside Linux, is a goroutine per stream parked in ReadFrom (receiver_linux.go
// shares one epoll goroutine between many streams).
type receiver struct {
	mu   sync.Mutex
	done map[*Stream]chan struct{}
}

func newReceiver() (*receiver, error) { return &receiver{done: map[*Stream]chan struct{}{}}, nil }

func (r *receiver) add(s *Stream) error {
	done := make(chan struct{})
	r.mu.Lock()
	r.done[s] = done
	r.mu.Unlock()
	go func() {
		defer close(done)
		var h rtp.Header
		var buf [readBuffer]byte
		for {
			n, from, err := s.sock.conn.ReadFromUDPAddrPort(buf[:])
			if err != nil {
				var ne net.Error
				if errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
					return
				}
				time.Sleep(time.Millisecond) // transient (e.g. ICMP-reported) errors: don't spin
				continue
			}
			s.receive(&h, buf[:n], from, time.Now())
		}
	}()
	return nil
}

// remove stops reading s: a read deadline in the past ends the goroutine's ReadFrom.
func (r *receiver) remove(s *Stream) {
	r.mu.Lock()
	done := r.done[s]
	delete(r.done, s)
	r.mu.Unlock()
	if done == nil {
		return
	}
	_ = s.sock.conn.SetReadDeadline(time.Unix(1, 0))
	<-done
}

func (r *receiver) stop() {}
