package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/door"
	"github.com/hearthp2p/hearth/device/files"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *roomAPI) roomRoutes(handle handleFunc) {
	handle("POST", control.RouteRooms, AccessWrite, d.handleCreateRoom)
	handle("GET", control.RouteRooms, AccessRead, d.HandleListRooms)
	handle("POST", control.RouteJoin, AccessWrite, d.handleJoin)
	handle("POST", control.RouteJoinCancel, AccessWrite, d.handleJoinCancel)
	handle("GET", control.RouteRooms+"/{room}/members", AccessRead, d.withRoom(d.handleMembers))
	handle("POST", control.RouteRooms+"/{room}/leave", AccessWrite, d.withRoom(d.handleLeave))
	handle("POST", control.RouteRooms+"/{room}/invites", AccessWrite, d.withRoom(d.handleInvite))
	handle("POST", control.RouteRooms+"/{room}/messages", AccessWrite, d.withRoom(d.handleSend))
	handle("GET", control.RouteRooms+"/{room}/messages", AccessRead, d.withRoom(d.handleHistory))
	handle("POST", control.RouteRooms+"/{room}/messages/{msg}/edit", AccessWrite, d.withRoom(d.handleEdit))
	handle("POST", control.RouteRooms+"/{room}/messages/{msg}/delete", AccessWrite, d.withRoom(d.handleDelete))
	handle("POST", control.RouteRooms+"/{room}/messages/{msg}/react", AccessWrite, d.withRoom(d.handleReact))
	handle("POST", control.RouteRooms+"/{room}/members/{identity}/remove", AccessWrite, d.withRoom(d.handleRemove))
	handle("POST", control.RouteRooms+"/{room}/members/{identity}/role", AccessWrite, d.withRoom(d.handleRole))
	handle("GET", control.RouteRooms+"/{room}/requests", AccessRead, d.withRoom(d.handleRequests))
	handle("POST", control.RouteRooms+"/{room}/requests/{request}/approve", AccessWrite, d.withRoom(d.handleDecide(true)))
	handle("POST", control.RouteRooms+"/{room}/requests/{request}/decline", AccessWrite, d.withRoom(d.handleDecide(false)))
}

// Decode reads a JSON body into v, refusing unknown fields and oversized
// bodies; it answers 400 itself and returns false on a bad body.
func Decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, control.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return false
	}
	return true
}

// Fail maps an error to a status.
func Fail(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, rooms.ErrNoRoom), errors.Is(err, room.ErrUnknownMessage), errors.Is(err, rooms.ErrNoRequest):
		status = http.StatusNotFound
	case errors.Is(err, rooms.ErrAmbiguousRoom), errors.Is(err, room.ErrEntryMalformed), errors.Is(err, pairing.ErrLink), errors.Is(err, control.ErrBadArg):
		status = http.StatusBadRequest
	case errors.Is(err, room.ErrNotMember), errors.Is(err, control.ErrRefused):
		status = http.StatusForbidden
	case errors.Is(err, rooms.ErrNoAdmin):
		status = http.StatusServiceUnavailable
	case errors.Is(err, rooms.ErrAwaiting), errors.Is(err, control.ErrBusy):
		status = http.StatusConflict
	}
	WriteError(w, status, err.Error())
}

type roomHandler func(w http.ResponseWriter, r *http.Request, rm *room.Room)

func (d *Server) withRoom(h roomHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rm, err := d.rooms.Resolve(r.PathValue("room"))
		if err != nil {
			Fail(w, err)
			return
		}
		h(w, r, rm)
	}
}

func (d *roomAPI) handleCreateRoom(w http.ResponseWriter, r *http.Request) {
	var req control.RoomCreate
	if !Decode(w, r, &req) {
		return
	}
	rm, err := d.rooms.Create(r.Context(), req.Name)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.log.Info("room created", slogRoom(rm))
	WriteJSON(w, http.StatusOK, control.RoomCreated{Room: rm.ID().String(), Discovery: rm.Discovery().String(), Name: req.Name})
}

func (d *Server) HandleListRooms(w http.ResponseWriter, r *http.Request) {
	out := control.RoomList{Rooms: []control.RoomInfo{}, Pending: d.rooms.Joins.PendingList()}
	for _, rm := range d.rooms.List() {
		info := control.RoomInfo{Room: rm.ID().String(), Discovery: rm.Discovery().String(), Peers: d.rooms.Sessions(rm.Discovery())}
		rm.View(func(v *room.View) {
			info.Name, info.Members, info.Epoch = v.Name, len(v.Members), v.Epoch
			if role := v.Role(d.id.Identity); role > 0 {
				info.Role = role.String()
			}
		})
		info.Messages = rm.Count()
		info.Doors = len(door.DoorsOf(rm))
		out.Rooms = append(out.Rooms, info)
	}
	WriteJSON(w, http.StatusOK, out)
}

