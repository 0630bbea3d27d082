package media

import (
	"sync"
	"sync/atomic"
	"time"
)

// slots divides the 20 ms period into a small time wheel: a scheduler wakes every 5 ms and
// serves one slot, so each stream still gets one packet per 20 ms while the sends (and the
// receivers' load) spread over the period instead of bursting once per 20 ms.
const (
	slots     = 4
	tickEvery = Ptime / slots
	// maxLag: if a scheduler falls further behind than this (a stalled machine), it skips ahead
	// instead of bursting the backlog at the callers.
	maxLag = 100 * time.Millisecond
)

// scheduler is the one place that owns pacing: a goroutine serving many streams on a shared
// tick. There are a few of them (one per core by default), never one per stream.
type scheduler struct {
	m    *metrics
	quit chan struct{}
	done chan struct{}

	mu    sync.Mutex // guards wheel and every Stream.slot/Stream.idx it holds
	wheel [slots][]*Stream
	n     atomic.Int32 // streams held; read without mu so Open never waits for a busy tick
}

func newScheduler(m *metrics) *scheduler {
	return &scheduler{m: m, quit: make(chan struct{}), done: make(chan struct{})}
}

func (s *scheduler) load() int { return int(s.n.Load()) }

// add puts st into the least loaded slot.
func (s *scheduler) add(st *Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := 0
	for i := 1; i < slots; i++ {
		if len(s.wheel[i]) < len(s.wheel[best]) {
			best = i
		}
	}
	st.slot, st.idx = best, len(s.wheel[best])
	s.wheel[best] = append(s.wheel[best], st)
	s.n.Add(1)
}

// remove takes st out (swap with the last); once it returns, st is never ticked again.
func (s *scheduler) remove(st *Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.idx < 0 {
		return
	}
	w := s.wheel[st.slot]
	last := len(w) - 1
	w[st.idx] = w[last]
	w[st.idx].idx = st.idx
	w[last] = nil
	s.wheel[st.slot] = w[:last]
	st.idx = -1
	s.n.Add(-1)
}

func (s *scheduler) skip(periods uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.wheel {
		for _, st := range w {
			st.mu.Lock()
			st.hdr.Timestamp += periods * FrameSize
			st.mu.Unlock()
		}
	}
}

func (s *scheduler) stop() {
	close(s.quit)
	<-s.done
}

func (s *scheduler) run() {
	defer close(s.done)
	t := time.NewTimer(tickEvery)
	defer t.Stop()
	next := time.Now()
	slot := 0
	for {
		next = next.Add(tickEvery)
		if d := time.Until(next); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-s.quit:
				return
			}
		} else {
			select {
			case <-s.quit:
				return
			default:
			}
		}
		now := time.Now()
		lag := now.Sub(next)
		s.m.tickLag.Observe(lag.Seconds())
		if lag > maxLag {
			// Skip ahead rather than burst the backlog; RTP timestamps still advance by the
			// skipped time so the caller's jitter buffer sees a gap, not a clock drift.
			next = now
			s.skip(uint32(lag / Ptime))
			s.m.skipped.Add(float64(lag / Ptime))
		}
		var sent, errs int
		s.mu.Lock()
		for _, st := range s.wheel[slot] {
			switch st.tick() {
			case tickSent:
				sent++
			case tickError:
				errs++
			}
		}
		s.mu.Unlock()
		if sent > 0 {
			s.m.packetsSent.Add(float64(sent))
		}
		if errs > 0 {
			s.m.sendErrors.Add(float64(errs))
		}
		slot = (slot + 1) % slots
	}
}
