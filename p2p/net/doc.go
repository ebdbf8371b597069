// Package net is Hearth's libp2p node: a host whose peer id is the device
// key, TCP, QUIC and WebRTC-direct (browsers), Noise, yamux, explicit resource limits, a connection
// manager, mDNS on the LAN, a Kademlia DHT under Hearth's own protocol
// prefix (never the public IPFS one), AutoNAT, circuit relay v2 and DCUtR
// hole punching.
//
// # Concepts
//
//   - Every protocol id is under /hearth/ with a version (Protocol*).
//   - Rooms are found through the DHT by a Topic: a hash of a hash of the
//     discovery key, so the DHT never learns the discovery key, let alone
//     the room key.
//   - A node only dials the bootstrap peers it was given, peers found by
//     mDNS and peers those lead to: no public bootstrap list is built in.
//
// # Not here
//
// What is said on the protocols lives in the packages that speak them
// (sync, pairing); this package only carries them.
package net
