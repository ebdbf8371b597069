package control

import (
	"context"
	"net/http"
	"net/url"
)

// Routes of the doorphone: on the doorphone itself (status, and the
// simulated board's button and sensor), and on a member's device (unlock
// a room's door).
const (
	RouteDoor       = "/v1/door"
	RouteDoorPress  = "/v1/door/press"
	RouteDoorMotion = "/v1/door/motion"
)

// Door is the doorphone's state: GET /v1/door.
type Door struct {
	// State is idle, ringing, in call or cooldown.
	State string `json:"state"`
	// LED is the pattern the LED shows.
	LED string `json:"led"`
	// Stuck is set while the button is held far too long.
	Stuck bool `json:"stuck,omitempty"`
	// Room and RoomName are the household room.
	Room     string `json:"room"`
	RoomName string `json:"room_name"`
	// Call is the call of the current ring, if any.
	Call string `json:"call,omitempty"`
	// Pairing is set in pairing mode: the invite link a new household
	// member joins with, until when (RFC 3339).
	Pairing      string `json:"pairing,omitempty"`
	PairingUntil string `json:"pairing_until,omitempty"`
	// Driver is periph or sim.
	Driver string `json:"driver"`
	// Rings, Missed, Unlocks and Refused count since the daemon started.
	Rings   int `json:"rings"`
	Missed  int `json:"missed"`
	Unlocks int `json:"unlocks"`
	Refused int `json:"refused"`
	// Viewing is the identity watching the live view, if any.
	Viewing string `json:"viewing,omitempty"`
	// Relay is the simulated relay's pulses (sim only).
	RelayPulses int `json:"relay_pulses,omitempty"`
	// Hub is the bridge to the home's hub, when one is set.
	Hub *Hub `json:"hub,omitempty"`
}

// DoorPress presses the simulated button: POST /v1/door/press. Kind is
// short (the default), long (pairing mode), down or up (hold and release
// by hand).
type DoorPress struct {
	Kind string `json:"kind,omitempty"`
}

// Unlock asks a room's doorphone to open: POST /v1/rooms/{room}/unlock.
type Unlock struct {
	// Door is the doorphone's device (hex, or a prefix of 8 or more
	// digits); empty: the one door of the room.
	Door string `json:"door,omitempty"`
}

// Unlocked is the doorphone's answer.
type Unlocked struct {
	Door   string `json:"door"`
	Opened bool   `json:"opened"`
	// Reason says why the door refused.
	Reason string `json:"reason,omitempty"`
}

// Status asks the doorphone for its state.
func (x DoorClient) Status(ctx context.Context) (*Door, error) {
	var out Door
	return &out, x.c.do(ctx, http.MethodGet, RouteDoor, nil, &out)
}

// Press presses the simulated button.
func (x DoorClient) Press(ctx context.Context, req DoorPress) (*Door, error) {
	var out Door
	return &out, x.c.do(ctx, http.MethodPost, RouteDoorPress, req, &out)
}

// Motion trips the simulated motion sensor.
func (x DoorClient) Motion(ctx context.Context) (*Door, error) {
	var out Door
	return &out, x.c.do(ctx, http.MethodPost, RouteDoorMotion, struct{}{}, &out)
}

// Unlock asks a room's door to open.
func (x DoorClient) Unlock(ctx context.Context, room string, req Unlock) (*Unlocked, error) {
	var out Unlocked
	return &out, x.c.do(ctx, http.MethodPost, RouteRooms+"/"+url.PathEscape(room)+"/unlock", req, &out)
}

// View asks a room's doorphone for its live view: POST
// /v1/rooms/{room}/view. The door calls the asking device back (audio
// and video from the door); the page answers it by itself.
type View struct {
	// Door as in Unlock.
	Door string `json:"door,omitempty"`
}

// Viewing is the doorphone's answer: the call it placed to this device.
type Viewing struct {
	Door string `json:"door"`
	Call string `json:"call"`
}

// View asks a room's door for its live view.
func (x DoorClient) View(ctx context.Context, room string, req View) (*Viewing, error) {
	var out Viewing
	return &out, x.c.do(ctx, http.MethodPost, RouteRooms+"/"+url.PathEscape(room)+"/view", req, &out)
}

// DoorDevice is one doorphone of a room: GET /v1/rooms/{room}/doors.
type DoorDevice struct {
	Device   string `json:"device"`
	Name     string `json:"name"`
	Identity string `json:"identity"`
	// By is the admin who made it a door.
	By string `json:"by"`
	// Counts: not revoked, its identity still a member. A door that does
	// not count writes nothing into the room and is never rung.
	Counts bool `json:"counts"`
}

// Doors are a room's doorphones.
type Doors struct {
	Room  string       `json:"room"`
	Doors []DoorDevice `json:"doors"`
}

// SetDoor makes a device of the room a doorphone, or takes it off: POST
// /v1/rooms/{room}/doors (admins of the room).
type SetDoor struct {
	// Device is the device (hex, or a prefix of 8 or more digits).
	Device string `json:"device"`
	Name   string `json:"name,omitempty"`
	Remove bool   `json:"remove,omitempty"`
}

// List lists a room's doorphones.
func (x DoorClient) List(ctx context.Context, room string) (*Doors, error) {
	var out Doors
	return &out, x.c.do(ctx, http.MethodGet, RouteRooms+"/"+url.PathEscape(room)+"/doors", nil, &out)
}

// Set makes a device a doorphone of a room, or takes it off.
func (x DoorClient) Set(ctx context.Context, room string, req SetDoor) (*Doors, error) {
	var out Doors
	return &out, x.c.do(ctx, http.MethodPost, RouteRooms+"/"+url.PathEscape(room)+"/doors", req, &out)
}

// Hub is the bridge to the home's own hub (hearth daemon --mqtt, --rtsp).
type Hub struct {
	// MQTT is off, connecting or connected; Broker the broker's URL (no
	// password), LastError why it last failed, Since since when.
	MQTT      string `json:"mqtt"`
	Broker    string `json:"broker,omitempty"`
	LastError string `json:"last_error,omitempty"`
	Since     string `json:"since,omitempty"`
	// Topics is where the door's topics are; RingsPublished counts the
	// ring events sent since the start.
	Topics         string `json:"topics,omitempty"`
	RingsPublished int    `json:"rings_published"`
	// Unlock is off, on, or on with its hours.
	Unlock string `json:"unlock"`
	// RTSP is the camera's address for the recorder, and how many play it.
	RTSP        string `json:"rtsp,omitempty"`
	RTSPClients int    `json:"rtsp_clients"`
}
