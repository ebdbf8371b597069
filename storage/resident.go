package storage

import (
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The DB trims its resident pages every trimEvery transactions, and after
// a transaction that ends trimAfter or more after the last trim.
const (
	trimEvery = 64
	trimAfter = 2 * time.Second
)

// Trim drops the database's pages from the process's resident memory:
// bbolt maps the whole file, and every page a transaction reads (with
// its neighbours, which the kernel maps along) stays resident until the
// kernel needs the memory, so a long history read here and there would
// count against the daemon's memory as if it held it. The pages stay in
// the kernel's page cache; the next read maps them again from there. It
// runs inside a read transaction, so bbolt cannot remap the file
// meanwhile. The DB trims itself (trimEvery, trimAfter); call it after
// work that read much (a daemon's start). A no-op on systems other than
// Linux.
func (db *DB) Trim() error {
	db.lastTrim.Store(time.Now().UnixNano())
	return db.bolt.View(func(*bolt.Tx) error { return dropResident(db.mapped) })
}

// counted counts a transaction and trims when it is time.
func (db *DB) counted() {
	if db.txs.Add(1)%trimEvery == 0 || time.Since(time.Unix(0, db.lastTrim.Load())) >= trimAfter {
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
