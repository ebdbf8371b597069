package device

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/room"
)

// DoorRoutes serves the door's routes on the control API, and on the web
// page's API under /api (web true).
func (dm *daemon) DoorRoutes(handle handleFunc, web bool) {
	route := func(p string) string {
		if web {
			return "/api" + strings.TrimPrefix(p, "/v1")
		}
		return p
	}
	handle("GET", route(control.RouteDoor), AccessRead, dm.withDoor(func(w http.ResponseWriter, r *http.Request, d *Door) {
		WriteJSON(w, http.StatusOK, d.Status())
	}))
	handle("POST", route(control.RouteDoorPress), AccessWrite, dm.withDoor(func(w http.ResponseWriter, r *http.Request, d *Door) {
		var req control.DoorPress
		if !Decode(w, r, &req) {
			return
		}
		if d.sim == nil {
			WriteError(w, http.StatusConflict, "the button is a real one (driver periph): press it")
			return
		}
		// A short or long press is held and released before the answer,
		// and the door has taken it: the state printed is the one after.
		before := d.Status()
		switch req.Kind {
		case "", "short":
			d.sim.Hold(time.Duration(d.cfg.HAL.Debounce)*3 + 50*time.Millisecond)
			d.Settle(before)
		case "long":
			d.sim.Hold(time.Duration(d.cfg.HAL.LongPress) + 300*time.Millisecond)
			d.Settle(before)
		case "down":
			d.sim.ButtonPin.Set(true)
		case "up":
			d.sim.ButtonPin.Set(false)
		default:
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("press %q: short, long, down or up", req.Kind))
			return
		}
		WriteJSON(w, http.StatusOK, d.Status())
	}))
	handle("POST", route(control.RouteDoorMotion), AccessWrite, dm.withDoor(func(w http.ResponseWriter, r *http.Request, d *Door) {
		if d.sim == nil {
			WriteError(w, http.StatusConflict, "the motion sensor is a real one (driver periph)")
			return
		}
		go func() {
			d.sim.MotionPin.Set(true)
			time.Sleep(300 * time.Millisecond)
			d.sim.MotionPin.Set(false)
		}()
		WriteJSON(w, http.StatusOK, d.Status())
	}))
	handle("POST", route(control.RouteRooms+"/{room}/unlock"), AccessWrite, dm.withRoom(dm.handleUnlockDoor))
	handle("POST", route(control.RouteRooms+"/{room}/view"), AccessWrite, dm.withRoom(dm.handleViewDoor))
	handle("GET", route(control.RouteRooms+"/{room}/doors"), AccessRead, dm.withRoom(dm.handleDoors))
	handle("POST", route(control.RouteRooms+"/{room}/doors"), AccessWrite, dm.withRoom(dm.handleSetDoor))
}

func (dm *daemon) withDoor(h func(http.ResponseWriter, *http.Request, *Door)) http.HandlerFunc {
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
func (dm *daemon) handleUnlockDoor(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.Unlock
	if !Decode(w, r, &req) {
		return
	}
	doorDev, ok := pickDoor(w, rm, req.Door)
	if !ok {
		return
	}
	ans, err := dm.sendUnlock(r.Context(), rm, doorDev)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, control.Unlocked{Door: doorDev.String(), Opened: ans.Opened, Reason: ans.Reason})
}

// pickDoor finds the room's door a request names (or its only one),
// answering the error itself when it cannot.
func pickDoor(w http.ResponseWriter, rm *room.Room, name string) (identity.PublicKey, bool) {
	doors := DoorsOf(rm)
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

// sendUnlock signs a fresh request and sends it to a door.
func (dm *daemon) sendUnlock(ctx context.Context, rm *room.Room, doorDev identity.PublicKey) (UnlockAnswer, error) {
	dm.mu.Lock()
	req := &UnlockRequest{Room: [16]byte(rm.ID()), Door: doorDev, Counter: dm.unlockCounter.Next(dm.now()), Time: dm.now().UnixMilli()}
	err := req.Sign(dm.id.Device)
	dm.mu.Unlock()
	if err != nil {
		return UnlockAnswer{}, err
	}
	return dm.deliverUnlock(ctx, doorDev, req.Marshal())
}

// deliverUnlock sends request bytes to a door and reads its answer.
func (dm *daemon) deliverUnlock(ctx context.Context, doorDev identity.PublicKey, b []byte) (UnlockAnswer, error) {
	ab, err := dm.deliverDoor(ctx, doorDev, hnet.ProtocolDoor, b)
	if err != nil {
		return UnlockAnswer{}, err
	}
	return ParseUnlockAnswer(ab)
}

// deliverDoor sends one request to a door on a protocol and reads its
// answer's bytes.
func (dm *daemon) deliverDoor(ctx context.Context, doorDev identity.PublicKey, proto protocol.ID, b []byte) ([]byte, error) {
	p, err := PeerOf(doorDev)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := dm.rooms.node.Reach(ctx, p); err != nil {
		return nil, fmt.Errorf("the door is not reachable: %w", err)
	}
	s, err := dm.rooms.node.Host.NewStream(ctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("the door: %w", err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteMsg(s, b); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sending the request: %w", err)
	}
	ab, err := ReadUnlockMsg(bufio.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("reading the door's answer: %w", err)
	}
	return ab, nil
}

func (d *daemon) handleDoors(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	WriteJSON(w, http.StatusOK, ListDoors(rm))
}

// handleSetDoor makes a device a door of the room, or takes it off. Only
// the room's admins may: every member's view refuses it from anyone else,
// so this device says so rather than write what would not count.
func (d *daemon) handleSetDoor(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.SetDoor
	if !Decode(w, r, &req) {
		return
	}
	if len(req.Name) > room.MaxNameLen {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("a door's name of %d bytes: at most %d", len(req.Name), room.MaxNameLen))
		return
	}
	dev, err := DeviceOfRoom(rm, req.Device)
	if err != nil {
		Fail(w, err)
		return
	}
	var role room.Role
	var isDoor, usable bool
	rm.View(func(v *room.View) {
		role = v.Role(d.rooms.self.Identity)
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
	WriteJSON(w, http.StatusOK, ListDoors(rm))
}

// handleViewDoor is a member's side: it asks the room's door for its live
// view; the door calls this device back.
func (dm *daemon) handleViewDoor(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.View
	if !Decode(w, r, &req) {
		return
	}
	doorDev, ok := pickDoor(w, rm, req.Door)
	if !ok {
		return
	}
	b, err := dm.deliverDoor(r.Context(), doorDev, hnet.ProtocolDoorView, ViewRequest([16]byte(rm.ID())))
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	a, err := ParseViewAnswer(b)
	if err != nil {
		WriteError(w, http.StatusBadGateway, err.Error())
		return
	}
	if a.Reason != "" {
		WriteError(w, http.StatusConflict, "the door refused: "+a.Reason)
		return
	}
	WriteJSON(w, http.StatusOK, control.Viewing{Door: doorDev.String(), Call: a.Call.String()})
}
