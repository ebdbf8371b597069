package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/door"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
)

// DoorRoutes serves the door's routes on the control API, and on the web
// page's API under /api (web true).
func (d *Server) DoorRoutes(handle handleFunc, web bool) { (&doorAPI{d}).doorRoutes(handle, web) }

func (dm *doorAPI) doorRoutes(handle handleFunc, web bool) {
	route := func(p string) string {
		if web {
			return "/api" + strings.TrimPrefix(p, "/v1")
		}
		return p
	}
	handle("GET", route(control.RouteDoor), AccessRead, dm.withDoor(func(w http.ResponseWriter, r *http.Request, d *door.Door) {
		WriteJSON(w, http.StatusOK, d.Status())
	}))
	handle("POST", route(control.RouteDoorPress), AccessWrite, dm.withDoor(func(w http.ResponseWriter, r *http.Request, d *door.Door) {
		var req control.DoorPress
		if !Decode(w, r, &req) {
			return
		}
		if err := d.Press(req.Kind); err != nil {
			status := http.StatusConflict
			if errors.Is(err, control.ErrBadArg) {
				status = http.StatusBadRequest
			}
			WriteError(w, status, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, d.Status())
	}))
	handle("POST", route(control.RouteDoorMotion), AccessWrite, dm.withDoor(func(w http.ResponseWriter, r *http.Request, d *door.Door) {
		if err := d.Motion(); err != nil {
			WriteError(w, http.StatusConflict, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, d.Status())
	}))
	handle("POST", route(control.RouteRooms+"/{room}/unlock"), AccessWrite, dm.withRoom(dm.handleUnlockDoor))
	handle("POST", route(control.RouteRooms+"/{room}/view"), AccessWrite, dm.withRoom(dm.handleViewDoor))
	handle("GET", route(control.RouteRooms+"/{room}/doors"), AccessRead, dm.withRoom(dm.handleDoors))
	handle("POST", route(control.RouteRooms+"/{room}/doors"), AccessWrite, dm.withRoom(dm.handleSetDoor))
}

func (dm *doorAPI) withDoor(h func(http.ResponseWriter, *http.Request, *door.Door)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if dm.door == nil {
			WriteError(w, http.StatusNotFound, "this device is not a doorphone (role doorphone or both in hearth.toml)")
			return
		}
		h(w, r, dm.door)
	}
}

// handleUnlockDoor is a member's side: it signs an unlock for the room's
// door and sends it.
func (dm *doorAPI) handleUnlockDoor(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.Unlock
	if !Decode(w, r, &req) {
		return
	}
	doorDev, ok := pickDoor(w, rm, req.Door)
	if !ok {
		return
	}
	ans, err := dm.remote.Unlock(r.Context(), rm, doorDev)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, control.Unlocked{Door: doorDev.String(), Opened: ans.Opened, Reason: ans.Reason})
}

// pickDoor finds the room's door a request names (or its only one),
// answering the error itself when it cannot.
func pickDoor(w http.ResponseWriter, rm *room.Room, name string) (identity.PublicKey, bool) {
	doors := door.DoorsOf(rm)
	var pick []identity.PublicKey
	for _, dv := range doors {
		if name == "" || strings.HasPrefix(dv.String(), strings.ToLower(name)) && len(name) >= 8 {
			pick = append(pick, dv)
		}
	}
	switch {
	case len(doors) == 0:
		WriteError(w, http.StatusNotFound, "this room has no doorphone")
		return identity.PublicKey{}, false
	case len(pick) == 0:
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no door %q in this room", name))
		return identity.PublicKey{}, false
	case len(pick) > 1:
		var ids []string
		for _, p := range pick {
			ids = append(ids, p.String()[:16])
		}
		WriteError(w, http.StatusConflict, "the room has several doors: say which, one of "+strings.Join(ids, ", "))
		return identity.PublicKey{}, false
	}
	return pick[0], true
}

func (d *doorAPI) handleDoors(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	WriteJSON(w, http.StatusOK, door.ListDoors(rm))
}

// handleSetDoor makes a device a door of the room, or takes it off. Only
// the room's admins may: every member's view refuses it from anyone else,
// so this device says so rather than write what would not count.
func (d *doorAPI) handleSetDoor(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.SetDoor
	if !Decode(w, r, &req) {
		return
	}
	if len(req.Name) > room.MaxNameLen {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("a door's name of %d bytes: at most %d", len(req.Name), room.MaxNameLen))
		return
	}
	dev, err := door.DeviceOfRoom(rm, req.Device)
	if err != nil {
		Fail(w, err)
		return
	}
	var role room.Role
	var isDoor, usable bool
	rm.View(func(v *room.View) {
		role = v.Role(d.id.Identity)
		_, isDoor = v.Doors[dev]
		info, ok := v.Devices[dev]
		usable = ok && !info.Revoked && !info.Forked
	})
	switch {
	case role < room.RoleAdmin:
		WriteError(w, http.StatusForbidden, "only admins of the room make a device a door or take it off")
		return
	case req.Remove && !isDoor:
		WriteError(w, http.StatusNotFound, "that device is not a door of this room")
		return
	case !req.Remove && !usable:
		WriteError(w, http.StatusConflict, "that device was revoked: it cannot be a door")
		return
	}
	if _, err := rm.Write(room.Op{Type: room.OpSetDoor, Identity: dev, Text: req.Name, Remove: req.Remove}); err != nil {
		Fail(w, err)
		return
	}
	d.log.Info("a door of the room set", logattr.Room(rm.ID().String()), logattr.Dev(dev), slog.Bool("removed", req.Remove))
	WriteJSON(w, http.StatusOK, door.ListDoors(rm))
}

// handleViewDoor is a member's side: it asks the room's door for its live
// view; the door calls this device back.
func (dm *doorAPI) handleViewDoor(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.View
	if !Decode(w, r, &req) {
		return
	}
	doorDev, ok := pickDoor(w, rm, req.Door)
	if !ok {
		return
	}
	a, err := dm.remote.View(r.Context(), rm, doorDev)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	if a.Reason != "" {
		WriteError(w, http.StatusConflict, "the door refused: "+a.Reason)
		return
	}
	WriteJSON(w, http.StatusOK, control.Viewing{Door: doorDev.String(), Call: call.ID(a.Call).String()})
}
