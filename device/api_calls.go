package device

import (
	"net/http"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *daemon) callRoutes(handle handleFunc) {
	handle("POST", control.RouteRooms+"/{room}/calls", AccessWrite, d.withRoom(d.handlePlaceCall))
	handle("GET", control.RouteCalls, AccessRead, d.handleCalls)
	handle("GET", control.RouteCalls+"/{call}", AccessRead, d.withCall(d.handleCall))
	handle("POST", control.RouteCalls+"/{call}/answer", AccessWrite, d.withCall(d.handleAnswer))
	handle("POST", control.RouteCalls+"/{call}/hangup", AccessWrite, d.withCall(d.handleHangup))
}

func MediaOf(audioOnly bool) call.Media {
	if audioOnly {
		return call.Audio
	}
	return call.Audio | call.Video
}

func (d *daemon) handlePlaceCall(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.CallPlace
	if !Decode(w, r, &req) {
		return
	}
	d.rooms.calls.Place(w, rm, req, nil)
}

func (d *daemon) handleCalls(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, control.Calls{Calls: d.rooms.calls.m.Calls()})
}

type callHandler func(w http.ResponseWriter, r *http.Request, c *call.Call)

// withCall finds the call of the path: its id, an unambiguous prefix of
// it, or "live" for the call in progress.
func (d *daemon) withCall(h callHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := d.rooms.calls.Find(r.PathValue("call"))
		if err != nil {
			WriteError(w, http.StatusNotFound, err.Error())
			return
		}
		h(w, r, c)
	}
}

func (d *daemon) handleCall(w http.ResponseWriter, r *http.Request, c *call.Call) {
	WriteJSON(w, http.StatusOK, c.Status())
}

func (d *daemon) handleAnswer(w http.ResponseWriter, r *http.Request, c *call.Call) {
	var req control.CallAnswer
	if !Decode(w, r, &req) {
		return
	}
	if err := c.Answer(MediaOf(req.AudioOnly)); err != nil {
		WriteError(w, http.StatusConflict, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, c.Status())
}

func (d *daemon) handleHangup(w http.ResponseWriter, r *http.Request, c *call.Call) {
	var req struct{}
	if !Decode(w, r, &req) {
		return
	}
	c.Hangup("")
	WriteJSON(w, http.StatusOK, c.Status())
}
