package call

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// Place rings every target device of a room at once. The first to accept
// gets the call; the others are told it was answered elsewhere. Nobody
// answering within the ring timeout makes it a missed call.
//
// ctx bounds the placing, not the call: the placing is dialling each
// target and sending it the ring, which goes on in the background after
// Place returns the ringing call (at most DialTimeout per device). A ctx
// already done fails Place with ctx.Err() wrapped, and no call is made. A
// ctx done while the call is still being placed, before anyone answered,
// stops the dialling and ends the call as hung up by this side
// (EndHungUp: the rung devices hear the caller gave up). Once every target
// was dialled and rung, ctx is no longer looked at: the call rings until
// the ring timeout, an answer or a Hangup. So a ctx that ends as soon as
// the caller returns (an HTTP request's, whose handler returns at once
// with the ringing call) may cut the placing short; pass one that lives
// as long as the placing may take (the daemon's, or a ctx of its own).
func (m *Manager) Place(ctx context.Context, room [16]byte, targets []peer.ID, media Media) (*Call, error) {
	return m.PlaceTagged(ctx, room, targets, media, nil)
}

// PlaceTagged is Place with a tag on the call, set before anything else
// can see it (the endpoint factory reads it: e.g. a call placed from the
// browser page). ctx bounds the placing, as for Place.
func (m *Manager) PlaceTagged(ctx context.Context, room [16]byte, targets []peer.ID, media Media, tag any) (*Call, error) {
	return m.PlaceWith(ctx, room, targets, media, PlaceOptions{Tag: tag})
}

// PlaceOptions are what PlaceWith takes besides the room, the targets and
// the media.
type PlaceOptions struct {
	// Tag is set on the call before anything else can see it (see
	// PlaceTagged).
	Tag any
	// Redial, if not zero, dials again every Redial each device that could
	// not be reached, for as long as the call rings: a device that comes
	// online meanwhile (a phone's app opened by the ring's push) is rung
	// then. Such a call rings its whole time even when no device could be
	// reached at first, rather than ending missed at once.
	Redial time.Duration
}

// PlaceWith is Place with options. ctx bounds the placing, as for Place;
// the redials (PlaceOptions.Redial) go on after it, until the call stops
// ringing.
func (m *Manager) PlaceWith(ctx context.Context, room [16]byte, targets []peer.ID, media Media, o PlaceOptions) (*Call, error) {
	return m.place(ctx, room, targets, media, o, NewID(), ID{}, nil)
}

// PlaceGroup rings the targets for a group call: every identity whose
// device answers joins (one device each), up to MaxGroup devices in all,
// each sending its media to every other (a mesh). Devices still ringing
// when the first answer comes go on ringing until the ring timeout. ctx
// bounds the placing, as for Place: done before every target was rung, it
// ends the ringing call (those who already answered stay in theirs).
func (m *Manager) PlaceGroup(ctx context.Context, room [16]byte, targets []peer.ID, media Media, tag any) (*Call, error) {
	id := NewID()
	return m.place(ctx, room, targets, media, PlaceOptions{Tag: tag}, id, id, nil)
}

