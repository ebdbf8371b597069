package sim

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hearthp2p/hearth/hal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBoard(t *testing.T) {
	b := New(Config{Motion: true, Button: hal.ButtonTiming{Debounce: 5 * time.Millisecond, Long: 400 * time.Millisecond}})
	defer b.HAL().Close()
	h := b.HAL()
	next := func() hal.Press {
		t.Helper()
		select {
		case p := <-h.Button.Presses():
			return p
		case <-time.After(10 * time.Second):
			t.Fatal("no press")
		}
		return hal.Press{}
	}
	b.Bounce(7) // ends pressed
	if p := next(); p.Kind != hal.Down {
		t.Fatalf("%v", p.Kind)
	}
	b.ButtonPin.Set(false)
	if p := next(); p.Kind != hal.Short {
		t.Fatalf("%v", p.Kind)
	}
	b.Hold(600 * time.Millisecond)
	for _, want := range []hal.PressKind{hal.Down, hal.Long, hal.Up} {
		if p := next(); p.Kind != want {
			t.Fatalf("%v, want %v", p.Kind, want)
		}
	}
	if err := h.Relay.Pulse(10 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(b.RelayPin.Changes()) < 3 {
		if time.Now().After(deadline) {
			t.Fatal("relay did not open again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if b.RelayPin.Pulses() != 1 || b.RelayPin.On() {
		t.Fatalf("relay changes %v", b.RelayPin.Changes())
	}
	h.LED.Show(hal.Ringing)
	for len(b.LEDPin.Changes()) < 6 {
		if time.Now().After(deadline) {
			t.Fatal("LED did not blink")
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.MotionPin.Set(true)
	select {
	case <-h.Motion.Motions():
	case <-time.After(10 * time.Second):
		t.Fatal("no motion")
	}
}
