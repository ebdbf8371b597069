// Package logdb keeps signed logs (package log) in the daemon's database:
// per room, one bucket of blocks and one of signed heads, keyed by writer
// and position so that a writer's log reads back in order. A member's rooms
// (package device) and a mirror's kept rooms (package mirror) use it.
package logdb

import (
	"encoding/binary"
	"fmt"

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