// place rings targets for call id of group g (zero: a call of two); a
// join of a group shows admit, the origin's admission. ctx bounds the
// placing (see Place): the dials, and the rings sent on them.
//
// Goroutines, all counted in m.wg: one per target (dial and ring it, then
// read its leg until the leg or the call ends); the placing's watcher,
// which ends the ringing call if ctx is done first and returns once every
// target was dialled; and the ring timer, which waits for the dials, then
// for the ring timeout or the call's end.
func (m *Manager) place(ctx context.Context, room [16]byte, targets []peer.ID, media Media, o PlaceOptions, id, g ID, admit []byte) (*Call, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("placing a call: %w", err)
	}
	if len(targets) == 0 {
		return nil, errors.New("nobody else in the room to call")
	}
	c, err := m.newCall(id, room, Outgoing, media, g)
	if err != nil {
		return nil, err
	}
	placed := make(chan struct{}) // closed when every target was dialled
	c.mu.Lock()
	c.tag = o.Tag
	c.admit = admit
	c.placed = placed
	c.st.Rung = len(targets)
	c.mu.Unlock()
	m.log.Info("calling", slog.String("call", c.ID.String()), slog.Int("devices", len(targets)))
	var dialing sync.WaitGroup
	var reached int
	var cut bool // a dial failed for ctx being done
	var rmu sync.Mutex
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		select {
		case <-placed:
		case <-ctx.Done():
			c.gaveUp()
		}
	}()
	for _, p := range targets {
		dialing.Add(1)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			l, err := m.ring(ctx, c, p)
			if err == nil {
				rmu.Lock()
				reached++
				rmu.Unlock()
			} else {
				rmu.Lock()
				cut = cut || ctx.Err() != nil
				rmu.Unlock()
				m.log.Debug("a device could not be rung", logattr.Peer(p.String()), logattr.Err(err))
			}
			dialing.Done()
			if l == nil && o.Redial > 0 {
				l = m.redial(c, p, o.Redial)
			}
			if l != nil {
				c.outgoingLoop(l)
			}
		}()
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		dialing.Wait()
		close(placed)
		if cut {
			// The placing was cut short: the dials that failed failed
			// for that, not because nobody could be reached.
			c.gaveUp()
			return
		}
		if reached == 0 && o.Redial == 0 {
			c.end(EndMissed, errors.New("no device of the room could be reached"), nil)
			return
		}
		c.afterRinging(m.cfg.RingTimeout, func(ringing bool) {
			if ringing {
				c.end(EndMissed, nil, &Signal{Kind: Hangup, Reason: reasonNoAnswer})
			} else {
				c.stopRinging() // a group call: those who did not answer in time
			}
		})
	}()
	c.changed()
	return c, nil
}

// redial rings p every wait while c rings, until it is reached: the leg,
// or nil once the call stopped ringing.
func (m *Manager) redial(c *Call, p peer.ID, wait time.Duration) *leg {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-c.ended:
			return nil
		case <-t.C:
		}
		c.mu.Lock()
		ringing := c.st.State == StateRinging
		c.mu.Unlock()
		if !ringing {
			return nil
		}
		if l, err := m.ring(context.Background(), c, p); err == nil {
			m.log.Debug("a device rung on a redial", logattr.Peer(p.String()), slog.String("call", c.ID.String()))
			return l
		}
		t.Reset(wait)
	}
}

// gaveUp ends an outgoing call whose placing was cancelled, if it still
// rings: hung up by this side, as Hangup would. A call already answered
// (or a group call's participants, each in a call of its own) goes on.
func (c *Call) gaveUp() {
	c.mu.Lock()
	ringing := c.st.State == StateRinging
	c.mu.Unlock()
	if ringing {
		c.end(EndHungUp, nil, &Signal{Kind: Hangup, Call: c.ID, Reason: reasonGaveUp})
	}
}

// afterRinging waits d, unless the call ends first, then calls fn with
// whether it still rings.
func (c *Call) afterRinging(d time.Duration, fn func(ringing bool)) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.ended:
	case <-t.C:
		c.mu.Lock()
		ringing := c.st.State == StateRinging
		c.mu.Unlock()
		fn(ringing)
	}
}

// stopRinging tells the devices still ringing for a call that it goes on
// without them.
func (c *Call) stopRinging() {
	c.mu.Lock()
	var rest []*leg
	for p, l := range c.legs {
		if l != c.answered {
			rest = append(rest, l)
			delete(c.legs, p)
		}
	}
	c.mu.Unlock()
	for _, l := range rest {
		l.send(Signal{Kind: Hangup, Reason: reasonNoAnswer})
		l.done.Store(true)
		l.st.Close()
	}
}

// What a caller tells the devices still ringing when it stops ringing
// them: each side then reads what happened (missed, answered on another
// of my devices, answered by someone else).
const (
	reasonNoAnswer = "no answer"
	reasonGaveUp   = "the caller hung up"
	reasonOther    = "answered by someone else"
)

// stopSignal is what a ringing leg is told when party answered: its own
// other devices that the call was answered elsewhere, anyone else's that
// someone else answered.
func stopSignal(l *leg, party Party, id ID) Signal {
	if l.party.Identity == party.Identity {
		return Signal{Kind: Elsewhere, Call: id}
	}
	return Signal{Kind: Hangup, Call: id, Reason: reasonOther}
}

