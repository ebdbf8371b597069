// Package pairing lets a device join a room (or an identity) with an
// invite: the shape of Holepunch's blind pairing, with its answer sealed
// to a key only the candidate holds.
//
// # Concepts
//
//   - An Invite is 32 random bytes, the seed. From it derive the invite's
//     Ed25519 key, its ID, the pairing Topic peers announce, and the key
//     that seals requests. A Link (hearth://join/...) carries the seed and
//     a hint of a peer to ask.
//   - The candidate seals a Request (identity, device proof and record,
//     name, an ephemeral HPKE public key, a signature with the invite key
//     as proof that it holds the invite) under the request key: only
//     holders of the invite can open it.
//   - A member that can admit (an admin) opens it, checks it, adds the
//     candidate in the room (expiry and uses are enforced by the room's
//     view, not here) and seals an Answer (room key, founder, epoch keys)
//     to the ephemeral key. Someone else holding the invite cannot read
//     the answer.
//   - /hearth/pairing/1.0.0 carries one request and its answer between
//     two peers that are online together; a mailbox for offline admins is
//     another package's job.
package pairing
