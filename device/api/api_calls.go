package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/device/calls"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *callAPI) callRoutes(handle handleFunc) {
	handle("POST", control.RouteRooms+"/{room}/calls", AccessWrite, d.withRoom(d.handlePlaceCall))
	handle("GET", control.RouteCalls, AccessRead, d.handleCalls)
	handle("GET", control.RouteCalls+"/{call}", AccessRead, d.withCall(d.handleCall))
	handle("POST", control.RouteCalls+"/{call}/answer", AccessWrite, d.withCall(d.handleAnswer))
	handle("POST", control.RouteCalls+"/{call}/hangup", AccessWrite, d.withCall(d.handleHangup))
}

func (d *callAPI) handlePlaceCall(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.CallPlace
	if !Decode(w, r, &req) {
		return
	}
	placeCall(w, r, d.calls, rm, req, nil)
}

func (d *callAPI) handleCalls(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, control.Calls{Calls: d.calls.Manager().Calls()})
}

type callHandler func(w http.ResponseWriter, r *http.Request, c *call.Call)

// withCall finds the call of the path: its id, an unambiguous prefix of
// it, or "live" for the call in progress.
func (d *callAPI) withCall(h callHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := d.calls.Find(r.PathValue("call"))
		if err != nil {
			WriteError(w, http.StatusNotFound, err.Error())
			return
		}
		h(w, r, c)
	}
}

func (d *callAPI) handleCall(w http.ResponseWriter, r *http.Request, c *call.Call) {
	WriteJSON(w, http.StatusOK, c.Status())
}

func (d *callAPI) handleAnswer(w http.ResponseWriter, r *http.Request, c *call.Call) {
	var req control.CallAnswer
	if !Decode(w, r, &req) {
		return
	}
	if err := c.Answer(calls.Media(req.AudioOnly)); err != nil {
		WriteError(w, http.StatusConflict, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, c.Status())
}

func (d *callAPI) handleHangup(w http.ResponseWriter, r *http.Request, c *call.Call) {
	var req struct{}
	if !Decode(w, r, &req) {
		return
	}
	c.Hangup("")
	WriteJSON(w, http.StatusOK, c.Status())
}

// placeCall places a call as req says, tagged with tag (a page's
// session), and answers with the ringing call. The placing is not the
// request's: the call rings on after the answer.
func placeCall(w http.ResponseWriter, r *http.Request, cs *calls.Calls, rm *room.Room, req control.CallPlace, tag any) {
	c, err := cs.Place(context.WithoutCancel(r.Context()), rm, req.AudioOnly, req.Group, tag)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, call.ErrBusy) || errors.Is(err, calls.ErrNobody) {
			status = http.StatusConflict
		}
		WriteError(w, status, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, c.Status())
}

// PlaceCall is placeCall for the web page.
func PlaceCall(w http.ResponseWriter, r *http.Request, cs *calls.Calls, rm *room.Room, req control.CallPlace, tag any) {
	placeCall(w, r, cs, rm, req, tag)
}
