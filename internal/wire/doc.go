// Package wire is the byte encoding of Hearth's records and frames: the
// subset of Holepunch's compact-encoding that Keet's proofs use (a uint is
// one byte up to 0xfc, else 0xfd, 0xfe or 0xff and 2, 4 or 8 little-endian
// bytes; fixed fields are raw bytes; byte strings are length-prefixed).
//
// The decoder is strict: non-minimal integers are refused, so every value
// has exactly one encoding; every length is checked against a caller's
// limit before anything is sliced or allocated; the first error sticks.
package wire
