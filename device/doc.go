// Package device is the Hearth appliance's composition root: where the
// home is, and the daemon that builds every part in order, owns their
// goroutines and closes them in the reverse order.
//
// # Concepts
//
//   - The home is one folder (mode 0700) holding the identity file, the
//     bbolt database, the chunk store, the daemon's lock file and its
//     control socket. ResolveHome says which folder: --home, then
//     HEARTH_HOME, then systemd's STATE_DIRECTORY, then
//     $XDG_DATA_HOME/hearth, then ~/.local/share/hearth.
//   - Run is the daemon: it takes the home's lock (a second daemon on the
//     same home is refused), loads the identity, opens storage and the
//     libp2p node, then builds the parts, each on those before it:
//     rooms, files, calls, the door (on a doorphone), the control API on
//     a unix socket (mode 0600) and the web page. It stops cleanly when
//     its context ends.
//   - The root alone picks the door's board driver (hal/periph or
//     hal/sim); every other package sees hal's interfaces.
//   - Serve runs Run under systemd (readiness, watchdog, reload);
//     LinkJoin makes this home a new device of an identity.
//
// # The packages under device/
//
//	config    settings: hearth.toml and flags, parsed and checked
//	rooms     the rooms: open, create, join, invite, admit, leave; device
//	          links and revocations; mailboxes and approvals; the mirrors
//	files     files of the rooms: send, fetch, serve, keep on mirrors
//	calls     who may call, whom to ring, the room's call entries
//	door      the doorphone: its loop, unlocks, live view; a member's side
//	api       the control API's handlers (what each route needs)
//	web       the page: loopback and LAN, login, events, browser calls
//	control   the API's wire types and its client
//	cli       the command line; bench and demo, the measured runs
//
// Arrows run one way: config ← rooms ← files ← calls ← door ← api ←
// web ← device (this package) ← cli; no domain package (config, rooms,
// files, calls, door) imports net/http, the API, the page or a driver.
// internal/archtest enforces every arrow.
package device
