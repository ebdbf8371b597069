package door

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/call/av"
	"github.com/hearthp2p/hearth/device/calls"
	"github.com/hearthp2p/hearth/device/config"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/files"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/hal"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/doorwire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// Config makes the daemon a doorphone (see config.Settings for each
// field).
type Config struct {
	Room        string
	Admins      []identity.PublicKey
	Cooldown    time.Duration
	UnlockPulse time.Duration
	Clip        time.Duration
	Pairing     time.Duration
	MotionEvery time.Duration
	HAL         config.HALSettings
}

// Folder is where the doorphone keeps a picture or clip until it is in
// the chunk store.
const Folder = "door"

var bucketUnlocks = []byte("door-unlocks")

// Door is the doorphone: the button, LED, relay and motion sensor of its
// board, the household room, and the rings.
//
// Lock order: place (a ring or a live view being placed), then mu (the
// state below it). Run's loop owns the board's events; posts, clips and
// views are goroutines counted in wg.
type Door struct {
	cfg   Config
	rooms *rooms.Manager
	calls *calls.Calls
	files *files.Files
	node  *hnet.Node
	id    *identity.Local
	db    *storage.DB
	log   *slog.Logger
	now   func() time.Time
	board hal.Board
	sim   Simulator // with the sim driver
	src   av.Source
	dir   string
	room  *room.Room

	answers  *answers // to members asking to unlock or to watch
	watchers watchers // the bridges beside the door (Watch)

	ctx    context.Context // ends at Close: the door's posts, clips and views
	cancel context.CancelFunc
	events chan func()
	wg     sync.WaitGroup // posts and clips
	place  sync.Mutex     // a ring or a live view being placed

	mu                               sync.Mutex
	m                                doorMachine
	pairing                          string    // the invite link of pairing mode
	motion                           time.Time // the last motion posted
	media                            *doorMedia
	refused                          map[identity.PublicKey]time.Time // last refusal written per device
	notDoorTold                      bool                             // the log said this device is not a door
	outsiders                        outsiders
	viewAsked                        map[identity.PublicKey]time.Time // last live view asked per device
	watching                         *call.Call                       // the live view, if any
	watcher                          identity.PublicKey
	rings, missed, unlocks, refusals int
	hubRefused                       time.Time // the last refusal of the home hub's unlock written
	hubStatus                        func() *control.Hub
}

// doorMedia is the picture and clip of one ring.
type doorMedia struct {
	call   string
	cancel context.CancelFunc
	done   chan struct{}
	clip   string // the clip's file once recorded
}

// Simulator is a simulated board the control API can act on (the sim
// driver's).
type Simulator interface {
	// Hold presses the button for d, then releases it.
	Hold(d time.Duration)
	// SetButton presses (true) or releases the button.
	SetButton(down bool)
	// SetMotion sets the motion sensor's output.
	SetMotion(on bool)
	// RelayPulses is how many times the relay was pulsed.
	RelayPulses() int
}

// Deps is what New needs besides the Config.
type Deps struct {
	Logger *slog.Logger
	Now    func() time.Time
	Node   *hnet.Node
	ID     *identity.Local
	DB     *storage.DB
	Rooms  *rooms.Manager
	Calls  *calls.Calls
	Files  *files.Files
	// Board is the door's hardware; Sim, if set, is the same board
	// simulated.
	Board hal.Board
	Sim   Simulator
	// Home is the daemon's folder: pictures and clips wait in its
	// Folder until they are in the chunk store.
	Home string
}

