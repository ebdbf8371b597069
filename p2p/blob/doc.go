// Package blob carries files of any size, never recompressed, in the
// format of package chunk (sealed chunks under a per-file key, an RFC 9162
// root over their hashes, the manifest in the room). Senders and
// mirrors keep ciphertext chunks in the chunk store (Store); a receiver
// writes plaintext in place (Partial) and resumes from what verifies.
// Service serves both over /hearth/blob; the client (Fetch, from every
// source at once) is package blobwire, which the phone's app shares.
package blob