func (d *roomAPI) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req control.JoinRequest
	if !Decode(w, r, &req) {
		return
	}
	rm, err := d.rooms.Joins.Join(r.Context(), req.Link)
	var pend *rooms.PendingError
	if errors.As(err, &pend) {
		WriteJSON(w, http.StatusAccepted, control.RoomCreated{Pending: true, Awaiting: pend.Awaiting, Mailboxes: pend.Mailboxes,
			Invite: fmt.Sprintf("%x", pend.Invite[:])})
		return
	}
	if err != nil {
		Fail(w, err)
		return
	}
	d.log.Info("room joined", slogRoom(rm))
	WriteJSON(w, http.StatusOK, control.RoomCreated{Room: rm.ID().String(), Discovery: rm.Discovery().String(), Name: rooms.NameOf(rm)})
}

// handleJoinCancel withdraws a pending join, named by its invite id or
// its link.
func (d *roomAPI) handleJoinCancel(w http.ResponseWriter, r *http.Request) {
	var req control.JoinCancel
	if !Decode(w, r, &req) {
		return
	}
	var id pairing.ID
	switch {
	case req.Link != "":
		inv, _, err := pairing.ParseLink(req.Link)
		if err != nil {
			Fail(w, err)
			return
		}
		id = inv.ID()
	default:
		b, err := hex.DecodeString(req.Invite)
		if err != nil || len(b) != len(id) {
			WriteError(w, http.StatusBadRequest, "invite: the pending join's id ('hearth room list --json' shows it), or the link")
			return
		}
		id = pairing.ID(b)
	}
	found, err := d.rooms.Joins.CancelPending(id)
	switch {
	case err != nil:
		Fail(w, err)
	case !found:
		WriteError(w, http.StatusNotFound, "no pending join for that invite")
	default:
		d.log.Info("a pending join withdrawn")
		WriteJSON(w, http.StatusOK, struct{}{})
	}
}

func (d *roomAPI) handleMembers(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	out := control.Members{Room: rm.ID().String(), Members: []control.MemberInfo{}}
	held := map[identity.PublicKey]uint64{}
	for _, h := range rm.Heads() {
		held[h.Writer] = h.Length
	}
	rm.View(func(v *room.View) {
		for id, m := range v.Members {
			mi := control.MemberInfo{Identity: id.String(), Role: m.Role.String(), Devices: []control.MemberDevice{}}
			for dev, info := range v.Devices {
				if info.Identity == id {
					mi.Devices = append(mi.Devices, control.MemberDevice{Device: dev.String(), Name: info.Name, Revoked: info.Revoked, Forked: info.Forked, Superseded: info.Superseded, Entries: held[dev], Push: v.Push[dev] != nil})
					if mi.Name == "" {
						mi.Name = info.Name
					}
				}
			}
			slices.SortFunc(mi.Devices, func(a, b control.MemberDevice) int { return compareStr(a.Device, b.Device) })
			out.Members = append(out.Members, mi)
		}
	})
	slices.SortFunc(out.Members, func(a, b control.MemberInfo) int { return compareStr(a.Identity, b.Identity) })
	WriteJSON(w, http.StatusOK, out)
}

func compareStr(a, b string) int { return bytes.Compare([]byte(a), []byte(b)) }

func (d *roomAPI) handleLeave(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	if err := d.rooms.Leave(r.Context(), rm); err != nil {
		Fail(w, err)
		return
	}
	d.log.Info("room left", slogRoom(rm))
	WriteJSON(w, http.StatusOK, control.OK{OK: true})
}

func (d *roomAPI) handleInvite(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.InviteCreate
	if !Decode(w, r, &req) {
		return
	}
	if req.ExpiresSeconds < 0 {
		Fail(w, fmt.Errorf("%w: expiry must not be negative", control.ErrBadArg))
		return
	}
	link, exp, err := d.rooms.Invites.Invite(r.Context(), rm, time.Duration(req.ExpiresSeconds)*time.Second, req.Uses, req.Approve)
	if err != nil {
		if errors.Is(err, room.ErrNotMember) {
			Fail(w, err)
		} else {
			Fail(w, fmt.Errorf("%w: %v", control.ErrRefused, err))
		}
		return
	}
	out := control.InviteCreated{Link: link, Uses: req.Uses}
	if !exp.IsZero() {
		out.Expires = control.Time(exp)
	}
	WriteJSON(w, http.StatusOK, out)
}

// write appends op and checks that the view accepted it; a refusal comes
// back as the view's reason.
func write(rm *room.Room, op room.Op) (room.Ref, error) {
	ref, err := rm.Write(op)
	if err != nil {
		return ref, err
	}
	if rj, ok := rm.Rejection(ref); ok {
		return ref, fmt.Errorf("%w: %s", control.ErrRefused, rj.Reason)
	}
	return ref, nil
}

func (d *roomAPI) handleSend(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.MessageSend
	if !Decode(w, r, &req) {
		return
	}
	op := room.Op{Type: room.OpMessage, Text: req.Text}
	if req.ReplyTo != "" {
		ref, err := rooms.FindMessage(rm, req.ReplyTo)
		if err != nil {
			Fail(w, err)
			return
		}
		op.HasReply, op.Target = true, ref
	}
	ref, err := write(rm, op)
	if err != nil {
		Fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, control.MessageID{ID: ref.String()})
}