// New takes the board and the household room (founding it if this
// device has no room of that name), and answers unlocks and live views
// from here on. Close releases the board.
func New(ctx context.Context, cfg Config, deps Deps) (*Door, error) {
	d := &Door{cfg: cfg, rooms: deps.Rooms, calls: deps.Calls, files: deps.Files, node: deps.Node, id: deps.ID, db: deps.DB,
		log: deps.Logger.With(slog.String("part", "door")), now: deps.Now, board: deps.Board, sim: deps.Sim,
		src: deps.Calls.Source(), // not the hook: it waits for the door itself
		dir: filepath.Join(deps.Home, Folder), events: make(chan func(), 16), refused: map[identity.PublicKey]time.Time{},
		viewAsked: map[identity.PublicKey]time.Time{}}
	d.m = doorMachine{cooldown: cfg.Cooldown, pairing: cfg.Pairing}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return nil, fmt.Errorf("doorphone: %w", err)
	}
	// Pictures and clips left by a stop in the middle of a post.
	if old, err := filepath.Glob(filepath.Join(d.dir, "*.part")); err == nil {
		for _, f := range old {
			os.Remove(f)
		}
	}
	r, err := d.rooms.Resolve(cfg.Room)
	switch {
	case errors.Is(err, rooms.ErrNoRoom):
		if r, err = d.rooms.Create(ctx, cfg.Room); err != nil {
			return nil, fmt.Errorf("doorphone: founding the household room %q: %w", cfg.Room, err)
		}
		d.log.Info("household room founded", logattr.Room(r.ID().String()), slog.String("name", cfg.Room))
	case err != nil:
		return nil, fmt.Errorf("doorphone: the household room: %w", err)
	}
	d.room = r
	d.answers = &answers{d}
	// Not the ctx of Run: posts and clips under way finish (Close waits
	// for them) after the loop has stopped.
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.calls.BeforeVideo(d.releaseCamera)
	d.node.Host.SetStreamHandler(proto.Door, proto.Guard(d.log, "door", d.answers.handleUnlock))
	d.node.Host.SetStreamHandler(proto.DoorView, proto.Guard(d.log, "door-view", d.answers.handleView))
	return d, nil
}

// Close stops the door's work and releases the board.
func (d *Door) Close() {
	d.node.Host.RemoveStreamHandler(proto.Door)
	d.node.Host.RemoveStreamHandler(proto.DoorView)
	d.mu.Lock()
	v := d.watching
	d.mu.Unlock()
	if v != nil {
		v.Hangup("the door is stopping")
	}
	d.releaseCamera()
	d.wg.Wait()
	d.cancel()
	d.board.Close()
}

// Run is the door's loop: button, motion, call changes and time, until
// ctx is done.
func (d *Door) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var motions <-chan time.Time
	if d.board.Motion != nil {
		motions = d.board.Motion.Motions()
	}
	presses := d.board.Button.Presses()
	d.showLED()
	d.ensureDoor()
	d.ensureVAPID()
	d.promoteAdmins()
	for {
		d.mu.Lock()
		next := d.m.next()
		d.mu.Unlock()
		wait := 2 * time.Second // admins joining are promoted within this
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(d.now()), time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case p, ok := <-presses:
			if !ok {
				presses = nil
				continue
			}
			d.press(ctx, p)
		case t, ok := <-motions:
			if !ok {
				motions = nil
				continue
			}
			d.onMotion(ctx, t)
		case f := <-d.events:
			f()
		case <-timer.C:
			d.mu.Lock()
			act := d.m.tick(d.now())
			d.mu.Unlock()
			if act == actPairingOff {
				d.pairingOff("timed out")
			}
			d.ensureDoor()
			d.ensureVAPID()
			d.promoteAdmins()
		}
		d.showLED()
	}
}

// do hands f to the loop; it is dropped if the loop is gone or far
// behind (it then logs).
func (d *Door) do(f func()) {
	select {
	case d.events <- f:
	default:
		d.log.Warn("doorphone busy: an event was dropped")
	}
}

func (d *Door) showLED() {
	d.mu.Lock()
	p := d.m.led()
	d.mu.Unlock()
	if d.board.LED.Showing().Name != p.Name {
		if err := d.board.LED.Show(p); err != nil {
			d.log.Warn("led", logattr.Err(err))
		}
	}
}

func (d *Door) press(ctx context.Context, p hal.Press) {
	d.mu.Lock()
	before := d.m.state
	act := d.m.press(p.Kind, d.now())
	stuck := d.m.stuck
	d.mu.Unlock()
	switch act {
	case actRing:
		d.ring(ctx)
	case actPairingOn:
		d.pairingOn()
	case actPairingOff:
		d.pairingOff("long press")
	case actIgnored:
		if p.Kind == hal.Stuck {
			d.log.Warn("the button is stuck: presses are ignored until it is released", slog.Duration("held", p.Held))
			return
		}
		d.log.Info("button press ignored", slog.String("press", p.Kind.String()), slog.String("state", before.String()), slog.Bool("stuck", stuck))
	}
}

// ringRedial is how often a ring dials again the devices it could not
// reach: a phone whose app the ring's push opened is rung within it.
const ringRedial = 2 * time.Second

