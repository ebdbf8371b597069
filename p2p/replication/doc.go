// Package replication moves a room's logs between peers over
// /hearth/sync/1.0.0: peers exchange signed heads, ask for what they lack,
// and receive blocks in batches that each end at a signed head, which the
// receiver verifies (package log) before storing and applying them.
//
// # The protocol
//
// One stream per room and peer. The opener sends Hello with the room's
// discovery key; the other side answers Hello if it holds that room and
// resets the stream otherwise, so a stranger learns nothing of the other
// rooms it holds. Then both sides send Heads (their latest head of every
// log), again whenever their room changes and at least every minute.
// On seeing a longer head a side sends Want (writer, from); the other
// streams Blocks frames up to its latest head. Every frame is
// length-prefixed and bounded (MaxFrame) before anything is allocated.
//
// A peer that sends a frame that does not decode, a head with a bad
// signature or blocks that do not hash to their head commits an offence,
// scored by the node with those of every other protocol (proto.Report): at
// proto.BanScore its connection is closed and it is refused for
// proto.BanTime.
package replication
