package log

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

func leavesN(n int) []Hash {
	l := make([]Hash, n)
	for i := range l {
		l[i] = LeafHash([]byte(fmt.Sprintf("leaf %d", i)))
	}
	return l
}

// TestRFC9162Vectors checks the tree against the roots the Certificate
// Transparency reference tests publish for the leaves
// "", 0x00, 0x10, 0x2021, 0x3031, 0x40414243, 0x5051525354555657,
// 0x606162636465666768696a6b6c6d6e6f.
func TestRFC9162Vectors(t *testing.T) {
	data := [][]byte{{}, {0x00}, {0x10}, {0x20, 0x21}, {0x30, 0x31}, {0x40, 0x41, 0x42, 0x43},
		{0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
		{0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f}}
	want := []string{
		"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
		"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
		"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
		"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
		"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
		"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	}
	var leaves []Hash
	for i, d := range data {
		leaves = append(leaves, LeafHash(d))
		if got := Root(leaves).String(); got != want[i] {
			t.Errorf("root of %d leaves: %s, want %s", i+1, got, want[i])
		}
	}
	if Root(nil).String() != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Error("empty root")
	}
}

// TestProofsExhaustive checks every inclusion and consistency proof of
// every tree up to 40 leaves, and that altered proofs fail.
func TestProofsExhaustive(t *testing.T) {
	all := leavesN(40)
	for n := 1; n <= len(all); n++ {
		l := all[:n]
		root := Root(l)
		for m := range n {
			p, err := InclusionProof(l, uint64(m))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(uint64(m), uint64(n), l[m], p, root); err != nil {
				t.Fatalf("inclusion %d of %d: %v", m, n, err)
			}
			if VerifyInclusion(uint64(m), uint64(n), l[(m+1)%n], p, root) == nil && n > 1 {
				t.Fatalf("inclusion %d of %d accepted another leaf", m, n)
			}
			if len(p) > 0 {
				bad := append([]Hash(nil), p...)
				bad[0][0] ^= 1
				if VerifyInclusion(uint64(m), uint64(n), l[m], bad, root) == nil {
					t.Fatalf("inclusion %d of %d accepted a damaged path", m, n)
				}
			}
		}
		for m := 0; m <= n; m++ {
			p, err := ConsistencyProof(l, uint64(m))
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(uint64(m), uint64(n), Root(l[:m]), root, p); err != nil {
				t.Fatalf("consistency %d→%d: %v", m, n, err)
			}
			if m > 0 && m < n {
				other := append(append([]Hash(nil), l[:m-1]...), LeafHash([]byte("forged")))
				if VerifyConsistency(uint64(m), uint64(n), Root(other), root, p) == nil {
					t.Fatalf("consistency %d→%d accepted another history", m, n)
				}
				bad := append([]Hash(nil), p...)
				bad[len(bad)-1][3] ^= 1
				if VerifyConsistency(uint64(m), uint64(n), Root(l[:m]), root, bad) == nil {
					t.Fatalf("consistency %d→%d accepted a damaged path", m, n)
				}
			}
		}
	}
	if VerifyInclusion(5, 5, all[0], nil, Root(all[:5])) == nil {
		t.Fatal("index out of range accepted")
	}
	if VerifyConsistency(3, 2, Hash{}, Hash{}, nil) == nil {
		t.Fatal("shrinking tree accepted")
	}
}

func BenchmarkRoot100k(b *testing.B) {
	l := leavesN(100_000)
	b.ReportAllocs()
	for b.Loop() {
		Root(l)
	}
}

// TestSubtrees: pushing the subtrees of leaves [start, start+n) onto the
// frontier of the first start leaves makes the same frontier, and the
// same nodes from KeptLevel up, as pushing every leaf.
func TestSubtrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	leaf := func(i uint64) Hash { return LeafHash(fmt.Appendf(nil, "leaf %d", i)) }
	for range 300 {
		start := uint64(rng.IntN(3000))
		if rng.IntN(4) == 0 {
			start = uint64(rng.IntN(8)) << 8
		}
		n := 1 + rng.IntN(2000)
		var base Frontier
		for i := range start {
			base.Push(leaf(i), nil)
		}
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i] = leaf(start + uint64(i))
		}
		want, got := base.Clone(), base.Clone()
		wantNodes, gotNodes := map[Node]bool{}, map[Node]bool{}
		keep := func(into map[Node]bool) func(int, uint64, Hash) {
			return func(level int, index uint64, h Hash) {
				if level >= KeptLevel {
					into[Node{level, index, h}] = true
				}
			}
		}
		for _, h := range leaves {
			want.Push(h, keep(wantNodes))
		}
		s := HashSubtrees(start, leaves)
		for _, nd := range s.nodes {
			gotNodes[nd] = true
		}
		for _, r := range s.roots {
			got.pushSubtree(r.Hash, r.Level, keep(gotNodes))
		}
		if !want.Equal(&got) {
			t.Fatalf("start %d, %d leaves: another frontier", start, n)
		}
		if !maps.Equal(wantNodes, gotNodes) {
			t.Fatalf("start %d, %d leaves: %d nodes kept pushing leaves, %d pushing subtrees", start, n, len(wantNodes), len(gotNodes))
		}
	}
}