// ring places the call to every device of the household and posts the
// ring with a picture.
func (d *Door) ring(ctx context.Context) {
	start := d.now()
	d.place.Lock()
	defer d.place.Unlock()
	d.answers.endView("someone rang the door")
	d.endOtherCalls()
	targets := d.calls.Targets(d.room)
	var c *call.Call
	var err error
	if len(targets) == 0 {
		err = errors.New("nobody else in the household room: long-press the button for pairing mode")
	} else {
		c, err = d.calls.Manager().PlaceWith(ctx, [16]byte(d.room.ID()), targets, call.Audio|call.Video, call.PlaceOptions{Tag: doorTag{}, Redial: ringRedial})
	}
	d.mu.Lock()
	d.rings++
	id := ""
	if c != nil {
		id = c.Status().ID
	}
	d.m.placed(id, err != nil, d.now())
	d.mu.Unlock()
	// The home's hub hears the bell even when nobody could be rung.
	d.emit(Event{Kind: EventRing, Call: id})
	if err != nil {
		d.log.Warn("ring not placed", logattr.Err(err))
	} else {
		d.log.Info("ring", logattr.Call(id), slog.Int("devices", len(targets)), slog.Duration("place", d.now().Sub(start)))
		d.calls.PushRing(d.room, id, d.id.Device.Public(), targets)
	}
	d.startMedia(id)
}

// endOtherCalls ends whatever call is not a ring of the door, so a press
// always rings the household: a doorphone declines rings (calls.go), and
// the live view ended above, but nothing else may ever make it busy.
func (d *Door) endOtherCalls() {
	for {
		c, ok := d.calls.Manager().Live()
		if !ok {
			return
		}
		if _, mine := c.Tag().(doorTag); mine {
			return
		}
		d.log.Warn("a call ended for a ring at the door", logattr.Call(c.ID.String()))
		c.Hangup("someone is at the door")
		select {
		case <-c.Ended():
		case <-time.After(3 * time.Second):
			d.log.Warn("a call did not end in time for a ring")
			return
		}
	}
}

// doorTag marks the doorphone's calls.
type doorTag struct{}

// startMedia takes the picture of a ring and posts it, then records the
// clip kept if nobody answers. The call's own video takes the camera from
// it (releaseCamera).
func (d *Door) startMedia(callID string) {
	d.releaseCamera()
	ctx, cancel := context.WithCancel(d.ctx)
	m := &doorMedia{call: callID, cancel: cancel, done: make(chan struct{})}
	d.mu.Lock()
	d.media = m
	d.mu.Unlock()
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(m.done)
		var cid [16]byte
		if id, err := call.ParseID(callID); err == nil {
			cid = id
		}
		d.post(ctx, room.Op{Type: room.OpDoor, DoorEvent: room.DoorRing, Call: cid}, d.still)
		if d.cfg.Clip <= 0 || callID == "" || ctx.Err() != nil {
			return
		}
		path := filepath.Join(d.dir, "clip-"+callID[:min(len(callID), 16)])
		f, err := os.OpenFile(path+".part", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			d.log.Warn("clip", logattr.Err(err))
			return
		}
		w := bufio.NewWriter(f)
		ext, frames, err := av.Clip(ctx, d.src, d.cfg.Clip, w)
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		f.Close()
		if err != nil || frames == 0 {
			os.Remove(path + ".part")
			if err != nil && !errors.Is(err, av.ErrNoVideo) {
				d.log.Warn("clip", logattr.Err(err))
			}
			return
		}
		final := path + "." + ext
		if err := os.Rename(path+".part", final); err != nil {
			os.Remove(path + ".part")
			return
		}
		d.mu.Lock()
		m.clip = final
		d.mu.Unlock()
	}()
}

// releaseCamera stops the picture and clip of the current ring and waits
// until they let go of the camera: a call is about to take it.
func (d *Door) releaseCamera() {
	d.mu.Lock()
	m := d.media
	d.mu.Unlock()
	if m == nil {
		return
	}
	m.cancel()
	<-m.done
}

// still takes the ring's picture into a file.
func (d *Door) still(ctx context.Context) (string, string, error) {
	b, err := av.Still(ctx, d.src)
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(d.dir, fmt.Sprintf("door-%s.jpg", d.now().UTC().Format("20060102-150405.000")))
	if err := writeFileAtomic(path, b); err != nil {
		return "", "", err
	}
	return path, "image/jpeg", nil
}

// writeFileAtomic writes a file through a .part file, so a stop in the
// middle leaves no half picture under the final name.
func writeFileAtomic(path string, b []byte) error {
	if err := os.WriteFile(path+".part", b, 0o600); err != nil {
		os.Remove(path + ".part")
		return err
	}
	return os.Rename(path+".part", path)
}

