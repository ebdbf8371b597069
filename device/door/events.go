package door

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/hal"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/room"
)

// EventKind is what a door event tells.
type EventKind string

// The door's events, for the bridges beside it (device/hub): they hear
// them as they happen, never through the room.
const (
	EventRing    EventKind = "ring"    // the button rang the household (Call)
	EventPicture EventKind = "picture" // a picture was taken (Picture, Of)
	EventMotion  EventKind = "motion"  // the motion sensor tripped
	EventRelay   EventKind = "relay"   // the relay closed (Open) or opened again
)

// Event is something the door did.
type Event struct {
	Kind    EventKind
	Call    string    // EventRing: the ring's call
	Picture []byte    // EventPicture: a JPEG
	Of      EventKind // EventPicture: what it shows (EventRing, EventMotion)
	Open    bool      // EventRelay: the door is unlocked
}

// watchers are the functions the door's events go to.
type watchers struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(Event)
}

// Watch has f hear of each of the door's events, until stop. f is called
// on the door's own goroutines and must not block.
func (d *Door) Watch(f func(Event)) (stop func()) {
	w := &d.watchers
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fns == nil {
		w.fns = map[int]func(Event){}
	}
	id := w.next
	w.next++
	w.fns[id] = f
	return func() {
		w.mu.Lock()
		delete(w.fns, id)
		w.mu.Unlock()
	}
}

func (d *Door) emit(ev Event) {
	w := &d.watchers
	w.mu.Lock()
	fns := make([]func(Event), 0, len(w.fns))
	for _, f := range w.fns {
		fns = append(fns, f)
	}
	w.mu.Unlock()
	for _, f := range fns {
		f(ev)
	}
}

// pulse opens the door: the relay closes for the configured pulse, and
// the watchers hear it open and close.
func (d *Door) pulse() error {
	if err := d.board.Relay.Pulse(d.cfg.UnlockPulse); err != nil {
		return err
	}
	d.emit(Event{Kind: EventRelay, Open: true})
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		select {
		case <-time.After(d.cfg.UnlockPulse):
		case <-d.ctx.Done():
		}
		d.emit(Event{Kind: EventRelay})
	}()
	return nil
}

// picture tells the watchers of a picture just taken (at path), of what.
func (d *Door) picture(path string, of room.DoorEvent) {
	var kind EventKind
	switch of {
	case room.DoorRing:
		kind = EventRing
	case room.DoorMotion:
		kind = EventMotion
	default:
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	d.emit(Event{Kind: EventPicture, Picture: b, Of: kind})
}

// ReportHub has the door's status carry the home hub's bridge's (f, if
// not nil).
func (d *Door) ReportHub(f func() *control.Hub) {
	d.mu.Lock()
	d.hubStatus = f
	d.mu.Unlock()
}

// HubName is who the room says unlocked when the home hub did.
const HubName = "home hub"

// HubUnlock is an unlock asked by the home hub (device/hub). allowed is
// the owner's settings' answer; refused, why says why. Either way the
// room records it, as every unlock: who is this door's identity, from
// the "home hub" (a refusal at most once every 10 s).
func (d *Door) HubUnlock(allowed bool, why string) (bool, string) {
	who := d.id.Identity
	if !allowed {
		d.mu.Lock()
		d.refusals++
		write := d.now().Sub(d.hubRefused) >= 10*time.Second
		if write {
			d.hubRefused = d.now()
		}
		d.mu.Unlock()
		d.log.Warn("unlock refused", slog.String("from", HubName), slog.String("reason", why))
		if write {
			if _, err := d.room.Write(room.Op{Type: room.OpDoor, DoorEvent: room.DoorUnlockRefused, Identity: who, Text: why + " (from the " + HubName + ")"}); err != nil {
				d.log.Warn("door entry not written", logattr.Err(err))
			}
		}
		return false, why
	}
	if err := d.pulse(); err != nil {
		if errors.Is(err, hal.ErrBusy) {
			return false, "the door is already open"
		}
		d.log.Error("relay", logattr.Err(err))
		return false, fmt.Sprintf("the relay failed: %v", err)
	}
	d.mu.Lock()
	d.unlocks++
	d.mu.Unlock()
	d.log.Info("door unlocked", slog.String("from", HubName), slog.Duration("pulse", d.cfg.UnlockPulse))
	if _, err := d.room.Write(room.Op{Type: room.OpDoor, DoorEvent: room.DoorUnlocked, Identity: who, Text: HubName}); err != nil {
		d.log.Warn("door entry not written", logattr.Err(err))
	}
	return true, ""
}
