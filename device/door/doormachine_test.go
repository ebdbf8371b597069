package door

import (
	"testing"
	"time"

	"github.com/hearthp2p/hearth/hal"
)

var door0 = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return door0.Add(time.Duration(s * float64(time.Second))) }

func TestDoorMachineRingAnswered(t *testing.T) {
	m := doorMachine{cooldown: 5 * time.Second, pairing: time.Minute}
	if m.led().Name != "off" {
		t.Fatalf("idle LED %q", m.led().Name)
	}
	if a := m.press(hal.Down, at(0)); a != actNone {
		t.Fatalf("down: %v", a)
	}
	if a := m.press(hal.Short, at(0.1)); a != actRing {
		t.Fatalf("short press: %v, want ring", a)
	}
	m.placed("c1", false, at(0.11))
	if m.state != doorRinging || m.led().Name != "ringing" {
		t.Fatalf("after placing: %v %q", m.state, m.led().Name)
	}
	// Pressing again while it rings, and a long press, change nothing.
	if a := m.press(hal.Short, at(1)); a != actIgnored {
		t.Fatalf("a second press while ringing: %v", a)
	}
	if a := m.press(hal.Long, at(4)); a != actIgnored || !m.pairingUntil.IsZero() {
		t.Fatalf("a long press while ringing: %v, pairing %v", a, m.pairingUntil)
	}
	// Another call's change is not ours.
	if a := m.callChanged("other", false, true, false, at(2)); a != actNone || m.state != doorRinging {
		t.Fatalf("another call: %v %v", a, m.state)
	}
	m.callChanged("c1", true, false, true, at(3))
	if m.state != doorInCall || m.led().Name != "on" {
		t.Fatalf("answered: %v %q", m.state, m.led().Name)
	}
	if a := m.press(hal.Long, at(10)); a != actIgnored {
		t.Fatalf("a long press during the call: %v", a)
	}
	if a := m.callChanged("c1", false, true, true, at(60)); a != actNone {
		t.Fatalf("an answered call ended: %v, want nothing to post", a)
	}
	if m.state != doorCooldown || !m.next().Equal(at(65)) {
		t.Fatalf("after the call: %v, next %v", m.state, m.next())
	}
	if a := m.press(hal.Short, at(62)); a != actIgnored {
		t.Fatalf("a press in cooldown: %v", a)
	}
	m.tick(at(64.9))
	if m.state != doorCooldown {
		t.Fatal("cooldown ended early")
	}
	m.tick(at(65))
	if m.state != doorIdle || !m.next().IsZero() {
		t.Fatalf("after cooldown: %v next %v", m.state, m.next())
	}
}

func TestDoorMachineMissedAndFailed(t *testing.T) {
	m := doorMachine{cooldown: 5 * time.Second, pairing: time.Minute}
	m.press(hal.Short, at(0))
	m.placed("c1", false, at(0))
	if a := m.callChanged("c1", false, true, false, at(30)); a != actMissed {
		t.Fatalf("nobody answered: %v, want missed", a)
	}
	m.tick(at(35))
	// A ring that cannot be placed goes to cooldown, then idle.
	if a := m.press(hal.Short, at(40)); a != actRing {
		t.Fatal(a)
	}
	m.placed("", true, at(40))
	if m.state != doorCooldown {
		t.Fatalf("a failed ring: %v", m.state)
	}
	// A late change of the failed ring's call means nothing.
	if a := m.callChanged("", false, true, false, at(41)); a != actNone {
		t.Fatal(a)
	}
	m.tick(at(45))
	if m.state != doorIdle {
		t.Fatal(m.state)
	}
}

func TestDoorMachinePairingAndStuck(t *testing.T) {
	m := doorMachine{cooldown: 5 * time.Second, pairing: time.Minute}
	if a := m.press(hal.Long, at(0)); a != actPairingOn {
		t.Fatalf("long press: %v", a)
	}
	if m.led().Name != "pairing" || !m.next().Equal(at(60)) {
		t.Fatalf("pairing: %q next %v", m.led().Name, m.next())
	}
	// A ring during pairing mode works, and pairing shows again after.
	if a := m.press(hal.Short, at(5)); a != actRing {
		t.Fatal(a)
	}
	m.placed("c", false, at(5))
	m.callChanged("c", false, true, false, at(10))
	m.tick(at(15))
	if m.led().Name != "pairing" {
		t.Fatalf("back from the ring: %q", m.led().Name)
	}
	if a := m.tick(at(60)); a != actPairingOff || m.led().Name != "off" {
		t.Fatalf("pairing timed out: %v %q", a, m.led().Name)
	}
	// A second long press closes pairing mode early.
	m.press(hal.Long, at(100))
	if a := m.press(hal.Long, at(110)); a != actPairingOff {
		t.Fatalf("second long press: %v", a)
	}

	// A stuck button: fault LED, presses ignored until it comes free.
	if a := m.press(hal.Stuck, at(200)); a != actIgnored || m.led().Name != "fault" {
		t.Fatalf("stuck: %v %q", a, m.led().Name)
	}
	if a := m.press(hal.Short, at(201)); a != actIgnored {
		t.Fatalf("a press while stuck: %v", a)
	}
	if a := m.press(hal.Long, at(201)); a != actIgnored {
		t.Fatalf("a long press while stuck: %v", a)
	}
	m.press(hal.Up, at(300))
	if m.led().Name != "off" || m.stuck {
		t.Fatal("freed button still stuck")
	}
	if a := m.press(hal.Short, at(301)); a != actRing {
		t.Fatalf("a press after the button came free: %v", a)
	}
}
