// Package blob carries files of any size, never recompressed: a file is
// cut into fixed chunks (ChunkSize), each sealed with ChaCha20-Poly1305
// under a per-file key and bound to its place; an RFC 9162 tree over the
// chunks' hashes gives the file's root. The manifest (name, size, media
// type, chunk size, root, key) travels in the room, encrypted. Senders and
// mirrors keep ciphertext chunks in the chunk store (Store); a receiver
// writes plaintext in place (Partial), resumes from what verifies, and
// fetches from every source at once over /hearth/blob (Fetch).
package blob
