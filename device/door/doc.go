// Package door is the doorphone: its loop over the board's button and
// motion sensor, the ring's state machine (doormachine.go), the picture
// and clip of a ring, pairing mode, and its answers to members who ask it
// to unlock or to show its live view (it alone decides who may). Remote
// is a member's side of those requests.
//
// It takes a hal.Board (and, simulated, a Simulator) from the root: it
// never picks a driver. It may import rooms, files, calls, config and
// control of device/ (internal/archtest).
package door
