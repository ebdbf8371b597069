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

// InclusionProof returns the audit path of leaf m in the tree of leaves
// (RFC 9162 section 2.1.3.1).
func InclusionProof(leaves []Hash, m uint64) ([]Hash, error) {
	if m >= uint64(len(leaves)) {
		return nil, errors.New("inclusion proof: leaf out of range")
	}
	return inclusion(leaves, m), nil
}

func inclusion(l []Hash, m uint64) []Hash {
	if len(l) <= 1 {
		return nil
	}
	k := split(uint64(len(l)))
	if m < k {
		return append(inclusion(l[:k], m), subtree(l[k:]))
	}
	return append(inclusion(l[k:], m-k), subtree(l[:k]))
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

// ConsistencyProof returns the proof that the tree of the first m leaves
// is a prefix of the tree of all leaves (RFC 9162 section 2.1.4.1).
func ConsistencyProof(leaves []Hash, m uint64) ([]Hash, error) {
	n := uint64(len(leaves))
	if m > n {
		return nil, errors.New("consistency proof: first tree larger than second")
	}
	if m == 0 || m == n {
		return nil, nil
	}
	return subproof(leaves, m, true), nil
}

func subproof(l []Hash, m uint64, whole bool) []Hash {
	n := uint64(len(l))
	if m == n {
		if whole {
			return nil
		}
		return []Hash{subtree(l)}
	}
	k := split(n)
	if m <= k {
		return append(subproof(l[:k], m, whole), subtree(l[k:]))
	}
	return append(subproof(l[k:], m-k, false), subtree(l[:k]))
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
