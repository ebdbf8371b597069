package room

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/google/btree"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// MemStore is a Store in memory: a room opened without a Store keeps its
// logs in one, and so does every room for the logs of devices it does
// not know yet (they never reach the disk). Tests wrap it to count or to
// fail. It is safe for concurrent use.
type MemStore struct {
	mu   sync.Mutex
	logs map[memKey]*memLog
	keys map[log.Discovery]map[uint64][][32]byte
	kv   map[log.Discovery]memBuckets
	// journal, if set, keeps each change before the store shows it
	// (SetJournal).
	journal func(Change) error
}

// Change is what one call wrote to a MemStore: the blocks saved, the
// epoch keys and the rows of the room's transaction, in order.
type Change struct {
	Disc   log.Discovery
	Blocks []SavedBlocks
	Keys   []SavedKey
	Rows   []Row
}

// SavedBlocks are blocks of a log saved from start, with the head that
// covers them.
type SavedBlocks struct {
	Head   log.Head
	Start  uint64
	Blocks [][]byte
}

// SavedKey is an epoch key saved.
type SavedKey struct {
	Epoch uint64
	Key   [32]byte
}

// Row is a row of a room's transaction written (Deleted: removed).
type Row struct {
	Bucket     string
	Key, Value []byte
	Deleted    bool
}

// SetJournal makes every later change go to journal first: a change the
// journal refuses is not made (the call returns its error). The phone's
// app keeps its rooms in IndexedDB so, and Replay brings them back.
func (s *MemStore) SetJournal(journal func(Change) error) {
	s.mu.Lock()
	s.journal = journal
	s.mu.Unlock()
}

// Replay applies a change a journal kept, without journaling it again.
func (s *MemStore) Replay(c Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range c.Blocks {
		if err := s.saveBlocks(c.Disc, b.Head, b.Start, b.Blocks); err != nil {
			return err
		}
	}
	for _, k := range c.Keys {
		s.saveKey(c.Disc, k.Epoch, k.Key)
	}
	bs := s.buckets(c.Disc)
	for _, r := range c.Rows {
		tr := bs[r.Bucket]
		if tr == nil {
			tr = btree.NewG(16, memLess)
			bs[r.Bucket] = tr
		}
		if r.Deleted {
			tr.Delete(memItem{k: r.Key})
		} else {
			tr.ReplaceOrInsert(memItem{k: slices.Clone(r.Key), v: slices.Clone(r.Value)})
		}
	}
	return nil
}

type memKey struct {
	disc   log.Discovery
	writer identity.PublicKey
}

type memLog struct {
	blocks [][]byte
	heads  []log.Head // ascending
	front  log.Frontier
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{logs: map[memKey]*memLog{}, keys: map[log.Discovery]map[uint64][][32]byte{}, kv: map[log.Discovery]memBuckets{}}
}

var _ Store = (*MemStore)(nil)

// SaveBlocks implements Store, checking as the daemon's store does that
// the blocks start where the log ends and hash to the head's root.
func (s *MemStore) SaveBlocks(disc log.Discovery, h log.Head, start uint64, blocks [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal == nil {
		return s.saveBlocks(disc, h, start, blocks)
	}
	undo := s.mark(disc, h.Writer)
	if err := s.saveBlocks(disc, h, start, blocks); err != nil {
		return err
	}
	if err := s.journal(Change{Disc: disc, Blocks: []SavedBlocks{{Head: h, Start: start, Blocks: blocks}}}); err != nil {
		undo()
		return err
	}
	return nil
}

// mark returns what puts writer's log back as it is now. The caller holds
// s.mu.
func (s *MemStore) mark(disc log.Discovery, writer identity.PublicKey) func() {
	k := memKey{disc, writer}
	l := s.logs[k]
	if l == nil {
		return func() { delete(s.logs, k) }
	}
	nb, nh, front := len(l.blocks), len(l.heads), l.front.Clone()
	return func() {
		l.blocks, l.heads, l.front = l.blocks[:nb], l.heads[:nh], front
	}
}

func (s *MemStore) saveBlocks(disc log.Discovery, h log.Head, start uint64, blocks [][]byte) error {
	k := memKey{disc, h.Writer}
	l := s.logs[k]
	if l == nil {
		l = &memLog{}
	}
	if uint64(len(l.blocks)) != start {
		return fmt.Errorf("saving blocks from %d of log %s: %d stored", start, h.Writer.Short(), len(l.blocks))
	}
	front := l.front.Clone()
	for _, b := range blocks {
		front.Push(log.LeafHash(b), nil)
	}
	if front.Len() != h.Length || front.Root() != h.Root {
		return fmt.Errorf("saving blocks of log %s: %w", h.Writer.Short(), log.ErrRootDiffs)
	}
	for _, b := range blocks {
		l.blocks = append(l.blocks, slices.Clone(b))
	}
	l.heads = append(l.heads, h)
	l.front = front
	s.logs[k] = l
	return nil
}

// SaveKey implements Store.
func (s *MemStore) SaveKey(disc log.Discovery, epoch uint64, key [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journal != nil && !slices.Contains(s.keys[disc][epoch], key) {
		if err := s.journal(Change{Disc: disc, Keys: []SavedKey{{Epoch: epoch, Key: key}}}); err != nil {
			return err
		}
	}
	s.saveKey(disc, epoch, key)
	return nil
}

func (s *MemStore) saveKey(disc log.Discovery, epoch uint64, key [32]byte) {
	if s.keys[disc] == nil {
		s.keys[disc] = map[uint64][][32]byte{}
	}
	if !slices.Contains(s.keys[disc][epoch], key) {
		s.keys[disc][epoch] = append(s.keys[disc][epoch], key)
	}
}

// Keys returns the epoch keys saved for a room.
func (s *MemStore) Keys(disc log.Discovery) map[uint64][][32]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.keys[disc])
}

