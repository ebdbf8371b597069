package storage

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// MaxKeyLen is bbolt's own limit on a key; names of buckets count too.
const MaxKeyLen = bolt.MaxKeySize

// Config tunes Open. The zero value waits 100 ms for the file lock and syncs
// every commit.
type Config struct {
	// LockTimeout is how long Open waits for another process to release
	// the file. Zero means 100 ms; the daemon's own lock file normally
	// tells the user first.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only, sharing it with other
	// readers.
	ReadOnly bool
	// NoSync skips the fsync of each commit: a crash may lose (never
	// corrupt into a mix) the latest commits. For tests and for building
	// large workloads (hearth bench), never for a home.
	NoSync bool
}

// DB is the metadata database. It is safe for concurrent use.
type DB struct {
	bolt     *bolt.DB
	mapped   string        // the file's path as the kernel shows its mapping
	txs      atomic.Uint64 // transactions run, to trim every trimEvery
	lastTrim atomic.Int64  // unix nanoseconds
}

// ErrEmpty means the database file exists but holds nothing: something
// truncated it. It is never initialized over: what it held would be lost
// for good without a word.
var ErrEmpty = errors.New("the database file is empty (0 bytes)")

// ErrDamaged means the database file is not one bbolt can read.
var ErrDamaged = errors.New("the database file is damaged")

// initialMap is the address space the database's file is mapped into at
// first: 1 GiB on a 64-bit system, bbolt's default on a 32-bit one, where
// address space is scarce. It is not memory (pages are read in as they
// are used, and Trim drops them), nor does the file grow to it. Without
// it bbolt maps the file again each time it doubles, and a transaction
// writing meanwhile copies every node it touched out of the old mapping
// first: a new member's catch-up spent a tenth of its time there.
const initialMap = strconv.IntSize / 64 << 30

// Open opens or creates the database at path with mode 0600. An existing
// file that is empty or unreadable is refused (ErrEmpty, ErrDamaged),
// never replaced.
func Open(path string, cfg Config) (*DB, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
		return nil, fmt.Errorf("opening %s: %w", path, ErrEmpty)
	}
	timeout := cfg.LockTimeout
	if timeout == 0 {
		timeout = 100 * time.Millisecond
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, ReadOnly: cfg.ReadOnly, NoSync: cfg.NoSync, InitialMmapSize: initialMap})
	if err != nil {
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
			return nil, fmt.Errorf("opening %s: %w: %w", path, ErrDamaged, err)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if !cfg.ReadOnly {
		// bbolt keeps the mode of an existing file; ours must stay private.
		if err := os.Chmod(path, 0o600); err != nil {
			b.Close()
			return nil, err
		}
	}
	return &DB{bolt: b, mapped: mappedPath(path)}, nil
}

// Close closes the database; pending transactions finish first.
func (db *DB) Close() error { return db.bolt.Close() }

// Path returns the file's path.
func (db *DB) Path() string { return db.bolt.Path() }

// Tx is a transaction. Slices it returns are valid only until the closure
// that received it returns.
type Tx struct {
	tx *bolt.Tx
}

