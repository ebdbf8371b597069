package device

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/version"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
)

// access is what a route needs of whoever calls it. The control socket
// (the machine's own user) may call every route; the page only those that
// declare read, write or admin, so a route that declares nothing, or
// local, can never be reached from the page whatever its path looks like.
type Access int

const (
	AccessNone  Access = iota // undeclared: refused to the page
	AccessRead                // reads the rooms and the device's state
	AccessWrite               // writes into rooms, places and answers calls, the door
	// accessAdmin: powers over the whole identity (device links, the
	// identity's rooms on mirrors); a LAN session confirms its password.
	AccessAdmin
	// accessLocal: reads or writes paths on this machine: never from the
	// page, which uploads and reads contents instead.
	AccessLocal
)

func (a Access) String() string {
	return [...]string{"none", "read", "write", "admin", "local"}[a]
}

// handleFunc registers a route with what it needs.
type handleFunc func(method, path string, a Access, h http.HandlerFunc)

// route is one route of the control API.
type Route struct {
	method, path string
	access       Access
	h            http.HandlerFunc
}

// RouteTable returns every route of the control API.
func (d *daemon) RouteTable() []Route {
	var out []Route
	handle := func(method, path string, a Access, h http.HandlerFunc) {
		out = append(out, Route{method: method, path: path, access: a, h: h})
	}
	handle("GET", control.RouteStatus, AccessRead, d.handleStatus)
	handle("GET", control.RouteDevices, AccessRead, d.handleDevices)
	// A revocation carries its own proof: the identity's signature, made
	// from the phrase (in the page, by the browser alone).
	handle("POST", control.RouteRevocations, AccessWrite, d.handleRevoke)
	handle("POST", control.RouteDeviceLink, AccessAdmin, d.handleDeviceLink)
	d.roomRoutes(handle)
	d.mirrorRoutes(handle)
	d.fileRoutes(handle)
	d.callRoutes(handle)
	d.DoorRoutes(handle, false)
	return out
}

// Routes serves the control API on the control socket: every route.
func (d *daemon) Routes() http.Handler {
	return ServeRoutes(d.RouteTable(), func(r Route) http.HandlerFunc { return r.h })
}

// serveRoutes serves the routes that pick returns a handler for; every
// answer is JSON, unmatched routes and methods included.
func ServeRoutes(table []Route, pick func(Route) http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	paths := map[string]bool{}
	for _, r := range table {
		if h := pick(r); h != nil {
			mux.HandleFunc(r.method+" "+r.path, h)
			paths[r.path] = true
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			if paths[r.URL.Path] {
				WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
			} else {
				WriteError(w, http.StatusNotFound, "no such route: "+r.URL.Path)
			}
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, control.ErrorBody{Error: msg})
}

func Rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (d *daemon) handleStatus(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	id := d.id
	st := control.Status{
		PeerID:     d.peerID,
		Addrs:      d.rooms.Addrs(),
		Rooms:      d.rooms.Count(),
		Identity:   id.Identity.String(),
		Device:     id.Device.Public().String(),
		DeviceName: id.Record.Name,
		Epoch:      id.Epoch,
		Home:       d.home,
		PID:        os.Getpid(),
		Version:    version.Get().Version,
		Started:    Rfc3339(d.started),
		Uptime:     d.now().Sub(d.started).Seconds(),
	}
	d.mu.Unlock()
	st.Connections = d.rooms.Connections()
	if d.web != nil {
		st.Web, st.WebLAN, st.WebCert = d.web.URL(), d.web.LANURL(), d.web.certFP
	}
	WriteJSON(w, http.StatusOK, st)
}

func (d *daemon) handleDevices(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := control.Devices{Identity: d.id.Identity.String()}
	out.Devices = append(out.Devices, control.Device{
		Device:  d.id.Device.Public().String(),
		Name:    d.id.Record.Name,
		Current: true,
		Added:   Rfc3339(d.id.Record.Created),
	})
	for _, ld := range d.rooms.LinkedDevices() {
		if !ld.Revoked {
			out.Devices = append(out.Devices, ld)
		}
	}
	for _, rv := range d.id.Revocations {
		out.Devices = append(out.Devices, control.Device{
			Device:    rv.Device.String(),
			Revoked:   true,
			RevokedAt: Rfc3339(rv.Time),
		})
	}
	// Devices of this identity that the rooms know of and this home did
	// not link or revoke: linked from another device, or revoked there.
	listed := map[string]bool{}
	for _, dv := range out.Devices {
		listed[dv.Device] = true
	}
	seen := map[string]*control.Device{}
	var order []string
	for _, r := range d.rooms.List() {
		r.View(func(v *room.View) {
			for dev, info := range v.Devices {
				k := dev.String()
				if info.Identity != d.id.Identity || listed[k] {
					continue
				}
				if c, ok := seen[k]; ok {
					c.Revoked = c.Revoked || info.Revoked
					c.Superseded = c.Superseded || info.Superseded
					continue
				}
				seen[k] = &control.Device{Device: k, Name: info.Name, Revoked: info.Revoked, Superseded: info.Superseded}
				order = append(order, k)
			}
		})
	}
	slices.Sort(order)
	for _, k := range order {
		out.Devices = append(out.Devices, *seen[k])
	}
	// This device as the rooms see it: revoked or superseded elsewhere.
	for _, r := range d.rooms.List() {
		r.View(func(v *room.View) {
			if info, ok := v.Devices[d.id.Device.Public()]; ok {
				out.Devices[0].Revoked = out.Devices[0].Revoked || info.Revoked
				out.Devices[0].Superseded = out.Devices[0].Superseded || info.Superseded
			}
		})
	}
	WriteJSON(w, http.StatusOK, out)
}

func (d *daemon) handleRevoke(w http.ResponseWriter, r *http.Request) {
	var req control.RevokeRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, control.MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		WriteError(w, http.StatusBadRequest, "bad request body: "+err.Error())
		return
	}
	b, err := hex.DecodeString(req.Revocation)
	if err != nil {
		WriteError(w, http.StatusBadRequest, "revocation is not hex")
		return
	}
	rv, err := identity.ParseRevocation(b)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	d.mu.Lock()
	kept, err := d.id.AddRevocation(rv)
	d.mu.Unlock()
	if err != nil {
		status := http.StatusInternalServerError
		switch {
		case errors.Is(err, identity.ErrBadSignature), errors.Is(err, identity.ErrForeignIdentity):
			status = http.StatusForbidden
		case errors.Is(err, identity.ErrRevokeSelf):
			status = http.StatusConflict
		}
		d.log.Debug("revocation refused", logattr.Err(err))
		WriteError(w, status, err.Error())
		return
	}
	d.log.Info("device revoked", logattr.Dev(kept.Device), slog.Time("at", kept.Time))
	d.rooms.PublishRevocations()
	d.rooms.TellMirrors(r.Context())
	WriteJSON(w, http.StatusOK, control.RevokeResponse{Device: kept.Device.String(), Revoked: true, RevokedAt: Rfc3339(kept.Time)})
}
