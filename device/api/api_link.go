package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
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
	WriteJSON(w, http.StatusOK, control.DeviceLinkCreated{Link: link, Expires: control.Time(exp), App: d.appLink(link)})
}

// appLink is the URL that opens the phone's app, served by this daemon's
// page, with link and an address of this device a browser can dial
// (WebRTC-direct, on the page's host if it listens there); "" when no
// page is served or the node has no WebRTC-direct address.
func (d *Server) appLink(link string) string {
	if d.web == nil {
		return ""
	}
	st := d.web()
	base := st.LANURL
	if base == "" {
		base = st.URL
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	var at, fallback string
	for _, a := range d.node.Addrs() {
		if !strings.Contains(a, "/webrtc-direct/") {
			continue
		}
		if strings.HasPrefix(a, "/ip4/"+u.Hostname()+"/") || strings.HasPrefix(a, "/ip6/"+u.Hostname()+"/") {
			at = a
			break
		}
		if fallback == "" {
			fallback = a
		}
	}
	if at == "" {
		at = fallback
	}
	if at == "" {
		return ""
	}
	q := url.Values{"link": {link}, "at": {at}}
	return u.Scheme + "://" + u.Host + "/app/#" + q.Encode()
}