// post writes a door entry into the household room, with the file that
// media makes (if any; a picture that fails is logged and the entry goes
// without it).
func (d *Door) post(ctx context.Context, op room.Op, media func(context.Context) (string, string, error)) {
	if media != nil {
		path, typ, err := media(ctx)
		switch {
		case err == nil:
			// Stored whatever ends ctx (the call taking the camera ends
			// the picture's ctx): the picture is taken already.
			d.picture(path, op.DoorEvent)
			_, mb, err := d.files.StoreFile(d.ctx, path, typ, nil)
			os.Remove(path)
			if err != nil {
				d.log.Warn("door picture not stored", logattr.Err(err))
				break
			}
			op.Blob = mb
		case errors.Is(err, av.ErrNoStill), errors.Is(err, context.Canceled):
		default:
			d.log.Warn("door picture", logattr.Err(err))
		}
	}
	if _, err := d.room.Write(op); err != nil {
		d.log.Warn("door entry not written", slog.String("event", op.DoorEvent.String()), logattr.Err(err))
		return
	}
	if len(op.Blob) > 0 {
		d.toMirrors(op.Blob)
	}
}

func (d *Door) toMirrors(mb []byte) {
	if m, err := chunk.ParseManifest(mb); err == nil {
		d.files.ToMirrors(d.room, m)
	}
}

// CallChanged hears every change of every call (from the call manager's
// goroutines) and hands the door's own to its loop.
func (d *Door) CallChanged(s call.Status) {
	if s.Direction != call.Outgoing {
		return
	}
	d.do(func() {
		d.mu.Lock()
		act := d.m.callChanged(s.ID, s.State == call.StateActive, s.State == call.StateEnded, !s.Answered.IsZero(), d.now())
		m := d.media
		if act == actMissed {
			d.missed++
		}
		d.mu.Unlock()
		if act != actMissed {
			return
		}
		d.log.Info("ring missed", logattr.Call(s.ID), slog.String("reason", s.Reason))
		cid, _ := call.ParseID(s.ID)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if m != nil && m.call == s.ID {
				<-m.done // the clip is recorded
			}
			why := s.Reason
			if why == call.EndMissed {
				why = "" // the event says it
			}
			d.post(d.ctx, room.Op{Type: room.OpDoor, DoorEvent: room.DoorMissed, Call: cid, Text: why},
				func(context.Context) (string, string, error) {
					if m == nil || m.call != s.ID {
						return "", "", av.ErrNoStill
					}
					d.mu.Lock()
					clip := m.clip
					d.mu.Unlock()
					if clip == "" {
						return "", "", av.ErrNoStill
					}
					typ := "video/h264"
					if strings.HasSuffix(clip, ".ivf") {
						typ = "video/x-ivf"
					}
					return clip, typ, nil
				})
		}()
	})
}

func (d *Door) pairingOn() {
	link, until, err := d.rooms.Invites.Invite(d.ctx, d.room, d.cfg.Pairing, 1, false)
	if err != nil {
		d.log.Warn("pairing mode: no invite", logattr.Err(err))
		d.mu.Lock()
		d.m.pairingUntil = time.Time{}
		d.mu.Unlock()
		return
	}
	d.mu.Lock()
	d.pairing = link
	d.m.pairingUntil = until
	d.mu.Unlock()
	d.log.Info("pairing mode on: the invite is on the web page and in 'hearth door status'", slog.Time("until", until))
	d.post(d.ctx, room.Op{Type: room.OpDoor, DoorEvent: room.DoorPairing, Text: until.UTC().Format(time.RFC3339)}, nil)
}

func (d *Door) pairingOff(why string) {
	d.mu.Lock()
	had := d.pairing != ""
	d.pairing = ""
	d.m.pairingUntil = time.Time{}
	d.mu.Unlock()
	if had {
		d.log.Info("pairing mode off", slog.String("why", why))
		d.post(d.ctx, room.Op{Type: room.OpDoor, DoorEvent: room.DoorPairing}, nil)
	}
}

func (d *Door) onMotion(ctx context.Context, t time.Time) {
	d.emit(Event{Kind: EventMotion})
	d.mu.Lock()
	due := d.cfg.MotionEvery > 0 && (d.motion.IsZero() || t.Sub(d.motion) >= d.cfg.MotionEvery) && d.m.state == doorIdle
	if due {
		d.motion = t
	}
	d.mu.Unlock()
	if !due {
		return
	}
	d.log.Info("motion")
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.post(ctx, room.Op{Type: room.OpDoor, DoorEvent: room.DoorMotion}, d.still)
	}()
}

