package log

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/p2p/identity"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func entries(n int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s message %d", tag, i))
	}
	return out
}

func TestFrontierMatchesRoot(t *testing.T) {
	all := leavesN(130)
	var f Frontier
	got := map[[2]uint64]Hash{}
	for i, h := range all {
		f.Push(h, func(level int, index uint64, h Hash) {
			k := [2]uint64{uint64(level), index}
			if _, ok := got[k]; ok {
				t.Fatalf("node %v completed twice", k)
			}
			got[k] = h
		})
		if f.Root() != Root(all[:i+1]) {
			t.Fatalf("frontier root differs at %d leaves", i+1)
		}
		b, _ := f.MarshalBinary()
		g, err := ParseFrontier(b)
		if err != nil || g.Root() != f.Root() || g.Len() != f.Len() {
			t.Fatalf("frontier of %d leaves does not round trip: %v", i+1, err)
		}
		if _, err := ParseFrontier(b[:len(b)-1]); !errors.Is(err, ErrFrontier) {
			t.Fatalf("a cut frontier parsed: %v", err)
		}
	}
	// Every perfect subtree was reported once, with its hash.
	want := 0
	for level := 0; 1<<level <= len(all); level++ {
		for index := uint64(0); (index+1)<<level <= uint64(len(all)); index++ {
			want++
			h, _ := leafNodes(all).Node(level, index)
			if got[[2]uint64{uint64(level), index}] != h {
				t.Fatalf("node (%d, %d) reported wrong or not at all", level, index)
			}
		}
	}
	if len(got) != want {
		t.Fatalf("%d nodes reported, want %d", len(got), want)
	}
}

// storedPast is a Past as a store keeps it: the nodes the frontier
// reported and the heads, nothing else.
type storedPast struct {
	nodes map[[2]uint64]Hash
	heads map[uint64]Head
}

func (p *storedPast) Node(level int, index uint64) (Hash, error) {
	h, ok := p.nodes[[2]uint64{uint64(level), index}]
	if !ok {
		return Hash{}, fmt.Errorf("node (%d, %d) not stored", level, index)
	}
	return h, nil
}

func (p *storedPast) HeadAt(n uint64) (Head, bool, error) { h, ok := p.heads[n]; return h, ok, nil }

// TestRestoredLog checks that a log restored from what a store keeps
// (frontier, latest head, nodes) extends, checks heads and proves
// inclusion and consistency exactly as the log that wrote it, holding
// nothing that grows with its length.
func TestRestoredLog(t *testing.T) {
	w, _ := identity.GenerateSigningKey()
	disc := Discovery{4}
	key := RandomKey()
	writer := New(disc, w.Public())
	twin := New(disc, w.Public())
	past := &storedPast{nodes: map[[2]uint64]Hash{}, heads: map[uint64]Head{}}
	var front Frontier
	var stored [][]byte
	for batch := range 9 {
		blocks, h, err := writer.Append(w, key, 1, entries(batch*7+1, fmt.Sprint(batch)))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			front.Push(LeafHash(b), func(level int, index uint64, h Hash) { past.nodes[[2]uint64{uint64(level), index}] = h })
		}
		past.heads[h.Length] = h
		stored = append(stored, blocks...)
		if batch < 4 {
			if err := twin.Extend(h, blocks); err != nil {
				t.Fatal(err)
			}
		}
	}
	head, _ := writer.Head()
	if _, err := Restore(disc, w.Public(), head, Frontier{}, past); err == nil {
		t.Fatal("a head restored over a tree it does not match")
	}
	if _, err := Restore(Discovery{5}, w.Public(), head, front, past); !errors.Is(err, ErrWrongLog) {
		t.Fatalf("a head of another room restored: %v", err)
	}
	l, err := Restore(disc, w.Public(), head, front, past)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != uint64(len(stored)) {
		t.Fatalf("restored %d blocks, want %d", l.Len(), len(stored))
	}
	for _, n := range []uint64{1, 5, 17, 64, uint64(len(stored))} {
		for _, i := range []uint64{0, n / 2, n - 1} {
			a, err1 := l.Inclusion(i, n)
			b, err2 := writer.Inclusion(i, n)
			if err1 != nil || err2 != nil || fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("inclusion of %d in %d: %v %v", i, n, err1, err2)
			}
		}
		a, err1 := l.Consistency(n/3, n)
		b, err2 := writer.Consistency(n/3, n)
		if err1 != nil || err2 != nil || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("consistency of %d in %d: %v %v", n/3, n, err1, err2)
		}
	}
	// An older head it holds, one it never saw, and a fork.
	for n, h := range past.heads {
		if f, err := l.Check(h); f != nil || err != nil {
			t.Fatalf("held head of %d: %v %v", n, f, err)
		}
	}
	twin.Append(w, key, 1, entries(3, "other"))
	th, _ := twin.Head()
	f, err := l.Check(th)
	if err != nil || f == nil || f.Verify() != nil {
		t.Fatalf("fork against a restored log not proven: %v %v", f, err)
	}
	// It extends like any log, and its clone leaves it alone.
	c := l.Clone()
	blocks, h, _ := writer.Append(w, key, 1, entries(3, "more"))
	if err := c.Extend(h, blocks); err != nil {
		t.Fatal(err)
	}
	if l.Len() != uint64(len(stored)) || c.Len() != h.Length {
		t.Fatal("a clone's extension reached the original")
	}
}

