package logdb

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/storage"
)

// TestRuns stores three writers' logs side by side in batches of every
// size, blocks of every length (some longer than a run), on top of rows
// stored one block each by an older version, then reads them back every
// way: each read matches what was stored, a log cut short keeps exactly
// its prefix, and deleting a log frees exactly its blocks' bytes.
func TestRuns(t *testing.T) {
	db := openDB(t)
	rng := rand.New(rand.NewPCG(7, 8))
	b := testBuckets
	var writers []identity.PublicKey
	logs := map[identity.PublicKey][][]byte{}
	block := func() []byte {
		n := 1 + rng.IntN(300)
		if rng.IntN(40) == 0 {
			n = runBytes + rng.IntN(3*runBytes)
		}
		bl := make([]byte, n)
		for i := range bl {
			bl[i] = byte(rng.Uint32())
		}
		return bl
	}
	for range 3 {
		sk, _ := identity.GenerateSigningKey()
		w := sk.Public()
		writers = append(writers, w)
		// The older version's rows: one block each.
		for i := range rng.IntN(20) {
			bl := block()
			logs[w] = append(logs[w], bl)
			if err := db.Update(func(tx *storage.Tx) error { return tx.Put(b.Blocks, Key(w, uint64(i)), bl) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 200 {
		w := writers[rng.IntN(len(writers))]
		n := 1 + rng.IntN(40)
		if rng.IntN(10) == 0 {
			n = 1 + rng.IntN(600)
		}
		var batch [][]byte
		for range n {
			batch = append(batch, block())
		}
		start := uint64(len(logs[w]))
		if err := db.Update(func(tx *storage.Tx) error { return appendBlocks(tx, b, w, start, batch) }); err != nil {
			t.Fatal(err)
		}
		logs[w] = append(logs[w], batch...)
	}
	check := func(what string) {
		t.Helper()
		err := db.View(func(tx *storage.Tx) error {
			for _, w := range writers {
				want := logs[w]
				all, err := ReadBlocks(tx, b, w, 0, len(want)+5)
				if err != nil || len(all) != len(want) {
					t.Fatalf("%s: the whole log: %d of %d blocks, %v", what, len(all), len(want), err)
				}
				for range 100 {
					from := uint64(rng.IntN(len(want) + 3))
					n := rng.IntN(80)
					got, err := ReadBlocks(tx, b, w, from, n)
					if err != nil {
						t.Fatalf("%s: ReadBlocks(%d, %d): %v", what, from, n, err)
					}
					end := min(int(from)+n, len(want))
					if int(from) > len(want) {
						end = int(from)
					}
					if len(got) != max(0, end-int(from)) {
						t.Fatalf("%s: ReadBlocks(%d, %d) of %d: %d blocks", what, from, n, len(want), len(got))
					}
					for i, bl := range got {
						if !bytes.Equal(bl, want[int(from)+i]) {
							t.Fatalf("%s: block %d read from %d differs", what, int(from)+i, from)
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("stored")
	// Cut each log at a random point, inside a run or at its edge.
	for _, w := range writers {
		n := uint64(rng.IntN(len(logs[w]) + 1))
		if err := db.Update(func(tx *storage.Tx) error { return truncateBlocks(tx, b, w, n) }); err != nil {
			t.Fatal(err)
		}
		logs[w] = logs[w][:n]
	}
	check("cut")
	// Appending goes on from the cut.
	for _, w := range writers {
		batch := [][]byte{block(), block()}
		start := uint64(len(logs[w]))
		if err := db.Update(func(tx *storage.Tx) error { return appendBlocks(tx, b, w, start, batch) }); err != nil {
			t.Fatal(err)
		}
		logs[w] = append(logs[w], batch...)
	}
	check("appended after the cut")
	for _, w := range writers {
		var want int64
		for _, bl := range logs[w] {
			want += int64(len(bl))
		}
		var freed int64
		if err := db.Update(func(tx *storage.Tx) error {
			var err error
			freed, err = DeleteLog(tx, b, w)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if freed != want {
			t.Fatalf("deleting a log of %d bytes freed %d", want, freed)
		}
		db.View(func(tx *storage.Tx) error {
			if got, _ := ReadBlocks(tx, b, w, 0, 10); len(got) != 0 {
				t.Fatalf("%d blocks left of a deleted log", len(got))
			}
			return nil
		})
	}
}

// TestRunsTakeFewRows: a catch-up's blocks take a row per dozen or more, and
// a chat's single blocks grow the last run rather than add rows.
func TestRunsTakeFewRows(t *testing.T) {
	db := openDB(t)
	disc := log.Discovery{9}
	sk, _ := identity.GenerateSigningKey()
	l := log.New(disc, sk.Public())
	key := log.RandomKey()
	save := func(entries [][]byte) {
		start := l.Len()
		blocks, h, err := l.Append(sk, key, 0, entries)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(tx *storage.Tx) error { return Save(tx, testBuckets, h, start, blocks) }); err != nil {
			t.Fatal(err)
		}
	}
	var batch [][]byte
	for i := range 1000 {
		batch = append(batch, fmt.Appendf(nil, "message %d: a line of chat of typical length", i))
	}
	save(batch)
	for i := range 100 {
		save([][]byte{fmt.Appendf(nil, "a live message %d", i)})
	}
	rows := 0
	db.View(func(tx *storage.Tx) error {
		return tx.ForEach(testBuckets.Blocks, func(_, _ []byte) error { rows++; return nil })
	})
	if rows > 1100/15 {
		t.Fatalf("1100 blocks of about 100 bytes take %d rows", rows)
	}
	t.Logf("1100 blocks in %d rows", rows)
}

// TestRowDamaged: a row that does not parse is an error to whoever reads
// it, never a panic nor a short answer taken for the log's end.
func TestRowDamaged(t *testing.T) {
	db := openDB(t)
	sk, _ := identity.GenerateSigningKey()
	w := sk.Public()
	b := testBuckets
	good := [][]byte{[]byte("one"), []byte("two")}
	db.Update(func(tx *storage.Tx) error { return appendBlocks(tx, b, w, 0, good) })
	bad := encodeRun([][]byte{[]byte("three"), []byte("four")})
	bad = bad[:len(bad)-2]
	db.Update(func(tx *storage.Tx) error { return tx.Put(b.Blocks, Key(w, 2), bad) })
	db.View(func(tx *storage.Tx) error {
		got, err := ReadBlocks(tx, b, w, 0, 10)
		if !errors.Is(err, ErrRow) || len(got) != 2 {
			t.Fatalf("read across a damaged row: %d blocks, %v", len(got), err)
		}
		return nil
	})
}

// FuzzParseRow: whatever a damaged database holds, parsing a row of
// blocks returns blocks that encode back to it, or an error.
func FuzzParseRow(f *testing.F) {
	f.Add(encodeRun([][]byte{[]byte("a"), []byte("bc")}))
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{runTag, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		blocks, err := parseRow(v)
		if err != nil {
			return
		}
		if v[0] != runTag {
			if len(blocks) != 1 || !bytes.Equal(blocks[0], v) {
				t.Fatal("a single block row read as something else")
			}
			return
		}
		if again := encodeRun(blocks); !bytes.Equal(again, v) {
			t.Fatalf("a run parsed into %d blocks encodes to another row", len(blocks))
		}
	})
}

// TestRowCanonical: a run whose lengths are written longer than they
// need is refused, so a row reads one way only.
func TestRowCanonical(t *testing.T) {
	for _, v := range [][]byte{
		{runTag, 0x81, 0x00, 1, 'a'},
		{runTag, 1, 0x81, 0x00, 'a'},
		{runTag, 0},
		{runTag, 1, 0},
		{runTag, 2, 1, 'a'},
		{runTag, 1, 1, 'a', 'b'},
	} {
		if _, err := parseRow(v); !errors.Is(err, ErrRow) {
			t.Errorf("row %x: %v", v, err)
		}
	}
}
