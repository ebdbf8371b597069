package logdb

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/storage"
)

// Blocks are stored a run at a time. A row of the blocks bucket holds
// consecutive blocks of one log, keyed by the position of its first
// (Key), so that taking a long history writes a row per dozen or more
// chat messages rather than one per block: bbolt's cost is per key (a
// search, a node entry, a page entry at commit). A row is either
//
//   - one block, as versions before runs stored every block (a block's
//     first byte is its format's version, never runTag), or
//   - a run: runTag, the number of blocks (uvarint), then each block's
//     length (uvarint) and bytes.
//
// A log's last run grows, rewritten whole, until it holds runBytes; a
// block longer than that is a run of its own.
const (
	runTag = 0xB5
	// runBytes: bbolt puts at least two rows in a page, so two runs and
	// their keys fit a 4 KiB page filled as Append fills it (95%).
	runBytes = 1800
)

// ErrRow: a row of blocks that does not parse (a damaged database).
var ErrRow = errors.New("a stored row of blocks does not parse")

// parseRow returns the blocks of a row, as slices of v.
func parseRow(v []byte) ([][]byte, error) {
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrRow)
	}
	if v[0] != runTag {
		return [][]byte{v}, nil
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || k != varintLen(n) || n == 0 || n > uint64(len(v)) {
		return nil, fmt.Errorf("%w: a run of %d blocks in %d bytes", ErrRow, n, len(v))
	}
	v = v[1+k:]
	out := make([][]byte, n)
	for i := range out {
		l, k := binary.Uvarint(v)
		if k <= 0 || k != varintLen(l) || l == 0 || l > uint64(len(v)-k) {
			return nil, fmt.Errorf("%w: block %d of a run", ErrRow, i)
		}
		out[i], v = v[k:k+int(l)], v[k+int(l):]
	}
	if len(v) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after a run", ErrRow, len(v))
	}
	return out, nil
}

// encodeRun encodes blocks as one run.
func encodeRun(blocks [][]byte) []byte {
	size := 1 + binary.MaxVarintLen64
	for _, b := range blocks {
		size += binary.MaxVarintLen32 + len(b)
	}
	v := append(make([]byte, 0, size), runTag)
	v = binary.AppendUvarint(v, uint64(len(blocks)))
	for _, b := range blocks {
		v = binary.AppendUvarint(v, uint64(len(b)))
		v = append(v, b...)
	}
	return v
}

// runSize is what a block adds to a run.
func runSize(b []byte) int { return len(b) + varintLen(uint64(len(b))) }

func varintLen(x uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], x)
}

// appendBlocks stores blocks [start, start+len) of writer's log: into its
// last run while that has room and ends at start, then into new runs.
func appendBlocks(tx *storage.Tx, b Buckets, writer identity.PublicKey, start uint64, blocks [][]byte) error {
	first, size := start, 0
	var run [][]byte
	if k, v := lastRow(tx.Cursor(b.Blocks), writer); k != nil && len(v) > 0 && v[0] == runTag && len(v) < runBytes {
		_, at, _ := splitKey(k)
		held, err := parseRow(v)
		if err != nil {
			return err
		}
		if at+uint64(len(held)) == start {
			// Copied: the new row replaces the one they point into.
			for _, bl := range held {
				run = append(run, bytes.Clone(bl))
				size += runSize(bl)
			}
			first = at
		}
	}
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		if err := tx.Append(b.Blocks, Key(writer, first), encodeRun(run)); err != nil {
			return err
		}
		first, run, size = first+uint64(len(run)), run[:0], 0
		return nil
	}
	for _, bl := range blocks {
		if len(run) > 0 && size+runSize(bl) > runBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		run = append(run, bl)
		size += runSize(bl)
	}
	return flush()
}

// lastRow returns the key and value of writer's last row of blocks, if
// any.
func lastRow(c *storage.Cursor, writer identity.PublicKey) ([]byte, []byte) {
	end := Key(writer, math.MaxUint64)
	k, v := c.Seek(end)
	if k != nil && bytes.Equal(k, end) {
		return k, v
	}
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if w, _, ok := splitKey(k); !ok || w != writer {
		return nil, nil
	}
	return k, v
}

