package log

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/bits"
)

// Hash is a SHA-256 digest: a leaf hash, a node hash or a tree root.
type Hash [32]byte

// String returns the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Short returns the first 8 hex digits.
func (h Hash) Short() string { return hex.EncodeToString(h[:4]) }

// RFC 9162 section 2.1.1 domain separation.
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
)

// MaxProofPath bounds an inclusion or consistency path: a tree of 2^63
// leaves needs at most 64 hashes (consistency, one more).
const MaxProofPath = 65

// ErrProof means an inclusion or consistency proof does not hold.
var ErrProof = errors.New("merkle proof does not verify")

// LeafHash is the RFC 9162 hash of one leaf: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{leafPrefix})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r Hash) Hash {
	var buf [1 + 64]byte
	buf[0] = nodePrefix
	copy(buf[1:], l[:])
	copy(buf[33:], r[:])
	return sha256.Sum256(buf[:])
}

// emptyRoot is the root of a tree with no leaves: the hash of the empty
// string.
var emptyRoot = Hash(sha256.Sum256(nil))

// split returns the largest power of two smaller than n (n > 1).
func split(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// Nodes gives the hashes of a tree that someone keeps: Node(level,
// index) is the root of the perfect subtree of the 2^level leaves from
// leaf index<<level. Only subtrees within the leaves held are asked for.
type Nodes interface {
	Node(level int, index uint64) (Hash, error)
}

// leafNodes are the nodes of a tree whose leaf hashes are all at hand.
type leafNodes []Hash

func (l leafNodes) Node(level int, index uint64) (Hash, error) {
	a, b := index<<level, (index+1)<<level
	if b > uint64(len(l)) || b <= a {
		return Hash{}, errors.New("merkle: node beyond the leaves")
	}
	return subtree(l[a:b]), nil
}

// Root computes the RFC 9162 tree head of the given leaf hashes.
func Root(leaves []Hash) Hash {
	if len(leaves) == 0 {
		return emptyRoot
	}
	return subtree(leaves)
}

func subtree(l []Hash) Hash {
	if len(l) == 1 {
		return l[0]
	}
	k := split(uint64(len(l)))
	return nodeHash(subtree(l[:k]), subtree(l[k:]))
}

// RootOf computes the tree head of the first n leaves of t.
func RootOf(t Nodes, n uint64) (Hash, error) {
	if n == 0 {
		return emptyRoot, nil
	}
	return rangeRoot(t, 0, n)
}

// rangeRoot is the RFC 9162 hash of leaves [a, b) (b > a), as the
// recursion of the RFC splits a tree: a is always a multiple of the
// largest power of two below b-a, so the range is made of perfect
// subtrees that t holds.
func rangeRoot(t Nodes, a, b uint64) (Hash, error) {
	n := b - a
	if n&(n-1) == 0 && a%n == 0 {
		return t.Node(bits.TrailingZeros64(n), a/n)
	}
	k := split(n)
	l, err := rangeRoot(t, a, a+k)
	if err != nil {
		return Hash{}, err
	}
	r, err := rangeRoot(t, a+k, b)
	if err != nil {
		return Hash{}, err
	}
	return nodeHash(l, r), nil
}

// InclusionProof returns the audit path of leaf m in the tree of leaves
// (RFC 9162 section 2.1.3.1).
func InclusionProof(leaves []Hash, m uint64) ([]Hash, error) {
	return InclusionProofOf(leafNodes(leaves), uint64(len(leaves)), m)
}

// InclusionProofOf returns the audit path of leaf m in the tree of the
// first n leaves of t.
func InclusionProofOf(t Nodes, n, m uint64) ([]Hash, error) {
	if m >= n {
		return nil, errors.New("inclusion proof: leaf out of range")
	}
	return inclusion(t, 0, n, m)
}

func inclusion(t Nodes, a, b, m uint64) ([]Hash, error) {
	if b-a <= 1 {
		return nil, nil
	}
	k := split(b - a)
	// The path of the half holding m, then the root of the other half.
	in, out := [2]uint64{a, a + k}, [2]uint64{a + k, b}
	if m >= k {
		in, out, m = out, in, m-k
	}
	p, err := inclusion(t, in[0], in[1], m)
	if err != nil {
		return nil, err
	}
	h, err := rangeRoot(t, out[0], out[1])
	if err != nil {
		return nil, err
	}
	return append(p, h), nil
}

// ConsistencyProof returns the proof that the tree of the first m leaves
// is a prefix of the tree of all leaves (RFC 9162 section 2.1.4.1).
func ConsistencyProof(leaves []Hash, m uint64) ([]Hash, error) {
	return ConsistencyProofOf(leafNodes(leaves), uint64(len(leaves)), m)
}

// ConsistencyProofOf returns the proof that the tree of the first m
// leaves of t is a prefix of the tree of its first n.
func ConsistencyProofOf(t Nodes, n, m uint64) ([]Hash, error) {
	if m > n {
		return nil, errors.New("consistency proof: first tree larger than second")
	}
	if m == 0 || m == n {
		return nil, nil
	}
	return subproof(t, 0, n, m, true)
}

func subproof(t Nodes, a, b, m uint64, whole bool) ([]Hash, error) {
	n := b - a
	if m == n {
		if whole {
			return nil, nil
		}
		h, err := rangeRoot(t, a, b)
		return []Hash{h}, err
	}
	k := split(n)
	var p []Hash
	var h Hash
	var err error
	if m <= k {
		if p, err = subproof(t, a, a+k, m, whole); err == nil {
			h, err = rangeRoot(t, a+k, b)
		}
	} else {
		if p, err = subproof(t, a+k, b, m-k, false); err == nil {
			h, err = rangeRoot(t, a, a+k)
		}
	}
	if err != nil {
		return nil, err
	}
	return append(p, h), nil
}

// VerifyInclusion checks that leaf (a leaf hash) is leaf number index of
// the tree of size whose head is root (RFC 9162 section 2.1.3.2).
func VerifyInclusion(index, size uint64, leaf Hash, path []Hash, root Hash) error {
	if index >= size || len(path) > MaxProofPath {
		return ErrProof
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return ErrProof
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || r != root {
		return ErrProof
	}
	return nil
}

// VerifyConsistency checks that the tree of size first with head
// firstRoot is a prefix of the tree of size second with head secondRoot
// (RFC 9162 section 2.1.4.2). Every tree extends the empty tree; equal
// sizes need equal heads and an empty path.
func VerifyConsistency(first, second uint64, firstRoot, secondRoot Hash, path []Hash) error {
	switch {
	case first > second || len(path) > MaxProofPath:
		return ErrProof
	case first == second:
		if len(path) != 0 || firstRoot != secondRoot {
			return ErrProof
		}
		return nil
	case first == 0:
		if len(path) != 0 {
			return ErrProof
		}
		return nil
	case len(path) == 0:
		return ErrProof
	}
	if first&(first-1) == 0 { // a power of two: the first tree is a node of the second
		path = append([]Hash{firstRoot}, path...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return ErrProof
		}
		if fn&1 == 1 || fn == sn {
			fr = nodeHash(c, fr)
			sr = nodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn >>= 1
		sn >>= 1
	}
	if fr != firstRoot || sr != secondRoot || sn != 0 {
		return ErrProof
	}
	return nil
}
