// Package hal is the contract between the appliance and its hardware: a
// push button, an LED, a door relay and an optional motion sensor. It
// holds only interfaces and value types; the drivers are hal/periph (real
// GPIO through periph.io) and hal/sim (in memory, driven by tests, the
// control API and the web page).
//
// Cameras and microphones are not here: they are media sources of package
// call.
package hal

import (
	"errors"
	"time"
)

// PressKind says what a button did.
type PressKind uint8

const (
	// Down: the button went down (after debouncing).
	Down PressKind = iota + 1
	// Short: released before the long-press time.
	Short
	// Long: held for the long-press time; sent while still held.
	Long
	// Stuck: held far longer than anyone presses a button (a jammed or
	// shorted button). No Short or Long follows until it is released.
	Stuck
	// Up: released after a Long or a Stuck.
	Up
)

func (k PressKind) String() string {
	switch k {
	case Down:
		return "down"
	case Short:
		return "short"
	case Long:
		return "long"
	case Stuck:
		return "stuck"
	case Up:
		return "up"
	}
	return "unknown"
}

// Press is one debounced event of a button.
type Press struct {
	Kind PressKind
	At   time.Time
	// Held is how long the button had been down (zero for Down).
	Held time.Duration
}

// ButtonTiming is how a button's presses are told apart. Zero fields
// take the drivers' defaults.
type ButtonTiming struct {
	// Debounce is how long a level must hold to count (default 30 ms).
	Debounce time.Duration
	// Long is the hold time of a long press (default 3 s).
	Long time.Duration
	// Stuck is the hold time after which the button is deemed stuck
	// (default 60 s, and at least twice Long).
	Stuck time.Duration
}

// Button is a debounced push button. Presses delivers its events until
// the board is closed; a reader that falls behind loses events, never
// blocks the driver.
type Button interface {
	Presses() <-chan Press
}

// Step is one part of an LED pattern: on or off for a while.
type Step struct {
	On  bool
	For time.Duration
}

// Pattern is what an LED shows: its steps repeat. No steps is off; one
// step is steady.
type Pattern struct {
	Name  string
	Steps []Step
}

// The patterns of the doorphone.
var (
	Off      = Pattern{Name: "off"}
	Steady   = Pattern{Name: "on", Steps: []Step{{On: true, For: time.Hour}}}
	Ringing  = Pattern{Name: "ringing", Steps: []Step{{true, 125 * time.Millisecond}, {false, 125 * time.Millisecond}}}
	InCall   = Steady
	Cooldown = Pattern{Name: "cooldown", Steps: []Step{{true, 50 * time.Millisecond}, {false, 950 * time.Millisecond}}}
	Pairing  = Pattern{Name: "pairing", Steps: []Step{{true, 100 * time.Millisecond}, {false, 100 * time.Millisecond}, {true, 100 * time.Millisecond}, {false, 700 * time.Millisecond}}}
	Fault    = Pattern{Name: "fault", Steps: []Step{{true, 500 * time.Millisecond}, {false, 500 * time.Millisecond}}}
)

// LED shows a pattern until told otherwise.
type LED interface {
	Show(Pattern) error
	// Showing is the pattern shown now.
	Showing() Pattern
}

// Relay drives a door strike or lock.
type Relay interface {
	// Pulse closes the relay for d, then opens it. A pulse while one is
	// running is refused with ErrBusy.
	Pulse(d time.Duration) error
}

// Motion is a motion sensor (a PIR): Motions delivers the start of each
// movement, debounced, until the board is closed.
type Motion interface {
	Motions() <-chan time.Time
}

// Board is the hardware of one appliance. Button, LED and Relay are always
// set (a driver without a pin gives a no-op); Motion is nil without a
// sensor.
type Board struct {
	Button Button
	LED    LED
	Relay  Relay
	Motion Motion
	// Close stops the drivers' goroutines and releases the pins.
	Close func() error
}

// ErrBusy is returned by Relay.Pulse while a pulse is running.
var ErrBusy = errors.New("relay: a pulse is running")

// MaxPulse bounds a relay pulse: a door strike held for longer overheats,
// and a longer "unlock" is a mistake in the configuration.
const MaxPulse = 30 * time.Second