// Update runs fn in a read-write transaction, committed if fn returns nil
// and rolled back otherwise. Never do network I/O inside fn.
func (db *DB) Update(fn func(*Tx) error) error {
	defer db.counted()
	return db.bolt.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(*Tx) error) error {
	defer db.counted()
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

func checkKey(b []byte) error {
	if len(b) == 0 || len(b) > MaxKeyLen {
		return fmt.Errorf("%w: %d bytes", ErrBadKey, len(b))
	}
	return nil
}

// Put stores value under key in bucket, creating the bucket if needed.
func (t *Tx) Put(bucket, key, value []byte) error {
	if err := checkKey(bucket); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.Put(key, value)
}

// bucket returns a bucket for writing, created if needed (an open bucket
// is found in the transaction's own table, without a search).
func (t *Tx) bucket(name []byte) (*bolt.Bucket, error) {
	if b := t.tx.Bucket(name); b != nil {
		return b, nil
	}
	return t.tx.CreateBucketIfNotExists(name)
}

// Append is Put for keys that arrive in increasing order (a log's
// blocks): pages are split nearly full instead of half full, which halves
// the file for append-only data.
func (t *Tx) Append(bucket, key, value []byte) error {
	if err := checkKey(bucket); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	b.FillPercent = appendFill
	return b.Put(key, value)
}

// appendFill is how full Append leaves a page when it splits one.
const appendFill = 0.95

// Get returns the value of key in bucket, valid until the transaction
// ends, or ErrNotFound.
func (t *Tx) Get(bucket, key []byte) ([]byte, error) {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	return v, nil
}

// Delete removes key from bucket; a missing key is not an error.
func (t *Tx) Delete(bucket, key []byte) error {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	return b.Delete(key)
}

// DeleteBucket removes bucket and everything in it; a missing bucket is
// not an error.
func (t *Tx) DeleteBucket(bucket []byte) error {
	if t.tx.Bucket(bucket) == nil {
		return nil
	}
	return t.tx.DeleteBucket(bucket)
}

// ForEach calls fn for every key of bucket in byte order; it stops at the
// first error and returns it. k and v are valid only during fn.
func (t *Tx) ForEach(bucket []byte, fn func(k, v []byte) error) error {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil
	}
	return b.ForEach(fn)
}

// Last returns the greatest key of bucket and its value (valid until the
// transaction ends), or ErrNotFound if the bucket is empty.
func (t *Tx) Last(bucket []byte) (k, v []byte, err error) {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return nil, nil, ErrNotFound
	}
	k, v = b.Cursor().Last()
	if k == nil {
		return nil, nil, ErrNotFound
	}
	return k, v, nil
}

// Cursor walks the keys of a bucket in byte order, in both directions.
// Keys and values it returns are valid until the transaction ends; at
// either end (and on a bucket that does not exist) it returns a nil key.
type Cursor struct {
	c *bolt.Cursor // nil: no bucket
}

// Cursor returns a cursor over bucket, valid until the transaction ends.
func (t *Tx) Cursor(bucket []byte) *Cursor {
	b := t.tx.Bucket(bucket)
	if b == nil {
		return &Cursor{}
	}
	return &Cursor{c: b.Cursor()}
}

// First moves to the smallest key.
func (c *Cursor) First() (k, v []byte) {
	if c.c == nil {
		return nil, nil
	}
	return c.c.First()
}

// Last moves to the greatest key.
func (c *Cursor) Last() (k, v []byte) {
	if c.c == nil {
		return nil, nil
	}
	return c.c.Last()
}

// Seek moves to the smallest key at or after key.
func (c *Cursor) Seek(key []byte) (k, v []byte) {
	if c.c == nil {
		return nil, nil
	}
	return c.c.Seek(key)
}

// Next moves to the next key.
func (c *Cursor) Next() (k, v []byte) {
	if c.c == nil {
		return nil, nil
	}
	return c.c.Next()
}

// Prev moves to the previous key.
func (c *Cursor) Prev() (k, v []byte) {
	if c.c == nil {
		return nil, nil
	}
	return c.c.Prev()
}

// Get returns a copy of the value of key in bucket, or ErrNotFound.
func (db *DB) Get(bucket, key []byte) ([]byte, error) {
	var out []byte
	err := db.View(func(tx *Tx) error {
		v, err := tx.Get(bucket, key)
		if err != nil {
			return err
		}
		out = append([]byte(nil), v...)
		return nil
	})
	return out, err
}

// Put stores one value in its own transaction.
func (db *DB) Put(bucket, key, value []byte) error {
	return db.Update(func(tx *Tx) error { return tx.Put(bucket, key, value) })
}

// Check walks every page of the file and reports the first inconsistency.
func (db *DB) Check() error {
	return db.bolt.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("database check: %w", err)
		}
		return nil
	})
}
