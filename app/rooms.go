package app

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Rooms are the rooms this device holds, synced over its node by the same
// replication service a daemon runs.
type Rooms struct {
	self room.Self
	sync *replication.Service

	mu     sync.Mutex
	byDisc map[log.Discovery]*room.Room
	names  map[log.Discovery]string
}

// RoomsConfig opens the app's rooms.
type RoomsConfig struct {
	Host   proto.Host
	Device *Device
	Linked *Linked
	// Store holds the rooms (one for all): a MemStore whose journal keeps
	// them in the browser's storage, replayed into it before OpenRooms.
	Store  *room.MemStore
	Logger *slog.Logger
	Now    time.Time
	// OnChange, if set, is called with a room's id when entries were
	// applied to it (written here or received).
	OnChange func(id string)
}

// OpenRooms opens the rooms a link brought, for device d of identity l,
// from what the store holds, and serves their sync on h.
func OpenRooms(cfg RoomsConfig) (*Rooms, error) {
	h, d, l, logger, now := cfg.Host, cfg.Device, cfg.Linked, cfg.Logger, cfg.Now
	store := cfg.Store
	if store == nil {
		store = room.NewMemStore()
	}
	proof, err := identity.ParseProof(l.Proof)
	if err != nil {
		return nil, err
	}
	if _, err := proof.Verify(identity.VerifyOptions{Identity: l.Identity, Device: d.Key.Public()}); err != nil {
		return nil, fmt.Errorf("the identity's proof of this device: %w", err)
	}
	rec, err := identity.NewDeviceRecord(l.Identity, d.Key, d.Sealing.Public(), d.Name, now)
	if err != nil {
		return nil, err
	}
	recBytes, err := rec.MarshalBinary()
	if err != nil {
		return nil, err
	}
	rs := &Rooms{
		self:   room.Self{Identity: l.Identity, Device: d.Key, Sealing: d.Sealing, Proof: l.Proof, Record: recBytes},
		byDisc: map[log.Discovery]*room.Room{},
		names:  map[log.Discovery]string{},
	}
	rs.sync = replication.New(replication.Config{Host: h, Lookup: rs.lookup, Logger: logger})
	for _, lr := range l.Rooms {
		key := room.KeyFromBytes(lr.Key)
		disc := key.Discovery()
		r, err := room.Open(room.Config{Key: key, Founder: lr.Founder, Self: rs.self, Store: store, Logger: logger,
			OnChange: func([]log.Head) {
				rs.sync.Changed(disc)
				if cfg.OnChange != nil {
					cfg.OnChange(key.ID().String())
				}
			}})
		if err != nil {
			rs.Close()
			return nil, err
		}
		for _, k := range lr.Keys {
			r.LoadKey(k.Epoch, k.Key)
		}
		for epoch, ks := range store.Keys(disc) {
			for _, k := range ks {
				r.LoadKey(epoch, k)
			}
		}
		if err := r.Load(); err != nil {
			rs.Close()
			return nil, fmt.Errorf("room %s as stored: %w", lr.Name, err)
		}
		rs.mu.Lock()
		rs.byDisc[disc], rs.names[disc] = r, lr.Name
		rs.mu.Unlock()
	}
	return rs, nil
}

func (rs *Rooms) lookup(d log.Discovery) (replication.Room, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.byDisc[d]
	return r, ok
}

// Close stops the sync of every room.
func (rs *Rooms) Close() {
	if rs.sync != nil {
		rs.sync.Close()
	}
}

// RoomInfo is one room as the app lists it.
type RoomInfo struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Messages int    `json:"messages"`
}

// List returns the rooms, by name.
func (rs *Rooms) List() []RoomInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]RoomInfo, 0, len(rs.byDisc))
	for d, r := range rs.byDisc {
		out = append(out, RoomInfo{ID: r.ID().String(), Name: rs.nameOf(d, r), Messages: r.Count()})
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out
}

// View is the room's view, as package room gives it.
type View = room.View

// find returns the room whose name or id (or a prefix of its id) is
// which.
func (rs *Rooms) find(which string) (*room.Room, error) {
	rs.mu.Lock()
	var found []*room.Room
	for d, r := range rs.byDisc {
		id := r.ID().String()
		if rs.nameOf(d, r) == which || id == which || len(which) >= 4 && strings.HasPrefix(id, which) {
			found = append(found, r)
		}
	}
	rs.mu.Unlock()
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no room %q on this device", which)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%d rooms match %q: give the room's id", len(found), which)
}

