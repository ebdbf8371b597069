package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sort"

	"github.com/hearthp2p/hearth/internal/parallel"
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

// Frontier holds the roots of the perfect subtrees that make up an RFC
// 9162 tree, largest first (one per bit set in its length), so appending
// is amortised O(1) and the root O(log n). It is all a log needs in
// memory to extend its tree.
type Frontier struct {
	nodes []Hash
	sizes []uint64
	n     uint64
}

// Len returns the number of leaves.
func (f *Frontier) Len() uint64 { return f.n }

// Push appends a leaf hash. done, if not nil, is called with every node
// the leaf completes: the leaf itself (level 0), then each perfect
// subtree it closes, by level and index (Nodes).
func (f *Frontier) Push(h Hash, done func(level int, index uint64, h Hash)) {
	if done != nil {
		done(0, f.n, h)
	}
	f.pushSubtree(h, 0, done)
}

// pushSubtree appends the root h of a perfect subtree of 2^level leaves,
// aligned as the tree aligns it (the frontier's length is a multiple of
// its size). done is called as Push calls it, for each node the subtree
// closes above itself.
func (f *Frontier) pushSubtree(h Hash, level int, done func(level int, index uint64, h Hash)) {
	size := uint64(1) << level
	f.n += size
	f.nodes = append(f.nodes, h)
	f.sizes = append(f.sizes, size)
	for k := len(f.nodes); k >= 2 && f.sizes[k-1] == f.sizes[k-2]; k = len(f.nodes) {
		f.nodes[k-2] = nodeHash(f.nodes[k-2], f.nodes[k-1])
		f.sizes[k-2] *= 2
		f.nodes, f.sizes = f.nodes[:k-1], f.sizes[:k-1]
		if done != nil {
			size := f.sizes[k-2]
			done(bits.TrailingZeros64(size), (f.n-size)/size, f.nodes[k-2])
		}
	}
}

// Subtrees is what hashing leaves [Start, Start+len(Leaves)) of a log
// makes that does not depend on the leaves before them: the perfect
// subtrees they fill, aligned as the log's tree aligns them, and their
// nodes from KeptLevel up. Pushing the subtrees' roots onto the frontier
// of the first Start leaves makes what pushing every leaf makes, with a
// few hashes instead of one per leaf: a receiver computes Subtrees ahead,
// while it applies what came before.
type Subtrees struct {
	Start  uint64
	Leaves []Hash
	roots  []Node
	nodes  []Node
}

// HashSubtrees computes the Subtrees of leaves [start, start+len).
func HashSubtrees(start uint64, leaves []Hash) *Subtrees {
	s := &Subtrees{Start: start, Leaves: leaves}
	end := start + uint64(len(leaves))
	var level []Hash
	for p := start; p < end; {
		k := 0
		for k < 62 && p%(2<<k) == 0 && p+(2<<k) <= end {
			k++
		}
		size := uint64(1) << k
		level = append(level[:0], leaves[p-start:p-start+size]...)
		for l := 1; l <= k; l++ {
			for i := range len(level) / 2 {
				level[i] = nodeHash(level[2*i], level[2*i+1])
				if l >= KeptLevel {
					s.nodes = append(s.nodes, Node{l, p>>l + uint64(i), level[i]})
				}
			}
			level = level[:len(level)/2]
		}
		s.roots = append(s.roots, Node{k, p >> k, level[0]})
		p += size
	}
	return s
}

// Root returns the tree head.
func (f *Frontier) Root() Hash {
	if len(f.nodes) == 0 {
		return emptyRoot
	}
	r := f.nodes[len(f.nodes)-1]
	for i := len(f.nodes) - 2; i >= 0; i-- {
		r = nodeHash(f.nodes[i], r)
	}
	return r
}

// Equal reports whether f and g are the frontier of the same tree.
func (f *Frontier) Equal(g *Frontier) bool {
	return f.n == g.n && slices.Equal(f.nodes, g.nodes) && slices.Equal(f.sizes, g.sizes)
}

// Clone returns a copy that does not share memory with f.
func (f *Frontier) Clone() Frontier {
	return Frontier{nodes: append([]Hash(nil), f.nodes...), sizes: append([]uint64(nil), f.sizes...), n: f.n}
}

// MarshalBinary encodes the frontier: its length (8 bytes, big endian),
// then its hashes, largest subtree first.
func (f *Frontier) MarshalBinary() ([]byte, error) {
	out := binary.BigEndian.AppendUint64(make([]byte, 0, 8+32*len(f.nodes)), f.n)
	for _, h := range f.nodes {
		out = append(out, h[:]...)
	}
	return out, nil
}

