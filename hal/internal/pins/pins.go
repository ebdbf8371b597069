// Package pins is what the drivers of package hal share: a button
// classifier (debounce, short, long and stuck presses) as a pure state
// machine, the loop that feeds it from a pin, an LED pattern player and a
// relay pulser over a set-level function.
package pins

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hearthp2p/hearth/hal"
)

// Defaults of hal.ButtonTiming.
const (
	DefaultDebounce = 30 * time.Millisecond
	DefaultLong     = 3 * time.Second
	DefaultStuck    = 60 * time.Second
)

func withDefaults(t hal.ButtonTiming) hal.ButtonTiming {
	if t.Debounce <= 0 {
		t.Debounce = DefaultDebounce
	}
	if t.Long <= 0 {
		t.Long = DefaultLong
	}
	if t.Stuck <= t.Long {
		t.Stuck = max(DefaultStuck, 2*t.Long)
	}
	return t
}

// Classifier turns raw levels of a button into presses. It does no I/O and
// reads no clock: the caller feeds it levels and times, so it is tested
// with exact times.
type Classifier struct {
	t      hal.ButtonTiming
	raw    bool
	rawAt  time.Time
	stable bool
	downAt time.Time
	long   bool
	stuck  bool
}

// NewClassifier returns a classifier of a button that is up.
func NewClassifier(t hal.ButtonTiming) *Classifier {
	return &Classifier{t: withDefaults(t)}
}

// Feed records the level read at a time (true: pressed) and returns the
// presses it completes.
func (c *Classifier) Feed(down bool, at time.Time) []hal.Press {
	// The old level held until now: settle it first.
	out := c.Tick(at)
	if down != c.raw {
		c.raw, c.rawAt = down, at
	}
	return append(out, c.Tick(at)...)
}

// Tick returns the presses whose time has come by at.
func (c *Classifier) Tick(at time.Time) []hal.Press {
	var out []hal.Press
	if c.raw != c.stable && at.Sub(c.rawAt) >= c.t.Debounce {
		c.stable = c.raw
		if c.stable {
			c.downAt, c.long, c.stuck = c.rawAt, false, false
			out = append(out, hal.Press{Kind: hal.Down, At: c.rawAt})
		} else {
			p := hal.Press{Kind: hal.Short, At: c.rawAt, Held: c.rawAt.Sub(c.downAt)}
			if c.long || c.stuck {
				p.Kind = hal.Up
			}
			out = append(out, p)
		}
	}
	if c.stable {
		held := at.Sub(c.downAt)
		if !c.long && held >= c.t.Long {
			c.long = true
			out = append(out, hal.Press{Kind: hal.Long, At: c.downAt.Add(c.t.Long), Held: c.t.Long})
		}
		if !c.stuck && held >= c.t.Stuck {
			c.stuck = true
			out = append(out, hal.Press{Kind: hal.Stuck, At: c.downAt.Add(c.t.Stuck), Held: c.t.Stuck})
		}
	}
	return out
}

// Next is when Tick next has something to do; zero if only a new level
// can change anything.
func (c *Classifier) Next() time.Time {
	switch {
	case c.raw != c.stable:
		return c.rawAt.Add(c.t.Debounce)
	case c.stable && !c.long:
		return c.downAt.Add(c.t.Long)
	case c.stable && !c.stuck:
		return c.downAt.Add(c.t.Stuck)
	}
	return time.Time{}
}

// Input is a pin as the loop sees it: its level (true: active, after any
// inversion) and a wait for an edge that gives up after a timeout.
type Input interface {
	Active() bool
	WaitForEdge(timeout time.Duration) bool
}

// poll bounds a wait for an edge: the loop notices a stop, and a pin
// whose edges are lost still gets read.
const poll = 50 * time.Millisecond

// Watch feeds a classifier from a pin until stop is closed, handing each
// press to emit. now is the clock (nil: time.Now).
func Watch(in Input, c *Classifier, now func() time.Time, stop <-chan struct{}, emit func(hal.Press)) {
	if now == nil {
		now = time.Now
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		wait := poll
		if next := c.Next(); !next.IsZero() {
			wait = min(wait, max(next.Sub(now()), time.Millisecond))
		}
		in.WaitForEdge(wait)
		for _, p := range c.Feed(in.Active(), now()) {
			emit(p)
		}
	}
}

