// Package device is the Hearth appliance: where the home is, the daemon
// that owns keys, storage and network, and the local control API that the
// command line (and later the web page) drives.
//
// # Concepts
//
//   - The home is one folder (mode 0700) holding the identity file, the
//     bbolt database, the chunk store, the daemon's lock file and its
//     control socket. ResolveHome says which folder: --home, then
//     HEARTH_HOME, then systemd's STATE_DIRECTORY, then
//     $XDG_DATA_HOME/hearth, then ~/.local/share/hearth.
//   - Run is the daemon: it takes the home's lock (a second daemon on the
//     same home is refused), loads the identity, opens storage, serves the
//     control API on a unix socket (mode 0600) and stops cleanly when its
//     context ends.
//
// # Not here
//
// Parsing the command line is device/cli; wire types and the client of the
// control API are device/control.
package device
