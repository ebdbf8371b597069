package call

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A group call has one origin: the device that placed it. Everyone else
// is in it because they answered the origin's ring by hand, or because
// the origin let them in when they answered late (fork) and they then
// called the others. Those others take such a join by themselves (no
// ring), so a join must prove the origin let the joiner in: the origin
// signs (group, room, joiner) with its device key, the key of its peer id,
// and the joiner shows the signature in its ring to each participant.
// Without it, a member who was ever rung for the group (even one who
// declined, or was removed since) could join by naming the group's id.

const admitContext = "hearth call: let into a group\x00"

func admitMessage(g ID, room [16]byte, joiner peer.ID) []byte {
	b := append([]byte(admitContext), g[:]...)
	b = append(b, room[:]...)
	return append(b, []byte(joiner)...)
}

// admit signs the joiner into group g of room, as its origin.
func (m *Manager) admit(g ID, room [16]byte, joiner peer.ID) ([]byte, error) {
	if m.cfg.Key == nil {
		return nil, errors.New("no device key to admit with")
	}
	return Admission(m.cfg.Key, g, room, joiner)
}

// Admission is the origin's signature (key, its device key) letting
// joiner into group g of room: what a join rings with.
func Admission(key crypto.PrivKey, g ID, room [16]byte, joiner peer.ID) ([]byte, error) {
	return key.Sign(admitMessage(g, room, joiner))
}

// checkAdmit verifies that origin let joiner into group g of room.
func checkAdmit(origin peer.ID, g ID, room [16]byte, joiner peer.ID, sig []byte) error {
	if len(sig) == 0 {
		return errors.New("no admission from the group's caller")
	}
	pub, err := origin.ExtractPublicKey()
	if err != nil {
		return fmt.Errorf("the group's caller: %w", err)
	}
	ok, err := pub.Verify(admitMessage(g, room, joiner), sig)
	if err != nil || !ok {
		return errors.New("an admission the group's caller did not sign")
	}
	return nil
}

// originOf returns the device that placed group g as this device knows
// it (itself, or the caller whose ring it answered), and whether this
// device is in the group at all.
func (m *Manager) originOf(g ID) (peer.ID, bool) {
	for _, c := range m.groupCalls(g) {
		if c.ID != g {
			continue
		}
		if c.Direction == Outgoing {
			return m.cfg.Host.ID(), true
		}
		c.mu.Lock()
		var p peer.ID
		for q := range c.legs {
			p = q
		}
		if c.answered != nil {
			p = c.answered.p
		}
		c.mu.Unlock()
		return p, p != ""
	}
	return "", false
}

// checkJoin decides whether a ring from p joins group (a call of it this
// device is in): over the group's room, with the origin's admission, once.
func (m *Manager) checkJoin(group *Call, p peer.ID, s Signal) error {
	if s.Room != group.Room {
		return errors.New("a join over another room than the group's")
	}
	origin, ok := m.originOf(s.Group)
	switch {
	case !ok:
		return errors.New("this device does not know the group's caller")
	case origin == m.cfg.Host.ID():
		return errors.New("the group's caller lets people in itself: nobody joins it by ringing")
	case origin == p:
		return errors.New("the group's caller rings, it does not join")
	}
	if err := checkAdmit(origin, s.Group, s.Room, p, s.Admit); err != nil {
		return err
	}
	k := joinKey{s.Group, p}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.joined[k] {
		return errors.New("joined this group once already")
	}
	if len(m.joined) >= 1024 {
		clear(m.joined)
	}
	m.joined[k] = true
	return nil
}

type joinKey struct {
	g ID
	p peer.ID
}