// promoteAdmins makes the configured admins admins of the household room
// once they are members.
func (d *Door) promoteAdmins() {
	if len(d.cfg.Admins) == 0 {
		return
	}
	var todo []identity.PublicKey
	d.room.View(func(v *room.View) {
		for _, a := range d.cfg.Admins {
			if m, ok := v.Members[a]; ok && m.Role < room.RoleAdmin {
				todo = append(todo, a)
			}
		}
	})
	for _, a := range todo {
		if _, err := d.room.Write(room.Op{Type: room.OpSetRole, Identity: a, Role: room.RoleAdmin}); err != nil {
			d.log.Warn("an admin not promoted", slog.String("identity", a.Short()), logattr.Err(err))
			continue
		}
		d.log.Info("admin of the household", slog.String("identity", a.Short()))
	}
}

// handleUnlock takes one unlock request.
func (d *answers) handleUnlock(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	answer := func(a doorwire.UnlockAnswer) {
		wire.WriteMsg(s, a.Marshal())
	}
	dev, err := proto.DeviceOf(s.Conn().RemotePeer())
	if err != nil || !d.admitRequest("unlock", dev) {
		s.Reset()
		return
	}
	b, err := doorwire.ReadMsg(bufio.NewReader(s))
	if err != nil {
		d.log.Debug("unlock: unreadable request", logattr.Dev(dev), logattr.Err(err))
		if wire.Malformed(err) {
			d.node.Offence(s.Conn().RemotePeer(), "door", err)
		}
		s.Reset()
		return
	}
	opened, reason := d.unlock(s.Conn().RemotePeer(), dev, b)
	answer(doorwire.UnlockAnswer{Opened: opened, Reason: reason})
}

// unlock decides on one request from a device and acts: the relay pulses
// and the room records who opened, or the room records the refusal (at
// most one per device every 10 s, against floods).
func (d *answers) unlock(p peer.ID, dev identity.PublicKey, b []byte) (bool, string) {
	var who identity.PublicKey
	var name string
	refuse := func(reason string) (bool, string) {
		if who == (identity.PublicKey{}) {
			// Not a device of a member (a stranger, a removed member, a
			// revoked device): nothing goes into the room, and the log
			// says it once a minute (outsiders).
			d.outsiders.refused(d.log, "unlock", dev, reason, d.now())
			d.mu.Lock()
			d.refusals++
			d.mu.Unlock()
			return false, reason
		}
		d.mu.Lock()
		d.refusals++
		last := d.refused[dev]
		// A member's refusal goes into the room, at most one per device
		// every 10 s.
		write := d.now().Sub(last) >= 10*time.Second
		if write {
			d.refused[dev] = d.now()
			if len(d.refused) > 1024 {
				clear(d.refused)
			}
		}
		d.mu.Unlock()
		d.log.Warn("unlock refused", logattr.Dev(dev), slog.String("identity", who.Short()), slog.String("reason", reason))
		if write {
			text := reason
			if name != "" {
				text = reason + " (from " + name + ")"
			}
			if _, err := d.room.Write(room.Op{Type: room.OpDoor, DoorEvent: room.DoorUnlockRefused, Identity: who, Text: text}); err != nil {
				d.log.Warn("door entry not written", logattr.Err(err))
			}
		}
		return false, reason
	}
	// Who sends it, first: a member's device that sends garbage or a
	// forged request is worth a line in the room; a stranger is not.
	var role room.Role
	known := false
	d.room.View(func(v *room.View) {
		dv, ok := v.Devices[dev]
		if !ok || dv.Revoked || dv.Forked {
			return
		}
		if m, ok := v.Members[dv.Identity]; ok {
			who, name = dv.Identity, dv.Name
			known, role = true, m.Role
		}
	})
	req, err := doorwire.ParseUnlock(b)
	if err != nil {
		d.node.Offence(p, "door", err)
		return refuse(err.Error())
	}
	if err := req.Verify(dev); err != nil {
		d.node.Offence(p, "door", err)
		return refuse(err.Error())
	}
	if req.Door != d.id.Device.Public() || req.Room != [16]byte(d.room.ID()) {
		return refuse("the request is for another door or room")
	}
	switch {
	case !known:
		return refuse("not a device of a member of the household")
	case role < room.RoleAdmin:
		return refuse("not an admin of the household")
	}
	now := d.now()
	if skew := now.Sub(time.UnixMilli(req.Time)); skew > unlockSkew || skew < -unlockSkew {
		return refuse(fmt.Sprintf("stale: the request is %s away from the door's clock", skew.Round(time.Second)))
	}
	// The counter: kept on disk before the door opens, so a request is
	// never taken twice, even across a restart.
	var stale bool
	err = d.db.Update(func(tx *storage.Tx) error {
		v, err := tx.Get(bucketUnlocks, dev[:])
		if err == nil && len(v) == 8 && binary.BigEndian.Uint64(v) >= req.Counter {
			stale = true
			return nil
		}
		return tx.Put(bucketUnlocks, dev[:], counterBytes(req.Counter))
	})
	if err != nil {
		return refuse("the door could not record the request")
	}
	if stale {
		return refuse("replayed or out of order: an equal or newer request was taken before")
	}
	if err := d.pulse(); err != nil {
		if errors.Is(err, hal.ErrBusy) {
			return false, "the door is already open"
		}
		d.log.Error("relay", logattr.Err(err))
		return false, "the relay failed"
	}
	d.mu.Lock()
	d.unlocks++
	d.mu.Unlock()
	d.log.Info("door unlocked", slog.String("identity", who.Short()), logattr.Dev(dev), slog.Duration("pulse", d.cfg.UnlockPulse))
	if _, err := d.room.Write(room.Op{Type: room.OpDoor, DoorEvent: room.DoorUnlocked, Identity: who, Text: name}); err != nil {
		d.log.Warn("door entry not written", logattr.Err(err))
	}
	return true, ""
}

