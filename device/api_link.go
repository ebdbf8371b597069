package device

import (
	"context"
	"net/http"
	"time"

	"github.com/hearthp2p/hearth/device/control"
)

func (d *daemon) handleDeviceLink(w http.ResponseWriter, r *http.Request) {
	var req control.DeviceLinkRequest
	if !decode(w, r, &req) {
		return
	}
	if req.ExpiresSeconds < 0 {
		writeError(w, http.StatusBadRequest, "expires_seconds must not be negative")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), joinTimeout)
	defer cancel()
	link, exp, err := d.rooms.deviceLink(ctx, time.Duration(req.ExpiresSeconds)*time.Second)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, control.DeviceLinkCreated{Link: link, Expires: rfc3339(exp)})
}