// ring opens the signaling stream to one device and rings it. The dial
// ends with ctx (the placing's), the call's end or DialTimeout.
func (m *Manager) ring(ctx context.Context, c *Call, p peer.ID) (*leg, error) {
	party, err := m.cfg.Authorize(p, c.Room)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.ended:
			cancel()
		case <-ctx.Done():
		}
	}()
	if m.cfg.Reach != nil {
		if err := m.cfg.Reach(ctx, p); err != nil {
			return nil, err
		}
	}
	st, err := m.cfg.Host.NewStream(network.WithAllowLimitedConn(ctx, "hearth call"), p, Protocol)
	if err != nil {
		return nil, err
	}
	l := &leg{m: m, p: p, party: party, st: st, r: bufio.NewReader(st), wire: c.ID, call: c}
	c.mu.Lock()
	if c.st.State != StateRinging {
		c.mu.Unlock()
		st.Reset()
		return nil, errors.New("the call stopped ringing")
	}
	c.legs[p] = l
	admit := c.admit
	c.mu.Unlock()
	if err := l.send(Signal{Kind: Ring, Room: c.Room, Media: c.Media, Group: c.group, Admit: admit}); err != nil {
		c.mu.Lock()
		delete(c.legs, p)
		c.mu.Unlock()
		st.Reset()
		return nil, err
	}
	return l, nil
}

// outgoingLoop reads one rung device's signals until the call ends or
// the leg is done. The leg's call may change under it: a group caller
// gives each later participant a call of its own.
func (c *Call) outgoingLoop(l *leg) {
	for {
		s, err := l.recv()
		cur := l.owner()
		if err != nil {
			cur.legGone(l, err)
			return
		}
		if s.Call != l.wire {
			cur.legGone(l, fmt.Errorf("a signal for another call"))
			return
		}
		if !cur.outgoingSignal(l, s) {
			return
		}
	}
}

// outgoingSignal handles one signal; false means stop reading the leg.
func (c *Call) outgoingSignal(l *leg, s Signal) bool {
	c.mu.Lock()
	state, answered := c.st.State, c.answered
	c.mu.Unlock()
	if state == StateEnded {
		return false
	}
	switch s.Kind {
	case Accept:
		if answered != nil && answered != l && c.group != (ID{}) {
			return c.fork(l)
		}
		if answered != nil {
			l.send(stopSignal(l, answered.party, c.ID))
			c.dropLeg(l)
			return false
		}
		c.mu.Lock()
		c.answered = l
		c.st.State, c.st.Answered = StateConnecting, time.Now()
		party := l.party
		c.st.Peer = &party
		var others []*leg
		for p, o := range c.legs {
			// A group call goes on ringing the other people; only the
			// other devices of whoever answered stop.
			if o != l && (c.group == (ID{}) || o.party.Identity == party.Identity) {
				others = append(others, o)
				delete(c.legs, p)
			}
		}
		c.mu.Unlock()
		for _, o := range others {
			o.send(stopSignal(o, party, c.ID))
			o.done.Store(true)
			o.st.Close()
		}
		c.m.log.Info("call answered", slog.String("call", c.ID.String()), slog.String("by", party.Identity), slog.String("device", party.Name))
		c.changed()
		if err := c.startMedia(l); err != nil {
			c.end(EndFailed, err, &Signal{Kind: Hangup, Call: c.ID, Reason: "the media could not start"})
			return false
		}
		offer, err := c.endpoint().Offer(context.Background())
		if err == nil {
			err = l.send(Signal{Kind: Offer, Call: c.ID, SDP: offer})
		}
		if err != nil {
			c.end(EndFailed, err, &Signal{Kind: Hangup, Call: c.ID, Reason: "the offer failed"})
			return false
		}
	case Decline, Busy:
		if answered != nil {
			return answered == l // a late no from a leg already dropped
		}
		l.done.Store(true)
		c.m.log.Info("a rung device said no", slog.String("call", c.ID.String()), slog.String("how", s.Kind.String()), slog.String("reason", s.Reason))
		c.dropLeg(l)
		c.noneLeft(s.Kind)
		return false
	case Answer, Candidate, Hangup:
		if answered != l {
			c.m.log.Debug("a signal from a device that did not answer", slog.String("kind", s.Kind.String()))
			return true
		}
		return c.mediaSignal(l, s)
	default:
		c.m.log.Debug("an unexpected signal", slog.String("kind", s.Kind.String()))
	}
	return true
}