// nameOf is room r's name: its view's, else the one its link gave. The
// caller holds rs.mu.
func (rs *Rooms) nameOf(d log.Discovery, r *room.Room) string {
	name := rs.names[d]
	r.View(func(v *View) {
		if v.Name != "" {
			name = v.Name
		}
	})
	return name
}

// byID returns the room whose id is id.
func (rs *Rooms) byID(id room.ID) (*room.Room, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, r := range rs.byDisc {
		if r.ID() == id {
			return r, true
		}
	}
	return nil, false
}

// name is room r's name (see nameOf).
func (rs *Rooms) name(r *room.Room) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.nameOf(r.Discovery(), r)
}

// discs are the rooms' discovery keys.
func (rs *Rooms) discs() []log.Discovery {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	out := make([]log.Discovery, 0, len(rs.byDisc))
	for d := range rs.byDisc {
		out = append(out, d)
	}
	return out
}

// SyncWith opens a sync session with each of peers for every room (a
// room a peer does not hold fails alone). It returns how many sessions
// run, or why none does.
func (rs *Rooms) SyncWith(ctx context.Context, peers ...peer.ID) (int, error) {
	n := 0
	var errs []error
	for _, p := range peers {
		for _, d := range rs.discs() {
			if err := rs.sync.Sync(ctx, p, d); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	if n == 0 && len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	return n, nil
}

// Keep keeps every room synced with the device that linked this one
// (by) and with the room's doors (these at once), then every interval
// until ctx ends: a daemon that restarts, or a network that comes back,
// is met again without anyone asking, and a door can ring this device
// over the connection the sync keeps (a browser cannot be dialled).
// addrs, if set, is called before by is dialled again (to give the node
// its addresses). A peer that could not be reached is tried again after
// a wait that doubles, up to keepMaxWait.
func (rs *Rooms) Keep(ctx context.Context, by peer.ID, addrs func(), interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	type retry struct {
		at   time.Time
		wait time.Duration
	}
	failed := map[peer.ID]retry{}
	try := func(p peer.ID, d log.Discovery) {
		if rs.sync.Syncing(d, p) {
			return
		}
		if r, ok := failed[p]; ok && time.Now().Before(r.at) {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := rs.sync.Sync(sctx, p, d)
		cancel()
		if err == nil {
			delete(failed, p)
			return
		}
		r := failed[p]
		r.wait = min(max(2*r.wait, interval), keepMaxWait)
		r.at = time.Now().Add(r.wait)
		failed[p] = r
	}
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		told := false
		for _, d := range rs.discs() {
			// At once, only the doors: whoever starts Keep syncs with by
			// itself first.
			if !first && !rs.sync.Syncing(d, by) {
				if !told && addrs != nil {
					addrs()
					told = true
				}
				try(by, d)
			}
			for _, p := range rs.doors(d) {
				try(p, d)
			}
		}
	}
}

// keepMaxWait bounds the wait before a peer Keep could not reach is tried
// again.
const keepMaxWait = time.Minute

// doors are the peers of the doors of the room of d now.
func (rs *Rooms) doors(d log.Discovery) []peer.ID {
	rs.mu.Lock()
	r := rs.byDisc[d]
	rs.mu.Unlock()
	if r == nil {
		return nil
	}
	var out []peer.ID
	r.View(func(v *room.View) {
		for dev := range v.Doors {
			if _, ok := v.Door(dev); !ok {
				continue
			}
			if p, err := proto.PeerOf(dev); err == nil {
				out = append(out, p)
			}
		}
	})
	return out
}

// Message is a message as the app shows it.
type Message struct {
	ID      string `json:"id"`
	Author  string `json:"author"`
	Mine    bool   `json:"mine"`
	Text    string `json:"text"`
	Time    int64  `json:"time"` // unix milliseconds
	Edited  bool   `json:"edited,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	File    string `json:"file,omitempty"` // the file's name
	// FileInfo is the file's, for a file message.
	FileInfo *FileInfo `json:"file_info,omitempty"`
}

// History returns the newest limit messages of room which, oldest first.
func (rs *Rooms) History(which string, limit int) ([]Message, error) {
	r, err := rs.find(which)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	page, _, err := r.Page(room.Ref{}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Message, 0, len(page))
	for _, m := range page {
		msg := Message{ID: m.ID.String(), Author: m.Author.String(), Mine: m.Author == rs.self.Identity,
			Text: m.Text, Time: m.Time, Edited: m.Edited, Deleted: m.Deleted}
		if m.Text == "" {
			msg.Text = eventText(m)
		}
		if m.File != nil {
			msg.File = m.File.Name
			if !m.Deleted {
				f := fileInfo(m, rs.self)
				msg.FileInfo = &f
			}
		}
		out = append(out, msg)
	}
	return out, nil
}

// eventText says what a door's or a call's entry records, for the chat.
func eventText(m *room.Message) string {
	if d := m.Door; d != nil {
		switch d.Event {
		case room.DoorUnlocked:
			return "🔓 The door was unlocked"
		case room.DoorUnlockRefused:
			return "An unlock was refused: " + d.Text
		case room.DoorPairing:
			if d.Text == "" {
				return "The door left pairing mode"
			}
			return "The door is in pairing mode until " + d.Text
		}
		return ""
	}
	if c := m.Call; c != nil {
		switch c.Event {
		case room.CallStarted:
			return "📞 A call began"
		case room.CallEnded:
			d := time.Duration(c.Duration) * time.Millisecond
			return fmt.Sprintf("📞 A call ended after %d:%02d", int(d.Minutes()), int(d.Seconds())%60)
		case room.CallMissed:
			return "📞 A call nobody answered"
		case room.CallDeclined:
			return "📞 A call declined"
		}
	}
	return ""
}

// Send writes a message to room which; peers get it through sync.
func (rs *Rooms) Send(which, text string) (string, error) {
	r, err := rs.find(which)
	if err != nil {
		return "", err
	}
	ref, err := r.Write(room.Op{Type: room.OpMessage, Text: text})
	if err != nil {
		return "", err
	}
	return ref.String(), nil
}

// PushKey is the key a push subscription of this device is made with
// (the applicationServerKey: an uncompressed P-256 point): the public half
// of the VAPID key of the first room, by id, that has one. A browser gives
// one subscription per app, and a push service takes a subscription's
// pushes from its key's holder alone, so this device is rung while closed
// by the rooms of that key (a household's rooms share its door's). nil
// when no room has a key.
func (rs *Rooms) PushKey() []byte {
	rs.mu.Lock()
	rooms := make([]*room.Room, 0, len(rs.byDisc))
	for _, r := range rs.byDisc {
		rooms = append(rooms, r)
	}
	rs.mu.Unlock()
	sort.Slice(rooms, func(i, j int) bool { return rooms[i].ID().String() < rooms[j].ID().String() })
	for _, r := range rooms {
		if pub := vapidPublic(r); pub != nil {
			return pub
		}
	}
	return nil
}

// vapidPublic is the public half of room r's VAPID key, or nil.
func vapidPublic(r *room.Room) []byte {
	var priv []byte
	r.View(func(v *View) { priv = v.VAPID })
	if priv == nil {
		return nil
	}
	k, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return nil
	}
	return k.PublicKey().Bytes()
}

// SetPush gives this device's push subscription (made with key, see
// PushKey) to every room whose VAPID key is key, writing it only where the
// room holds another. It returns how many rooms hold it now.
func (rs *Rooms) SetPush(key []byte, endpoint string, p256dh, auth []byte) (int, error) {
	blob := append(append([]byte(nil), p256dh...), auth...)
	op := room.Op{Type: room.OpPush, Text: endpoint, Blob: blob}
	if len(blob) != room.PushKeysLen || endpoint == "" || len(endpoint) > room.MaxPushURLLen {
		return 0, fmt.Errorf("a push subscription needs its endpoint and its keys (%d bytes, not %d)", room.PushKeysLen, len(blob))
	}
	if _, err := ecdh.P256().NewPublicKey(p256dh); err != nil {
		return 0, fmt.Errorf("a push subscription's p256dh: %w", err)
	}
	me := rs.self.Device.Public()
	n := 0
	for _, d := range rs.discs() {
		rs.mu.Lock()
		r := rs.byDisc[d]
		rs.mu.Unlock()
		if !bytes.Equal(vapidPublic(r), key) {
			continue
		}
		same := false
		r.View(func(v *View) {
			s, ok := v.Push[me]
			same = ok && s.Endpoint == endpoint && bytes.Equal(s.P256DH, p256dh) && bytes.Equal(s.Auth, auth)
		})
		if !same {
			if _, err := r.Write(op); err != nil {
				return n, fmt.Errorf("room %s: %w", r.ID(), err)
			}
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("no room of this device has that push key")
	}
	return n, nil
}
