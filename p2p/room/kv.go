package room

import (
	"bytes"
	"errors"
	"slices"

	"github.com/google/btree"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// Tx is a transaction on what a room keeps beside its logs: its view as
// applied, indexed as it is read (view.go, viewdb.go). Buckets are named
// by the room; a Store keeps them apart per room. Slices a Tx returns are
// valid until the transaction ends and must not be changed.
type Tx interface {
	// Get returns the value of key, or nil.
	Get(bucket string, key []byte) []byte
	Put(bucket string, key, value []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(bucket string, key []byte) error
	// Cursor walks a bucket's keys in byte order. A cursor must not be
	// used across a Put or Delete of its bucket.
	Cursor(bucket string) Cursor
	// ReadBlocks and SaveBlocks are Store's, within the transaction;
	// hashed, if not nil, is what the log hashed of the blocks when it
	// verified or wrote them (log.Hashed).
	ReadBlocks(writer identity.PublicKey, from uint64, n int) ([][]byte, error)
	SaveBlocks(head log.Head, start uint64, blocks [][]byte, hashed *log.Hashed) error
}

// Cursor walks a bucket's keys in byte order, in both directions. At
// either end it returns a nil key.
type Cursor interface {
	First() (k, v []byte)
	Last() (k, v []byte)
	// Seek moves to the smallest key at or after key.
	Seek(key []byte) (k, v []byte)
	Next() (k, v []byte)
	Prev() (k, v []byte)
}

// errReadOnly is a write in a View.
var errReadOnly = errors.New("room: a write in a read-only transaction")

// memItem is a key and its value in a MemStore bucket.
type memItem struct{ k, v []byte }

func memLess(a, b memItem) bool { return bytes.Compare(a.k, b.k) < 0 }

// memBuckets are one room's buckets in a MemStore.
type memBuckets map[string]*btree.BTreeG[memItem]

// memTx is a transaction on a MemStore's buckets of one room. A write
// transaction clones each bucket it touches first (copy on write), and
// puts the clones back if it fails.
type memTx struct {
	s        *MemStore // locked
	disc     log.Discovery
	b        memBuckets
	writable bool
	saved    map[string]*btree.BTreeG[memItem] // the buckets as they were (nil: did not exist)
	undo     []func()                          // put the logs back as they were, last first
	change   Change                            // what it wrote, for the journal
}

func (t *memTx) tree(bucket string, create bool) *btree.BTreeG[memItem] {
	tr := t.b[bucket]
	if t.writable && create {
		if _, ok := t.saved[bucket]; !ok {
			t.saved[bucket] = tr
			if tr == nil {
				tr = btree.NewG(16, memLess)
			} else {
				tr = tr.Clone()
			}
			t.b[bucket] = tr
		}
	}
	return tr
}

func (t *memTx) Get(bucket string, key []byte) []byte {
	tr := t.tree(bucket, false)
	if tr == nil {
		return nil
	}
	it, ok := tr.Get(memItem{k: key})
	if !ok {
		return nil
	}
	return it.v
}

func (t *memTx) Put(bucket string, key, value []byte) error {
	if !t.writable {
		return errReadOnly
	}
	it := memItem{k: slices.Clone(key), v: slices.Clone(value)}
	t.tree(bucket, true).ReplaceOrInsert(it)
	if t.s.journal != nil {
		t.change.Rows = append(t.change.Rows, Row{Bucket: bucket, Key: it.k, Value: it.v})
	}
	return nil
}

func (t *memTx) Delete(bucket string, key []byte) error {
	if !t.writable {
		return errReadOnly
	}
	if t.b[bucket] != nil {
		if _, had := t.tree(bucket, true).Delete(memItem{k: key}); had && t.s.journal != nil {
			t.change.Rows = append(t.change.Rows, Row{Bucket: bucket, Key: slices.Clone(key), Deleted: true})
		}
	}
	return nil
}

func (t *memTx) Cursor(bucket string) Cursor { return &memCursor{tr: t.tree(bucket, false)} }

func (t *memTx) ReadBlocks(writer identity.PublicKey, from uint64, n int) ([][]byte, error) {
	return t.s.readBlocks(t.disc, writer, from, n), nil
}

func (t *memTx) SaveBlocks(h log.Head, start uint64, blocks [][]byte, _ *log.Hashed) error {
	if !t.writable {
		return errReadOnly
	}
	undo := t.s.mark(t.disc, h.Writer)
	if err := t.s.saveBlocks(t.disc, h, start, blocks); err != nil {
		return err
	}
	t.undo = append(t.undo, undo)
	if t.s.journal != nil {
		t.change.Blocks = append(t.change.Blocks, SavedBlocks{Head: h, Start: start, Blocks: blocks})
	}
	return nil
}

// memCursor finds each next key anew: O(log n) a step. It moves as
// bbolt's does at the ends: Next past the last key (Prev before the
// first) returns nil and stays where it was; Seek past the last key
// leaves it after the end, where Prev finds the last.
type memCursor struct {
	tr      *btree.BTreeG[memItem]
	at      []byte
	set     bool
	pastEnd bool
}

func (c *memCursor) land(it memItem, ok bool) ([]byte, []byte) {
	c.pastEnd = false
	if !ok {
		c.set = false
		return nil, nil
	}
	c.at, c.set = it.k, true
	return it.k, it.v
}

func (c *memCursor) First() ([]byte, []byte) {
	if c.tr == nil {
		return nil, nil
	}
	return c.land(c.tr.Min())
}

func (c *memCursor) Last() ([]byte, []byte) {
	if c.tr == nil {
		return nil, nil
	}
	return c.land(c.tr.Max())
}

func (c *memCursor) Seek(key []byte) ([]byte, []byte) {
	if c.tr == nil {
		return nil, nil
	}
	var got memItem
	found := false
	c.tr.AscendGreaterOrEqual(memItem{k: key}, func(it memItem) bool { got, found = it, true; return false })
	k, v := c.land(got, found)
	c.pastEnd = !found
	return k, v
}

// step finds the key after (or before) where the cursor is; at an end
// the cursor stays.
func (c *memCursor) step(back bool) ([]byte, []byte) {
	var got memItem
	found := false
	visit := func(it memItem) bool {
		if bytes.Equal(it.k, c.at) {
			return true
		}
		got, found = it, true
		return false
	}
	if back {
		c.tr.DescendLessOrEqual(memItem{k: c.at}, visit)
	} else {
		c.tr.AscendGreaterOrEqual(memItem{k: c.at}, visit)
	}
	if !found {
		return nil, nil
	}
	return c.land(got, true)
}

func (c *memCursor) Next() ([]byte, []byte) {
	if c.tr == nil || !c.set {
		return nil, nil
	}
	return c.step(false)
}

func (c *memCursor) Prev() ([]byte, []byte) {
	if c.tr == nil {
		return nil, nil
	}
	if c.pastEnd {
		return c.Last()
	}
	if !c.set {
		return nil, nil
	}
	return c.step(true)
}

// buckets returns the buckets of a room, made if needed. The caller holds
// s.mu.
func (s *MemStore) buckets(disc log.Discovery) memBuckets {
	b := s.kv[disc]
	if b == nil {
		b = memBuckets{}
		s.kv[disc] = b
	}
	return b
}

// Update implements Store: fn's writes all happen, or none.
func (s *MemStore) Update(disc log.Discovery, fn func(Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &memTx{s: s, disc: disc, b: s.buckets(disc), writable: true, saved: map[string]*btree.BTreeG[memItem]{}}
	err := fn(t)
	if err == nil && s.journal != nil && (len(t.change.Rows) > 0 || len(t.change.Blocks) > 0) {
		t.change.Disc = disc
		err = s.journal(t.change)
	}
	if err != nil {
		// Nothing of a failed transaction stays: its rows, nor the
		// blocks it saved.
		for name, tr := range t.saved {
			if tr == nil {
				delete(t.b, name)
			} else {
				t.b[name] = tr
			}
		}
		for i := len(t.undo) - 1; i >= 0; i-- {
			t.undo[i]()
		}
		return err
	}
	return nil
}

// View implements Store.
func (s *MemStore) View(disc log.Discovery, fn func(Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(&memTx{s: s, disc: disc, b: s.buckets(disc)})
}

// ViewBuckets names every bucket a room keeps in its Store's Tx: deleting
// a room deletes them.
var ViewBuckets = []string{}