// mediaSignal handles the signals of the answered leg, on both sides.
func (c *Call) mediaSignal(l *leg, s Signal) bool {
	ep := c.endpoint()
	switch s.Kind {
	case Hangup:
		l.done.Store(true)
		why := EndRemoteHung
		if s.Reason != "" {
			why += ": " + s.Reason // already bounded by the decoder
		}
		c.end(why, nil, nil)
		return false
	case Candidate:
		if ep != nil {
			if err := ep.AddCandidate(s); err != nil {
				c.m.log.Debug("a remote candidate refused", logattr.Err(err))
			}
		}
	case Answer:
		if ep == nil {
			return false
		}
		if err := ep.TakeAnswer(s.SDP); err != nil {
			c.end(EndFailed, fmt.Errorf("the answer: %w", err), &Signal{Kind: Hangup, Call: c.ID, Reason: "a bad answer"})
			return false
		}
	case Offer:
		if ep == nil {
			return false
		}
		answer, err := ep.TakeOffer(context.Background(), s.SDP)
		if err == nil {
			err = l.send(Signal{Kind: Answer, Call: c.ID, SDP: answer})
		}
		if err != nil {
			c.end(EndFailed, fmt.Errorf("the offer: %w", err), &Signal{Kind: Hangup, Call: c.ID, Reason: "a bad offer"})
			return false
		}
	}
	return true
}

// fork gives a later participant of a group call, who answered on leg l,
// a call of its own with this device, and tells it who else is in the
// group to join them. A full group, or a second device of someone already
// in it, is told the call was answered elsewhere.
func (c *Call) fork(l *leg) bool {
	parts := c.m.participants(c.group)
	if len(parts)+1 >= MaxGroup || parts[l.party.Identity] != "" {
		l.send(Signal{Kind: Elsewhere})
		c.dropLeg(l)
		return false
	}
	f, err := c.m.newCall(NewID(), c.Room, Outgoing, c.Media, c.group)
	if err != nil {
		l.send(Signal{Kind: Elsewhere})
		c.dropLeg(l)
		return false
	}
	party := l.party
	f.mu.Lock()
	f.tag = c.Tag()
	f.answered = l
	f.legs[l.p] = l
	f.st.State, f.st.Answered, f.st.Peer = StateConnecting, time.Now(), &party
	f.mu.Unlock()
	c.mu.Lock()
	delete(c.legs, l.p)
	c.forks = append(c.forks, f)
	var same []*leg
	for p, o := range c.legs {
		if o != c.answered && o.party.Identity == party.Identity {
			same = append(same, o)
			delete(c.legs, p)
		}
	}
	c.mu.Unlock()
	l.mu.Lock()
	l.call = f
	l.mu.Unlock()
	for _, o := range same {
		o.send(Signal{Kind: Elsewhere})
		o.done.Store(true)
		o.st.Close()
	}
	c.m.log.Info("a participant joined the group call", slog.String("group", c.group.String()), slog.String("who", party.Identity))
	f.changed()
	if err := f.startMedia(l); err != nil {
		f.end(EndFailed, err, &Signal{Kind: Hangup, Reason: "the media could not start"})
		return false
	}
	offer, err := f.endpoint().Offer(context.Background())
	if err == nil {
		err = l.send(Signal{Kind: Offer, SDP: offer})
	}
	if err != nil {
		f.end(EndFailed, err, &Signal{Kind: Hangup, Reason: "the offer failed"})
		return false
	}
	// The others in the group, for the newcomer to join, with its
	// admission to show them.
	var peers []string
	for _, p := range parts {
		if p != l.p.String() {
			peers = append(peers, p)
		}
	}
	if len(peers) > 0 {
		admit, err := c.m.admit(c.group, c.Room, l.p)
		if err != nil {
			c.m.log.Warn("a newcomer of the group call not admitted", logattr.Err(err))
			return true
		}
		l.send(Signal{Kind: Roster, Peers: peers, Admit: admit})
	}
	return true
}

// participants are the devices this one is in a live call with in a
// group, by identity: identity → peer id.
func (m *Manager) participants(g ID) map[string]string {
	out := map[string]string{}
	for _, c := range m.groupCalls(g) {
		c.mu.Lock()
		if c.st.State != StateEnded && c.answered != nil {
			out[c.answered.party.Identity] = c.answered.p.String()
		} else if c.st.State != StateEnded && c.Direction == Incoming && c.st.Peer != nil {
			for _, l := range c.legs {
				out[l.party.Identity] = l.p.String()
			}
		}
		c.mu.Unlock()
	}
	return out
}

// dropLeg forgets a leg that will not take the call.
func (c *Call) dropLeg(l *leg) {
	c.mu.Lock()
	if c.legs[l.p] == l {
		delete(c.legs, l.p)
	}
	c.mu.Unlock()
	l.st.Close()
}

