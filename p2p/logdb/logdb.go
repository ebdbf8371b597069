// Package logdb keeps signed logs (package log) in the daemon's database:
// per room, one bucket of blocks and one of signed heads, keyed by writer
// and position so that a writer's log reads back in order. A member's rooms
// (package device) and a mirror's kept rooms (package mirror) use it.
package logdb

import (
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

// Buckets names the two buckets of one room.
type Buckets struct{ Blocks, Heads []byte }

// Save stores blocks [start, start+len) of h's log and h itself.
func Save(tx *storage.Tx, b Buckets, h log.Head, start uint64, blocks [][]byte) error {
	for i, bl := range blocks {
		if err := tx.Append(b.Blocks, Key(h.Writer, start+uint64(i)), bl); err != nil {
			return err
		}
	}
	hb, err := h.MarshalBinary()
	if err != nil {
		return err
	}
	return tx.Append(b.Heads, Key(h.Writer, h.Length), hb)
}

// Load reads every writer's heads (ascending) and blocks back.
func Load(tx *storage.Tx, b Buckets) (map[identity.PublicKey][]log.Head, map[identity.PublicKey][][]byte, error) {
	heads := map[identity.PublicKey][]log.Head{}
	blocks := map[identity.PublicKey][][]byte{}
	err := tx.ForEach(b.Heads, func(k, v []byte) error {
		h, err := log.ParseHead(v)
		if err != nil {
			return err
		}
		heads[h.Writer] = append(heads[h.Writer], h)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	err = tx.ForEach(b.Blocks, func(k, v []byte) error {
		if len(k) != 40 {
			return fmt.Errorf("block key of %d bytes", len(k))
		}
		w := identity.PublicKey(k[:32])
		if binary.BigEndian.Uint64(k[32:]) != uint64(len(blocks[w])) {
			return fmt.Errorf("log %s has a gap", w.Short())
		}
		blocks[w] = append(blocks[w], append([]byte{}, v...))
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return heads, blocks, nil
}

// ErrGap: a writer's blocks asked for are not all stored.
var ErrGap = errors.New("the log has a gap")

// ReadBlocks reads blocks [from, from+n) of writer's log, as copies. It
// returns fewer when the log ends before from+n (none when it ends before
// from); a block missing before the end is ErrGap. Nothing else of the
// room is read: a page of a long log costs the page.
func ReadBlocks(tx *storage.Tx, b Buckets, writer identity.PublicKey, from uint64, n int) ([][]byte, error) {
	var out [][]byte
	c := tx.Cursor(b.Blocks)
	want := from
	for k, v := c.Seek(Key(writer, from)); k != nil && len(out) < n; k, v = c.Next() {
		w, pos, ok := splitKey(k)
		if !ok || w != writer {
			break
		}
		if pos != want {
			return out, fmt.Errorf("%w: block %d of %s missing", ErrGap, want, writer.Short())
		}
		out = append(out, append([]byte{}, v...))
		want++
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
