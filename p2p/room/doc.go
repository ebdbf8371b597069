// Package room is a multi-writer encrypted room: every device writes its
// own log (package log), and every peer orders the entries of all logs the
// same way and computes the same view.
//
// # Concepts
//
//   - A room Key (32 random bytes) gives access; its Discovery key (a keyed
//     hash) is the public handle. Entries of epoch 0 are sealed with a key
//     derived from the room key; each later epoch has a random key sealed
//     to every remaining device's sealing key by an OpRotate entry, so a
//     removed member cannot read what follows.
//   - An Entry lists the lengths of the other logs its writer had seen
//     (its causal dependencies), the writer's clock (for display only) and
//     one Op. Entries form a DAG; each gets a Lamport clock (one more than
//     anything it depends on) and all entries are ordered by (clock,
//     writer, position): a topological order every peer computes alike.
//   - The View applies operations in that order and checks each against
//     the view at its point: who is a member, with which role; which device
//     belongs to whom (from its hello: a device proof and record); which
//     invites exist and how often they were used. Edits come from any
//     device of the author's identity; deletes from the author, moderators
//     and admins. An entry that arrives late is merged into the order and
//     the view rebuilt from the start.
//   - A device that signed two histories of its log (a fork proof entered
//     in the room) is held back: its entries ordered after the proof are
//     not applied.
//
// # Not here
//
// Moving blocks between peers is package sync; invites' link format and
// the pairing exchange are package pairing.
package room
