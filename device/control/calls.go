package control

import (
	"context"
	"net/http"
	"net/url"

	"github.com/hearthp2p/hearth/call"
)

// RouteCalls is where calls are listed and acted on.
const RouteCalls = "/v1/calls"

// Call is a call's state (see package call): id, room, direction,
// state (ringing, connecting, active, ended), media, peer, times, why it
// ended, and media figures.
type Call = call.Status

// CallPlace is POST /v1/rooms/{room}/calls.
type CallPlace struct {
	AudioOnly bool `json:"audio_only,omitempty"`
	// Group makes a group call: everyone who answers joins (up to four
	// devices, one per identity); else the first to answer gets it.
	Group bool `json:"group,omitempty"`
}

// CallAnswer is POST /v1/calls/{call}/answer.
type CallAnswer struct {
	AudioOnly bool `json:"audio_only,omitempty"`
}

// Calls is GET /v1/calls.
type Calls struct {
	Calls []Call `json:"calls"`
}

// Place rings every other member's devices of a room.
func (x CallClient) Place(ctx context.Context, room string, req CallPlace) (*Call, error) {
	var out Call
	return &out, x.c.do(ctx, http.MethodPost, roomPath(room, "calls"), req, &out)
}

// List lists the calls the daemon remembers.
func (x CallClient) List(ctx context.Context) (*Calls, error) {
	var out Calls
	return &out, x.c.do(ctx, http.MethodGet, RouteCalls, nil, &out)
}

// Get returns one call.
func (x CallClient) Get(ctx context.Context, id string) (*Call, error) {
	var out Call
	return &out, x.c.do(ctx, http.MethodGet, RouteCalls+"/"+url.PathEscape(id), nil, &out)
}

// Answer takes a ringing call.
func (x CallClient) Answer(ctx context.Context, id string, req CallAnswer) (*Call, error) {
	var out Call
	return &out, x.c.do(ctx, http.MethodPost, RouteCalls+"/"+url.PathEscape(id)+"/answer", req, &out)
}

// Hangup ends a call (declines it if it rings here).
func (x CallClient) Hangup(ctx context.Context, id string) (*Call, error) {
	var out Call
	return &out, x.c.do(ctx, http.MethodPost, RouteCalls+"/"+url.PathEscape(id)+"/hangup", struct{}{}, &out)
}