// ErrFrontier means an encoded frontier is malformed.
var ErrFrontier = errors.New("malformed frontier")

// ParseFrontier decodes a frontier of MarshalBinary.
func ParseFrontier(b []byte) (Frontier, error) {
	if len(b) < 8 {
		return Frontier{}, fmt.Errorf("%w: %d bytes", ErrFrontier, len(b))
	}
	n := binary.BigEndian.Uint64(b)
	if n > MaxLogLen || len(b) != 8+32*bits.OnesCount64(n) {
		return Frontier{}, fmt.Errorf("%w: %d bytes for %d leaves", ErrFrontier, len(b), n)
	}
	f := Frontier{n: n}
	b = b[8:]
	for bit := 63; bit >= 0; bit-- {
		if n&(1<<bit) == 0 {
			continue
		}
		f.nodes = append(f.nodes, Hash(b[:32]))
		f.sizes = append(f.sizes, 1<<bit)
		b = b[32:]
	}
	return f, nil
}

// Past is where a Log kept outside memory reads what it does not hold:
// the nodes of its tree and the heads it saw. Whoever stores the log's
// blocks keeps it (package logdb does, in the daemon's database).
type Past interface {
	Nodes
	// HeadAt returns the signed head of length n stored, if there is one.
	HeadAt(n uint64) (Head, bool, error)
}

// Log is one writer's log in one room as a peer holds it: its length,
// the frontier of its tree and its latest signed head. It keeps no
// blocks: the caller stores them. A log of New keeps its leaf hashes and
// heads in memory as well; one of Restore reads them from its Past, so
// its memory does not grow with its length. A Log is not safe for
// concurrent use.
type Log struct {
	disc    Discovery
	writer  identity.PublicKey
	id      ID
	front   Frontier
	head    Head // the latest, if hasHead; head.Length == front.Len()
	hasHead bool
	past    Past
	mem     *memory // a log of New
}

// memory is what a log of New keeps: every leaf hash and head.
type memory struct {
	leaves []Hash
	heads  []Head // ascending by Length
}

func (m *memory) Node(level int, index uint64) (Hash, error) {
	return leafNodes(m.leaves).Node(level, index)
}

func (m *memory) HeadAt(n uint64) (Head, bool, error) {
	i := sort.Search(len(m.heads), func(i int) bool { return m.heads[i].Length >= n })
	if i < len(m.heads) && m.heads[i].Length == n {
		return m.heads[i], true, nil
	}
	return Head{}, false, nil
}

// New returns the empty log of writer in the room of disc, kept in
// memory.
func New(disc Discovery, writer identity.PublicKey) *Log {
	m := &memory{}
	return &Log{disc: disc, writer: writer, id: LogID(disc, writer), past: m, mem: m}
}

// Restore returns a log as it was stored: head is its latest signed head
// (the zero Head for an empty log) and front the frontier of its blocks,
// both as verified when they were stored; past reads the rest. Nothing is
// verified again but that they agree.
func Restore(disc Discovery, writer identity.PublicKey, head Head, front Frontier, past Past) (*Log, error) {
	l := &Log{disc: disc, writer: writer, id: LogID(disc, writer), front: front.Clone(), past: past}
	switch {
	case head == (Head{}) && front.Len() == 0:
		return l, nil
	case head.Discovery != disc || head.Writer != writer:
		return nil, ErrWrongLog
	case head.Length != front.Len() || head.Root != front.Root():
		return nil, fmt.Errorf("restoring log %s: head of %d blocks does not match the stored tree of %d", l.id.Short(), head.Length, front.Len())
	}
	l.head, l.hasHead = head, true
	return l, nil
}

// Clone returns a copy of the log that extends independently: what is
// stored is shared, so a clone of a log of Restore is for trying an
// extension before it is stored.
func (l *Log) Clone() *Log {
	c := *l
	c.front = l.front.Clone()
	if l.mem != nil {
		c.mem = &memory{leaves: slices.Clone(l.mem.leaves), heads: slices.Clone(l.mem.heads)}
		c.past = c.mem
	}
	return &c
}

// ID returns the log's id.
func (l *Log) ID() ID { return l.id }

// Writer returns the device that writes the log.
func (l *Log) Writer() identity.PublicKey { return l.writer }

// Discovery returns the room's discovery key.
func (l *Log) Discovery() Discovery { return l.disc }

