// Package jsnet is the phone's app's libp2p node as Go sees it: a
// proto.Host whose streams are those of a js-libp2p node in the same page
// (WebRTC-direct to a daemon at home, circuit relay through the always-on
// node away). Hearth's protocol services (replication, pairing) run on it
// unchanged: the browser speaks the same protocols, from the same Go
// code, as every daemon.
//
// The JavaScript side is web/app/net.js: it owns the node (its key is the
// device key Go hands it) and gives Go three functions, dial, handle and
// unhandle. Go pulls a stream's bytes (one read asks js-libp2p for the
// next chunk), so nothing is buffered here beyond one chunk a stream.
package jsnet
