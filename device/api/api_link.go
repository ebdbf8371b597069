package api

import (
	"context"
	"net/http"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms"
)

func (d *Server) handleDeviceLink(w http.ResponseWriter, r *http.Request) {
	var req control.DeviceLinkRequest
	if !Decode(w, r, &req) {
		return
	}
	if req.ExpiresSeconds < 0 {
		WriteError(w, http.StatusBadRequest, "expires_seconds must not be negative")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), rooms.JoinTimeout)
	defer cancel()
	link, exp, err := d.rooms.Devices.DeviceLink(ctx, time.Duration(req.ExpiresSeconds)*time.Second)
	if err != nil {
		Fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, control.DeviceLinkCreated{Link: link, Expires: control.Time(exp)})
}
