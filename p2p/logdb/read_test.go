package logdb

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/storage"
)

// TestReaders reads pages of blocks and single heads of three writers'
// logs stored side by side, without loading the room: each answer is the
// writer's own, never a neighbour's, and gaps are errors.
func TestReaders(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := testBuckets
	disc := log.Discovery{7}
	key := log.RandomKey()
	var writers []identity.PublicKey
	want := map[identity.PublicKey][][]byte{}
	for w := range 3 {
		sk, _ := identity.GenerateSigningKey()
		l := log.New(disc, sk.Public())
		writers = append(writers, sk.Public())
		// Batches of 4: heads of lengths 4, 8 and 12.
		for batch := range 3 {
			start := l.Len()
			var entries [][]byte
			for i := range 4 {
				entries = append(entries, fmt.Appendf(nil, "w%d b%d e%d", w, batch, i))
			}
			blocks, h, err := l.Append(sk, key, 0, entries)
			if err != nil {
				t.Fatal(err)
			}
			want[sk.Public()] = append(want[sk.Public()], blocks...)
			if err := db.Update(func(tx *storage.Tx) error { return Save(tx, b, h, start, blocks) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The writer between the two others in key order: its neighbours'
	// keys sit right before and after its own.
	slices.SortFunc(writers, func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	mid := writers[1]
	err = db.View(func(tx *storage.Tx) error {
		for _, tc := range []struct {
			from uint64
			n    int
			want int
		}{{0, 5, 5}, {3, 4, 4}, {10, 5, 2}, {12, 3, 0}, {40, 1, 0}, {0, 100, 12}} {
			got, err := ReadBlocks(tx, b, mid, tc.from, tc.n)
			if err != nil {
				return err
			}
			if len(got) != tc.want {
				t.Errorf("ReadBlocks(%d, %d): %d blocks, want %d", tc.from, tc.n, len(got), tc.want)
				continue
			}
			for i, bl := range got {
				if !bytes.Equal(bl, want[mid][tc.from+uint64(i)]) {
					t.Errorf("ReadBlocks(%d, %d)[%d] is not block %d of its writer", tc.from, tc.n, i, tc.from+uint64(i))
				}
			}
		}
		for _, n := range []uint64{4, 8, 12} {
			h, ok, err := HeadAt(tx, b, mid, n)
			if err != nil || !ok || h.Writer != mid || h.Length != n {
				t.Errorf("HeadAt(%d): %v %v %v", n, h.Length, ok, err)
			}
		}
		if _, ok, _ := HeadAt(tx, b, mid, 5); ok {
			t.Error("HeadAt(5): a head no batch ended at")
		}
		for _, tc := range []struct {
			n    uint64
			want uint64 // 0: none
		}{{0, 4}, {3, 4}, {4, 8}, {7, 8}, {11, 12}, {12, 0}, {1 << 62, 0}, {^uint64(0), 0}} {
			h, ok, err := HeadAfter(tx, b, mid, tc.n)
			if err != nil {
				return err
			}
			if got := map[bool]uint64{true: h.Length}[ok]; got != tc.want || (ok && h.Writer != mid) {
				t.Errorf("HeadAfter(%d): length %d (found %v, writer %s), want %d", tc.n, h.Length, ok, h.Writer.Short(), tc.want)
			}
		}
		for _, w := range writers {
			h, ok, err := LastHead(tx, b, w)
			if err != nil || !ok || h.Writer != w || h.Length != 12 {
				t.Errorf("LastHead of %s: %d %v %v", w.Short(), h.Length, ok, err)
			}
		}
		stranger, _ := identity.GenerateSigningKey()
		if _, ok, _ := LastHead(tx, b, stranger.Public()); ok {
			t.Error("LastHead of a writer with no log")
		}
		if got, _ := ReadBlocks(tx, b, stranger.Public(), 0, 3); len(got) != 0 {
			t.Errorf("ReadBlocks of a writer with no log: %d blocks", len(got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A block missing inside a page is a gap: the log's run becomes a
	// run of blocks 0 to 5 and one of 7 to 11.
	if err := db.Update(func(tx *storage.Tx) error {
		if err := tx.Delete(b.Blocks, Key(mid, 0)); err != nil {
			return err
		}
		if err := tx.Put(b.Blocks, Key(mid, 0), encodeRun(want[mid][:6])); err != nil {
			return err
		}
		return tx.Put(b.Blocks, Key(mid, 7), encodeRun(want[mid][7:]))
	}); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *storage.Tx) error {
		got, err := ReadBlocks(tx, b, mid, 4, 5)
		if !errors.Is(err, ErrGap) || len(got) != 2 {
			t.Errorf("a gap at 6 reading from 4: %d blocks, %v", len(got), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
