// Package logdb keeps signed logs (package log) in the daemon's database:
// per room, one bucket of blocks and one of signed heads, keyed by writer
// and position so that a writer's log reads back in order; one of the
// nodes of each log's Merkle tree, from TreeLevel up; and one of each
// log's record: the frontier of the blocks stored, as verified when they
// were. A log reopens from its record (Open) without reading or verifying
// its blocks again, and its memory does not grow with its length: proofs
// read the tree's nodes (Past). A member's rooms (package device) and a
// mirror's kept rooms (package mirror) use it.
package logdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/storage"
)

// Key is the key of a writer's block n, or of its head of length n.
func Key(writer identity.PublicKey, n uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, writer[:]...), n)
}

// Buckets names the buckets of one room.
type Buckets struct{ Blocks, Heads, Tree, Logs []byte }

// Named returns the buckets of one room, named by name for each kind:
// "blocks", "heads", "tree" and "logs".
func Named(name func(kind string) []byte) Buckets {
	return Buckets{Blocks: name("blocks"), Heads: name("heads"), Tree: name("tree"), Logs: name("logs")}
}

// Kinds are the kinds of bucket Named names.
var Kinds = []string{"blocks", "heads", "tree", "logs"}

// TreeLevel is the lowest level of a log's tree whose nodes are stored:
// one row per 64 blocks (and as many again above). A node below it is
// hashed again from at most 32 blocks when a proof needs it.
const TreeLevel = log.KeptLevel

// nodeKey is the key of a stored node of writer's tree.
func nodeKey(writer identity.PublicKey, level int, index uint64) []byte {
	k := append(append(make([]byte, 0, 41), writer[:]...), byte(level))
	return binary.BigEndian.AppendUint64(k, index)
}

// Save stores blocks [start, start+len) of h's log and h itself, with the
// nodes of the log's tree they complete and its record. start must be
// the length stored (a log stored before records were kept is indexed
// first, Index), and the blocks must hash, after those stored, to h's
// root: the caller verified h's signature, the store checks it stores
// what h covers.
func Save(tx *storage.Tx, b Buckets, h log.Head, start uint64, blocks [][]byte) error {
	return SaveHashed(tx, b, h, start, blocks, nil)
}

// SaveHashed is Save given what log.Log.ExtendHashed or AppendHashed
// hashed of the blocks (nil: they are hashed here). Its frontier before
// them must be the one stored, and after them h's.
func SaveHashed(tx *storage.Tx, b Buckets, h log.Head, start uint64, blocks [][]byte, x *log.Hashed) error {
	front, ok, err := record(tx, b, h.Writer)
	if err != nil {
		return err
	}
	if !ok && start > 0 {
		if front, err = Index(tx, b, h.Discovery, h.Writer); err != nil {
			return err
		}
	}
	if front.Len() != start {
		return fmt.Errorf("saving blocks from %d of log %s: %d stored", start, h.Writer.Short(), front.Len())
	}
	switch {
	case x == nil:
		if err := grow(tx, b, h.Writer, &front, hashes(blocks)); err != nil {
			return err
		}
	case len(x.Leaves) != len(blocks) || !x.Start.Equal(&front):
		return fmt.Errorf("saving blocks of log %s: hashed from another tree (%d leaves for %d blocks, from %d)", h.Writer.Short(), len(x.Leaves), len(blocks), x.Start.Len())
	default:
		for _, n := range x.Nodes {
			if n.Level >= TreeLevel {
				if err := tx.Put(b.Tree, nodeKey(h.Writer, n.Level, n.Index), n.Hash[:]); err != nil {
					return err
				}
			}
		}
		front = x.Next.Clone()
	}
	if front.Len() != h.Length || front.Root() != h.Root {
		return fmt.Errorf("saving blocks of log %s: %w", h.Writer.Short(), log.ErrRootDiffs)
	}
	if err := appendBlocks(tx, b, h.Writer, start, blocks); err != nil {
		return err
	}
	hb, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	if err := tx.Append(b.Heads, Key(h.Writer, h.Length), hb); err != nil {
		return err
	}
	return putRecord(tx, b, h.Writer, front)
}

// hashes returns the leaf hashes of blocks.
func hashes(blocks [][]byte) []log.Hash {
	out := make([]log.Hash, len(blocks))
	for i, bl := range blocks {
		out[i] = log.LeafHash(bl)
	}
	return out
}

