package ivr

import (
	"sync"
	"time"
)

// The offer menu is driven by events, not by a goroutine per call: a caller listening to the
// offer or thinking about it holds no goroutine stack (4 KiB each, the largest share of a held
// call's memory). Whatever can move the menu on — a DTMF digit (RFC 4733 or INFO), the
// end of a prompt, the digit timer, the call ending — pokes the call; one short-lived goroutine
// at a time then advances the menu as far as it goes without waiting. Once the menu has an
// answer, that goroutine carries on with the rest of the call (accept, closing prompt, hand-back),
// which is short and written as plain sequential code.

type menuPhase uint8

const (
	menuStart   menuPhase = iota // about to play the offer
	menuOffer                    // the offer playing; a digit interrupts it (barge-in)
	menuWait                     // the offer played; waiting for a digit until deadline
	menuInvalid                  // the invalid-choice prompt playing; a digit interrupts it
)

// menuState is the menu's progress. Only the goroutine that advances it (see poke) touches the
// fields below mu's.
type menuState struct {
	mu      sync.Mutex
	active  bool // in the menu: pokes start an advance
	running bool // an advance is under way
	again   bool // poked while running: advance once more

	phase    menuPhase
	plays    int // offers played so far
	invalid  int // invalid digits in a row
	playing  <-chan struct{}
	deadline time.Time
	timer    *time.Timer
}

// startMenu enters the menu; the caller's goroutine may then end.
func (c *call) startMenu() {
	c.menu.mu.Lock()
	c.menu.active = true
	c.menu.mu.Unlock()
	c.poke()
}

// poke makes sure the menu is advanced after this call: it starts a goroutine unless one is
// already advancing it, which then goes round once more. Cheap and non-blocking: the media
// engine calls it from its own goroutines.
func (c *call) poke() {
	mn := &c.menu
	mn.mu.Lock()
	if !mn.active {
		mn.mu.Unlock()
		return
	}
	if mn.running {
		mn.again = true
		mn.mu.Unlock()
		return
	}
	mn.running = true
	mn.mu.Unlock()
	go c.runMenu()
}

func (c *call) runMenu() {
	mn := &c.menu
	for {
		if next := c.advance(); next != nil {
			mn.mu.Lock()
			mn.active, mn.running, mn.again = false, false, false
			mn.mu.Unlock()
			next()
			return
		}
		mn.mu.Lock()
		if !mn.again {
			mn.running = false
			mn.mu.Unlock()
			return
		}
		mn.again = false
		mn.mu.Unlock()
	}
}

// advance moves the menu on until it has to wait; it returns what the call does next once the
// menu is over, or nil while it goes on.
func (c *call) advance() func() {
	mn := &c.menu
	for {
		if c.ctx.Err() != nil {
			if mn.phase == menuOffer || mn.phase == menuInvalid {
				c.stream.StopPlayback()
			}
			mn.stopTimer()
			return func() { c.end(c.interrupted()) }
		}
		switch mn.phase {
		case menuStart:
			c.playOffer()
		case menuOffer, menuInvalid:
			if d, ok := c.digit(); ok {
				c.stream.StopPlayback()
				if next := c.onMenuDigit(d); next != nil {
					return next
				}
				continue
			}
			select {
			case <-mn.playing:
			default:
				return nil // still playing
			}
			switch {
			case mn.phase == menuInvalid:
				c.playOffer() // no digit during the invalid-choice prompt: offer again
			case c.s.cfg.IVR.FirstDigitTimeout > 0:
				mn.phase = menuWait
				mn.deadline = time.Now().Add(c.s.cfg.IVR.FirstDigitTimeout)
				mn.timer = time.AfterFunc(c.s.cfg.IVR.FirstDigitTimeout, c.poke)
			default:
				if next := c.noDigit(); next != nil {
					return next
				}
			}
		case menuWait:
			if d, ok := c.digit(); ok {
				mn.stopTimer()
				if next := c.onMenuDigit(d); next != nil {
					return next
				}
				continue
			}
			if time.Now().Before(mn.deadline) {
				return nil
			}
			mn.stopTimer()
			if next := c.noDigit(); next != nil {
				return next
			}
		}
	}
}

func (c *call) playOffer() {
	mn := &c.menu
	mn.plays++
	c.step("offer")
	mn.phase = menuOffer
	mn.playing = c.stream.Play(c.lang, "offer")
}

// noDigit: the offer (and its wait) passed without a key.
func (c *call) noDigit() func() {
	if c.menu.plays >= c.repeats {
		c.step("timeout")
		return func() { c.handBack(Outcome{Result: ResultTimeout}, "return_queue") }
	}
	c.playOffer()
	return nil
}

// onMenuDigit acts on a key: 1 accepts, 2 declines, others replay the choice up to maxInvalid.
func (c *call) onMenuDigit(d rune) func() {
	mn := &c.menu
	c.step("dtmf:" + string(d))
	switch d {
	case '1':
		return func() { c.handBack(c.accept()) }
	case '2':
		return func() { c.handBack(Outcome{Result: ResultDeclined}, "return_queue") }
	}
	mn.invalid++
	if mn.invalid >= maxInvalid {
		return func() { c.handBack(Outcome{Result: ResultTimeout, Reason: "invalid-input"}, "return_queue") }
	}
	c.step("invalid")
	mn.phase = menuInvalid
	mn.playing = c.stream.Play(c.lang, "invalid")
	return nil
}

// digit takes a waiting key press, RFC 4733 first, then SIP INFO.
func (c *call) digit() (rune, bool) {
	select {
	case d, ok := <-c.stream.DTMF():
		if ok {
			c.s.m.dtmf.WithLabelValues("rfc4733").Inc()
			return d, true
		}
		// closed: the media is gone, INFO digits still count
	default:
	}
	select {
	case d := <-c.infoDTMF:
		return d, true
	default:
		return 0, false
	}
}

func (mn *menuState) stopTimer() {
	if mn.timer != nil {
		mn.timer.Stop()
		mn.timer = nil
	}
}
