package api

import (
	"net/http"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *roomAPI) handleRequests(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	WriteJSON(w, http.StatusOK, control.ApprovalRequests{Room: rm.ID().String(), Requests: d.rooms.Invites.Requests(rm)})
}

func (d *roomAPI) handleDecide(approve bool) roomHandler {
	return func(w http.ResponseWriter, r *http.Request, rm *room.Room) {
		var none struct{}
		if !Decode(w, r, &none) {
			return
		}
		if err := d.rooms.Invites.Decide(r.Context(), rm, r.PathValue("request"), approve); err != nil {
			Fail(w, err)
			return
		}
		WriteJSON(w, http.StatusOK, control.OK{OK: true})
	}
}
