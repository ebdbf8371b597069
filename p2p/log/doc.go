// Package log is the append-only log each device writes per room: entries
// sealed under the room's current epoch key, a Merkle tree over the
// ciphertext and the device's signature over the tree head.
//
// # Concepts
//
//   - A log is identified by its ID, a hash of the room's discovery key and
//     the writer's device key: it names the log without revealing the room
//     key.
//   - A Block is one sealed entry as stored and sent: version, epoch, a
//     random 24-byte nonce and the XChaCha20-Poly1305 ciphertext. The
//     associated data binds it to (discovery key, log id, sequence, epoch),
//     so a block cannot be moved to another place or replayed in another
//     log, position or epoch.
//   - The tree is RFC 9162's (SHA-256, leaf prefix 0x00, node prefix 0x01)
//     over the blocks. A Head is the writer's signature over (log id,
//     length, root); appending a batch signs one head, not one per entry.
//   - Inclusion and consistency proofs let anyone, a mirror included, check
//     any range of blocks against a signed head and that a newer head
//     extends an older one, without the room key. Only members, who hold
//     epoch keys, can open blocks.
//   - Two validly signed heads that disagree about one position make a
//     ForkProof: evidence, checkable by anyone, that the writer signed two
//     histories.
//
// # Not here
//
// Ordering across logs, the room view and membership are package room;
// moving blocks between peers is the sync protocol.
package log
