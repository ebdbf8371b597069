package logdb

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/storage"
)

var testBuckets = Named(func(kind string) []byte { return []byte(kind) })

func openDB(t testing.TB) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "db"), storage.Config{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writtenLog is a writer's log kept in memory beside what was saved: the
// oracle the stored one is compared with.
type writtenLog struct {
	sk     identity.SigningKey
	mem    *log.Log
	blocks [][]byte
	heads  []log.Head
}

// writeLog appends batches of random sizes (1 to 150 blocks) up to n
// blocks, each saved with save.
func writeLog(t testing.TB, rng *rand.Rand, disc log.Discovery, n int, save func(h log.Head, start uint64, blocks [][]byte) error) *writtenLog {
	t.Helper()
	sk, _ := identity.GenerateSigningKey()
	w := &writtenLog{sk: sk, mem: log.New(disc, sk.Public())}
	key := log.RandomKey()
	for len(w.blocks) < n {
		size := min(1+rng.IntN(150), n-len(w.blocks))
		var entries [][]byte
		for range size {
			entries = append(entries, fmt.Appendf(nil, "entry %d", len(w.blocks)+len(entries)))
		}
		start := w.mem.Len()
		blocks, h, err := w.mem.Append(sk, key, 0, entries)
		if err != nil {
			t.Fatal(err)
		}
		if err := save(h, start, blocks); err != nil {
			t.Fatal(err)
		}
		w.blocks = append(w.blocks, blocks...)
		w.heads = append(w.heads, h)
	}
	return w
}

// checkOpened compares a log reopened from db with the one written.
func checkOpened(t *testing.T, db *storage.DB, disc log.Discovery, w *writtenLog) *log.Log {
	t.Helper()
	l, err := Open(db, testBuckets, disc, w.sk.Public())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := w.mem.Head()
	if got, ok := l.Head(); !ok || got != want || l.Len() != uint64(len(w.blocks)) {
		t.Fatalf("reopened at %d blocks (head %v), want %d", l.Len(), ok, len(w.blocks))
	}
	n := l.Len()
	for _, i := range []uint64{0, 1, 63, 64, 65, n / 2, n - 1} {
		if i >= n {
			continue
		}
		a, err1 := l.Inclusion(i, n)
		b, err2 := w.mem.Inclusion(i, n)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("inclusion of %d in %d: %v %v", i, n, err1, err2)
		}
	}
	for _, h := range w.heads {
		if f, err := l.Check(h); f != nil || err != nil {
			t.Fatalf("a head it stored, of %d blocks: %v %v", h.Length, f, err)
		}
		a, err1 := l.Consistency(h.Length, n)
		b, err2 := w.mem.Consistency(h.Length, n)
		if err1 != nil || err2 != nil || !slices.Equal(a, b) {
			t.Fatalf("consistency of %d in %d: %v %v", h.Length, n, err1, err2)
		}
	}
	return l
}

// TestOpenFromRecord saves three writers' logs side by side and reopens
// each from its record: the same length, head and proofs as the log that
// wrote it; heads of lengths it never stored are checked through the
// stored tree, and a twin history is proven a fork.
func TestOpenFromRecord(t *testing.T) {
	db := openDB(t)
	rng := rand.New(rand.NewPCG(1, 2))
	disc := log.Discovery{9}
	save := func(h log.Head, start uint64, blocks [][]byte) error {
		return db.Update(func(tx *storage.Tx) error { return Save(tx, testBuckets, h, start, blocks) })
	}
	var logs []*writtenLog
	for _, n := range []int{1, 700, 2049} {
		logs = append(logs, writeLog(t, rng, disc, n, save))
	}
	for _, w := range logs {
		l := checkOpened(t, db, disc, w)
		if l.Len() < 100 {
			continue
		}
		// A head of a length no batch ended at: consistent, found so
		// by the stored tree alone.
		twin := log.New(disc, w.sk.Public())
		key := log.RandomKey()
		if err := twin.Extend(w.heads[0], w.blocks[:w.heads[0].Length]); err != nil {
			t.Fatal(err)
		}
		mid := l.Len() / 2
		root, err := log.RootOf(nodesOf(w.blocks), mid)
		if err != nil {
			t.Fatal(err)
		}
		unseen := log.SignHead(w.sk, disc, mid, root)
		if f, err := l.Check(unseen); f != nil || err != nil {
			t.Fatalf("an honest head of %d blocks it never stored: %v %v", mid, f, err)
		}
		twin.Append(w.sk, key, 0, [][]byte{[]byte("the other history")})
		th, _ := twin.Head()
		f, err := l.Check(th)
		if err != nil || f == nil || f.Verify() != nil {
			t.Fatalf("a twin history not proven a fork: %v %v", f, err)
		}
	}
	if got := writersOf(t, db); len(got) != 3 {
		t.Fatalf("%d writers listed, want 3", len(got))
	}
}