// blockReader reads a writer's blocks in order from a position, a row at
// a time. Blocks it returns are slices of the database's pages, valid
// until the transaction ends.
type blockReader struct {
	c      *storage.Cursor
	writer identity.PublicKey
	pos    uint64   // the position of the next block
	row    [][]byte // the blocks of the current row from pos on
	err    error
	done   bool
}

func newBlockReader(tx *storage.Tx, b Buckets, writer identity.PublicKey, from uint64) *blockReader {
	r := &blockReader{c: tx.Cursor(b.Blocks), writer: writer, pos: from}
	// The row that holds from: the one keyed at it, or the one before.
	want := Key(writer, from)
	k, v := r.c.Seek(want)
	if k == nil || !bytes.Equal(k, want) {
		if k == nil {
			k, v = r.c.Last()
		} else {
			k, v = r.c.Prev()
		}
		if w, at, ok := splitKey(k); !ok || w != writer || at > from {
			k, v = r.c.Seek(want)
		}
	}
	r.load(k, v)
	return r
}

// load makes the row at k the current one, from r.pos on.
func (r *blockReader) load(k, v []byte) {
	w, at, ok := splitKey(k)
	if !ok || w != r.writer {
		r.done = true
		return
	}
	blocks, err := parseRow(v)
	switch {
	case err != nil:
		r.err, r.done = fmt.Errorf("log %s at %d: %w", r.writer.Short(), at, err), true
	case at > r.pos:
		r.err, r.done = fmt.Errorf("%w: block %d of %s missing", ErrGap, r.pos, r.writer.Short()), true
	case at+uint64(len(blocks)) <= r.pos:
		// A row before pos: the log ends there, or the next row has pos.
		r.load(r.c.Next())
	default:
		r.row = blocks[r.pos-at:]
	}
}

// next returns the block at r.pos and moves on; false at the end of the
// log (r.err says whether it was a gap or a damaged row).
func (r *blockReader) next() ([]byte, bool) {
	if len(r.row) == 0 && !r.done {
		r.load(r.c.Next())
	}
	if len(r.row) == 0 {
		return nil, false
	}
	bl := r.row[0]
	r.row = r.row[1:]
	r.pos++
	return bl, true
}

// truncateBlocks deletes writer's blocks from position n on: rows past it
// go, the row that holds n keeps what comes before it.
func truncateBlocks(tx *storage.Tx, b Buckets, writer identity.PublicKey, n uint64) error {
	type row struct {
		k    []byte
		keep [][]byte // nil: delete
	}
	var rows []row
	c := tx.Cursor(b.Blocks)
	k, v := c.Seek(Key(writer, n))
	if pk, pv := lastBefore(c, k, writer); pk != nil {
		k, v = pk, pv
	}
	for ; k != nil; k, v = c.Next() {
		w, at, ok := splitKey(k)
		if !ok || w != writer {
			break
		}
		r := row{k: bytes.Clone(k)}
		if at < n {
			blocks, err := parseRow(v)
			if err != nil {
				return err
			}
			if at+uint64(len(blocks)) <= n {
				continue
			}
			for _, bl := range blocks[:n-at] {
				r.keep = append(r.keep, bytes.Clone(bl))
			}
		}
		rows = append(rows, r)
	}
	for _, r := range rows {
		var err error
		if r.keep == nil {
			err = tx.Delete(b.Blocks, r.k)
		} else {
			err = tx.Put(b.Blocks, r.k, encodeRun(r.keep))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lastBefore steps the cursor, just sought to k, back to writer's row
// before k, if there is one; otherwise it leaves the cursor at k and
// returns nil.
func lastBefore(c *storage.Cursor, k []byte, writer identity.PublicKey) ([]byte, []byte) {
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if w, _, ok := splitKey(pk); ok && w == writer {
		return pk, pv
	}
	if k != nil {
		c.Seek(k)
	}
	return nil, nil
}

// rowBytes is the bytes of the blocks a row holds.
func rowBytes(v []byte) int64 {
	blocks, err := parseRow(v)
	if err != nil {
		return int64(len(v))
	}
	var n int64
	for _, b := range blocks {
		n += int64(len(b))
	}
	return n
}
