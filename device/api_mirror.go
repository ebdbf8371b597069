package device

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/mirror"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *daemon) mirrorRoutes(handle handleFunc) {
	handle("POST", control.RouteMirrorKeep, AccessAdmin, d.handleMirrorKeep)
	handle("POST", control.RouteMirrorDrop, AccessAdmin, d.handleMirrorDrop)
	handle("POST", control.RouteMirrorList, AccessRead, d.handleMirrorList)
}

func failMirror(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, mirror.ErrDenied):
		WriteError(w, http.StatusForbidden, err.Error())
	case errors.Is(err, mirror.ErrFull):
		WriteError(w, http.StatusInsufficientStorage, err.Error())
	case errors.Is(err, mirror.ErrNotKept):
		WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrNotMirror):
		WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, ErrUnreachable):
		WriteError(w, http.StatusServiceUnavailable, err.Error())
	default:
		Fail(w, err)
	}
}

func (d *daemon) mirrorRooms(peerID string, in []mirror.Info) *control.MirrorRooms {
	out := &control.MirrorRooms{Mirror: peerID, Rooms: []control.MirrorRoom{}}
	for _, i := range in {
		mr := control.MirrorRoom{Discovery: i.Discovery.String(), Requester: i.Requester.String(), Pinned: i.Pinned,
			Bytes: i.Bytes, Logs: i.Logs, Entries: i.Entries, Kept: Rfc3339(i.Kept), Used: Rfc3339(i.Used)}
		if r, ok := d.rooms.ByDiscovery(i.Discovery); ok {
			mr.Room = r.ID().String()
		}
		out.Rooms = append(out.Rooms, mr)
		out.Bytes += i.Bytes
	}
	return out
}

func (d *daemon) handleMirrorKeep(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !Decode(w, r, &req) {
		return
	}
	rs := d.rooms
	disc, rm, err := rs.MirrorTarget(req.Target)
	if err != nil {
		failMirror(w, err)
		return
	}
	if req.Mirror == "" {
		if rs.mirror == nil {
			failMirror(w, ErrNotMirror)
			return
		}
		in, err := rs.mirror.store.Keep(disc, rs.self.Identity, req.Pin)
		if err != nil {
			failMirror(w, err)
			return
		}
		if rm != nil {
			ws, members := RoomWriters(rm)
			if err := rs.mirror.store.Name(disc, rs.self.Identity, rs.self.Device.Public(), ws, members); err != nil {
				failMirror(w, err)
				return
			}
			d.nameMirror(rm, rs.node.Host.ID(), rs.Addrs())
		}
		rs.mirror.mu.Lock()
		delete(rs.mirror.find, disc) // look for its peers now
		rs.mirror.mu.Unlock()
		rs.Poke()
		WriteJSON(w, http.StatusOK, d.mirrorRooms(rs.node.Host.ID().String(), []mirror.Info{in}))
		return
	}
	ai, err := rs.RemoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	var writers []mirror.Writer
	var members []identity.PublicKey
	if rm != nil {
		writers, members = RoomWriters(rm)
	}
	resp, err := mirror.Ask(r.Context(), rs.node.Host, ai.ID, mirror.Request{Op: mirror.OpKeep, Proof: rs.ProofBytes(), Revocations: rs.RevocationBlobs(),
		Discovery: disc, Pin: req.Pin, Writers: writers, Members: members})
	if err != nil {
		failMirror(w, err)
		return
	}
	out := d.mirrorRooms(ai.ID.String(), resp.Rooms)
	if rm != nil {
		d.nameMirror(rm, ai.ID, []string{req.Mirror})
		ctx, cancel := context.WithTimeout(context.Background(), FindTimeout)
		rs.TrySync(ctx, ai.ID, disc)
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
		out.Files = rs.files.KeepExisting(fctx, rm, ai.ID, limit, used)
		fcancel()
		if n := len(out.Files.NotFitted); n > 0 {
			d.log.Info("a mirror keeps the room, not all its files: over what the room may hold there", slog.Int("not_fitted", n))
		}
	}
	WriteJSON(w, http.StatusOK, out)
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
	if !Decode(w, r, &req) {
		return
	}
	rs := d.rooms
	disc, _, err := rs.MirrorTarget(req.Target)
	if err != nil {
		failMirror(w, err)
		return
	}
	if req.Mirror == "" {
		if rs.mirror == nil {
			failMirror(w, ErrNotMirror)
			return
		}
		if err := rs.mirror.store.Drop(disc, rs.self.Identity); err != nil {
			failMirror(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, control.OK{OK: true})
		return
	}
	ai, err := rs.RemoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	if _, err := mirror.Ask(r.Context(), rs.node.Host, ai.ID, mirror.Request{Op: mirror.OpDrop, Proof: rs.ProofBytes(), Revocations: rs.RevocationBlobs(), Discovery: disc}); err != nil {
		failMirror(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, control.OK{OK: true})
}

func (d *daemon) handleMirrorList(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !Decode(w, r, &req) {
		return
	}
	rs := d.rooms
	if req.Mirror == "" {
		if rs.mirror == nil {
			failMirror(w, ErrNotMirror)
			return
		}
		out := d.mirrorRooms(rs.node.Host.ID().String(), rs.mirror.store.List(rs.self.Identity))
		out.Budget = rs.mirror.store.Budget()
		WriteJSON(w, http.StatusOK, out)
		return
	}
	ai, err := rs.RemoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	resp, err := mirror.Ask(r.Context(), rs.node.Host, ai.ID, mirror.Request{Op: mirror.OpList, Proof: rs.ProofBytes(), Revocations: rs.RevocationBlobs()})
	if err != nil {
		failMirror(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, d.mirrorRooms(ai.ID.String(), resp.Rooms))
}
