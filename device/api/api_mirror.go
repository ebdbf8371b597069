package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/mirror"
)

func (d *mirrorAPI) mirrorRoutes(handle handleFunc) {
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
	case errors.Is(err, rooms.ErrNotMirror):
		WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, rooms.ErrUnreachable):
		WriteError(w, http.StatusServiceUnavailable, err.Error())
	default:
		Fail(w, err)
	}
}

func (d *mirrorAPI) mirrorRooms(peerID string, in []mirror.Info) *control.MirrorRooms {
	out := &control.MirrorRooms{Mirror: peerID, Rooms: []control.MirrorRoom{}}
	for _, i := range in {
		mr := control.MirrorRoom{Discovery: i.Discovery.String(), Requester: i.Requester.String(), Pinned: i.Pinned,
			Bytes: i.Bytes, Logs: i.Logs, Entries: i.Entries, Kept: control.Time(i.Kept), Used: control.Time(i.Used)}
		if r, ok := d.rooms.ByDiscovery(i.Discovery); ok {
			mr.Room = r.ID().String()
		}
		out.Rooms = append(out.Rooms, mr)
		out.Bytes += i.Bytes
	}
	return out
}

func (d *mirrorAPI) handleMirrorKeep(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !Decode(w, r, &req) {
		return
	}
	rs := d.rooms
	disc, rm, err := rs.Mirrors.MirrorTarget(req.Target)
	if err != nil {
		failMirror(w, err)
		return
	}
	if req.Mirror == "" {
		in, err := rs.Mirrors.KeepHere(disc, rm, req.Pin)
		if err != nil {
			failMirror(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, d.mirrorRooms(rs.PeerID().String(), []mirror.Info{in}))
		return
	}
	ai, err := rs.Mirrors.RemoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	var writers []mirror.Writer
	var members []identity.PublicKey
	if rm != nil {
		writers, members = rooms.RoomWriters(rm)
	}
	resp, err := rs.Mirrors.AskMirror(r.Context(), ai.ID, mirror.Request{Op: mirror.OpKeep, Discovery: disc, Pin: req.Pin, Writers: writers, Members: members})
	if err != nil {
		failMirror(w, err)
		return
	}
	out := d.mirrorRooms(ai.ID.String(), resp.Rooms)
	if rm != nil {
		rs.Mirrors.NameMirror(rm, ai.ID, []string{req.Mirror})
		ctx, cancel := context.WithTimeout(r.Context(), rooms.FindTimeout)
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
		out.Files = d.files.KeepExisting(fctx, rm, ai.ID, limit, used)
		fcancel()
		if n := len(out.Files.NotFitted); n > 0 {
			d.log.Info("a mirror keeps the room, not all its files: over what the room may hold there", slog.Int("not_fitted", n))
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

func (d *mirrorAPI) handleMirrorDrop(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !Decode(w, r, &req) {
		return
	}
	rs := d.rooms
	disc, _, err := rs.Mirrors.MirrorTarget(req.Target)
	if err != nil {
		failMirror(w, err)
		return
	}
	if req.Mirror == "" {
		if err := rs.Mirrors.DropHere(disc); err != nil {
			failMirror(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, control.OK{OK: true})
		return
	}
	ai, err := rs.Mirrors.RemoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	if _, err := rs.Mirrors.AskMirror(r.Context(), ai.ID, mirror.Request{Op: mirror.OpDrop, Discovery: disc}); err != nil {
		failMirror(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, control.OK{OK: true})
}

func (d *mirrorAPI) handleMirrorList(w http.ResponseWriter, r *http.Request) {
	var req control.MirrorRequest
	if !Decode(w, r, &req) {
		return
	}
	rs := d.rooms
	if req.Mirror == "" {
		kept, budget, err := rs.Mirrors.KeptHere()
		if err != nil {
			failMirror(w, err)
			return
		}
		out := d.mirrorRooms(rs.PeerID().String(), kept)
		out.Budget = budget
		WriteJSON(w, http.StatusOK, out)
		return
	}
	ai, err := rs.Mirrors.RemoteMirror(r.Context(), req.Mirror)
	if err != nil {
		failMirror(w, err)
		return
	}
	resp, err := rs.Mirrors.AskMirror(r.Context(), ai.ID, mirror.Request{Op: mirror.OpList})
	if err != nil {
		failMirror(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, d.mirrorRooms(ai.ID.String(), resp.Rooms))
}