// Settle waits (1 s at most) until the door's state differs from before:
// the loop has taken a press.
func (d *Door) Settle(before control.Door) {
	for range 50 {
		st := d.Status()
		if st.State != before.State || st.LED != before.LED || st.Pairing != before.Pairing || st.Rings != before.Rings {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Status is the door's state for the API.
func (d *Door) Status() control.Door {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := control.Door{State: d.m.state.String(), LED: d.m.led().Name, Stuck: d.m.stuck, Room: d.room.ID().String(),
		Call: d.m.call, Pairing: d.pairing, Driver: d.cfg.HAL.Driver, Rings: d.rings, Missed: d.missed, Unlocks: d.unlocks, Refused: d.refusals}
	if st.Driver == "" {
		st.Driver = "periph"
	}
	if !d.m.pairingUntil.IsZero() && d.pairing != "" {
		st.PairingUntil = control.Time(d.m.pairingUntil)
	}
	st.RoomName = rooms.NameOf(d.room)
	if d.watching != nil {
		st.Viewing = d.watcher.String()
	}
	if d.sim != nil {
		st.RelayPulses = d.sim.RelayPulses()
	}
	if d.hubStatus != nil {
		st.Hub = d.hubStatus()
	}
	return st
}

// Errors of a press or motion asked of a real board.
var (
	ErrRealButton = errors.New("the button is a real one (driver periph): press it")
	ErrRealMotion = errors.New("the motion sensor is a real one (driver periph)")
)

// Press presses the simulated button: short, long, down or up. A short
// or long press is held and released, and the door has taken it, when
// Press returns.
func (d *Door) Press(kind string) error {
	if d.sim == nil {
		return ErrRealButton
	}
	before := d.Status()
	switch kind {
	case "", "short":
		d.sim.Hold(time.Duration(d.cfg.HAL.Debounce)*3 + 50*time.Millisecond)
		d.Settle(before)
	case "long":
		d.sim.Hold(time.Duration(d.cfg.HAL.LongPress) + 300*time.Millisecond)
		d.Settle(before)
	case "down":
		d.sim.SetButton(true)
	case "up":
		d.sim.SetButton(false)
	default:
		return control.BadArg(fmt.Sprintf("press %q: short, long, down or up", kind))
	}
	return nil
}

// Motion trips the simulated motion sensor for a moment.
func (d *Door) Motion() error {
	if d.sim == nil {
		return ErrRealMotion
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.sim.SetMotion(true)
		time.Sleep(300 * time.Millisecond)
		d.sim.SetMotion(false)
	}()
	return nil
}

// answers are the door's answers to the devices that ask it to unlock or
// to show its live view: it alone decides who may.
type answers struct{ *Door }
