package api

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/door"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/p2p/proto"
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
// app site (on its owner's domain) or else its page, with link and the addresses of this device a browser can dial: a
// WebRTC-direct one (on the page's host if it listens there), and through
// each always-on node that relays for it and that browsers can dial (its
// WebRTC-direct address, then the circuit), for a phone away from home.
// Then the doors of its rooms, where this daemon knows a browser can dial
// them: the app keeps a connection to each, for a browser cannot be
// dialled and a door rings over it. "" when no page is served or a
// browser could dial no address of this device.
func (d *Server) appLink(link string) string {
	var base string
	switch {
	case d.appSite != nil:
		base = d.appSite().URL
	case d.web != nil:
		st := d.web()
		base = st.LANURL
		if base == "" {
			base = st.URL
		}
	default:
		return ""
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return ""
	}
	me := d.node.Host.ID()
	var direct, fallback string
	fallbackPublic := false
	var relayed []string
	for _, a := range d.node.Host.Addrs() {
		s := a.String()
		if !strings.Contains(s, "/webrtc-direct/") || strings.Contains(s, "/p2p-circuit") {
			continue
		}
		s += "/p2p/" + me.String()
		// The page's own host, else a public address (a domain's site
		// is opened from anywhere), else the first.
		if host, _ := manet.ToIP(a); host != nil && host.String() == u.Hostname() {
			direct = s
		} else if pub := manet.IsPublicAddr(a); fallback == "" || pub && !fallbackPublic {
			fallback, fallbackPublic = s, pub
		}
	}
	// Through each relay (the always-on nodes it holds a slot on), by the
	// relay's WebRTC-direct address, a public one first.
	for _, r := range d.node.Relays() {
		var via string
		for _, ra := range d.node.Host.Peerstore().Addrs(r) {
			if !strings.Contains(ra.String(), "/webrtc-direct/certhash/") {
				continue
			}
			if via == "" || manet.IsPublicAddr(ra) {
				via = ra.String()
			}
		}
		if via != "" {
			relayed = append(relayed, via+"/p2p/"+r.String()+"/p2p-circuit/p2p/"+me.String())
		}
	}
	if direct == "" {
		direct = fallback
	}
	var at []string
	if direct != "" {
		at = append(at, direct)
	}
	at = append(at, relayed...)
	if len(at) == 0 {
		return ""
	}
	at = append(at, d.doorAddrs()...)
	q := url.Values{"link": {link}, "at": at}
	return u.Scheme + "://" + u.Host + "/app/#" + q.Encode()
}

// doorAddrs are the addresses a browser can dial (WebRTC-direct, directly
// or through a relay) of the doors of this device's rooms, as its node
// knows them, at most maxDoorAddrs.
func (d *Server) doorAddrs() []string {
	const maxDoorAddrs = 16
	seen := map[peer.ID]bool{d.node.Host.ID(): true}
	var out []string
	for _, rm := range d.rooms.List() {
		for _, dev := range door.DoorsOf(rm) {
			p, err := proto.PeerOf(dev)
			if err != nil || seen[p] {
				continue
			}
			seen[p] = true
			for _, a := range d.node.Host.Peerstore().Addrs(p) {
				if s := a.String(); strings.Contains(s, "/webrtc-direct/certhash/") && len(out) < maxDoorAddrs {
					out = append(out, s+"/p2p/"+p.String())
				}
			}
		}
	}
	return out
}
