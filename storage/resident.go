package storage

import (
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// trimEvery is how many transactions pass between two trims of the
// database's resident pages (DB.Trim).
const trimEvery = 64

// Trim drops the database's pages from the process's resident memory:
// bbolt maps the whole file, and every page a transaction reads stays
// resident until the kernel needs the memory, so a long history read here
// and there would count against the daemon's memory as if it held it. The
// pages stay in the kernel's page cache; the next read maps them again
// from there. It runs inside a read transaction, so bbolt cannot remap the
// file meanwhile. The DB trims itself every trimEvery transactions; a
// no-op on systems other than Linux.
func (db *DB) Trim() error {
	return db.bolt.View(func(*bolt.Tx) error { return dropResident(db.mapped) })
}

// counted counts a transaction and trims every trimEvery.
func (db *DB) counted() {
	if db.txs.Add(1)%trimEvery == 0 {
		db.Trim()
	}
}

// mappedPath is the path the kernel shows for the file's mapping.
func mappedPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	return path
}
