package api

import (
	"net/http"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/p2p/room"
)

func (d *fileAPI) fileRoutes(handle handleFunc) {
	handle("POST", control.RouteRooms+"/{room}/files", AccessLocal, d.withRoom(d.handleFileSend))
	handle("GET", control.RouteRooms+"/{room}/files", AccessRead, d.withRoom(d.handleFileList))
	handle("POST", control.RouteRooms+"/{room}/files/{msg}/get", AccessLocal, d.withRoom(d.handleFileGet))
	handle("GET", control.RouteDownloads+"/{job}", AccessRead, d.handleDownload)
}

func (d *fileAPI) handleFileSend(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.FileSend
	if !Decode(w, r, &req) {
		return
	}
	if req.Async {
		job, err := d.files.SendJob(rm, req.Path, req.Type, req.Caption)
		if err != nil {
			Fail(w, err)
			return
		}
		WriteJSON(w, http.StatusAccepted, job.Status())
		return
	}
	ref, m, err := d.files.Send(r.Context(), rm, req.Path, req.Type, req.Caption, nil)
	if err != nil {
		Fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, control.FileSent{ID: ref.String(), Name: m.Name, Size: m.Size, Type: m.Type})
}

func (d *fileAPI) handleFileList(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	WriteJSON(w, http.StatusOK, control.Files{Room: rm.ID().String(), Files: d.files.List(rm)})
}

func (d *fileAPI) handleFileGet(w http.ResponseWriter, r *http.Request, rm *room.Room) {
	var req control.FileGet
	if !Decode(w, r, &req) {
		return
	}
	ref, err := rooms.FindMessage(rm, r.PathValue("msg"))
	if err != nil {
		Fail(w, err)
		return
	}
	dl, err := d.files.Get(rm, ref, req.Out)
	if err != nil {
		Fail(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, dl.Status())
}

func (d *fileAPI) handleDownload(w http.ResponseWriter, r *http.Request) {
	st, ok := d.files.Job(r.PathValue("job"))
	if !ok {
		WriteError(w, http.StatusNotFound, "no such download")
		return
	}
	WriteJSON(w, http.StatusOK, st)
}