// noneLeft ends a ringing call whose every leg said no.
func (c *Call) noneLeft(last Kind) {
	c.mu.Lock()
	left := len(c.legs)
	ringing := c.st.State == StateRinging
	c.mu.Unlock()
	if ringing && left == 0 {
		reason := EndDeclined
		if last == Busy {
			reason = EndBusy
		}
		c.end(reason, nil, nil)
	}
}

// legGone handles a leg's stream ending.
func (c *Call) legGone(l *leg, err error) {
	c.mu.Lock()
	answered := c.answered == l
	state := c.st.State
	c.mu.Unlock()
	if state == StateEnded {
		return
	}
	if answered || c.Direction == Incoming {
		if errors.Is(err, io.EOF) {
			err = nil
		}
		reason := EndRemoteHung
		if state == StateRinging {
			reason = EndMissed
		}
		l.done.Store(true)
		c.end(reason, err, nil)
		return
	}
	l.done.Store(true)
	c.dropLeg(l)
	c.noneLeft(Decline)
}

// handle takes an incoming signaling stream: a ring from a member's
// device.
func (m *Manager) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	l := &leg{m: m, p: p, st: st, r: bufio.NewReader(st)}
	if !m.allowRing(p, time.Now()) {
		m.log.Info("a ring refused: too many from this peer", logattr.Peer(p.String()))
		st.Reset()
		return
	}
	st.SetReadDeadline(time.Now().Add(firstSignalTimeout))
	s, err := l.recv()
	if err != nil || s.Kind != Ring {
		if err == nil {
			err = fmt.Errorf("a call stream that starts with %s", s.Kind)
		}
		m.log.Info("a call stream refused", logattr.Peer(p.String()), logattr.Err(err))
		st.Reset()
		return
	}
	st.SetReadDeadline(time.Time{})
	party, err := m.cfg.Authorize(p, s.Room)
	if err != nil {
		m.log.Info("a ring refused", logattr.Peer(p.String()), logattr.Err(err))
		l.send(Signal{Kind: Decline, Call: s.Call, Reason: "not a member of the room"})
		st.Close()
		return
	}
	l.party = party
	l.wire = s.Call
	if m.cfg.Decline != nil {
		if why := m.cfg.Decline(party, s.Room); why != "" {
			m.log.Info("a ring declined", logattr.Peer(p.String()), slog.String("identity", party.Identity), slog.String("reason", why))
			l.send(Signal{Kind: Decline, Call: s.Call, Reason: trim(why)})
			st.Close()
			return
		}
	}
	// A ring for a group call this device is in is someone joining it:
	// taken at once, with the media of the group, if the group's origin
	// let them in (admit.go), over the group's room.
	var group *Call
	if s.Group != (ID{}) {
		for _, o := range m.groupCalls(s.Group) {
			if st := o.Status(); st.State == StateActive || st.State == StateConnecting {
				group = o
				break
			}
		}
		if group != nil {
			if err := m.checkJoin(group, p, s); err != nil {
				m.log.Warn("a join of a group call declined", slog.String("group", s.Group.String()), logattr.Peer(p.String()),
					slog.String("identity", party.Identity), logattr.Err(err))
				l.send(Signal{Kind: Decline, Call: s.Call, Reason: "not let into this group call"})
				st.Close()
				return
			}
		}
		if group != nil && len(m.participants(s.Group)) >= MaxGroup-1 {
			l.send(Signal{Kind: Decline, Reason: "the group call is full"})
			st.Close()
			return
		}
	}
	c, err := m.newCall(s.Call, s.Room, Incoming, 0, s.Group)
	if err != nil {
		kind := Busy
		if !errors.Is(err, ErrBusy) {
			kind = Decline
		}
		l.send(Signal{Kind: kind, Call: s.Call, Reason: trim(err.Error())})
		st.Close()
		return
	}
	c.mu.Lock()
	c.legs[p] = l
	c.st.Peer = &party
	c.mu.Unlock()
	l.call = c
	if group != nil {
		m.log.Info("joined in a group call", slog.String("group", s.Group.String()), slog.String("by", party.Identity), slog.String("device", party.Name))
		c.changed()
		if err := c.AnswerTagged(group.Media, group.Tag()); err != nil {
			return
		}
		c.incomingLoop(l)
		return
	}
	m.log.Info("ringing", slog.String("call", c.ID.String()), slog.String("from", party.Identity), slog.String("device", party.Name))
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		c.afterRinging(m.cfg.RingTimeout+5*time.Second, func(ringing bool) {
			if ringing {
				c.end(EndMissed, nil, &Signal{Kind: Decline, Reason: "no answer"})
			}
		})
	}()
	c.changed()
	c.incomingLoop(l)
}

