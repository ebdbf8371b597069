package device

import (
	"net/http"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *daemon) fileRoutes(handle handleFunc) {
	handle("POST", control.RouteRooms+"/{room}/files", accessLocal, d.withRoom(d.handleFileSend))
	handle("GET", control.RouteRooms+"/{room}/files", accessRead, d.withRoom(d.handleFileList))
	handle("POST", control.RouteRooms+"/{room}/files/{msg}/get", accessLocal, d.withRoom(d.handleFileGet))
	handle("GET", control.RouteDownloads+"/{job}", accessRead, d.handleDownload)
}

func (d *daemon) handleFileSend(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.FileSend
	if !decode(w, r, &req) {
		return
	}
	if req.Async {
		job, err := d.rooms.files.sendJob(rm, req.Path, req.Type, req.Caption)
		if err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, http.StatusAccepted, job.status())
		return
	}
	ref, m, err := d.rooms.files.send(rm, req.Path, req.Type, req.Caption, nil)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, control.FileSent{ID: ref.String(), Name: m.Name, Size: m.Size, Type: m.Type})
}

func (d *daemon) handleFileList(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	writeJSON(w, http.StatusOK, control.Files{Room: rm.ID().String(), Files: d.rooms.files.list(rm)})
}

func (d *daemon) handleFileGet(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.FileGet
	if !decode(w, r, &req) {
		return
	}
	ref, err := findMessage(rm, r.PathValue("msg"))
	if err != nil {
		fail(w, err)
		return
	}
	dl, err := d.rooms.files.get(rm, ref, req.Out)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, dl.status())
}

func (d *daemon) handleDownload(w http.ResponseWriter, r *http.Request) {
	f := d.rooms.files
	f.mu.Lock()
	dl, ok := f.jobs[r.PathValue("job")]
	f.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "no such download")
		return
	}
	writeJSON(w, http.StatusOK, dl.status())
}
