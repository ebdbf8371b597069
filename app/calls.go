package app

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/p2p/doorwire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Calls are this device's calls: package call's signalling, the very code
// a daemon runs (who may ring, busy, answered elsewhere, group calls),
// with the media in the page: the browser's own WebRTC, behind the
// call.Endpoint the page gives. A door's ring is one such call; the door
// itself is asked to unlock over the door's protocol (p2p/doorwire).
type Calls struct {
	m     *call.Manager
	rooms *Rooms
	host  call.Host
	dev   *Device
	now   func() time.Time

	mu      sync.Mutex
	counter doorwire.UnlockCounter
}

// CallsConfig makes the app's calls.
type CallsConfig struct {
	Host   call.Host
	Device *Device
	Rooms  *Rooms
	// Endpoint makes a call's media endpoint (the page's).
	Endpoint call.NewEndpoint
	// OnChange, if set, hears every change of a call (not under a lock).
	OnChange func(call.Status)
	Logger   *slog.Logger
	// Now is the clock unlock requests are stamped with; nil is time.Now.
	Now func() time.Time
}

// NewCalls starts taking calls on cfg.Host for the rooms of cfg.Rooms.
func NewCalls(cfg CallsConfig) (*Calls, error) {
	key, err := crypto.UnmarshalEd25519PrivateKey(cfg.Device.Key.Ed25519())
	if err != nil {
		return nil, fmt.Errorf("the device key: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Calls{rooms: cfg.Rooms, host: cfg.Host, dev: cfg.Device, now: cfg.Now}
	c.m = call.New(call.Config{
		Host:      cfg.Host,
		Key:       key,
		Authorize: c.authorize,
		Endpoint:  cfg.Endpoint,
		OnChange:  cfg.OnChange,
		Logger:    cfg.Logger,
		Offence:   func(p peer.ID, why error) { proto.Report(cfg.Host, p, "call", why) },
	})
	return c, nil
}

// Close hangs up every call and stops taking rings.
func (c *Calls) Close() { c.m.Close() }

// authorize says who a peer is in a room of this device: a device of a
// member now, as the room's view has it (the same rule as a daemon's).
func (c *Calls) authorize(p peer.ID, id [16]byte) (call.Party, error) {
	r, ok := c.rooms.byID(room.ID(id))
	if !ok {
		return call.Party{}, errors.New("not a room of this device")
	}
	dev, err := proto.DeviceOf(p)
	if err != nil {
		return call.Party{}, err
	}
	var party call.Party
	err = errors.New("not a device of a member of the room")
	r.View(func(v *room.View) {
		if d, ok := v.MemberDevice(dev); ok {
			party = call.Party{Identity: d.Identity.String(), Name: d.Name, Device: d.Device.String()}
			err = nil
		}
	})
	return party, err
}

// CallInfo is a call as the app shows it: its status, and whether the
// other end is a door of the call's room (a ring at the door).
type CallInfo struct {
	call.Status
	Door     bool   `json:"door"`
	DoorName string `json:"door_name,omitempty"` // the name the room gives the door
	RoomName string `json:"room_name"`
}

// Info describes a call's status for the page.
func (c *Calls) Info(s call.Status) CallInfo {
	out := CallInfo{Status: s}
	b, err := hex.DecodeString(s.Room)
	if err != nil || len(b) != len(room.ID{}) {
		return out
	}
	r, ok := c.rooms.byID(room.ID(b))
	if !ok {
		return out
	}
	out.RoomName = c.rooms.name(r)
	if s.Peer == nil {
		return out
	}
	dev, err := identity.ParsePublicKey(s.Peer.Device)
	if err != nil {
		return out
	}
	r.View(func(v *room.View) {
		if d, ok := v.Door(dev); ok {
			out.Door, out.DoorName = true, d.Name
		}
	})
	return out
}

// List returns the calls, oldest first (the ended ones the manager keeps
// included).
func (c *Calls) List() []CallInfo {
	out := []CallInfo{}
	for _, s := range c.m.Calls() {
		out = append(out, c.Info(s))
	}
	return out
}

func (c *Calls) find(id string) (*call.Call, error) {
	cid, err := call.ParseID(id)
	if err != nil {
		return nil, err
	}
	cl, ok := c.m.Get(cid)
	if !ok {
		return nil, fmt.Errorf("no call %s", id)
	}
	return cl, nil
}

// Answer takes a ringing call, sending media (audio, or audio and video).
func (c *Calls) Answer(id string, media call.Media) error {
	cl, err := c.find(id)
	if err != nil {
		return err
	}
	return cl.Answer(media)
}

// Hangup ends a call, or declines it while it rings (reason, if given, is
// what the other side reads).
func (c *Calls) Hangup(id, reason string) error {
	cl, err := c.find(id)
	if err != nil {
		return err
	}
	cl.Hangup(reason)
	return nil
}

// Unlock asks a door of room which to open: door names the door's device
// (hex), or "" for the room's only door. The door decides (only for a
// device of an admin of its household, a fresh request, never one it
// took before) and says why not.
func (c *Calls) Unlock(ctx context.Context, which, door string) (doorwire.UnlockAnswer, error) {
	r, err := c.rooms.find(which)
	if err != nil {
		return doorwire.UnlockAnswer{}, err
	}
	var doors []identity.PublicKey
	r.View(func(v *room.View) {
		for dev := range v.Doors {
			if _, ok := v.Door(dev); ok && (door == "" || dev.String() == door) {
				doors = append(doors, dev)
			}
		}
	})
	switch {
	case len(doors) == 0 && door != "":
		return doorwire.UnlockAnswer{}, fmt.Errorf("%s is not a door of this room", door)
	case len(doors) == 0:
		return doorwire.UnlockAnswer{}, errors.New("this room has no door")
	case len(doors) > 1:
		return doorwire.UnlockAnswer{}, fmt.Errorf("this room has %d doors: say which", len(doors))
	}
	p, err := proto.PeerOf(doors[0])
	if err != nil {
		return doorwire.UnlockAnswer{}, err
	}
	c.mu.Lock()
	now := c.now()
	req := &doorwire.UnlockRequest{Room: [16]byte(r.ID()), Door: doors[0], Counter: c.counter.Next(now), Time: now.UnixMilli()}
	c.mu.Unlock()
	if err := req.Sign(c.dev.Key); err != nil {
		return doorwire.UnlockAnswer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	s, err := c.host.NewStream(network.WithAllowLimitedConn(ctx, "hearth door"), p, proto.Door)
	if err != nil {
		return doorwire.UnlockAnswer{}, fmt.Errorf("the door is not reachable: %w", err)
	}
	b, err := doorwire.Ask(ctx, s, req.Marshal())
	if err != nil {
		return doorwire.UnlockAnswer{}, err
	}
	return doorwire.ParseUnlockAnswer(b)
}
