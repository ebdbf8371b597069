package device

import (
	"net/http"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *daemon) handleRequests(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	writeJSON(w, http.StatusOK, control.ApprovalRequests{Room: rm.ID().String(), Requests: d.rooms.requests(rm)})
}

func (d *daemon) handleDecide(approve bool) roomHandler {
	return func(w http.ResponseWriter, r *http.Request, rm *room.Room) {
		var none struct{}
		if !decode(w, r, &none) {
			return
		}
		if err := d.rooms.decide(rm, r.PathValue("request"), approve); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusOK, control.OK{OK: true})
	}
}
