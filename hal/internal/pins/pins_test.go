package pins

import (
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hearthp2p/hearth/hal"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

type step struct {
	at   int // ms
	down bool
	tick bool // a Tick rather than a Feed
	want []hal.PressKind
}

func run(t *testing.T, c *Classifier, steps []step) {
	t.Helper()
	for _, s := range steps {
		var got []hal.Press
		if s.tick {
			got = c.Tick(ms(s.at))
		} else {
			got = c.Feed(s.down, ms(s.at))
		}
		var kinds []hal.PressKind
		for _, p := range got {
			kinds = append(kinds, p.Kind)
		}
		if len(kinds) != len(s.want) {
			t.Fatalf("at %d ms (down %v): got %v, want %v", s.at, s.down, kinds, s.want)
		}
		for i := range kinds {
			if kinds[i] != s.want[i] {
				t.Fatalf("at %d ms: got %v, want %v", s.at, kinds, s.want)
			}
		}
	}
}

func TestShortPress(t *testing.T) {
	c := NewClassifier(hal.ButtonTiming{Debounce: 30 * time.Millisecond, Long: time.Second})
	run(t, c, []step{
		{at: 0, down: true},
		{at: 10, down: true},
		{at: 30, tick: true, want: []hal.PressKind{hal.Down}},
		{at: 200, down: false},
		{at: 229, tick: true},
		{at: 230, tick: true, want: []hal.PressKind{hal.Short}},
		{at: 5000, tick: true},
	})
	if !c.Next().IsZero() {
		t.Errorf("an idle button wants a tick at %v", c.Next())
	}
}

func TestBounceIsOnePress(t *testing.T) {
	c := NewClassifier(hal.ButtonTiming{Debounce: 30 * time.Millisecond, Long: time.Second})
	var all []hal.Press
	// A worn contact: the level flips every 2 ms for 20 ms on the way
	// down and on the way up.
	for i := 0; i < 10; i++ {
		all = append(all, c.Feed(i%2 == 0, ms(2*i))...)
	}
	all = append(all, c.Feed(true, ms(20))...)
	all = append(all, c.Tick(ms(60))...)
	for i := 0; i < 10; i++ {
		all = append(all, c.Feed(i%2 == 1, ms(300+2*i))...)
	}
	all = append(all, c.Feed(false, ms(320))...)
	all = append(all, c.Tick(ms(400))...)
	if len(all) != 2 || all[0].Kind != hal.Down || all[1].Kind != hal.Short {
		t.Fatalf("presses %v, want one down and one short", all)
	}
	if all[1].Held != 300*time.Millisecond {
		t.Errorf("held %v, want 300ms (from the last settling edge down to the last settling edge up)", all[1].Held)
	}
	// A glitch shorter than the debounce time is nothing.
	run(t, c, []step{{at: 1000, down: true}, {at: 1020, down: false}, {at: 1100, tick: true}})
}

func TestLongAndStuck(t *testing.T) {
	c := NewClassifier(hal.ButtonTiming{Debounce: 30 * time.Millisecond, Long: time.Second, Stuck: 10 * time.Second})
	run(t, c, []step{
		{at: 0, down: true},
		{at: 30, tick: true, want: []hal.PressKind{hal.Down}},
		{at: 999, tick: true},
		{at: 1000, tick: true, want: []hal.PressKind{hal.Long}},
		{at: 5000, tick: true},
		{at: 10000, tick: true, want: []hal.PressKind{hal.Stuck}},
		{at: 60000, tick: true},
		{at: 70000, down: false},
		{at: 70030, tick: true, want: []hal.PressKind{hal.Up}},
		// Freed, it works again.
		{at: 71000, down: true},
		{at: 71100, down: false, want: []hal.PressKind{hal.Down}}, // settled before it went up
		{at: 71200, tick: true, want: []hal.PressKind{hal.Short}},
	})
	// A tick that comes late (a busy machine) still reports both.
	c = NewClassifier(hal.ButtonTiming{Debounce: 30 * time.Millisecond, Long: time.Second, Stuck: 10 * time.Second})
	run(t, c, []step{{at: 0, down: true}, {at: 20000, tick: true, want: []hal.PressKind{hal.Down, hal.Long, hal.Stuck}}})
}

func TestNext(t *testing.T) {
	c := NewClassifier(hal.ButtonTiming{Debounce: 30 * time.Millisecond, Long: time.Second, Stuck: 10 * time.Second})
	c.Feed(true, ms(5))
	if got := c.Next(); !got.Equal(ms(35)) {
		t.Errorf("next after an edge %v, want 35 ms", got.Sub(t0))
	}
	c.Tick(ms(35))
	if got := c.Next(); !got.Equal(ms(1005)) {
		t.Errorf("next while down %v, want 1005 ms", got.Sub(t0))
	}
	c.Tick(ms(1005))
	if got := c.Next(); !got.Equal(ms(10005)) {
		t.Errorf("next after long %v, want 10005 ms", got.Sub(t0))
	}
}

type recorder struct {
	mu   sync.Mutex
	ons  []bool
	fail bool
}

func (r *recorder) set(on bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail && on {
		return errors.New("pin is gone")
	}
	r.ons = append(r.ons, on)
	return nil
}

func (r *recorder) get() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.ons...)
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRelay(t *testing.T) {
	var rec recorder
	r := NewRelay(rec.set)
	defer r.Close()
	for _, d := range []time.Duration{0, -time.Second, hal.MaxPulse + 1} {
		if err := r.Pulse(d); err == nil {
			t.Errorf("a pulse of %s was taken", d)
		}
	}
	if err := r.Pulse(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := r.Pulse(20 * time.Millisecond); !errors.Is(err, hal.ErrBusy) {
		t.Fatalf("a second pulse during the first: %v", err)
	}
	waitFor(t, "the relay to open", func() bool { return len(rec.get()) == 3 })
	if got := rec.get(); got[0] || !got[1] || got[2] {
		t.Fatalf("relay levels %v, want off, on, off", got)
	}
	if err := r.Pulse(time.Hour / 200); err != nil {
		t.Fatalf("a pulse after the first ended: %v", err)
	}
	r.Close()
	if got := rec.get(); got[len(got)-1] {
		t.Fatal("closing left the relay closed")
	}
	// A pin that fails is reported, and the relay is left open.
	bad := &recorder{fail: true}
	r2 := NewRelay(bad.set)
	if err := r2.Pulse(time.Second); err == nil {
		t.Fatal("a failing pin pulsed")
	}
	if err := r2.Pulse(time.Second); errors.Is(err, hal.ErrBusy) {
		t.Fatal("a failed pulse left the relay busy")
	}
}

func TestLED(t *testing.T) {
	var rec recorder
	l := NewLED(rec.set)
	if err := l.Show(hal.Pattern{Name: "bad", Steps: []hal.Step{{On: true}}}); err == nil {
		t.Error("a pattern with a zero step was taken")
	}
	fast := hal.Pattern{Name: "fast", Steps: []hal.Step{{On: true, For: time.Millisecond}, {On: false, For: time.Millisecond}}}
	if err := l.Show(fast); err != nil {
		t.Fatal(err)
	}
	if l.Showing().Name != "fast" {
		t.Errorf("showing %q", l.Showing().Name)
	}
	waitFor(t, "the LED to blink", func() bool { return len(rec.get()) > 10 })
	if err := l.Show(hal.Steady); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the LED to be steady", func() bool { g := rec.get(); return g[len(g)-1] })
	time.Sleep(10 * time.Millisecond) // a step of the fast pattern still under way lands
	n := len(rec.get())
	time.Sleep(20 * time.Millisecond) // real time: twenty steps of the fast pattern, none of a steady LED
	if got := rec.get(); len(got) != n || !got[len(got)-1] {
		t.Errorf("a steady LED changed: %v", got[n-1:])
	}
	l.Close()
	if g := rec.get(); g[len(g)-1] {
		t.Error("closing left the LED on")
	}
	if err := l.Show(fast); err == nil {
		t.Error("a closed LED took a pattern")
	}
}
