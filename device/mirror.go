package device

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/mirror"
	"github.com/hearthp2p/hearth/p2p/room"
)

// How often a mirror looks in the DHT for the peers of a kept room it is
// not syncing with.
const mirrorFindEvery = time.Minute

// errNotMirror: a local mirror command on a daemon started without
// --mirror.
var errNotMirror = errors.New("this daemon is not a mirror: start it with 'hearth daemon --mirror', or name a mirror with --mirror MADDR")

// mirrorState is the mirror side of a daemon started with --mirror.
type mirrorState struct {
	store *mirror.Store
	boxes *mirror.Mailboxes
	svc   *mirror.Service

	mu   sync.Mutex
	find map[log.Discovery]time.Time // last DHT look-up per kept room
}

// startMirror serves the mirror protocol for the store and mailboxes
// set in rs.mirror.
func (rs *rooms) startMirror() {
	m := rs.mirror
	m.svc = mirror.NewService(mirror.ServiceConfig{
		Host: rs.node.Host, Store: m.store, Boxes: m.boxes, Logger: rs.log,
		OnKeep: func(d log.Discovery, p peer.ID) {
			// Fetch from the member that asked, at once.
			rs.poke()
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), findTimeout)
				defer cancel()
				rs.trySync(ctx, p, d)
			}()
		},
		OnBlob: func(d log.Discovery, root [32]byte, size int64, chunkSize uint32, from peer.ID) {
			rs.files.keepBlob(d, root, size, chunkSize, from)
		},
		OnOpen: func(b mirror.BoxID) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), findTimeout)
				defer cancel()
				if err := rs.node.Announce(ctx, mirror.MailboxTopic(b)); err != nil {
					rs.log.Debug("announcing a mailbox", logattr.Err(err))
				}
			}()
		},
	})
}

// runMirror keeps every kept room (not held as a member) in sync: it
// announces them, and looks up their peers when no session is open.
func (rs *rooms) runMirror(ctx context.Context, announce bool) {
	m := rs.mirror
	if m == nil {
		return
	}
	if announce {
		for _, b := range m.boxes.Boxes() {
			actx, cancel := context.WithTimeout(ctx, findTimeout)
			if err := rs.node.Announce(actx, mirror.MailboxTopic(b)); err != nil {
				rs.log.Debug("announcing a mailbox", logattr.Err(err))
			}
			cancel()
		}
	}
	for _, d := range m.store.Kept() {
		if _, member := rs.byDiscovery(d); member {
			continue // synced as a room already
		}
		if announce {
			actx, cancel := context.WithTimeout(ctx, findTimeout)
			if err := rs.node.Announce(actx, room.AnnounceTopic(d)); err != nil {
				rs.log.Debug("announcing a kept room", logattr.Room(d), logattr.Err(err))
			}
			cancel()
		}
		if rs.sync.Sessions(d) > 0 {
			continue
		}
		m.mu.Lock()
		due := time.Since(m.find[d]) > mirrorFindEvery
		if due {
			m.find[d] = time.Now()
		}
		m.mu.Unlock()
		if !due {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, findTimeout)
		peers := rs.node.FindPeers(fctx, room.AnnounceTopic(d), 8)
		cancel()
		for _, ai := range peers {
			rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
			rs.trySync(ctx, ai.ID, d)
		}
	}
}

func (rs *rooms) byDiscovery(d log.Discovery) (*room.Room, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.byDisc[d]
	return r, ok
}

// syncMirrors opens sessions with the mirrors a room names.
func (rs *rooms) syncMirrors(ctx context.Context, r *room.Room) {
	var ms []room.Mirror
	r.View(func(v *room.View) {
		for _, m := range v.Mirrors {
			ms = append(ms, *m)
		}
	})
	for _, m := range ms {
		p, err := peer.Decode(m.PeerID)
		if err != nil || p == rs.node.Host.ID() {
			continue
		}
		addMirrorAddrs(rs, p, m.Addrs)
		rs.trySync(ctx, p, r.Discovery())
	}
}