// grow pushes leaves onto front and stores the nodes they complete.
func grow(tx *storage.Tx, b Buckets, writer identity.PublicKey, front *log.Frontier, leaves []log.Hash) error {
	var err error
	for _, leaf := range leaves {
		front.Push(leaf, func(level int, index uint64, h log.Hash) {
			if level >= TreeLevel && err == nil {
				err = tx.Put(b.Tree, nodeKey(writer, level, index), h[:])
			}
		})
	}
	return err
}

// record returns the frontier of writer's log stored.
func record(tx *storage.Tx, b Buckets, writer identity.PublicKey) (log.Frontier, bool, error) {
	v, err := tx.Get(b.Logs, writer[:])
	if errors.Is(err, storage.ErrNotFound) {
		return log.Frontier{}, false, nil
	}
	if err != nil {
		return log.Frontier{}, false, err
	}
	f, err := log.ParseFrontier(v)
	if err != nil {
		return log.Frontier{}, false, fmt.Errorf("record of log %s: %w", writer.Short(), err)
	}
	return f, true, nil
}

func putRecord(tx *storage.Tx, b Buckets, writer identity.PublicKey, f log.Frontier) error {
	v, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	return tx.Put(b.Logs, writer[:], v)
}

// Index verifies a writer's log stored without a record (by a version
// that kept none) as Extend would, head by head, and writes its tree and
// record. It keeps the longest prefix that verifies: heads and blocks
// past it are deleted, to be fetched again.
func Index(tx *storage.Tx, b Buckets, disc log.Discovery, writer identity.PublicKey) (log.Frontier, error) {
	var heads []log.Head
	c := tx.Cursor(b.Heads)
	for k, v := c.Seek(Key(writer, 0)); k != nil; k, v = c.Next() {
		if w, _, ok := splitKey(k); !ok || w != writer {
			break
		}
		h, err := log.ParseHead(v)
		if err != nil {
			break
		}
		heads = append(heads, h)
	}
	l, _ := log.Restore(disc, writer, log.Head{}, log.Frontier{}, nil)
	var front log.Frontier
	for _, h := range heads {
		if h.Length <= l.Len() {
			continue
		}
		blocks, err := ReadBlocks(tx, b, writer, l.Len(), int(min(h.Length-l.Len(), log.MaxBatch)))
		if err != nil || uint64(len(blocks)) != h.Length-l.Len() || l.Extend(h, blocks) != nil {
			break
		}
		if err := grow(tx, b, writer, &front, hashes(blocks)); err != nil {
			return log.Frontier{}, err
		}
	}
	// What did not verify goes: a head past the verified length, the
	// blocks past it.
	var stale [][]byte
	c = tx.Cursor(b.Heads)
	for k, _ := c.Seek(Key(writer, front.Len()+1)); k != nil; k, _ = c.Next() {
		if w, _, ok := splitKey(k); !ok || w != writer {
			break
		}
		stale = append(stale, bytes.Clone(k))
	}
	for _, k := range stale {
		if err := tx.Delete(b.Heads, k); err != nil {
			return log.Frontier{}, err
		}
	}
	if err := truncateBlocks(tx, b, writer, front.Len()); err != nil {
		return log.Frontier{}, err
	}
	return front, putRecord(tx, b, writer, front)
}

// Writers lists the writers of the logs stored, in key order.
func Writers(tx *storage.Tx, b Buckets) ([]identity.PublicKey, error) {
	var out []identity.PublicKey
	c := tx.Cursor(b.Heads)
	for k, _ := c.First(); k != nil; {
		w, _, ok := splitKey(k)
		if !ok {
			return nil, fmt.Errorf("head key of %d bytes", len(k))
		}
		out = append(out, w)
		k, _ = c.Seek(Key(w, math.MaxUint64))
		if k != nil && bytes.Equal(k, Key(w, math.MaxUint64)) {
			k, _ = c.Next()
		}
	}
	return out, nil
}

