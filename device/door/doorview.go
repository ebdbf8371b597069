package door

import (
	"bufio"
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/doorwire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// The door's live view (/hearth/door-view/1.0.0): a household member's
// device asks, on a stream of its own (so the door knows which device
// asks: libp2p connections are authenticated), and the door calls that
// device back with its camera and microphone. The asking page answers by
// itself, muted: the member sees and hears the door, and talks by
// unmuting. A visitor's press ends the view and rings the household as
// always. A view lasts at most viewLimit.

// viewLimit bounds one live view.
const viewLimit = 5 * time.Minute

// viewEvery bounds how often one device may ask.
const viewEvery = 3 * time.Second

// doorViewTag marks the door's live-view calls.
type doorViewTag struct{}

func (d *answers) handleView(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	p := s.Conn().RemotePeer()
	dev, err := proto.DeviceOf(p)
	if err != nil || !d.admitRequest("live view", dev) {
		s.Reset()
		return
	}
	b, err := doorwire.ReadMsg(bufio.NewReader(s))
	if err != nil {
		if wire.Malformed(err) {
			d.node.Offence(p, "door view", err)
		}
		s.Reset()
		return
	}
	a := d.view(p, dev, b)
	wire.WriteMsg(s, a.Marshal())
}

// view decides on one request and places the call.
func (d *answers) view(p peer.ID, dev identity.PublicKey, b []byte) doorwire.ViewAnswer {
	refuse := func(reason string) doorwire.ViewAnswer {
		d.log.Info("live view refused", logattr.Dev(dev), slog.String("reason", reason))
		return doorwire.ViewAnswer{Reason: reason}
	}
	rm, err := doorwire.ParseViewRequest(b)
	if err != nil {
		d.node.Offence(p, "door view", err)
		return refuse(err.Error())
	}
	if rm != [16]byte(d.room.ID()) {
		return refuse("the request is for another room")
	}
	var who identity.PublicKey
	var name string
	d.room.View(func(v *room.View) {
		dv, ok := v.Devices[dev]
		if !ok || dv.Revoked || dv.Forked {
			return
		}
		if _, ok := v.Members[dv.Identity]; ok {
			who, name = dv.Identity, dv.Name
		}
	})
	if who == (identity.PublicKey{}) {
		const why = "not a device of a member of the household"
		d.outsiders.refused(d.log, "live view", dev, why, d.now())
		return doorwire.ViewAnswer{Reason: why}
	}
	d.place.Lock()
	defer d.place.Unlock()
	d.mu.Lock()
	last := d.viewAsked[dev]
	state, live := d.m.state, d.watching != nil
	now := d.now()
	if now.Sub(last) >= viewEvery {
		d.viewAsked[dev] = now
		if len(d.viewAsked) > 1024 {
			clear(d.viewAsked)
		}
	}
	d.mu.Unlock()
	switch {
	case now.Sub(last) < viewEvery:
		return refuse("asked too often: wait a few seconds")
	case state == doorRinging || state == doorInCall:
		return refuse("someone is at the door: the household is being rung")
	case live:
		return refuse("another member is watching")
	}
	c, err := d.calls.Manager().PlaceTagged(d.ctx, [16]byte(d.room.ID()), []peer.ID{p}, call.Audio|call.Video, doorViewTag{})
	if err != nil {
		if errors.Is(err, call.ErrBusy) {
			return refuse("the door is in a call")
		}
		return refuse(err.Error())
	}
	d.mu.Lock()
	d.watching, d.watcher = c, who
	d.mu.Unlock()
	d.log.Info("live view", logattr.Call(c.ID.String()), slog.String("identity", who.Short()), slog.String("name", name))
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		t := time.NewTimer(viewLimit)
		defer t.Stop()
		select {
		case <-c.Ended():
		case <-t.C:
			c.Hangup("the live view's time is up")
			<-c.Ended()
		}
		d.mu.Lock()
		if d.watching == c {
			d.watching, d.watcher = nil, identity.PublicKey{}
		}
		d.mu.Unlock()
	}()
	return doorwire.ViewAnswer{Call: c.ID}
}

// endView ends a live view (a visitor rang), waiting a little for the
// call to be gone so the ring can be placed. The caller holds d.place.
func (d *answers) endView(reason string) {
	d.mu.Lock()
	c := d.watching
	d.mu.Unlock()
	if c == nil {
		return
	}
	c.Hangup(reason)
	select {
	case <-c.Ended():
	case <-time.After(3 * time.Second):
		d.log.Warn("the live view did not end in time")
	}
}