// Button runs Watch on its own goroutine and delivers to a buffered
// channel; a reader that falls behind loses presses.
type Button struct {
	ch   chan hal.Press
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

var _ hal.Button = (*Button)(nil)

// NewButton starts watching a pin.
func NewButton(in Input, t hal.ButtonTiming, now func() time.Time) *Button {
	b := &Button{ch: make(chan hal.Press, 16), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		defer close(b.ch)
		Watch(in, NewClassifier(t), now, b.stop, func(p hal.Press) {
			select {
			case b.ch <- p:
			default:
			}
		})
	}()
	return b
}

// Presses implements hal.Button.
func (b *Button) Presses() <-chan hal.Press { return b.ch }

// Close stops the watch and waits for it.
func (b *Button) Close() {
	b.once.Do(func() { close(b.stop) })
	<-b.done
}

// Motion is a motion sensor over a pin: the start of each movement.
type Motion struct {
	ch  chan time.Time
	btn *Button
	fwd chan struct{}
}

var _ hal.Motion = (*Motion)(nil)

// NewMotion starts watching a motion sensor's pin; its level must hold
// for debounce to count.
func NewMotion(in Input, debounce time.Duration, now func() time.Time) *Motion {
	m := &Motion{ch: make(chan time.Time, 4), btn: NewButton(in, hal.ButtonTiming{Debounce: debounce, Long: time.Hour}, now), fwd: make(chan struct{})}
	go func() {
		defer close(m.fwd)
		defer close(m.ch)
		for p := range m.btn.Presses() {
			if p.Kind != hal.Down {
				continue
			}
			select {
			case m.ch <- p.At:
			default:
			}
		}
	}()
	return m
}

// Motions implements hal.Motion.
func (m *Motion) Motions() <-chan time.Time { return m.ch }

// Close stops the watch and waits for it.
func (m *Motion) Close() {
	m.btn.Close()
	<-m.fwd
}

// LED plays patterns on an output.
type LED struct {
	set    func(on bool) error
	mu     sync.Mutex
	shown  hal.Pattern
	change chan hal.Pattern
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

var _ hal.LED = (*LED)(nil)

// NewLED starts an LED, off. set drives the pin.
func NewLED(set func(on bool) error) *LED {
	l := &LED{set: set, shown: hal.Off, change: make(chan hal.Pattern, 1), stop: make(chan struct{}), done: make(chan struct{})}
	set(false)
	go l.run()
	return l
}

// Show implements hal.LED.
func (l *LED) Show(p hal.Pattern) error {
	for _, s := range p.Steps {
		if s.For <= 0 {
			return fmt.Errorf("led pattern %q: a step of %s", p.Name, s.For)
		}
	}
	select {
	case <-l.stop:
		return errors.New("led: closed")
	default:
	}
	l.mu.Lock()
	l.shown = p
	l.mu.Unlock()
	for {
		select {
		case l.change <- p:
			return nil
		case <-l.stop:
			return errors.New("led: closed")
		default:
		}
		// Replace a pattern the player has not taken yet.
		select {
		case <-l.change:
		default:
		}
	}
}

// Showing implements hal.LED.
func (l *LED) Showing() hal.Pattern {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shown
}

func (l *LED) run() {
	defer close(l.done)
	var p hal.Pattern
	i := 0
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var wait <-chan time.Time
		if len(p.Steps) > 1 {
			wait = timer.C
		}
		select {
		case <-l.stop:
			l.set(false)
			return
		case p = <-l.change:
			i = 0
		case <-wait:
			i = (i + 1) % len(p.Steps)
		}
		if len(p.Steps) == 0 {
			l.set(false)
			continue
		}
		l.set(p.Steps[i].On)
		timer.Reset(p.Steps[i].For)
	}
}

// Close turns the LED off and stops its player.
func (l *LED) Close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// Relay pulses an output.
type Relay struct {
	set   func(on bool) error
	mu    sync.Mutex
	timer *time.Timer
	done  chan struct{} // closed when the running pulse ends
}

var _ hal.Relay = (*Relay)(nil)

// NewRelay returns a relay, opened. set drives the pin.
func NewRelay(set func(on bool) error) *Relay {
	set(false)
	return &Relay{set: set}
}

// Pulse implements hal.Relay.
func (r *Relay) Pulse(d time.Duration) error {
	if d <= 0 || d > hal.MaxPulse {
		return fmt.Errorf("relay pulse of %s: want more than 0 and at most %s", d, hal.MaxPulse)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		return hal.ErrBusy
	}
	if err := r.set(true); err != nil {
		r.set(false)
		return fmt.Errorf("relay: %w", err)
	}
	done := make(chan struct{})
	r.done = done
	r.timer = time.AfterFunc(d, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.done != done {
			return
		}
		r.set(false)
		r.timer, r.done = nil, nil
		close(done)
	})
	return nil
}

// Close opens the relay at once, ending a running pulse.
func (r *Relay) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
		close(r.done)
		r.timer, r.done = nil, nil
	}
	r.set(false)
}