func TestAppendExtendOpen(t *testing.T) {
	w, _ := identity.GenerateSigningKey()
	disc := Discovery{1}
	key := RandomKey()
	writer := New(disc, w.Public())
	replica := New(disc, w.Public())

	var stored [][]byte
	for batch := range 5 {
		blocks, head, err := writer.Append(w, key, 7, entries(batch*3+1, fmt.Sprint(batch)))
		if err != nil {
			t.Fatal(err)
		}
		if err := replica.Extend(head, blocks); err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		stored = append(stored, blocks...)
		if err := replica.Extend(head, blocks); !errors.Is(err, ErrStale) {
			t.Fatalf("replayed batch: %v", err)
		}
	}
	wh, _ := writer.Head()
	rh, _ := replica.Head()
	if wh != rh || replica.Len() != uint64(len(stored)) || len(replica.mem.heads) != 5 {
		t.Fatal("replica differs from writer")
	}
	for i, b := range stored {
		pt, err := Open(key, disc, replica.ID(), uint64(i), b)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if !bytes.Contains(pt, []byte("message")) {
			t.Fatalf("block %d: %q", i, pt)
		}
		if ep, _ := BlockEpoch(b); ep != 7 {
			t.Fatalf("epoch %d", ep)
		}
	}
	// A block opened at another position, in another log, room, epoch or
	// with another key fails.
	other := LogID(disc, identity.PublicKey{9})
	if _, err := Open(key, disc, replica.ID(), 1, stored[0]); !errors.Is(err, ErrOpen) {
		t.Fatalf("moved block: %v", err)
	}
	if _, err := Open(key, disc, other, 0, stored[0]); !errors.Is(err, ErrOpen) {
		t.Fatalf("block in another log: %v", err)
	}
	if _, err := Open(key, Discovery{2}, replica.ID(), 0, stored[0]); !errors.Is(err, ErrOpen) {
		t.Fatalf("block in another room: %v", err)
	}
	if _, err := Open(RandomKey(), disc, replica.ID(), 0, stored[0]); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong key: %v", err)
	}
	relabeled := append([]byte(nil), stored[0]...)
	relabeled[1] = 6 // claim epoch 6
	if _, err := Open(key, disc, replica.ID(), 0, relabeled); !errors.Is(err, ErrOpen) {
		t.Fatalf("epoch relabeled: %v", err)
	}

	// Inclusion proofs check any block against a head without the rest.
	h, _ := replica.Head()
	var paths [][]Hash
	for i := uint64(3); i < 6; i++ {
		p, err := replica.Inclusion(i, h.Length)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	if err := VerifyRange(h, 3, stored[3:6], paths); err != nil {
		t.Fatal(err)
	}
	if err := VerifyRange(h, 4, stored[3:6], paths); err == nil {
		t.Fatal("range at the wrong offset verified")
	}
	first := replica.mem.heads[0]
	cp, _ := replica.Consistency(first.Length, h.Length)
	if err := VerifyConsistency(first.Length, h.Length, first.Root, h.Root, cp); err != nil {
		t.Fatal(err)
	}
}

func TestExtendRejects(t *testing.T) {
	w, _ := identity.GenerateSigningKey()
	mallory, _ := identity.GenerateSigningKey()
	disc := Discovery{1}
	key := RandomKey()
	writer := New(disc, w.Public())
	blocks, head, _ := writer.Append(w, key, 1, entries(4, "a"))

	tampered := make([][]byte, len(blocks))
	for i := range blocks {
		tampered[i] = append([]byte(nil), blocks[i]...)
	}
	tampered[2][40] ^= 1
	forged := head
	forged.Sig = mallory.Sign([]byte("x"))
	claimed := SignHead(mallory, disc, head.Length, head.Root) // another author claims the blocks
	badRoot := head
	badRoot.Root[0] ^= 1

	tests := []struct {
		name   string
		head   Head
		blocks [][]byte
		want   error
	}{
		{"tampered block", head, tampered, ErrRootDiffs},
		{"forged signature", forged, blocks, ErrHeadSignature},
		{"other author", claimed, blocks, ErrWrongLog},
		{"root altered", badRoot, blocks, ErrHeadSignature},
		{"missing block", head, blocks[:3], nil},
		{"garbage block", head, [][]byte{{1}, blocks[1], blocks[2], blocks[3]}, ErrBlockMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(disc, w.Public())
			err := r.Extend(tc.head, tc.blocks)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if r.Len() != 0 {
				t.Fatal("a refused extend changed the log")
			}
		})
	}
}