func (c *Call) incomingLoop(l *leg) {
	for {
		s, err := l.recv()
		if err != nil {
			c.legGone(l, err)
			return
		}
		if s.Call != l.wire {
			c.legGone(l, errors.New("a signal for another call"))
			return
		}
		c.mu.Lock()
		state := c.st.State
		c.mu.Unlock()
		switch {
		case state == StateEnded:
			return
		case s.Kind == Roster && state != StateRinging && c.group != (ID{}):
			c.joinPeers(s.Peers, s.Admit)
		case s.Kind == Hangup && state == StateRinging:
			// The caller stopped ringing this device.
			l.done.Store(true)
			why := EndMissed
			if s.Reason == reasonOther {
				why = EndOther
			}
			c.end(why, nil, nil)
			return
		case s.Kind == Elsewhere && (state == StateRinging || state == StateConnecting):
			// Answered elsewhere (also when both answered at once), or a
			// full group.
			l.done.Store(true)
			c.end(EndElsewhere, nil, nil)
			return
		case s.Kind == Offer || s.Kind == Candidate || s.Kind == Hangup:
			if state == StateRinging && s.Kind != Hangup {
				c.m.log.Debug("a media signal before the call was answered", slog.String("kind", s.Kind.String()))
				continue
			}
			if !c.mediaSignal(l, s) {
				return
			}
		default:
			c.m.log.Debug("an unexpected signal", slog.String("kind", s.Kind.String()))
		}
	}
}

// joinPeers calls the other participants of a group call this device
// just joined; they take it at once (see handle).
func (c *Call) joinPeers(peers []string, admit []byte) {
	self := c.m.cfg.Host.ID()
	in := c.m.participants(c.group)
	for _, s := range peers {
		p, err := peer.Decode(s)
		if err != nil || p == self {
			continue
		}
		already := false
		for _, q := range in {
			already = already || q == s
		}
		if already {
			continue
		}
		// A join's placing has no caller to cancel it: it ends with the
		// dial timeout, or with the call.
		if _, err := c.m.place(context.Background(), c.Room, []peer.ID{p}, c.Media, PlaceOptions{Tag: c.Tag()}, NewID(), c.group, admit); err != nil {
			c.m.log.Info("could not join a participant of the group call", logattr.Peer(s), logattr.Err(err))
		}
	}
}

// Answer takes a ringing incoming call, sending media.
func (c *Call) Answer(media Media) error { return c.AnswerTagged(media, nil) }

// AnswerTagged is Answer with a tag on the call (see PlaceTagged).
func (c *Call) AnswerTagged(media Media, tag any) error {
	c.mu.Lock()
	if c.Direction != Incoming || c.st.State != StateRinging {
		st := c.st.State
		c.mu.Unlock()
		return fmt.Errorf("the call is %s, not ringing here", st)
	}
	c.tag = tag
	c.Media = media
	c.st.Media = media.String()
	c.st.State, c.st.Answered = StateConnecting, time.Now()
	var l *leg
	for _, x := range c.legs {
		l = x
	}
	c.mu.Unlock()
	if err := c.startMedia(l); err != nil {
		c.end(EndFailed, err, &Signal{Kind: Hangup, Call: c.ID, Reason: "the media could not start"})
		return err
	}
	if err := l.send(Signal{Kind: Accept, Call: c.ID, Media: media}); err != nil {
		c.end(EndFailed, err, nil)
		return err
	}
	c.changed()
	return nil
}

// allowRing bounds the rings of one peer per minute.
func (m *Manager) allowRing(p peer.ID, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ts := m.rings[p]
	for len(ts) > 0 && now.Sub(ts[0]) > time.Minute {
		ts = ts[1:]
	}
	if len(ts) >= RingsPerMinute {
		m.rings[p] = ts
		return false
	}
	m.rings[p] = append(ts, now)
	if len(m.rings) > 4096 {
		for q, qs := range m.rings {
			if len(qs) == 0 || now.Sub(qs[len(qs)-1]) > time.Minute {
				delete(m.rings, q)
			}
		}
	}
	return true
}
