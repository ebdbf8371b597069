package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/version"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Access is what a route needs of whoever calls it. The control socket
// (the machine's own user) may call every route; the page only those that
// declare read, write or admin, so a route that declares nothing, or
// local, can never be reached from the page whatever its path looks like.
type Access int

const (
	AccessNone  Access = iota // undeclared: refused to the page
	AccessRead                // reads the rooms and the device's state
	AccessWrite               // writes into rooms, places and answers calls, the door
	// AccessAdmin: powers over the whole identity (device links, the
	// identity's rooms on mirrors); a LAN session confirms its password.
	AccessAdmin
	// AccessLocal: reads or writes paths on this machine: never from the
	// page, which uploads and reads contents instead.
	AccessLocal
)

func (a Access) String() string {
	return [...]string{"none", "read", "write", "admin", "local"}[a]
}

// handleFunc registers a route with what it needs.
type handleFunc func(method, path string, a Access, h http.HandlerFunc)

// Route is one route of the control API.
type Route struct {
	Method, Path string
	Access       Access
	Handler      http.HandlerFunc
}

// RouteTable returns every route of the control API.
func (d *Server) RouteTable() []Route {
	var out []Route
	handle := func(method, path string, a Access, h http.HandlerFunc) {
		out = append(out, Route{Method: method, Path: path, Access: a, Handler: h})
	}
	handle("GET", control.RouteStatus, AccessRead, d.handleStatus)
	handle("GET", control.RouteDevices, AccessRead, d.handleDevices)
	// A revocation carries its own proof: the identity's signature, made
	// from the phrase (in the page, by the browser alone).
	handle("POST", control.RouteRevocations, AccessWrite, d.handleRevoke)
	handle("POST", control.RouteDeviceLink, AccessAdmin, d.handleDeviceLink)
	(&roomAPI{d}).roomRoutes(handle)
	(&mirrorAPI{d}).mirrorRoutes(handle)
	(&fileAPI{d}).fileRoutes(handle)
	(&callAPI{d}).callRoutes(handle)
	d.DoorRoutes(handle, false)
	return out
}

// Routes serves the control API on the control socket: every route.
func (d *Server) Routes() http.Handler {
	return ServeRoutes(d.RouteTable(), func(r Route) http.HandlerFunc { return r.Handler })
}

// ServeRoutes serves the routes that pick returns a handler for; every
// answer is JSON, unmatched routes and methods included.
func ServeRoutes(table []Route, pick func(Route) http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	paths := map[string]bool{}
	for _, r := range table {
		if h := pick(r); h != nil {
			mux.HandleFunc(r.Method+" "+r.Path, h)
			paths[r.Path] = true
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

func (d *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	var st control.Status
	d.rooms.Devices.Identity(func(id *identity.Local) {
		st = control.Status{
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
			Started:    control.Time(d.started),
			Uptime:     d.now().Sub(d.started).Seconds(),
		}
	})
	st.Connections = d.rooms.Connections()
	if d.web != nil {
		ws := d.web()
		st.Web, st.WebLAN, st.WebCert = ws.URL, ws.LANURL, ws.CertFP
	}
	if d.appSite != nil {
		as := d.appSite()
		st.App, st.AppCertificate = as.URL+"/app/", as.Certificate
	}
	WriteJSON(w, http.StatusOK, st)
}

func (d *Server) handleDevices(w http.ResponseWriter, r *http.Request) {
	var out control.Devices
	d.rooms.Devices.Identity(func(id *identity.Local) { out = d.devices(id) })
	WriteJSON(w, http.StatusOK, out)
}

// devices lists the devices of this identity: this one, those it linked
// or revoked, and those the rooms know of.
func (d *Server) devices(id *identity.Local) control.Devices {
	out := control.Devices{Identity: id.Identity.String()}
	out.Devices = append(out.Devices, control.Device{
		Device:  id.Device.Public().String(),
		Name:    id.Record.Name,
		Current: true,
		Added:   control.Time(id.Record.Created),
	})
	for _, ld := range d.rooms.Devices.LinkedDevices() {
		if !ld.Revoked {
			out.Devices = append(out.Devices, ld)
		}
	}
	for _, rv := range id.Revocations {
		out.Devices = append(out.Devices, control.Device{
			Device:    rv.Device.String(),
			Revoked:   true,
			RevokedAt: control.Time(rv.Time),
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
				if info.Identity != id.Identity || listed[k] {
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
			if info, ok := v.Devices[id.Device.Public()]; ok {
				out.Devices[0].Revoked = out.Devices[0].Revoked || info.Revoked
				out.Devices[0].Superseded = out.Devices[0].Superseded || info.Superseded
			}
		})
	}
	return out
}

func (d *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
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
	kept, err := d.rooms.Devices.AddRevocation(rv)
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
	d.rooms.Devices.PublishRevocations()
	d.rooms.Devices.TellMirrors(r.Context())
	WriteJSON(w, http.StatusOK, control.RevokeResponse{Device: kept.Device.String(), Revoked: true, RevokedAt: control.Time(kept.Time)})
}

// HandleMe says who this device is, for the page.
func (d *Server) HandleMe(w http.ResponseWriter, r *http.Request) {
	var out map[string]any
	d.rooms.Devices.Identity(func(id *identity.Local) {
		out = map[string]any{"identity": id.Identity.String(), "device": id.Device.Public().String(), "name": id.Record.Name,
			"door": d.door != nil, "mirror": d.rooms.Mirrors.IsMirror()}
	})
	WriteJSON(w, http.StatusOK, out)
}