type nodesOf [][]byte

func (b nodesOf) Node(level int, index uint64) (log.Hash, error) {
	var leaves []log.Hash
	for _, bl := range b[index<<level : (index+1)<<level] {
		leaves = append(leaves, log.LeafHash(bl))
	}
	return log.Root(leaves), nil
}

func writersOf(t *testing.T, db *storage.DB) []identity.PublicKey {
	var ws []identity.PublicKey
	if err := db.View(func(tx *storage.Tx) error {
		var err error
		ws, err = Writers(tx, testBuckets)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ws
}

// TestSaveRefuses checks that the store stores only what a head covers,
// from the length it holds: anything else is refused and nothing of it
// is written.
func TestSaveRefuses(t *testing.T) {
	db := openDB(t)
	disc := log.Discovery{3}
	sk, _ := identity.GenerateSigningKey()
	l := log.New(disc, sk.Public())
	key := log.RandomKey()
	b1, h1, _ := l.Append(sk, key, 0, [][]byte{[]byte("a"), []byte("b")})
	b2, h2, _ := l.Append(sk, key, 0, [][]byte{[]byte("c")})
	save := func(h log.Head, start uint64, blocks [][]byte) error {
		return db.Update(func(tx *storage.Tx) error { return Save(tx, testBuckets, h, start, blocks) })
	}
	if err := save(h2, 2, b2); err == nil {
		t.Fatal("blocks saved past a gap")
	}
	if err := save(h1, 0, [][]byte{b1[1], b1[0]}); !errors.Is(err, log.ErrRootDiffs) {
		t.Fatalf("blocks in another order: %v", err)
	}
	if err := save(h1, 0, b1); err != nil {
		t.Fatal(err)
	}
	if err := save(h1, 0, b1); err == nil {
		t.Fatal("blocks saved twice")
	}
	if err := save(h2, 2, b2); err != nil {
		t.Fatal(err)
	}
	got, err := Open(db, testBuckets, disc, sk.Public())
	if err != nil || got.Len() != 3 {
		t.Fatalf("reopened: %v", err)
	}
}

// TestIndexStoredWithoutRecords opens logs stored by a version that kept
// no records nor tree: each is verified once, head by head, and indexed;
// a damaged block cuts the log at the last head before it, and what
// follows is deleted, to be fetched again.
func TestIndexStoredWithoutRecords(t *testing.T) {
	db := openDB(t)
	rng := rand.New(rand.NewPCG(3, 4))
	disc := log.Discovery{5}
	legacy := func(h log.Head, start uint64, blocks [][]byte) error {
		return db.Update(func(tx *storage.Tx) error {
			for i, bl := range blocks {
				if err := tx.Append(testBuckets.Blocks, Key(h.Writer, start+uint64(i)), bl); err != nil {
					return err
				}
			}
			hb, _ := h.MarshalBinary()
			return tx.Append(testBuckets.Heads, Key(h.Writer, h.Length), hb)
		})
	}
	good := writeLog(t, rng, disc, 1500, legacy)
	bad := writeLog(t, rng, disc, 900, legacy)
	checkOpened(t, db, disc, good)
	// A block of bad's fourth batch rots.
	at := bad.heads[2].Length + 1
	db.Update(func(tx *storage.Tx) error {
		v, _ := tx.Get(testBuckets.Blocks, Key(bad.sk.Public(), at))
		rotten := append([]byte{}, v...)
		rotten[len(rotten)-1] ^= 1
		return tx.Put(testBuckets.Blocks, Key(bad.sk.Public(), at), rotten)
	})
	l, err := Open(db, testBuckets, disc, bad.sk.Public())
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != bad.heads[2].Length {
		t.Fatalf("a log damaged at block %d reopened at %d blocks, want %d", at, l.Len(), bad.heads[2].Length)
	}
	db.View(func(tx *storage.Tx) error {
		if h, ok, _ := LastHead(tx, testBuckets, bad.sk.Public()); !ok || h.Length != l.Len() {
			t.Errorf("a head past the verified length kept: %d", h.Length)
		}
		if got, _ := ReadBlocks(tx, testBuckets, bad.sk.Public(), l.Len(), 10); len(got) != 0 {
			t.Errorf("%d blocks past the verified length kept", len(got))
		}
		return nil
	})
	// It goes on from there: the rest, sent again, is saved.
	from := bad.heads[2].Length
	for _, h := range bad.heads[3:] {
		if err := db.Update(func(tx *storage.Tx) error {
			return Save(tx, testBuckets, h, from, bad.blocks[from:h.Length])
		}); err != nil {
			t.Fatal(err)
		}
		from = h.Length
	}
	checkOpened(t, db, disc, bad)
}

// TestServe checks the batches served: whole batches, as many as fit the
// bytes asked for (at least one), never past the length given.
func TestServe(t *testing.T) {
	db := openDB(t)
	rng := rand.New(rand.NewPCG(5, 6))
	disc := log.Discovery{6}
	save := func(h log.Head, start uint64, blocks [][]byte) error {
		return db.Update(func(tx *storage.Tx) error { return Save(tx, testBuckets, h, start, blocks) })
	}
	w := writeLog(t, rng, disc, 800, save)
	n := uint64(len(w.blocks))
	for range 200 {
		from := rng.Uint64N(n + 2)
		maxBytes := rng.IntN(20_000)
		length := n - rng.Uint64N(n/4)
		var h log.Head
		var blocks [][]byte
		var ok bool
		if err := db.View(func(tx *storage.Tx) error {
			var err error
			h, blocks, ok, err = Serve(tx, testBuckets, w.sk.Public(), from, length, maxBytes)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// The oracle: the heads in memory.
		var want log.Head
		var found bool
		size := 0
		for _, c := range w.heads {
			if c.Length <= from || c.Length > length {
				continue
			}
			s := 0
			for _, b := range w.blocks[from:c.Length] {
				s += len(b)
			}
			if found && s > maxBytes {
				break
			}
			want, found, size = c, true, s
		}
		if ok != found || h != want {
			t.Fatalf("Serve(from %d, length %d, %d bytes): head of %d (%v), want %d (%v)", from, length, maxBytes, h.Length, ok, want.Length, found)
		}
		if !ok {
			continue
		}
		got := 0
		for i, b := range blocks {
			got += len(b)
			if string(b) != string(w.blocks[from+uint64(i)]) {
				t.Fatalf("block %d served is not the stored one", from+uint64(i))
			}
		}
		if uint64(len(blocks)) != h.Length-from || got != size {
			t.Fatalf("%d blocks served for a head of %d from %d", len(blocks), h.Length, from)
		}
	}
}

// TestSaveHashed: saving blocks with what the log hashed of them stores
// exactly what hashing them again stores, and what was hashed from
// another point of the tree is refused.
func TestSaveHashed(t *testing.T) {
	hashed, again := openDB(t), openDB(t)
	disc := log.Discovery{4}
	sk, _ := identity.GenerateSigningKey()
	l := log.New(disc, sk.Public())
	key := log.RandomKey()
	var first *log.Hashed
	for batch := range 20 {
		entries := make([][]byte, 1+batch*7)
		for i := range entries {
			entries[i] = fmt.Appendf(nil, "entry %d.%d", batch, i)
		}
		start := l.Len()
		blocks, h, x, err := l.AppendHashed(sk, key, 0, entries)
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = x
		}
		if err := hashed.Update(func(tx *storage.Tx) error { return SaveHashed(tx, testBuckets, h, start, blocks, x) }); err != nil {
			t.Fatal(err)
		}
		if err := again.Update(func(tx *storage.Tx) error { return Save(tx, testBuckets, h, start, blocks) }); err != nil {
			t.Fatal(err)
		}
		if batch == 5 {
			// What was hashed from the start of the log, saved here.
			err := hashed.Update(func(tx *storage.Tx) error {
				return SaveHashed(tx, testBuckets, h, l.Len(), blocks[:len(first.Leaves)], first)
			})
			if err == nil {
				t.Fatal("blocks saved with what was hashed from another point of the tree")
			}
		}
	}
	for _, kind := range Kinds {
		a, b := dump(t, hashed, kind), dump(t, again, kind)
		if !maps.Equal(a, b) {
			t.Fatalf("bucket %s: %d rows saved hashed, %d hashed again, or different", kind, len(a), len(b))
		}
	}
}

func dump(t *testing.T, db *storage.DB, bucket string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if err := db.View(func(tx *storage.Tx) error {
		return tx.ForEach([]byte(bucket), func(k, v []byte) error { out[string(k)] = string(v); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