// Len returns the number of verified blocks.
func (l *Log) Len() uint64 { return l.front.Len() }

// Frontier returns the frontier of the log's tree.
func (l *Log) Frontier() Frontier { return l.front.Clone() }

// Head returns the latest signed head, if any.
func (l *Log) Head() (Head, bool) { return l.head, l.hasHead }

// HeadAt returns the signed head of exactly length n, if one was seen.
func (l *Log) HeadAt(n uint64) (Head, bool) {
	if l.hasHead && n == l.head.Length {
		return l.head, true
	}
	if n > l.Len() || l.past == nil {
		return Head{}, false
	}
	h, ok, err := l.past.HeadAt(n)
	return h, ok && err == nil
}

// Append seals entries under key (the room's key of epoch) as the next
// blocks, and signs one head for the whole batch. It returns the blocks
// for the caller to store and send, and the head.
func (l *Log) Append(writer identity.SigningKey, key Key, epoch uint64, entries [][]byte) ([][]byte, Head, error) {
	blocks, h, _, err := l.AppendHashed(writer, key, epoch, entries)
	return blocks, h, err
}

// Hashed is what Log.AppendHashed and Log.ExtendHashed computed of the
// blocks they added, for whoever stores them (logdb.SaveHashed) not to
// hash them again: the blocks' leaf hashes, the nodes of level KeptLevel
// and above they completed, and the frontier before and after them.
type Hashed struct {
	Leaves      []Hash
	Nodes       []Node
	Start, Next Frontier
}

// Node is a node of a log's tree.
type Node struct {
	Level int
	Index uint64
	Hash  Hash
}

// KeptLevel is the lowest level of a log's tree whose nodes Hashed
// carries (logdb stores them; those below are hashed again from the
// blocks when needed).
const KeptLevel = 6

// hashInto hashes blocks onto a copy of the log's frontier (leaves, if
// not nil, are their leaf hashes; sub, if not nil, their Subtrees).
func (l *Log) hashInto(blocks [][]byte, check bool, leaves []Hash, sub *Subtrees) (*Hashed, error) {
	if sub != nil {
		leaves = sub.Leaves
	}
	x := &Hashed{Leaves: leaves, Start: l.front.Clone()}
	x.Next = x.Start.Clone()
	keep := func(level int, index uint64, h Hash) {
		if level >= KeptLevel {
			x.Nodes = append(x.Nodes, Node{level, index, h})
		}
	}
	if check {
		for i, b := range blocks {
			if err := checkBlock(b); err != nil {
				return nil, fmt.Errorf("block %d: %w", l.Len()+uint64(i), err)
			}
		}
	}
	if x.Leaves == nil {
		x.Leaves = make([]Hash, len(blocks))
		parallel.For(len(blocks), 128, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				x.Leaves[i] = LeafHash(blocks[i])
			}
		})
	}
	if sub != nil {
		x.Nodes = append(x.Nodes, sub.nodes...)
		for _, n := range sub.roots {
			x.Next.pushSubtree(n.Hash, n.Level, keep)
		}
		return x, nil
	}
	for _, h := range x.Leaves {
		x.Next.Push(h, keep)
	}
	return x, nil
}

// AppendHashed is Append that also returns what it hashed.
func (l *Log) AppendHashed(writer identity.SigningKey, key Key, epoch uint64, entries [][]byte) ([][]byte, Head, *Hashed, error) {
	if writer.Public() != l.writer {
		return nil, Head{}, nil, fmt.Errorf("append: signer %s does not write log %s", writer.Public().Short(), l.id.Short())
	}
	if len(entries) == 0 || len(entries) > MaxBatch {
		return nil, Head{}, nil, fmt.Errorf("append: batch of %d entries (1 to %d)", len(entries), MaxBatch)
	}
	if l.Len()+uint64(len(entries)) > MaxLogLen {
		return nil, Head{}, nil, fmt.Errorf("append: log would exceed %d blocks", MaxLogLen)
	}
	blocks := make([][]byte, len(entries))
	for i, e := range entries {
		b, err := Seal(key, l.disc, l.id, l.Len()+uint64(i), epoch, e)
		if err != nil {
			return nil, Head{}, nil, err
		}
		blocks[i] = b
	}
	x, err := l.hashInto(blocks, false, nil, nil)
	if err != nil {
		return nil, Head{}, nil, err
	}
	h := SignHead(writer, l.disc, x.Next.Len(), x.Next.Root())
	l.extended(x.Next.Clone(), h, x.Leaves)
	return blocks, h, x, nil
}

