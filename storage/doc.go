// Package storage keeps Hearth's data on disk: a bbolt database for
// metadata and small records, and a content-addressed chunk store on the
// file system for bulk bytes.
//
// # Basics
//
// A DB is one bbolt file in the home (mode 0600). Records live in named
// buckets; Update and View run a closure in a transaction that commits or
// rolls back on its own. Byte slices handed to a closure are valid only
// inside it; Get copies. A Cursor reads a bucket in key order either way
// from any key: a page of a long log or history reads the page alone.
//
// A Chunks store keeps each chunk in a file named by the SHA-256 of its
// content. Put writes a temporary file, syncs it, renames it into place and
// syncs the folder, so after a crash a chunk is either whole or absent. Get
// checks the hash on every read: a corrupt chunk is moved aside and
// reported with ErrCorrupt, never returned.
//
// # Caveats
//
// File contents never go into bbolt: a 32-bit Pi cannot map a large
// database. Log blocks (an entry is at most 64 KiB) do. Chunks are
// bounded by MaxChunkSize. Config.NoSync (no fsync per commit) is for
// tests and generated workloads only.
//
// Other packages declare the few methods they need as their own interfaces;
// this package exports concrete types only.
package storage