func (d *roomAPI) handleHistory(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	out := control.History{Room: rm.ID().String(), Messages: []control.Message{}}
	// A page: at most limit messages (MaxHistoryPage at most, and
	// without it), the latest before the message named by before (the
	// end without it).
	limit := MaxHistoryPage
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: a number of messages, 1 or more", s))
			return
		}
		limit = min(n, MaxHistoryPage)
	}
	// before names a message as history prints it, or a prefix of its
	// writer's part (as edit and delete take it).
	before := r.URL.Query().Get("before")
	var beforeRef room.Ref
	if before != "" {
		ref, err := rooms.FindMessage(rm, before)
		if err != nil {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("no message %q in this room (before)", before))
			return
		}
		beforeRef = ref
	}
	page, more, err := rm.Page(beforeRef, limit)
	if err != nil {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no message %q in this room (before)", before))
		return
	}
	out.More = more
	for _, m := range page {
		out.Messages = append(out.Messages, messageOf(m))
	}
	WriteJSON(w, http.StatusOK, out)
}

func (d *roomAPI) messageOp(w http.ResponseWriter, r *http.Request, rm *room.Room, op room.Op) {
	ref, err := rooms.FindMessage(rm, r.PathValue("msg"))
	if err != nil {
		Fail(w, err)
		return
	}
	op.Target = ref
	if _, err := write(rm, op); err != nil {
		Fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, control.OK{OK: true})
}

func (d *roomAPI) handleEdit(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.MessageEdit
	if !Decode(w, r, &req) {
		return
	}
	d.messageOp(w, r, rm, room.Op{Type: room.OpEdit, Text: req.Text})
}

func (d *roomAPI) handleDelete(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	d.messageOp(w, r, rm, room.Op{Type: room.OpDelete})
}

func (d *roomAPI) handleReact(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.Reaction
	if !Decode(w, r, &req) {
		return
	}
	d.messageOp(w, r, rm, room.Op{Type: room.OpReact, Emoji: req.Emoji, Remove: req.Remove})
}

func (d *roomAPI) memberOp(w http.ResponseWriter, r *http.Request, rm *room.Room, op room.Op) {
	id, err := identity.ParsePublicKey(r.PathValue("identity"))
	if err != nil {
		Fail(w, fmt.Errorf("%w: %v", control.ErrBadArg, err))
		return
	}
	op.Identity = id
	if _, err := write(rm, op); err != nil {
		Fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, control.OK{OK: true})
}

func (d *roomAPI) handleRemove(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	d.memberOp(w, r, rm, room.Op{Type: room.OpRemoveMember})
}

func (d *roomAPI) handleRole(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.RoleChange
	if !Decode(w, r, &req) {
		return
	}
	role, err := room.ParseRole(req.Role)
	if err != nil {
		Fail(w, fmt.Errorf("%w: %v", control.ErrBadArg, err))
		return
	}
	d.memberOp(w, r, rm, room.Op{Type: room.OpSetRole, Role: role})
}

func slogRoom(rm *room.Room) slog.Attr { return logattr.Room(rm.ID().String()) }

// MaxHistoryPage bounds the messages of one answer of the history route:
// a page costs the daemon what it holds, never the whole history.
const MaxHistoryPage = 1000

// messageOf is a message as the control API shows it.
func messageOf(m *room.Message) control.Message {
	cm := control.Message{
		ID: m.ID.String(), Author: m.Author.String(), Device: m.Device.String(),
		Text: m.Text, Edited: m.Edited, Deleted: m.Deleted,
		Time: control.Time(time.UnixMilli(m.Time)),
	}
	if m.ReplyTo != nil {
		cm.ReplyTo = m.ReplyTo.String()
	}
	if m.Call != nil {
		cm.Call = &control.CallEntry{ID: hex.EncodeToString(m.Call.ID[:]), Event: m.Call.Event.String(), DurationMs: m.Call.Duration}
	}
	if m.Door != nil {
		cm.Door = &control.DoorEntry{Event: m.Door.Event.String(), Detail: m.Door.Text}
		if m.Door.Call != ([16]byte{}) {
			cm.Door.Call = hex.EncodeToString(m.Door.Call[:])
		}
		if m.Door.Identity != (identity.PublicKey{}) {
			cm.Door.Identity = m.Door.Identity.String()
		}
	}
	if m.File != nil {
		kind, _ := files.Shown(m.File.Type)
		cm.File = &control.FileInfo{Name: m.File.Name, Size: m.File.Size, Type: m.File.Type,
			Show: kind, Auto: kind != "" && m.File.Size <= files.MaxAutoFetch}
	}
	if len(m.Reactions) > 0 {
		cm.Reactions = map[string][]string{}
		for e, who := range m.Reactions {
			for _, k := range who {
				cm.Reactions[e] = append(cm.Reactions[e], k.String())
			}
		}
	}
	return cm
}
