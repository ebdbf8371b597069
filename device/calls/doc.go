// Package calls is the daemon's glue of call.Manager: who may call (a
// device of a member of the room), whom a call rings (every device of
// every other member), the call entries the caller writes into the room,
// and what a device sends (its camera and microphone, or synthetic
// media). Others subscribe: OnChange hears every change of a call,
// Endpoints gives the media of the calls whose tag it takes (the web
// page's); Calls holds none of them.
//
// It may import rooms, files, config and control of device/
// (internal/archtest).
package calls
