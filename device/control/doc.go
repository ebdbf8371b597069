// Package control is the local control API of a Hearth daemon: the JSON
// types it speaks and a client for them. The daemon serves HTTP/1.1 over a
// unix socket in its home (mode 0600); docs/api.md documents every route.
//
// It is a leaf: the daemon (package device/api) implements the routes, the
// command line and tests use Client.
package control
