package periph

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/hearthp2p/hearth/hal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func pin(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 32)}
}

func next(t *testing.T, b hal.Button) hal.Press {
	t.Helper()
	select {
	case p := <-b.Presses():
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no press within 10 s")
	}
	return hal.Press{}
}

func level(p *gpiotest.Pin) gpio.Level {
	p.Lock()
	defer p.Unlock()
	return p.L
}

func TestGPIOBoard(t *testing.T) {
	button, led, relay, motion := pin("GPIO17"), pin("GPIO27"), pin("GPIO22"), pin("GPIO4")
	b, err := FromPins(Config{RelayActiveLow: true, Timing: hal.ButtonTiming{Debounce: 5 * time.Millisecond, Long: 300 * time.Millisecond}},
		button, led, relay, motion)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if button.P != gpio.PullUp {
		t.Errorf("button pull %v, want up (a button to ground)", button.P)
	}
	if level(relay) != gpio.High {
		t.Error("an active-low relay did not start open (high)")
	}

	// A bouncing press to ground, then the release.
	for _, l := range []gpio.Level{gpio.Low, gpio.High, gpio.Low, gpio.High, gpio.Low} {
		button.EdgesChan <- l
	}
	if p := next(t, b.Button); p.Kind != hal.Down {
		t.Fatalf("first event %v, want down", p.Kind)
	}
	button.EdgesChan <- gpio.High
	if p := next(t, b.Button); p.Kind != hal.Short {
		t.Fatalf("second event %v, want short", p.Kind)
	}
	// A long press.
	button.EdgesChan <- gpio.Low
	if p := next(t, b.Button); p.Kind != hal.Down {
		t.Fatalf("event %v, want down", p.Kind)
	}
	if p := next(t, b.Button); p.Kind != hal.Long {
		t.Fatalf("event %v, want long", p.Kind)
	}
	button.EdgesChan <- gpio.High
	if p := next(t, b.Button); p.Kind != hal.Up {
		t.Fatalf("event %v, want up", p.Kind)
	}

	if err := b.Relay.Pulse(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if level(relay) != gpio.Low {
		t.Error("an active-low relay did not close (low) on a pulse")
	}
	deadline := time.Now().Add(10 * time.Second)
	for level(relay) != gpio.High {
		if time.Now().After(deadline) {
			t.Fatal("the relay stayed closed")
		}
		time.Sleep(5 * time.Millisecond)
	}

	if err := b.LED.Show(hal.Steady); err != nil {
		t.Fatal(err)
	}
	for level(led) != gpio.High {
		if time.Now().After(deadline) {
			t.Fatal("the LED did not light")
		}
		time.Sleep(5 * time.Millisecond)
	}

	motion.EdgesChan <- gpio.High
	select {
	case <-b.Motion.Motions():
	case <-time.After(10 * time.Second):
		t.Fatal("no motion")
	}
	b.Close()
	if level(led) != gpio.Low || level(relay) != gpio.High {
		t.Error("closing left the LED lit or the relay closed")
	}
}

func TestNoButton(t *testing.T) {
	if _, err := FromPins(Config{}, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "button") {
		t.Fatalf("a board without a button: %v", err)
	}
	// An edge-less pin (gpiotest without an edge channel) is refused
	// with the pin's name.
	if _, err := FromPins(Config{}, &gpiotest.Pin{N: "GPIO5"}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "GPIO5") {
		t.Fatalf("a pin without edges: %v", err)
	}
}

func TestOpenUnknownPin(t *testing.T) {
	_, err := Open(Config{Button: "GPIO999"})
	if err == nil || !strings.Contains(err.Error(), `"GPIO999"`) {
		t.Fatalf("an unknown pin: %v", err)
	}
	t.Log(err)
}
