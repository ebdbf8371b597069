// Package periph is the driver of package hal on real GPIO pins, through
// periph.io: a Raspberry Pi's header pins by name (GPIO17), or any pin
// periph's host drivers find.
package periph

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"github.com/hearthp2p/hearth/hal"
	"github.com/hearthp2p/hearth/hal/internal/pins"
)

// Config names the pins. Only Button is required; a board without an LED
// or a relay gets ones that do nothing.
type Config struct {
	// Button is the push button's pin, e.g. "GPIO17". By default the
	// button connects the pin to ground (the pin is pulled up, and low
	// is pressed); ButtonActiveHigh is for a button to 3.3 V.
	Button           string
	ButtonActiveHigh bool
	// LED is the LED's pin (high is lit).
	LED string
	// Relay is the door relay's pin; RelayActiveLow is for the many
	// relay boards that close on a low input.
	Relay          string
	RelayActiveLow bool
	// Motion is a PIR sensor's pin (high is motion); empty: none.
	Motion string
	// Timing of the button (zero: the defaults).
	Timing hal.ButtonTiming
}

// Open initialises periph's host drivers, finds the configured pins by
// name and returns the board.
func Open(cfg Config) (hal.Board, error) {
	if _, err := host.Init(); err != nil {
		return hal.Board{}, fmt.Errorf("gpio: %w", err)
	}
	find := func(what, name string) (gpio.PinIO, error) {
		if name == "" {
			return nil, nil
		}
		p := gpioreg.ByName(name)
		if p == nil {
			return nil, fmt.Errorf("gpio: no pin %q for the %s on this machine (%s)", name, what, known())
		}
		return p, nil
	}
	var ps [4]gpio.PinIO
	var err error
	for i, n := range [][2]string{{"button", cfg.Button}, {"led", cfg.LED}, {"relay", cfg.Relay}, {"motion sensor", cfg.Motion}} {
		if ps[i], err = find(n[0], n[1]); err != nil {
			return hal.Board{}, err
		}
	}
	return FromPins(cfg, ps[0], ps[1], ps[2], ps[3])
}

func known() string {
	var names []string
	for _, p := range gpioreg.All() {
		names = append(names, p.Name())
	}
	if len(names) == 0 {
		return "periph found no GPIO pins: is this a Raspberry Pi, and may this user open /dev/gpiochip*?"
	}
	sort.Strings(names)
	if len(names) > 12 {
		names = append(names[:12], "...")
	}
	return "pins: " + strings.Join(names, ", ")
}

// FromPins builds the board on pins already found (periph's gpiotest pins
// in tests). led, relay and motion may be nil.
func FromPins(cfg Config, button, led, relay, motion gpio.PinIO) (hal.Board, error) {
	if button == nil {
		return hal.Board{}, errors.New("gpio: no button pin configured")
	}
	pull := gpio.PullUp
	if cfg.ButtonActiveHigh {
		pull = gpio.PullDown
	}
	if err := button.In(pull, gpio.BothEdges); err != nil {
		return hal.Board{}, fmt.Errorf("gpio: button pin %s: %w", button.Name(), err)
	}
	if motion != nil {
		if err := motion.In(gpio.PullDown, gpio.BothEdges); err != nil {
			return hal.Board{}, fmt.Errorf("gpio: motion pin %s: %w", motion.Name(), err)
		}
	}
	out := func(p gpio.PinIO, activeLow bool) func(bool) error {
		if p == nil {
			return func(bool) error { return nil }
		}
		return func(on bool) error {
			return p.Out(gpio.Level(on != activeLow))
		}
	}
	// A relay must start open: check the pin takes output before the
	// board exists.
	for _, p := range []gpio.PinIO{led, relay} {
		if p != nil {
			if err := p.Out(gpio.Level(p == relay && cfg.RelayActiveLow)); err != nil {
				return hal.Board{}, fmt.Errorf("gpio: pin %s as an output: %w", p.Name(), err)
			}
		}
	}
	btn := pins.NewButton(input{button, !cfg.ButtonActiveHigh}, cfg.Timing, nil)
	l := pins.NewLED(out(led, false))
	r := pins.NewRelay(out(relay, cfg.RelayActiveLow))
	b := hal.Board{Button: btn, LED: l, Relay: r}
	var m *pins.Motion
	if motion != nil {
		m = pins.NewMotion(input{motion, false}, 200*time.Millisecond, nil)
		b.Motion = m
	}
	var once sync.Once
	b.Close = func() error {
		once.Do(func() {
			btn.Close()
			if m != nil {
				m.Close()
			}
			l.Close()
			r.Close()
		})
		return nil
	}
	return b, nil
}

// input adapts a periph pin to the shared loop.
type input struct {
	p         gpio.PinIn
	activeLow bool
}

func (in input) Active() bool { return bool(in.p.Read()) != in.activeLow }

func (in input) WaitForEdge(timeout time.Duration) bool { return in.p.WaitForEdge(timeout) }
