// Package chunk is the format of a file in Hearth: a file is cut into
// fixed chunks (Size), each sealed with ChaCha20-Poly1305 under a per-file
// key and bound to its place; an RFC 9162 tree over the chunks' hashes
// gives the file's root. The manifest (name, size, media type, chunk size,
// root, key) travels in the room, encrypted.
//
// It depends on nothing but the log's hashing, so the room protocol and
// the browser's WebAssembly build use it without the network or the disk
// (those are package blob's).
package chunk
