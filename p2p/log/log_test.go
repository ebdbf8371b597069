package log

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/hearthp2p/hearth/p2p/identity"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func entries(n int, tag string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s message %d", tag, i))
	}
	return out
}

func TestFrontierMatchesRoot(t *testing.T) {
	all := leavesN(130)
	var f frontier
	for i, h := range all {
		f.push(h)
		if f.root() != Root(all[:i+1]) {
			t.Fatalf("frontier root differs at %d leaves", i+1)
		}
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
	if wh != rh || replica.Len() != uint64(len(stored)) || len(replica.Heads()) != 5 {
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
	first := replica.Heads()[0]
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
