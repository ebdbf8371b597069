package web

import (
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/hearthp2p/hearth/device/api"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/files"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
)

// The page's API: the whole control API under /api/v1 (docs/api.md), but
// for the routes that name paths on this machine, whose work the page
// does with uploads and contents instead.

// UploadsName is the folder in the home where a page's upload waits
// until it is encrypted into the chunk store.
const UploadsName = "uploads"

// localWhy says, for each route that names paths on this machine, what
// the page does instead.
var localWhy = map[string]string{
	control.RouteRooms + "/{room}/files":           "send a file by uploading it (POST /api/rooms/{room}/upload)",
	control.RouteRooms + "/{room}/files/{msg}/get": "fetch a file with POST /api/rooms/{room}/files/{file}/fetch, read it with GET /api/rooms/{room}/files/{file}/content",
}

// forPage returns the handler a route has on the page (on the LAN page
// when lan), or nil: only what a route declares is served. An admin
// route asks a LAN session for its password again.
func (w *Server) forPage(r api.Route, lan bool) http.HandlerFunc {
	switch r.Access {
	case api.AccessRead, api.AccessWrite:
		return r.Handler
	case api.AccessAdmin:
		if lan {
			return w.login.confirmPassword(r.Handler)
		}
		return r.Handler
	case api.AccessLocal:
		why := localWhy[r.Path]
		if why == "" {
			why = "it names paths on the daemon's machine"
		}
		return func(rw http.ResponseWriter, _ *http.Request) {
			api.WriteError(rw, http.StatusForbidden, "not from the page: "+why)
		}
	default:
		return nil
	}
}

// controlForPage serves the control API to the page: the routes that
// declare what they need, as forPage says.
func (w *Server) controlForPage(lan bool) http.Handler {
	return http.StripPrefix("/api", api.ServeRoutes(w.api.RouteTable(), func(r api.Route) http.HandlerFunc { return w.forPage(r, lan) }))
}

