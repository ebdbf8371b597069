package log

import (
	"errors"
	"fmt"
	"sort"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// MaxLogLen bounds the number of blocks of one log: far beyond any chat
// (a billion messages), low enough that a hostile head cannot make a peer
// plan for absurd sizes.
const MaxLogLen = 1 << 30

// MaxBatch bounds the blocks one Append or Extend handles.
const MaxBatch = 1 << 16

// Errors of Log.
var (
	ErrWrongLog = errors.New("head is of another log")
	ErrStale    = errors.New("head is not newer than the log")
	// ErrRefused is what a holder of logs returns (wrapped) for blocks
	// that may be valid but that it will not store: a mirror out of
	// space, a room that already holds as many logs of unknown devices
	// as it will. It is not the sender's fault.
	ErrRefused = errors.New("blocks refused")
	// ErrJunk is returned (wrapped, with ErrRefused) for a log that can
	// never count where it was offered (a room's log that does not open
	// with a member device's hello): whoever offers it is at fault,
	// unless it only passes on what others left with it (a mirror).
	ErrJunk      = errors.New("a log that can never count")
	ErrRootDiffs = errors.New("blocks do not hash to the head's root")
	ErrRange     = errors.New("range out of bounds")
)

// frontier holds the roots of the perfect subtrees that make up an RFC
// 9162 tree, largest first, so appending is amortised O(1) and the root
// is O(log n).
type frontier struct {
	nodes []Hash
	sizes []uint64
}

func (f *frontier) push(h Hash) {
	f.nodes = append(f.nodes, h)
	f.sizes = append(f.sizes, 1)
	for n := len(f.nodes); n >= 2 && f.sizes[n-1] == f.sizes[n-2]; n = len(f.nodes) {
		f.nodes[n-2] = nodeHash(f.nodes[n-2], f.nodes[n-1])
		f.sizes[n-2] *= 2
		f.nodes, f.sizes = f.nodes[:n-1], f.sizes[:n-1]
	}
}

func (f *frontier) root() Hash {
	if len(f.nodes) == 0 {
		return emptyRoot
	}
	r := f.nodes[len(f.nodes)-1]
	for i := len(f.nodes) - 2; i >= 0; i-- {
		r = nodeHash(f.nodes[i], r)
	}
	return r
}

func (f *frontier) clone() frontier {
	return frontier{nodes: append([]Hash(nil), f.nodes...), sizes: append([]uint64(nil), f.sizes...)}
}

// Log is one writer's log in one room as a peer holds it: the leaf hashes
// of its blocks and the signed heads seen, the latest covering every
// block. It keeps no blocks: the caller stores them. A Log is not safe
// for concurrent use.
type Log struct {
	disc   Discovery
	writer identity.PublicKey
	id     ID
	leaves []Hash
	front  frontier
	heads  []Head // ascending by Length; the last has Length == len(leaves)
}

// New returns the empty log of writer in the room of disc.
func New(disc Discovery, writer identity.PublicKey) *Log {
	return &Log{disc: disc, writer: writer, id: LogID(disc, writer)}
}

// ID returns the log's id.
func (l *Log) ID() ID { return l.id }

// Writer returns the device that writes the log.
func (l *Log) Writer() identity.PublicKey { return l.writer }

// Discovery returns the room's discovery key.
func (l *Log) Discovery() Discovery { return l.disc }

// Len returns the number of verified blocks.
func (l *Log) Len() uint64 { return uint64(len(l.leaves)) }

// Head returns the latest signed head, if any.
func (l *Log) Head() (Head, bool) {
	if len(l.heads) == 0 {
		return Head{}, false
	}
	return l.heads[len(l.heads)-1], true
}

// HeadAt returns the signed head of exactly length n, if one was seen.
func (l *Log) HeadAt(n uint64) (Head, bool) {
	i := sort.Search(len(l.heads), func(i int) bool { return l.heads[i].Length >= n })
	if i < len(l.heads) && l.heads[i].Length == n {
		return l.heads[i], true
	}
	return Head{}, false
}

// Heads returns the signed heads seen, ascending by length.
func (l *Log) Heads() []Head { return append([]Head(nil), l.heads...) }

// Append seals entries under key (the room's key of epoch) as the next
// blocks, and signs one head for the whole batch. It returns the blocks
// for the caller to store and send, and the head.
func (l *Log) Append(writer identity.SigningKey, key Key, epoch uint64, entries [][]byte) ([][]byte, Head, error) {
	if writer.Public() != l.writer {
		return nil, Head{}, fmt.Errorf("append: signer %s does not write log %s", writer.Public().Short(), l.id.Short())
	}
	if len(entries) == 0 || len(entries) > MaxBatch {
		return nil, Head{}, fmt.Errorf("append: batch of %d entries (1 to %d)", len(entries), MaxBatch)
	}
	if l.Len()+uint64(len(entries)) > MaxLogLen {
		return nil, Head{}, fmt.Errorf("append: log would exceed %d blocks", MaxLogLen)
	}
	blocks := make([][]byte, len(entries))
	front := l.front.clone()
	leaves := make([]Hash, len(entries))
	for i, e := range entries {
		b, err := Seal(key, l.disc, l.id, l.Len()+uint64(i), epoch, e)
		if err != nil {
			return nil, Head{}, err
		}
		blocks[i] = b
		leaves[i] = LeafHash(b)
		front.push(leaves[i])
	}
	h := SignHead(writer, l.disc, l.Len()+uint64(len(entries)), front.root())
	l.leaves = append(l.leaves, leaves...)
	l.front = front
	l.heads = append(l.heads, h)
	return blocks, h, nil
}

// Extend adds blocks [Len(), h.Length) received from a peer, after
// checking h's signature and that the blocks, after the ones held, hash to
// h's root. That one check also proves h extends every head held. On any
// error the log is unchanged.
func (l *Log) Extend(h Head, blocks [][]byte) error {
	if h.Discovery != l.disc || h.Writer != l.writer {
		return ErrWrongLog
	}
	if h.Length <= l.Len() {
		return ErrStale
	}
	if h.Length-l.Len() != uint64(len(blocks)) {
		return fmt.Errorf("extend: %d blocks for %d missing", len(blocks), h.Length-l.Len())
	}
	if len(blocks) > MaxBatch {
		return fmt.Errorf("extend: batch of %d blocks, at most %d", len(blocks), MaxBatch)
	}
	if err := h.Verify(); err != nil {
		return err
	}
	front := l.front.clone()
	leaves := make([]Hash, len(blocks))
	for i, b := range blocks {
		if err := checkBlock(b); err != nil {
			return fmt.Errorf("block %d: %w", l.Len()+uint64(i), err)
		}
		leaves[i] = LeafHash(b)
		front.push(leaves[i])
	}
	if front.root() != h.Root {
		return ErrRootDiffs
	}
	l.leaves = append(l.leaves, leaves...)
	l.front = front
	l.heads = append(l.heads, h)
	return nil
}

// Check compares a signed head of this log with the blocks held. It
// returns nil if h is consistent with them (or longer than what is held:
// nothing can be said yet), a *ForkProof if the writer signed a
// different history, and an error if h is not a valid head of this log.
func (l *Log) Check(h Head) (*ForkProof, error) {
	if h.Discovery != l.disc || h.Writer != l.writer {
		return nil, ErrWrongLog
	}
	if err := h.Verify(); err != nil {
		return nil, err
	}
	if h.Length > l.Len() {
		return nil, nil
	}
	if held, ok := l.HeadAt(h.Length); ok && held.Root == h.Root {
		return nil, nil // a head held: no need to hash the prefix again
	}
	prefix := Root(l.leaves[:h.Length])
	if prefix == h.Root {
		return nil, nil
	}
	ours, _ := l.Head()
	path, err := ConsistencyProof(l.leaves, h.Length)
	if err != nil {
		return nil, err
	}
	f := &ForkProof{A: h, B: ours, PrefixRoot: prefix, Path: path}
	if err := f.Verify(); err != nil {
		return nil, fmt.Errorf("building fork proof: %w", err)
	}
	return f, nil
}

// Inclusion returns the proof that block i is in the tree of the first n
// blocks.
func (l *Log) Inclusion(i, n uint64) ([]Hash, error) {
	if n > l.Len() || i >= n {
		return nil, ErrRange
	}
	return InclusionProof(l.leaves[:n], i)
}

// Consistency returns the proof that the tree of the first m blocks is a
// prefix of the tree of the first n.
func (l *Log) Consistency(m, n uint64) ([]Hash, error) {
	if m > n || n > l.Len() {
		return nil, ErrRange
	}
	return ConsistencyProof(l.leaves[:n], m)
}

// Leaf returns the leaf hash of block i.
func (l *Log) Leaf(i uint64) (Hash, error) {
	if i >= l.Len() {
		return Hash{}, ErrRange
	}
	return l.leaves[i], nil
}

// VerifyRange checks blocks [start, start+len(blocks)) against a signed
// head, without any other block: each block comes with its inclusion path
// under h. This is how a peer that holds only part of a log (a mirror
// after eviction, a new member) checks what it receives.
func VerifyRange(h Head, start uint64, blocks [][]byte, paths [][]Hash) error {
	if err := h.Verify(); err != nil {
		return err
	}
	if len(blocks) != len(paths) {
		return fmt.Errorf("%d blocks, %d paths", len(blocks), len(paths))
	}
	for i, b := range blocks {
		if err := checkBlock(b); err != nil {
			return err
		}
		if err := VerifyInclusion(start+uint64(i), h.Length, LeafHash(b), paths[i], h.Root); err != nil {
			return fmt.Errorf("block %d: %w", start+uint64(i), err)
		}
	}
	return nil
}