func TestForkDetected(t *testing.T) {
	w, _ := identity.GenerateSigningKey()
	disc := Discovery{3}
	key := RandomKey()
	honest := New(disc, w.Public())
	evil := New(disc, w.Public())
	common := entries(3, "common")
	b1, _, _ := honest.Append(w, key, 1, common)
	// The evil twin has the same first three blocks...
	replica := New(disc, w.Public())
	h1, _ := honest.Head()
	if err := replica.Extend(h1, b1); err != nil {
		t.Fatal(err)
	}
	if err := evil.Extend(h1, b1); err != nil {
		t.Fatal(err)
	}
	// ...then both histories go on differently.
	honest.Append(w, key, 1, entries(4, "left"))
	evil.Append(w, key, 1, entries(2, "right"))
	hl, _ := honest.Head()
	hr, _ := evil.Head()

	// A peer holding the longer history catches the shorter head.
	f, err := honest.Check(hr)
	if err != nil || f == nil {
		t.Fatalf("fork not caught: %v", err)
	}
	if err := f.Verify(); err != nil {
		t.Fatal(err)
	}
	b, _ := f.MarshalBinary()
	g, err := ParseForkProof(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Verify(); err != nil {
		t.Fatalf("decoded proof: %v", err)
	}
	// Same length, other root: also a fork.
	evil.Append(w, key, 1, entries(2, "more"))
	he, _ := evil.Head()
	if he.Length != hl.Length {
		t.Fatal("test setup")
	}
	if f, err := honest.Check(he); err != nil || f == nil || f.Verify() != nil {
		t.Fatalf("equal-length fork: %v %v", f, err)
	}
	// An honest older head is no fork.
	if f, err := honest.Check(h1); err != nil || f != nil {
		t.Fatalf("older honest head: %v %v", f, err)
	}
	// A doctored proof is refused.
	g.PrefixRoot = g.A.Root
	if err := g.Verify(); !errors.Is(err, ErrNotFork) {
		t.Fatalf("doctored: %v", err)
	}
	// Two heads of different writers are no fork.
	x, _ := identity.GenerateSigningKey()
	other := New(disc, x.Public())
	other.Append(x, key, 1, common)
	oh, _ := other.Head()
	bad := ForkProof{A: oh, B: hl, PrefixRoot: Hash{1}}
	if err := bad.Verify(); !errors.Is(err, ErrNotFork) {
		t.Fatalf("two writers: %v", err)
	}
	// A head of no blocks, signed by the writer's own key (nothing
	// honest signs one): refused, so no fork proof rests on it.
	empty := SignHead(w, disc, 0, Hash{9})
	if err := empty.Verify(); !errors.Is(err, ErrEmptyHead) {
		t.Fatalf("an empty head: %v", err)
	}
	if err := (&ForkProof{A: empty, B: hl, PrefixRoot: Hash{1}}).Verify(); !errors.Is(err, ErrNotFork) {
		t.Fatalf("a fork proof against an empty head: %v", err)
	}
}

func TestHeadRoundTrip(t *testing.T) {
	w, _ := identity.GenerateSigningKey()
	h := SignHead(w, Discovery{5}, 42, Hash{7})
	b, _ := h.MarshalBinary()
	if len(b) != HeadLen {
		t.Fatalf("head of %d bytes", len(b))
	}
	g, err := ParseHead(b)
	if err != nil || g != h || g.Verify() != nil {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range [][]byte{b[:HeadLen-1], append(append([]byte{}, b...), 0), append([]byte{2}, b[1:]...)} {
		if _, err := ParseHead(bad); !errors.Is(err, ErrHeadMalformed) {
			t.Fatalf("bad head accepted: %v", err)
		}
	}
}

func BenchmarkSealOpen(b *testing.B) {
	key := RandomKey()
	msg := bytes.Repeat([]byte("x"), 512)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		blk, _ := Seal(key, Discovery{}, ID{}, 1, 1, msg)
		if _, err := Open(key, Discovery{}, ID{}, 1, blk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtend measures what a catching-up peer spends verifying a log:
// hashing every block into the tree and one signature per batch.
func BenchmarkExtend(b *testing.B) {
	w, _ := identity.GenerateSigningKey()
	key := RandomKey()
	writer := New(Discovery{}, w.Public())
	const n, batch = 10_000, 1000
	var blocks [][]byte
	var heads []Head
	for i := 0; i < n; i += batch {
		bl, h, _ := writer.Append(w, key, 1, entries(batch, "m"))
		blocks = append(blocks, bl...)
		heads = append(heads, h)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := New(Discovery{}, w.Public())
		for i, h := range heads {
			if err := r.Extend(h, blocks[i*batch:(i+1)*batch]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
}