// Open returns writer's log as stored, from its record: nothing is read
// or verified again but the record and the latest head (a log stored
// without a record is indexed first, Index). Its proofs read the tree
// from db. A writer with nothing stored has the empty log, and nothing is
// written for it.
func Open(db *storage.DB, b Buckets, disc log.Discovery, writer identity.PublicKey) (*log.Log, error) {
	var front log.Frontier
	var head log.Head
	read := func(tx *storage.Tx) (bool, error) {
		f, ok, err := record(tx, b, writer)
		if err != nil || !ok {
			return ok, err
		}
		front = f
		if f.Len() == 0 {
			return true, nil
		}
		h, found, err := HeadAt(tx, b, writer, f.Len())
		if err != nil {
			return true, err
		}
		if !found {
			return true, fmt.Errorf("log %s: no head of its %d blocks stored", writer.Short(), f.Len())
		}
		head = h
		return true, nil
	}
	var ok, stored bool
	err := db.View(func(tx *storage.Tx) error {
		var err error
		if ok, err = read(tx); err != nil || ok {
			return err
		}
		_, stored, err = HeadAfter(tx, b, writer, 0)
		return err
	})
	if err == nil && !ok && stored {
		err = db.Update(func(tx *storage.Tx) error {
			if _, err := Index(tx, b, disc, writer); err != nil {
				return err
			}
			_, err := read(tx)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	return log.Restore(disc, writer, head, front, Past{DB: db, B: b, Writer: writer})
}

// Past reads what a log of Open does not keep in memory: the nodes of its
// tree (hashing the blocks below TreeLevel again) and its heads.
type Past struct {
	DB     *storage.DB
	B      Buckets
	Writer identity.PublicKey
}

var _ log.Past = Past{}

// Node implements log.Nodes.
func (p Past) Node(level int, index uint64) (log.Hash, error) {
	var h log.Hash
	err := p.DB.View(func(tx *storage.Tx) error {
		var err error
		h, err = NodeOf(tx, p.B, p.Writer, level, index)
		return err
	})
	return h, err
}

// HeadAt implements log.Past.
func (p Past) HeadAt(n uint64) (log.Head, bool, error) {
	var h log.Head
	var ok bool
	err := p.DB.View(func(tx *storage.Tx) error {
		var err error
		h, ok, err = HeadAt(tx, p.B, p.Writer, n)
		return err
	})
	return h, ok, err
}

// NodeOf returns a node of writer's tree: stored from TreeLevel up,
// hashed from the blocks below.
func NodeOf(tx *storage.Tx, b Buckets, writer identity.PublicKey, level int, index uint64) (log.Hash, error) {
	if level < 0 || level > 63 {
		return log.Hash{}, fmt.Errorf("tree level %d", level)
	}
	if level >= TreeLevel {
		v, err := tx.Get(b.Tree, nodeKey(writer, level, index))
		if err != nil {
			return log.Hash{}, fmt.Errorf("node (%d, %d) of log %s: %w", level, index, writer.Short(), err)
		}
		if len(v) != 32 {
			return log.Hash{}, fmt.Errorf("node (%d, %d) of log %s: %d bytes", level, index, writer.Short(), len(v))
		}
		return log.Hash(v), nil
	}
	n := 1 << level
	blocks, err := ReadBlocks(tx, b, writer, index<<level, n)
	if err != nil {
		return log.Hash{}, err
	}
	if len(blocks) != n {
		return log.Hash{}, fmt.Errorf("node (%d, %d) of log %s: %w", level, index, writer.Short(), ErrGap)
	}
	leaves := make([]log.Hash, n)
	for i, bl := range blocks {
		leaves[i] = log.LeafHash(bl)
	}
	return log.Root(leaves), nil
}

// Serve reads blocks [from, h.Length) of writer's log and the signed head
// h that covers them: the longest head stored whose blocks past from
// total at most maxBytes, or the first head past from if even that one is
// larger. ok is false if no head past from is stored; at most length
// blocks are served (what the caller verified).
func Serve(tx *storage.Tx, b Buckets, writer identity.PublicKey, from, length uint64, maxBytes int) (h log.Head, blocks [][]byte, ok bool, err error) {
	hc := tx.Cursor(b.Heads)
	br := newBlockReader(tx, b, writer, from)
	size := 0
	for k, v := hc.Seek(Key(writer, from+1)); k != nil; k, v = hc.Next() {
		w, n, kok := splitKey(k)
		if !kok || w != writer || n > length {
			break
		}
		var batch [][]byte
		for br.pos < n {
			bl, more := br.next()
			if !more {
				if br.err != nil {
					return log.Head{}, nil, false, br.err
				}
				return log.Head{}, nil, false, fmt.Errorf("%w: block %d of %s missing", ErrGap, br.pos, writer.Short())
			}
			size += len(bl)
			batch = append(batch, bytes.Clone(bl))
		}
		if ok && size > maxBytes {
			break
		}
		c, perr := log.ParseHead(v)
		if perr != nil {
			return log.Head{}, nil, false, perr
		}
		h, ok = c, true
		blocks = append(blocks, batch...)
	}
	return h, blocks, ok, nil
}

// ErrGap: a writer's blocks asked for are not all stored.
var ErrGap = errors.New("the log has a gap")

// ReadBlocks reads blocks [from, from+n) of writer's log, as copies. It
// returns fewer when the log ends before from+n (none when it ends before
// from); a block missing before the end is ErrGap. Nothing else of the
// room is read: a page of a long log costs the page.
func ReadBlocks(tx *storage.Tx, b Buckets, writer identity.PublicKey, from uint64, n int) ([][]byte, error) {
	var out [][]byte
	br := newBlockReader(tx, b, writer, from)
	for len(out) < n {
		bl, ok := br.next()
		if !ok {
			return out, br.err
		}
		out = append(out, bytes.Clone(bl))
	}
	return out, nil
}

// HeadAt returns writer's stored head of length n, if there is one.
func HeadAt(tx *storage.Tx, b Buckets, writer identity.PublicKey, n uint64) (log.Head, bool, error) {
	v, err := tx.Get(b.Heads, Key(writer, n))
	if errors.Is(err, storage.ErrNotFound) {
		return log.Head{}, false, nil
	}
	if err != nil {
		return log.Head{}, false, err
	}
	h, err := log.ParseHead(v)
	if err != nil {
		return log.Head{}, false, err
	}
	return h, true, nil
}

// HeadAfter returns writer's first stored head longer than n: the
// shortest signed head covering block n. There is none when every head
// is at most n long.
func HeadAfter(tx *storage.Tx, b Buckets, writer identity.PublicKey, n uint64) (log.Head, bool, error) {
	if n == math.MaxUint64 {
		return log.Head{}, false, nil
	}
	k, v := tx.Cursor(b.Heads).Seek(Key(writer, n+1))
	if w, _, ok := splitKey(k); !ok || w != writer {
		return log.Head{}, false, nil
	}
	h, err := log.ParseHead(v)
	if err != nil {
		return log.Head{}, false, err
	}
	return h, true, nil
}

// LastHead returns writer's longest stored head, if there is one.
func LastHead(tx *storage.Tx, b Buckets, writer identity.PublicKey) (log.Head, bool, error) {
	c := tx.Cursor(b.Heads)
	k, v := c.Seek(Key(writer, math.MaxUint64))
	if w, pos, ok := splitKey(k); !ok || w != writer || pos != math.MaxUint64 {
		// Past writer's heads (or past the end): step back to its last.
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
	}
	if w, _, ok := splitKey(k); !ok || w != writer {
		return log.Head{}, false, nil
	}
	h, err := log.ParseHead(v)
	if err != nil {
		return log.Head{}, false, err
	}
	return h, true, nil
}

// splitKey is the writer and position of a key of Key's.
func splitKey(k []byte) (identity.PublicKey, uint64, bool) {
	if len(k) != len(identity.PublicKey{})+8 {
		return identity.PublicKey{}, 0, false
	}
	return identity.PublicKey(k[:32]), binary.BigEndian.Uint64(k[32:]), true
}

// DeleteLog deletes writer's log: its blocks, heads, tree and record. It
// returns the bytes of blocks it deleted.
func DeleteLog(tx *storage.Tx, b Buckets, writer identity.PublicKey) (int64, error) {
	var freed int64
	for _, bucket := range [][]byte{b.Blocks, b.Heads, b.Tree, b.Logs} {
		var keys [][]byte
		c := tx.Cursor(bucket)
		for k, v := c.Seek(writer[:]); k != nil && bytes.HasPrefix(k, writer[:]); k, v = c.Next() {
			keys = append(keys, append([]byte{}, k...))
			if bytes.Equal(bucket, b.Blocks) {
				freed += rowBytes(v)
			}
		}
		for _, k := range keys {
			if err := tx.Delete(bucket, k); err != nil {
				return 0, err
			}
		}
	}
	return freed, nil
}
