// Package rooms holds the daemon's rooms and keeps them in sync with
// their peers: open, create, join, invite, admit, leave (Manager), and
// its parts, each a type with its own state:
//
//   - Devices: this identity's other devices (device links, revocations).
//   - Joins: this device's joins, those waiting for an admin or a mirror.
//   - Invites: the invites it gives and answers, the requests it holds
//     for its admins, the mailboxes it opens on mirrors.
//   - Mirrors: the mirrors a room names, and the blind mirror this daemon
//     is when started with --mirror (StartMirror).
//
// New serves sync and pairing at once; Run (one goroutine, owned by the
// caller) connects, announces and polls until its context ends; Close
// ends everything New and the parts started. Others hear of changes
// through OnChange; nothing is handed in after New but StartMirror's
// hook.
//
// It may import config and control of device/, never the API, the page,
// net/http or a hardware driver (internal/archtest).
package rooms
