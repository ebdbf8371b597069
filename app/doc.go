// Package app is the phone's app, the Go half: compiled to WebAssembly
// (cmd/hearth-app) it runs in the page beside js-libp2p (package jsnet)
// and is a device of its owner's identity like any daemon, with the same
// protocol packages (identity, pairing, room, replication).
//
// Built so far: the device key (made in the browser, from the browser's
// random source; it never leaves the page) and linking by a device link
// over the libp2p bridge. The rooms' storage in IndexedDB, sync, calls and
// push come next (issue 26).
package app