func (l *Log) extended(front Frontier, h Head, leaves []Hash) {
	l.front, l.head, l.hasHead = front, h, true
	if l.mem != nil {
		l.mem.leaves = append(l.mem.leaves, leaves...)
		l.mem.heads = append(l.mem.heads, h)
	}
}

// Extend adds blocks [Len(), h.Length) received from a peer, after
// checking h's signature and that the blocks, after the ones held, hash to
// h's root. That one check also proves h extends every head held. On any
// error the log is unchanged.
func (l *Log) Extend(h Head, blocks [][]byte) error {
	_, err := l.ExtendHashed(h, blocks)
	return err
}

// ExtendHashed is Extend that also returns what it hashed.
func (l *Log) ExtendHashed(h Head, blocks [][]byte) (*Hashed, error) {
	return l.ExtendLeaves(h, blocks, nil)
}

// ExtendLeaves is ExtendHashed given the blocks' leaf hashes, computed
// ahead by the caller (nil: hashed here). Its check is the same: the
// leaves, after those held, must hash to h's root.
func (l *Log) ExtendLeaves(h Head, blocks [][]byte, leaves []Hash) (*Hashed, error) {
	return l.extend(h, blocks, leaves, nil)
}

// ExtendSubtrees is ExtendLeaves given the blocks' Subtrees, computed
// ahead by the caller from the position they start at.
func (l *Log) ExtendSubtrees(h Head, blocks [][]byte, sub *Subtrees) (*Hashed, error) {
	if sub.Start != l.Len() {
		return nil, fmt.Errorf("extend: subtrees from %d onto %d blocks", sub.Start, l.Len())
	}
	return l.extend(h, blocks, sub.Leaves, sub)
}

func (l *Log) extend(h Head, blocks [][]byte, leaves []Hash, sub *Subtrees) (*Hashed, error) {
	if leaves != nil && len(leaves) != len(blocks) {
		return nil, fmt.Errorf("extend: %d leaf hashes for %d blocks", len(leaves), len(blocks))
	}
	if h.Discovery != l.disc || h.Writer != l.writer {
		return nil, ErrWrongLog
	}
	if h.Length <= l.Len() {
		return nil, ErrStale
	}
	if h.Length-l.Len() != uint64(len(blocks)) {
		return nil, fmt.Errorf("extend: %d blocks for %d missing", len(blocks), h.Length-l.Len())
	}
	if len(blocks) > MaxBatch {
		return nil, fmt.Errorf("extend: batch of %d blocks, at most %d", len(blocks), MaxBatch)
	}
	if err := h.Verify(); err != nil {
		return nil, err
	}
	x, err := l.hashInto(blocks, true, leaves, sub)
	if err != nil {
		return nil, err
	}
	if x.Next.Root() != h.Root {
		return nil, ErrRootDiffs
	}
	l.extended(x.Next.Clone(), h, x.Leaves)
	return x, nil
}

// Check compares a signed head of this log with the blocks held. It
// returns nil if h is consistent with them (or longer than what is held:
// nothing can be said yet), a *ForkProof if the writer signed a
// different history, and an error if h is not a valid head of this log
// (or what is stored could not be read).
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
	if l.past == nil {
		return nil, errors.New("check: the log's past is not kept")
	}
	prefix, err := RootOf(l.past, h.Length)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	if prefix == h.Root {
		return nil, nil
	}
	path, err := ConsistencyProofOf(l.past, l.Len(), h.Length)
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	f := &ForkProof{A: h, B: l.head, PrefixRoot: prefix, Path: path}
	if err := f.Verify(); err != nil {
		return nil, fmt.Errorf("building fork proof: %w", err)
	}
	return f, nil
}

// Inclusion returns the proof that block i is in the tree of the first n
// blocks.
func (l *Log) Inclusion(i, n uint64) ([]Hash, error) {
	if n > l.Len() || i >= n || l.past == nil {
		return nil, ErrRange
	}
	return InclusionProofOf(l.past, n, i)
}

// Consistency returns the proof that the tree of the first m blocks is a
// prefix of the tree of the first n.
func (l *Log) Consistency(m, n uint64) ([]Hash, error) {
	if m > n || n > l.Len() || l.past == nil {
		return nil, ErrRange
	}
	return ConsistencyProofOf(l.past, n, m)
}

// Leaf returns the leaf hash of block i.
func (l *Log) Leaf(i uint64) (Hash, error) {
	if i >= l.Len() || l.past == nil {
		return Hash{}, ErrRange
	}
	return l.past.Node(0, i)
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