func addMirrorAddrs(rs *rooms, p peer.ID, addrs []string) {
	for _, s := range addrs {
		ai, err := peer.AddrInfoFromString(s)
		if err == nil && ai.ID == p {
			rs.node.Host.Peerstore().AddAddrs(p, ai.Addrs, peerstore.AddressTTL)
		}
	}
}

// mirrorTarget resolves a room or a discovery key.
func (rs *rooms) mirrorTarget(arg string) (log.Discovery, *room.Room, error) {
	if r, err := rs.resolve(arg); err == nil {
		return r.Discovery(), r, nil
	} else if !errors.Is(err, ErrNoRoom) {
		return log.Discovery{}, nil, err
	}
	b, err := hex.DecodeString(arg)
	if err != nil || len(b) != len(log.Discovery{}) {
		return log.Discovery{}, nil, fmt.Errorf("%w: %q is neither a room here nor a discovery key (64 hex digits)", ErrNoRoom, arg)
	}
	d := log.Discovery(b)
	r, _ := rs.byDiscovery(d)
	return d, r, nil
}

// remoteMirror connects to the mirror at a full multiaddr.
func (rs *rooms) remoteMirror(ctx context.Context, addr string) (*peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: mirror address %q: %v (want a multiaddr ending in /p2p/PEERID)", errBadArg, addr, err)
	}
	rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
	if err := rs.node.Reach(ctx, ai.ID); err != nil {
		return nil, fmt.Errorf("%w: %v", errUnreachable, err)
	}
	return ai, nil
}

var errUnreachable = errors.New("mirror unreachable")

func (rs *rooms) proofBytes() []byte { return rs.self.Proof }

func (d *daemon) mirrorRoutes(handle handleFunc) {
	handle("POST", control.RouteMirrorKeep, accessAdmin, d.handleMirrorKeep)
	handle("POST", control.RouteMirrorDrop, accessAdmin, d.handleMirrorDrop)
	handle("POST", control.RouteMirrorList, accessRead, d.handleMirrorList)
}

func failMirror(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, mirror.ErrDenied):
		writeError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, mirror.ErrFull):
		writeError(w, http.StatusInsufficientStorage, err.Error())
	case errors.Is(err, mirror.ErrNotKept):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, errNotMirror):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, errUnreachable):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		fail(w, err)
	}
}

func (d *daemon) mirrorRooms(peerID string, in []mirror.Info) *control.MirrorRooms {
	out := &control.MirrorRooms{Mirror: peerID, Rooms: []control.MirrorRoom{}}
	for _, i := range in {
		mr := control.MirrorRoom{Discovery: i.Discovery.String(), Requester: i.Requester.String(), Pinned: i.Pinned,
			Bytes: i.Bytes, Logs: i.Logs, Entries: i.Entries, Kept: rfc3339(i.Kept), Used: rfc3339(i.Used)}
		if r, ok := d.rooms.byDiscovery(i.Discovery); ok {
			mr.Room = r.ID().String()
		}
		out.Rooms = append(out.Rooms, mr)
		out.Bytes += i.Bytes
	}
	return out
}

