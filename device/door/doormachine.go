package door

import (
	"time"

	"github.com/hearthp2p/hearth/hal"
)

// doorState is where the doorphone is.
type doorState uint8

const (
	doorIdle doorState = iota
	doorRinging
	doorInCall
	doorCooldown
)

func (s doorState) String() string {
	return [...]string{"idle", "ringing", "in call", "cooldown"}[s]
}

// doorAct is what the doorphone must do after an event.
type doorAct uint8

const (
	actNone       doorAct = iota
	actRing               // place a call to the household and post the ring
	actMissed             // post the missed ring with its clip
	actPairingOn          // open pairing mode
	actPairingOff         // close pairing mode
	actIgnored            // the event came at a time it means nothing (logged)
)

// doorMachine is the doorphone's state machine: idle, ringing, in call,
// cooldown, with pairing mode beside them and a stuck button above them.
// It does no I/O and reads no clock: the door's loop feeds it events and
// times and does what it answers, so it is tested with exact times.
type doorMachine struct {
	cooldown time.Duration
	pairing  time.Duration

	state        doorState
	call         string    // the call of the ring (empty until placed)
	until        time.Time // end of cooldown
	pairingUntil time.Time // zero: not pairing
	stuck        bool
}

// press handles a button event.
func (m *doorMachine) press(k hal.PressKind, now time.Time) doorAct {
	switch k {
	case hal.Stuck:
		m.stuck = true
		return actIgnored
	case hal.Up:
		if m.stuck {
			m.stuck = false
			return actNone
		}
		return actNone // the end of a long press
	case hal.Down:
		return actNone
	case hal.Short:
		if m.stuck || m.state != doorIdle {
			return actIgnored
		}
		m.state, m.call = doorRinging, ""
		return actRing
	case hal.Long:
		if m.stuck || (m.state != doorIdle && m.state != doorCooldown) {
			return actIgnored
		}
		if !m.pairingUntil.IsZero() {
			m.pairingUntil = time.Time{}
			return actPairingOff
		}
		m.pairingUntil = now.Add(m.pairing)
		return actPairingOn
	}
	return actIgnored
}

// placed records the call of the ring; failed says the ring could not be
// placed (nobody to ring, the network down): back to idle after a
// cooldown.
func (m *doorMachine) placed(callID string, failed bool, now time.Time) {
	if m.state != doorRinging {
		return
	}
	if failed {
		m.state, m.until, m.call = doorCooldown, now.Add(m.cooldown), ""
		return
	}
	m.call = callID
}

// callChanged handles a change of a call: answered, or ended (answered
// before or not).
func (m *doorMachine) callChanged(callID string, active, ended, answered bool, now time.Time) doorAct {
	if callID == "" || callID != m.call {
		return actNone
	}
	switch {
	case ended:
		m.state, m.until, m.call = doorCooldown, now.Add(m.cooldown), ""
		if !answered {
			return actMissed
		}
	case active && m.state == doorRinging:
		m.state = doorInCall
	}
	return actNone
}

// tick handles the passing of time.
func (m *doorMachine) tick(now time.Time) doorAct {
	if m.state == doorCooldown && !now.Before(m.until) {
		m.state = doorIdle
	}
	if !m.pairingUntil.IsZero() && !now.Before(m.pairingUntil) {
		m.pairingUntil = time.Time{}
		return actPairingOff
	}
	return actNone
}

// next is when tick next has something to do; zero for never.
func (m *doorMachine) next() time.Time {
	var t time.Time
	if m.state == doorCooldown {
		t = m.until
	}
	if !m.pairingUntil.IsZero() && (t.IsZero() || m.pairingUntil.Before(t)) {
		t = m.pairingUntil
	}
	return t
}

// led is what the LED shows.
func (m *doorMachine) led() hal.Pattern {
	switch {
	case m.stuck:
		return hal.Fault
	case m.state == doorRinging:
		return hal.Ringing
	case m.state == doorInCall:
		return hal.InCall
	case !m.pairingUntil.IsZero():
		return hal.Pairing
	case m.state == doorCooldown:
		return hal.Cooldown
	}
	return hal.Off
}
