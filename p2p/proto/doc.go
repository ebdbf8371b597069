// Package proto names Hearth's libp2p protocols and holds what every
// protocol handler shares, on a daemon's node (package net) as in the
// browser's peer: a guard that turns a handler's panic into a reset
// stream (Guard, Recover), and the peer scores that ban a peer whose
// offences, over every protocol together, reach BanScore (Report).
//
// It depends on libp2p's core interfaces only, so the protocols that use
// it build for WebAssembly too.
package proto