func (d *daemon) handleMirrorKeep(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !decode(w, r, &req) {
		return
	}
	rs := d.rooms
	disc, rm, err := rs.mirrorTarget(req.Target)
	if err != nil {
		failMirror(w, err)
		return
	}
	if req.Mirror == "" {
		if rs.mirror == nil {
			failMirror(w, errNotMirror)
			return
		}
		in, err := rs.mirror.store.Keep(disc, rs.self.Identity, req.Pin)
		if err != nil {
			failMirror(w, err)
			return
		}
		if rm != nil {
			ws, members := roomWriters(rm)
			if err := rs.mirror.store.Name(disc, rs.self.Identity, rs.self.Device.Public(), ws, members); err != nil {
				failMirror(w, err)
				return
			}
			d.nameMirror(rm, rs.node.Host.ID(), rs.addrs())
		}
		rs.mirror.mu.Lock()
		delete(rs.mirror.find, disc) // look for its peers now
		rs.mirror.mu.Unlock()
		rs.poke()
		writeJSON(w, http.StatusOK, d.mirrorRooms(rs.node.Host.ID().String(), []mirror.Info{in}))
		return
	}
	ai, err := rs.remoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	var writers []mirror.Writer
	var members []identity.PublicKey
	if rm != nil {
		writers, members = roomWriters(rm)
	}
	resp, err := mirror.Ask(r.Context(), rs.node.Host, ai.ID, mirror.Request{Op: mirror.OpKeep, Proof: rs.proofBytes(), Revocations: rs.revocationBlobs(),
		Discovery: disc, Pin: req.Pin, Writers: writers, Members: members})
	if err != nil {
		failMirror(w, err)
		return
	}
	out := d.mirrorRooms(ai.ID.String(), resp.Rooms)
	if rm != nil {
		d.nameMirror(rm, ai.ID, []string{req.Mirror})
		ctx, cancel := context.WithTimeout(context.Background(), findTimeout)
		rs.trySync(ctx, ai.ID, disc)
		cancel()
		// The files sent before: the mirror keeps them too, newest first,
		// within what the room may hold there.
		var limit, used int64
		for _, in := range resp.Rooms {
			if in.Discovery == disc {
				limit, used = in.Limit, in.Bytes
			}
		}
		fctx, fcancel := context.WithTimeout(r.Context(), 2*time.Minute)
		out.Files = rs.files.keepExisting(fctx, rm, ai.ID, limit, used)
		fcancel()
		if n := len(out.Files.NotFitted); n > 0 {
			d.log.Info("a mirror keeps the room, not all its files: over what the room may hold there", slog.Int("not_fitted", n))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// nameMirror writes the mirror into the room's view, unless it is there,
// so that every member keeps it up to date and fetches from it.
func (d *daemon) nameMirror(rm *room.Room, p peer.ID, addrs []string) {
	named := false
	rm.View(func(v *room.View) { _, named = v.Mirrors[p.String()] })
	if named {
		return
	}
	if _, err := rm.Write(room.Op{Type: room.OpMirror, Name: p.String(), Text: strings.Join(addrs, " ")}); err != nil {
		d.log.Warn("naming a mirror in the room", logattr.Room(rm.ID().String()), logattr.Err(err))
	}
}

func (d *daemon) handleMirrorDrop(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !decode(w, r, &req) {
		return
	}
	rs := d.rooms
	disc, _, err := rs.mirrorTarget(req.Target)
	if err != nil {
		failMirror(w, err)
		return
	}
	if req.Mirror == "" {
		if rs.mirror == nil {
			failMirror(w, errNotMirror)
			return
		}
		if err := rs.mirror.store.Drop(disc, rs.self.Identity); err != nil {
			failMirror(w, err)
			return
		}
		writeJSON(w, http.StatusOK, control.OK{OK: true})
		return
	}
	ai, err := rs.remoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	if _, err := mirror.Ask(r.Context(), rs.node.Host, ai.ID, mirror.Request{Op: mirror.OpDrop, Proof: rs.proofBytes(), Revocations: rs.revocationBlobs(), Discovery: disc}); err != nil {
		failMirror(w, err)
		return
	}
	writeJSON(w, http.StatusOK, control.OK{OK: true})
}

func (d *daemon) handleMirrorList(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !decode(w, r, &req) {
		return
	}
	rs := d.rooms
	if req.Mirror == "" {
		if rs.mirror == nil {
			failMirror(w, errNotMirror)
			return
		}
		out := d.mirrorRooms(rs.node.Host.ID().String(), rs.mirror.store.List(rs.self.Identity))
		out.Budget = rs.mirror.store.Budget()
		writeJSON(w, http.StatusOK, out)
		return
	}
	ai, err := rs.remoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	resp, err := mirror.Ask(r.Context(), rs.node.Host, ai.ID, mirror.Request{Op: mirror.OpList, Proof: rs.proofBytes(), Revocations: rs.revocationBlobs()})
	if err != nil {
		failMirror(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d.mirrorRooms(ai.ID.String(), resp.Rooms))
}