// ReadBlocks implements Store.
func (s *MemStore) ReadBlocks(disc log.Discovery, writer identity.PublicKey, from uint64, n int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.readBlocks(disc, writer, from, n), nil
}

func (s *MemStore) readBlocks(disc log.Discovery, writer identity.PublicKey, from uint64, n int) [][]byte {
	l := s.logs[memKey{disc, writer}]
	if l == nil || from >= uint64(len(l.blocks)) || n <= 0 {
		return nil
	}
	end := min(from+uint64(n), uint64(len(l.blocks)))
	out := make([][]byte, 0, end-from)
	for _, b := range l.blocks[from:end] {
		out = append(out, slices.Clone(b))
	}
	return out
}

// Serve implements Store.
func (s *MemStore) Serve(disc log.Discovery, writer identity.PublicKey, from, length uint64, maxBytes int) (h log.Head, blocks [][]byte, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.logs[memKey{disc, writer}]
	if l == nil {
		return log.Head{}, nil, false, nil
	}
	size, pos := 0, from
	for _, c := range l.heads {
		if c.Length <= from {
			continue
		}
		if c.Length > length {
			break
		}
		for ; pos < c.Length; pos++ {
			size += len(l.blocks[pos])
		}
		if ok && size > maxBytes {
			break
		}
		h, ok = c, true
	}
	if !ok {
		return log.Head{}, nil, false, nil
	}
	for _, b := range l.blocks[from:h.Length] {
		blocks = append(blocks, slices.Clone(b))
	}
	return h, blocks, true, nil
}

// Writers implements Store.
func (s *MemStore) Writers(disc log.Discovery) ([]identity.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []identity.PublicKey
	for k := range s.logs {
		if k.disc == disc {
			out = append(out, k.writer)
		}
	}
	slices.SortFunc(out, func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}

// OpenLog implements Store.
func (s *MemStore) OpenLog(disc log.Discovery, writer identity.PublicKey) (*log.Log, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := memPast{s: s, k: memKey{disc, writer}}
	l := s.logs[past.k]
	if l == nil || len(l.heads) == 0 {
		return log.Restore(disc, writer, log.Head{}, log.Frontier{}, past)
	}
	return log.Restore(disc, writer, l.heads[len(l.heads)-1], l.front, past)
}

// drop forgets a log.
func (s *MemStore) drop(disc log.Discovery, writer identity.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.logs, memKey{disc, writer})
}

// heads returns the heads of a log, ascending.
func (s *MemStore) heads(disc log.Discovery, writer identity.PublicKey) []log.Head {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.logs[memKey{disc, writer}]; l != nil {
		return slices.Clone(l.heads)
	}
	return nil
}

// memPast is a log's past in a MemStore.
type memPast struct {
	s *MemStore
	k memKey
}

func (p memPast) Node(level int, index uint64) (log.Hash, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	l := p.s.logs[p.k]
	a, b := index<<level, (index+1)<<level
	if l == nil || b > uint64(len(l.blocks)) || b <= a {
		return log.Hash{}, fmt.Errorf("node (%d, %d) of log %s: beyond its blocks", level, index, p.k.writer.Short())
	}
	leaves := make([]log.Hash, 0, b-a)
	for _, bl := range l.blocks[a:b] {
		leaves = append(leaves, log.LeafHash(bl))
	}
	return log.Root(leaves), nil
}

func (p memPast) HeadAt(n uint64) (log.Head, bool, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	l := p.s.logs[p.k]
	if l == nil {
		return log.Head{}, false, nil
	}
	i := sort.Search(len(l.heads), func(i int) bool { return l.heads[i].Length >= n })
	if i < len(l.heads) && l.heads[i].Length == n {
		return l.heads[i], true, nil
	}
	return log.Head{}, false, nil
}

// clone returns a copy of the store that shares nothing it changes.
func (s *MemStore) clone() *MemStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := NewMemStore()
	for k, l := range s.logs {
		c.logs[k] = &memLog{blocks: slices.Clone(l.blocks), heads: slices.Clone(l.heads), front: l.front.Clone()}
	}
	for d, ks := range s.keys {
		c.keys[d] = maps.Clone(ks)
	}
	for d, b := range s.kv {
		cb := memBuckets{}
		for name, tr := range b {
			cb[name] = tr.Clone()
		}
		c.kv[d] = cb
	}
	return c
}
