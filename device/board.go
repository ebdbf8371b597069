package device

import (
	"fmt"
	"time"

	"github.com/hearthp2p/hearth/device/config"
	"github.com/hearthp2p/hearth/device/door"
	"github.com/hearthp2p/hearth/hal"
	"github.com/hearthp2p/hearth/hal/periph"
	"github.com/hearthp2p/hearth/hal/sim"
)

// openBoard opens the doorphone's board as its settings say: GPIO pins
// through periph, or the simulated board (then also returned as the
// door's Simulator). This is the only place that picks a driver.
func openBoard(h config.HALSettings) (hal.Board, door.Simulator, error) {
	timing := hal.ButtonTiming{Debounce: time.Duration(h.Debounce), Long: time.Duration(h.LongPress)}
	if h.Driver == "sim" {
		b := sim.New(sim.Config{Button: timing, Motion: true})
		return b.HAL(), simBoard{b}, nil
	}
	b, err := periph.Open(periph.Config{Button: h.Button, ButtonActiveHigh: h.ButtonActiveHigh, LED: h.LED,
		Relay: h.Relay, RelayActiveLow: h.RelayActiveLow, Motion: h.Motion, Timing: timing})
	if err != nil {
		return hal.Board{}, nil, fmt.Errorf("doorphone: %w (set [hal] driver = \"sim\" to try it without hardware)", err)
	}
	return b, nil, nil
}

// simBoard is the simulated board as the door's Simulator.
type simBoard struct{ b *sim.Board }

func (s simBoard) Hold(d time.Duration) { s.b.Hold(d) }
func (s simBoard) SetButton(down bool)  { s.b.ButtonPin.Set(down) }
func (s simBoard) SetMotion(on bool)    { s.b.MotionPin.Set(on) }
func (s simBoard) RelayPulses() int     { return s.b.RelayPin.Pulses() }