// handleUpload takes a file's bytes from the page (the body, of any
// size) into a private file, then sends it into the room as a job: the
// answer is the job, followed at /api/v1/downloads/{job}.
func (w *pageFiles) handleUpload(rw http.ResponseWriter, r *http.Request) {
	rm, err := w.rooms.Resolve(r.PathValue("room"))
	if err != nil {
		api.Fail(rw, err)
		return
	}
	raw := r.URL.Query().Get("name")
	name := chunk.SafeName(raw)
	if strings.TrimSpace(raw) == "" || name == "" || name == "." {
		api.WriteError(rw, http.StatusBadRequest, "the file needs a name (?name=)")
		return
	}
	typ := r.URL.Query().Get("type")
	if typ != "" {
		if _, _, err := mime.ParseMediaType(typ); err != nil || len(typ) > chunk.MaxTypeLen {
			typ = ""
		}
	}
	caption := r.URL.Query().Get("caption")
	if len(caption) > room.MaxChatLen {
		api.WriteError(rw, http.StatusBadRequest, "the caption is too long")
		return
	}
	dir := filepath.Join(w.home, UploadsName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		api.WriteError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	// The upload keeps its name (the manifest takes it from the path),
	// in a folder of its own.
	sub, err := os.MkdirTemp(dir, "up-")
	if err != nil {
		api.WriteError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	path := filepath.Join(sub, name)
	clean := func() { os.RemoveAll(sub) }
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		clean()
		api.WriteError(rw, http.StatusInternalServerError, err.Error())
		return
	}
	n, err := io.Copy(f, r.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		clean()
		w.log.Info("web: an upload was cut short", slog.Int64("bytes", n), logattr.Err(err))
		api.WriteError(rw, http.StatusBadRequest, "the upload was cut short: "+err.Error())
		return
	}
	if n == 0 {
		clean()
		api.WriteError(rw, http.StatusBadRequest, "an empty file")
		return
	}
	job, err := w.files.SendJobThen(rm, path, typ, caption, clean)
	if err != nil {
		clean()
		api.Fail(rw, err)
		return
	}
	api.WriteJSON(rw, http.StatusAccepted, job.Status())
}

// fileMessage finds the room and the message of a page's file route,
// answering the error itself when it cannot.
func (w *pageFiles) fileMessage(rw http.ResponseWriter, r *http.Request) (*room.Room, room.Ref, bool) {
	rm, err := w.rooms.Resolve(r.PathValue("room"))
	if err != nil {
		api.Fail(rw, err)
		return nil, room.Ref{}, false
	}
	ref, err := rooms.FindMessage(rm, r.PathValue("file"))
	if err != nil {
		api.Fail(rw, err)
		return nil, room.Ref{}, false
	}
	return rm, ref, true
}

// handleFetch starts fetching a file into the home's downloads folder (or
// finds it here already).
func (w *pageFiles) handleFetch(rw http.ResponseWriter, r *http.Request) {
	rm, ref, ok := w.fileMessage(rw, r)
	if !ok {
		return
	}
	if m := w.files.ManifestOf(rm.ID().String(), ref.String()); m != nil {
		// Here already: sent from here, kept here, or downloaded before.
		if src, here := w.files.Lookup(m.Root); here && files.AllTrue(src.Have(m.Root)) {
			api.WriteJSON(rw, http.StatusOK, control.Download{Kind: "get", File: ref.String(), Name: m.Name, Size: m.Size, Done: m.Size, State: "done", Type: m.Type})
			return
		}
	}
	d, err := w.files.Get(rm, ref, "")
	if err != nil {
		api.Fail(rw, err)
		return
	}
	api.WriteJSON(rw, http.StatusAccepted, d.Status())
}

// handleContent streams a file's plaintext, decrypted chunk by chunk from
// whatever holds it here (its sender's chunk store, or a finished
// download). Pictures, videos and sounds of passive types are served
// inline; anything else as bytes to save (filetype.go).
func (w *pageFiles) handleContent(rw http.ResponseWriter, r *http.Request) {
	rm, ref, ok := w.fileMessage(rw, r)
	if !ok {
		return
	}
	fs := w.files
	m := fs.ManifestOf(rm.ID().String(), ref.String())
	if m == nil {
		api.WriteError(rw, http.StatusNotFound, "not a file message")
		return
	}
	src, here := fs.Lookup(m.Root)
	if !here || !files.AllTrue(src.Have(m.Root)) {
		api.WriteError(rw, http.StatusConflict, "the file is not here yet: fetch it first")
		return
	}
	// The sender's type is a claim: only passive types are served as
	// themselves and inline, everything else as bytes to save, and the
	// answer carries its own sandbox (see filetype.go).
	kind, typ := files.Shown(m.Type)
	disp := "attachment"
	if kind != "" {
		disp = "inline"
	}
	h := rw.Header()
	h.Set("Content-Type", typ)
	h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": m.Name}))
	h.Set("Content-Security-Policy", files.ContentSandbox)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	buf := make([]byte, 0, int(m.ChunkSize)+64) // a chunk and its tag
	for i := 0; i < m.Chunks(); i++ {
		ct, ok := src.Chunk(m.Root, i, buf)
		if !ok {
			w.log.Warn("web: a chunk went missing while serving a file", slog.Int("chunk", i))
			return // the length promised tells the page it was cut
		}
		plain, err := chunk.Open(m, i, ct)
		if err != nil {
			w.log.Warn("web: a chunk does not open", logattr.Err(err))
			return
		}
		if _, err := rw.Write(plain); err != nil {
			return
		}
	}
}

// maxQRText bounds what the page may turn into a QR code.
const maxQRText = 2048

// handleQR draws a QR code of a text (an invite, a device link) as a PNG:
// the text travels in the body, never in a URL.
func (w *pageFiles) handleQR(rw http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if !api.Decode(rw, r, &req) {
		return
	}
	if req.Text == "" || len(req.Text) > maxQRText {
		api.WriteError(rw, http.StatusBadRequest, fmt.Sprintf("a text of 1 to %d bytes", maxQRText))
		return
	}
	png, err := qrcode.Encode(req.Text, qrcode.Medium, 320)
	if err != nil {
		api.WriteError(rw, http.StatusBadRequest, err.Error())
		return
	}
	rw.Header().Set("Content-Type", "image/png")
	rw.Write(png)
}

// handleWordlist gives the page the recovery-phrase words (BIP39,
// English), so it can check a phrase and sign with it without the phrase
// ever reaching the daemon.
func (w *pageFiles) handleWordlist(rw http.ResponseWriter, r *http.Request) {
	api.WriteJSON(rw, http.StatusOK, struct {
		Words []string `json:"words"`
	}{identity.Wordlist()})
}
