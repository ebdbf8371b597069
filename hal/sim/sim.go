// Package sim is a driver of package hal in memory: a button and a motion
// sensor that tests, the control API and the web page press, and an LED
// and a relay that record every change with its time. `hearth demo` runs
// the whole appliance on it.
package sim

import (
	"sync"
	"time"

	"github.com/hearthp2p/hearth/hal"
	"github.com/hearthp2p/hearth/hal/internal/pins"
)

// Config of a simulated board; the zero value works.
type Config struct {
	// Button is the button's timing (zero: the defaults).
	Button hal.ButtonTiming
	// Motion adds a motion sensor.
	Motion bool
	// Now is the clock of the recordings and the classifier (nil:
	// time.Now).
	Now func() time.Time
}

// Input is a simulated input pin.
type Input struct {
	mu    sync.Mutex
	level bool
	edges chan struct{}
}

func newInput() *Input { return &Input{edges: make(chan struct{}, 64)} }

// Set drives the pin: true is pressed (or motion).
func (in *Input) Set(active bool) {
	in.mu.Lock()
	changed := in.level != active
	in.level = active
	in.mu.Unlock()
	if changed {
		select {
		case in.edges <- struct{}{}:
		default:
		}
	}
}

// Active implements pins.Input.
func (in *Input) Active() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.level
}

// WaitForEdge implements pins.Input.
func (in *Input) WaitForEdge(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-in.edges:
		return true
	case <-t.C:
		return false
	}
}

// Change is one change of a simulated output.
type Change struct {
	At time.Time `json:"at"`
	On bool      `json:"on"`
}

// maxChanges bounds an output's record: a blinking LED in a demo that
// runs for days must not grow without end.
const maxChanges = 4096

// Output is a simulated output pin that records its changes.
type Output struct {
	now     func() time.Time
	mu      sync.Mutex
	on      bool
	changes []Change
}

func (o *Output) set(on bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if on == o.on && len(o.changes) > 0 {
		return nil
	}
	o.on = on
	if len(o.changes) == maxChanges {
		o.changes = append(o.changes[:0], o.changes[maxChanges/2:]...)
	}
	o.changes = append(o.changes, Change{At: o.now(), On: on})
	return nil
}

// On is the output's level now.
func (o *Output) On() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.on
}

// Changes is a copy of the recorded changes, oldest first.
func (o *Output) Changes() []Change {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Change(nil), o.changes...)
}

// Pulses counts how many times the output went on.
func (o *Output) Pulses() int {
	n := 0
	for _, c := range o.Changes() {
		if c.On {
			n++
		}
	}
	return n
}

// Board is a simulated board: its pins and the hal.Board over them.
type Board struct {
	ButtonPin *Input
	MotionPin *Input // nil without Config.Motion
	LEDPin    *Output
	RelayPin  *Output

	hal    hal.Board
	gap    time.Duration // a release long enough to count
	finger sync.Mutex    // one press at a time
	button *pins.Button
	motion *pins.Motion
	led    *pins.LED
	relay  *pins.Relay
	once   sync.Once
}

// New starts a simulated board.
func New(cfg Config) *Board {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	db := cfg.Button.Debounce
	if db <= 0 {
		db = 30 * time.Millisecond
	}
	b := &Board{ButtonPin: newInput(), LEDPin: &Output{now: now}, RelayPin: &Output{now: now}, gap: 3 * db}
	b.button = pins.NewButton(b.ButtonPin, cfg.Button, now)
	b.led = pins.NewLED(b.LEDPin.set)
	b.relay = pins.NewRelay(b.RelayPin.set)
	b.hal = hal.Board{Button: b.button, LED: b.led, Relay: b.relay, Close: b.close}
	if cfg.Motion {
		b.MotionPin = newInput()
		b.motion = pins.NewMotion(b.MotionPin, 100*time.Millisecond, now)
		b.hal.Motion = b.motion
	}
	return b
}

// HAL is the board as the appliance uses it.
func (b *Board) HAL() hal.Board { return b.hal }

func (b *Board) close() error {
	b.once.Do(func() {
		b.button.Close()
		if b.motion != nil {
			b.motion.Close()
		}
		b.led.Close()
		b.relay.Close()
	})
	return nil
}

// Hold presses the button for d, then releases it long enough for the
// release to count; it blocks meanwhile, and presses from several
// goroutines take turns, as one finger does.
func (b *Board) Hold(d time.Duration) {
	b.finger.Lock()
	defer b.finger.Unlock()
	b.ButtonPin.Set(true)
	time.Sleep(d)
	b.ButtonPin.Set(false)
	time.Sleep(b.gap)
}

// Bounce toggles the button n times as fast as it can, as a worn contact
// does, ending pressed when n is odd.
func (b *Board) Bounce(n int) {
	for i := range n {
		b.ButtonPin.Set(i%2 == 0)
	}
}
