package control

import (
	"context"
	"net/http"
)

// Routes of the mirror commands.
const (
	RouteMirrorKeep = "/v1/mirror/keep"
	RouteMirrorDrop = "/v1/mirror/drop"
	RouteMirrorList = "/v1/mirror/list"
)

// MirrorRequest asks to keep, drop or list rooms on a mirror: this daemon
// (started with --mirror) when Mirror is empty, else the mirror at that
// address.
type MirrorRequest struct {
	// Target is a room (id or unambiguous name) or a discovery key (hex);
	// empty for list.
	Target string `json:"target,omitempty"`
	// Mirror is the full multiaddr (with /p2p/) of a remote mirror.
	Mirror string `json:"mirror,omitempty"`
	// Pin keeps the room out of eviction (owners of the mirror only).
	Pin bool `json:"pin,omitempty"`
}

// MirrorRoom is one room a mirror keeps.
type MirrorRoom struct {
	Discovery string `json:"discovery"`
	Room      string `json:"room,omitempty"` // the room id, when this daemon is a member
	Requester string `json:"requester"`      // identity that asked to keep it
	Pinned    bool   `json:"pinned"`
	Bytes     int64  `json:"bytes"`
	Logs      int    `json:"logs"`
	Entries   uint64 `json:"entries"`
	Kept      string `json:"kept"`
	Used      string `json:"used"`
}

// MirrorRooms is the answer of keep (the room) and list (every room the
// asker may see).
type MirrorRooms struct {
	Mirror string       `json:"mirror"` // the mirror's peer id
	Rooms  []MirrorRoom `json:"rooms"`
	// Bytes is the total of the rooms listed; Budget (on this daemon's own
	// mirror only) the bytes of unpinned rooms it keeps at most.
	Bytes  int64 `json:"bytes"`
	Budget int64 `json:"budget,omitempty"`
	// Files (keep, on another device's mirror): the room's files this
	// device held, offered to the mirror newest first.
	Files *MirrorFiles `json:"files,omitempty"`
}

// MirrorFiles says which of a room's files a mirror was asked to keep
// when it began keeping the room.
type MirrorFiles struct {
	Offered int   `json:"offered"` // the mirror fetches them from this device
	Bytes   int64 `json:"bytes"`
	// NotFitted are the files over what the room may hold there
	// ("name (size)"), the oldest.
	NotFitted []string `json:"not_fitted,omitempty"`
	// Failed are the files the mirror refused for another reason.
	Failed []string `json:"failed,omitempty"`
}

// Keep asks a mirror to keep a room.
func (x MirrorClient) Keep(ctx context.Context, req MirrorRequest) (*MirrorRooms, error) {
	var out MirrorRooms
	return &out, x.c.do(ctx, http.MethodPost, RouteMirrorKeep, req, &out)
}

// Drop asks a mirror to drop a room.
func (x MirrorClient) Drop(ctx context.Context, req MirrorRequest) error {
	var out OK
	return x.c.do(ctx, http.MethodPost, RouteMirrorDrop, req, &out)
}

// List lists the rooms a mirror keeps for this identity (all of
// them for an owner).
func (x MirrorClient) List(ctx context.Context, req MirrorRequest) (*MirrorRooms, error) {
	var out MirrorRooms
	return &out, x.c.do(ctx, http.MethodPost, RouteMirrorList, req, &out)
}
