package room

import (
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"slices"
	"sync"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/parallel"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// The order of a room's entries, kept in its store rather than memory.
//
// Each entry has a Lamport clock: one more than the largest of its log's
// previous entry and every entry it depends on. Entries are ordered by
// clock, then writer, then position. Clocks rise along each log, so the
// room's order is a merge of its logs (eachEntry); nothing but the clocks
// and the dependencies is kept to know it:
//
//	clk   writer|start -> clock (8 bytes) | n (8 bytes): entries [start,
//	      start+n) of writer's log have clocks clock, clock+1, ... (a run:
//	      entries that depend on nothing but their log's previous one)
//	deps  writer|position -> the dependencies the entry declares on other
//	      logs, for the entries that declare any
//
// Memory holds, per log, its last run and at most maxPending entries
// decoded and waiting for those they depend on. A log of a device the
// view does not know (logState.unsaved) keeps its entries in memory
// instead, since none of it reaches the store until its writer proves to
// be a member's device.
const (
	bucketClk  = "clk"
	bucketDeps = "deps"
)

func init() {
	ViewBuckets = append(ViewBuckets, bucketClk, bucketDeps)
}

// maxPending bounds the entries of one log decoded and waiting for the
// entries they depend on.
const maxPending = 4096

// readChunk is how many blocks the room reads from its store at once.
const readChunk = 256

type node struct {
	ref   Ref
	entry *Entry // nil if the block could not be decoded
	clock uint64
	epoch uint64   // the epoch the block was sealed in
	keyID [32]byte // the key that opened it
}

func less(a, b *node) bool {
	if a.clock != b.clock {
		return a.clock < b.clock
	}
	if c := bytes.Compare(a.ref.Writer[:], b.ref.Writer[:]); c != 0 {
		return c < 0
	}
	return a.ref.Seq < b.ref.Seq
}

// clockRun is a run of clocks: entries [start, start+n) of a log have
// clocks clock, clock+1, ...
type clockRun struct {
	start, clock, n uint64
	dirty           bool // not written to the store yet
}

func (c clockRun) has(seq uint64) bool  { return seq >= c.start && seq-c.start < c.n }
func (c clockRun) at(seq uint64) uint64 { return c.clock + seq - c.start }

// seqKey is the key of entry seq of writer's log.
func seqKey(w identity.PublicKey, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, 40), w[:]...), seq)
}

// readRun returns the run of writer's log that holds seq, if one is
// stored.
func readRun(tx Tx, w identity.PublicKey, seq uint64) (clockRun, bool) {
	c := tx.Cursor(bucketClk)
	k, v := c.Seek(seqKey(w, seq))
	if k == nil || !bytes.Equal(k, seqKey(w, seq)) {
		k, v = c.Prev()
	}
	run, ok := parseRun(w, k, v)
	if !ok || !run.has(seq) {
		return clockRun{}, false
	}
	return run, true
}

// lastRun returns the last run stored of writer's log.
func lastRun(tx Tx, w identity.PublicKey) (clockRun, bool) {
	c := tx.Cursor(bucketClk)
	k, v := c.Seek(seqKey(w, math.MaxUint64))
	if k == nil || !bytes.Equal(k, seqKey(w, math.MaxUint64)) {
		k, v = c.Prev()
	}
	return parseRun(w, k, v)
}

func parseRun(w identity.PublicKey, k, v []byte) (clockRun, bool) {
	if len(k) != 40 || !bytes.Equal(k[:32], w[:]) || len(v) != 16 {
		return clockRun{}, false
	}
	run := clockRun{start: binary.BigEndian.Uint64(k[32:]), clock: binary.BigEndian.Uint64(v), n: binary.BigEndian.Uint64(v[8:])}
	return run, run.n > 0
}

func putRun(tx Tx, w identity.PublicKey, run clockRun) error {
	v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(make([]byte, 0, 16), run.clock), run.n)
	return tx.Put(bucketClk, seqKey(w, run.start), v)
}

func encodeDeps(deps []Dep) []byte {
	var e wire.Encoder
	e.Uint(uint64(len(deps)))
	for _, d := range deps {
		e.Fixed(d.Writer[:])
		e.Uint(d.Length)
	}
	return e.B
}

func decodeDeps(b []byte) ([]Dep, error) {
	d := wire.NewDecoder(b)
	deps := make([]Dep, d.Count(MaxRoomDevices))
	for i := range deps {
		d.Fixed(deps[i].Writer[:])
		deps[i].Length = d.Uint()
	}
	if err := d.Finish(); err != nil {
		return nil, errors.Join(errRow, err)
	}
	return deps, nil
}

// otherDeps returns the dependencies of an entry of writer on other logs.
func otherDeps(writer identity.PublicKey, e *Entry) []Dep {
	if e == nil {
		return nil
	}
	var out []Dep
	for _, d := range e.Deps {
		if d.Writer != writer && d.Length > 0 {
			out = append(out, d)
		}
	}
	return out
}

// decode opens the blocks of each log that follow those decoded, in
// order, up to maxPending waiting to be clocked, stopping at a block that
// no key this device holds of its epoch opens: a key may yet come (a
// rotation sealed to this device, keys shared with it), and until it
// does, what follows in that log waits on every device alike.
func (r *Room) decode() bool {
	progress := false
	for w, ls := range r.logs {
		stuck := false
		for !stuck && uint64(ls.decoded) < ls.log.Len() && len(ls.pending) < maxPending {
			blocks, err := r.blocksOf(ls, uint64(ls.decoded), min(readChunk, maxPending-len(ls.pending)))
			if err != nil || len(blocks) == 0 {
				r.log.Warn("reading entries", logattr.Room(r.id.String()), logattr.Dev(w), logattr.Err(err))
				break
			}
			out := ls.ready.nodes(uint64(ls.decoded), len(blocks))
			if out == nil {
				out = r.decodeChunk(ls, uint64(ls.decoded), blocks)
			}
			for i := range out {
				d := &out[i]
				// A key learnt from an entry before it (below) may open
				// it now.
				if d.noKey && errors.Is(r.decodeInto(ls, d.ref.Seq, blocks[i], d), errNoKey) {
					progress = r.peek(ls) || progress
					stuck = true
					break
				}
				n := &d.node
				ls.pending = append(ls.pending, n)
				ls.decoded++
				progress = true
				if n.entry != nil && (n.entry.Op.Type == OpRotate || n.entry.Op.Type == OpKeys) {
					r.learnKey(n.ref, &n.entry.Op)
				}
			}
		}
	}
	return progress
}

// decoded is a node with its entry: a chunk of blocks is decoded into one
// slice of them.
type decoded struct {
	node
	e     Entry
	noKey bool // no key held opened the block
}

// decodeBlocks opens and parses blocks [from, from+len) of a log on every
// core (keys are only read meanwhile).
func (r *Room) decodeBlocks(ls *logState, from uint64, blocks [][]byte) []decoded {
	return r.decodeAll(ls, from, blocks, make([]decoded, len(blocks)))
}

// chunks are the slices decode fills, used again from one process to
// the next: a catch-up decodes every entry into one, and they are most
// of what it allocates. A Room holds none between calls (memory for
// every idle room); the pool's are freed by the garbage collector.
var chunks = sync.Pool{New: func() any { return new([readChunk]decoded) }}

// decodeChunk is decodeBlocks into a chunk from the pool, given back at
// the end of process if no node of it is held then (releaseChunks).
func (r *Room) decodeChunk(ls *logState, from uint64, blocks [][]byte) []decoded {
	if len(blocks) > readChunk {
		return r.decodeBlocks(ls, from, blocks)
	}
	c := chunks.Get().(*[readChunk]decoded)
	r.chunks = append(r.chunks, c)
	return r.decodeAll(ls, from, blocks, c[:len(blocks)])
}

// releaseChunks gives the chunks decode took back to the pool, unless a
// node may point into one: a log's entries waiting for their
// dependencies, or those of a log held in memory. Nothing else keeps a
// node past process (Room.last is a copy).
func (r *Room) releaseChunks() {
	held := false
	for _, ls := range r.logs {
		held = held || len(ls.pending) > 0 || len(ls.mem) > 0
	}
	if !held {
		for _, c := range r.chunks {
			chunks.Put(c)
		}
	}
	clear(r.chunks)
	r.chunks = r.chunks[:0]
}

func (r *Room) decodeAll(ls *logState, from uint64, blocks [][]byte, out []decoded) []decoded {
	w, id := ls.log.Writer(), ls.log.ID()
	parallel.For(len(blocks), 32, func(lo, hi int) {
		var o log.Opener
		for i := lo; i < hi; i++ {
			out[i].noKey = errors.Is(r.decodeWith(&o, r.keys, w, id, from+uint64(i), blocks[i], &out[i]), errNoKey)
		}
	})
	return out
}

// decodeInto opens block seq of a log into d. errNoKey: no key held opens
// it (yet); an entry that opens but does not parse is a node without
// entry.
func (r *Room) decodeInto(ls *logState, seq uint64, b []byte, d *decoded) error {
	var o log.Opener
	return r.decodeWith(&o, r.keys, ls.log.Writer(), ls.log.ID(), seq, b, d)
}

// decodeWith is decodeInto of block seq of writer's log (id), opened
// with o and keys: the room's, or a copy of them (Prepare).
func (r *Room) decodeWith(o *log.Opener, keys map[uint64][]epochKey, w identity.PublicKey, id log.ID, seq uint64, b []byte, d *decoded) error {
	d.node, d.noKey = node{ref: Ref{Writer: w, Seq: seq}}, false
	epoch, err := log.BlockEpoch(b)
	if err == nil {
		d.epoch = epoch
		var pt []byte
		pt, d.keyID, err = r.openWith(o, keys, id, seq, epoch, b)
		if err != nil {
			return err
		}
		if err = d.e.parse(pt); err == nil {
			d.entry = &d.e
		}
	}
	if err != nil {
		r.log.Debug("entry dropped", logattr.Room(r.id.String()), logattr.Dev(w), slog.Uint64("seq", seq), logattr.Err(err))
	}
	return nil
}

// prepared is what receiving blocks takes that depends on nothing the
// room holds, done ahead by Prepare: their leaf hashes, and their entries
// opened with the keys the room held then (one that none opened is
// opened again when it is its turn: a key may have come meanwhile).
type prepared struct {
	writer identity.PublicKey
	start  uint64
	blocks [][]byte
	leaves []log.Hash
	sub    *log.Subtrees         // of leaves
	chunks []*[readChunk]decoded // entry i in chunks[i/readChunk]
}

// minPrepared is the fewest blocks worth preparing.
const minPrepared = 64

// Prepare does ahead, without holding the room, what receiving blocks
// [start, start+len) of writer's log takes that depends on nothing the
// room holds: hashing them, and opening and parsing their entries. It
// returns the Receive to call with them (or a tail of them) then. A
// caller that reads the next blocks while the room applies the ones
// before (the sync protocol's session) puts a core to work that would
// wait.
func (r *Room) Prepare(writer identity.PublicKey, start uint64, blocks [][]byte) func(head log.Head, blocks [][]byte) error {
	p := r.prepare(writer, start, blocks)
	return func(head log.Head, blocks [][]byte) error { return r.receive(head, blocks, p) }
}

// prepare is Prepare's work; nil for a few blocks (not worth it).
func (r *Room) prepare(writer identity.PublicKey, start uint64, blocks [][]byte) *prepared {
	if len(blocks) < minPrepared {
		return nil
	}
	r.mu.Lock()
	keys := make(map[uint64][]epochKey, len(r.keys))
	for e, ks := range r.keys {
		keys[e] = slices.Clone(ks)
	}
	r.mu.Unlock()
	p := &prepared{writer: writer, start: start, blocks: blocks, leaves: make([]log.Hash, len(blocks))}
	for i := 0; i < len(blocks); i += readChunk {
		p.chunks = append(p.chunks, chunks.Get().(*[readChunk]decoded))
	}
	id := log.LogID(r.disc, writer)
	parallel.For(len(blocks), 32, func(lo, hi int) {
		var o log.Opener
		for i := lo; i < hi; i++ {
			p.leaves[i] = log.LeafHash(blocks[i])
			d := &p.chunks[i/readChunk][i%readChunk]
			d.noKey = errors.Is(r.decodeWith(&o, keys, writer, id, start+uint64(i), blocks[i], d), errNoKey)
		}
	})
	p.sub = log.HashSubtrees(start, p.leaves)
	return p
}

// covers reports whether p was made of blocks, as blocks [from, ...) of
// writer's log: the very same slices, so that what p holds is of them.
func (p *prepared) covers(writer identity.PublicKey, from uint64, blocks [][]byte) bool {
	if p == nil || writer != p.writer || from < p.start || from-p.start+uint64(len(blocks)) > uint64(len(p.blocks)) {
		return false
	}
	mine := p.blocks[from-p.start:]
	for i, b := range blocks {
		if len(b) == 0 || len(b) != len(mine[i]) || &b[0] != &mine[i][0] {
			return false
		}
	}
	return true
}

// extend is next.ExtendHashed of blocks [from, from+len) of p's log with
// what p hashed of them (p covers them).
func (p *prepared) extend(next *log.Log, head log.Head, from uint64, blocks [][]byte) (*log.Hashed, error) {
	if from == p.start && len(blocks) == len(p.blocks) {
		return next.ExtendSubtrees(head, blocks, p.sub)
	}
	i := int(from - p.start)
	return next.ExtendLeaves(head, blocks, p.leaves[i:i+len(blocks)])
}

// nodes returns the entries p decoded of blocks [from, from+k) of its
// log, for the largest k <= n within one of its chunks; nil if it has
// none of them.
func (p *prepared) nodes(from uint64, n int) []decoded {
	if p == nil || from < p.start || from >= p.start+uint64(len(p.blocks)) {
		return nil
	}
	i := int(from - p.start)
	c, at := p.chunks[i/readChunk], i%readChunk
	k := min(n, readChunk-at, len(p.blocks)-i)
	return c[at : at+k]
}

// decodeBlock opens block seq of a log into a node (decodeInto).
func (r *Room) decodeBlock(ls *logState, seq uint64, b []byte) (*node, error) {
	d := new(decoded)
	if err := r.decodeInto(ls, seq, b, d); err != nil {
		return nil, err
	}
	return &d.node, nil
}

var errNoKey = errors.New("no key of the block's epoch opens it")

// peek searches the blocks of a log past one that cannot be opened yet
// for keys sealed to this device: keys are shared sealed under a key the
// device is known to hold, after blocks it may not open yet. Each block is
// tried again only once more keys are held.
func (r *Room) peek(ls *logState) bool {
	from := ls.peeked
	if ls.peekVer != r.keyVer || from <= ls.decoded {
		from = ls.decoded + 1
	}
	ver := r.keyVer
	for i := uint64(from); i < ls.log.Len(); {
		blocks, err := r.blocksOf(ls, i, readChunk)
		if err != nil || len(blocks) == 0 {
			r.log.Warn("reading entries", logattr.Room(r.id.String()), logattr.Dev(ls.log.Writer()), logattr.Err(err))
			return r.keyVer != ver
		}
		for _, b := range blocks {
			if epoch, err := log.BlockEpoch(b); err == nil {
				if pt, _, err := r.open(ls.log.ID(), i, epoch, b); err == nil {
					if e, err := ParseEntry(pt); err == nil && (e.Op.Type == OpRotate || e.Op.Type == OpKeys) {
						r.learnKey(Ref{Writer: ls.log.Writer(), Seq: i}, &e.Op)
					}
				}
			}
			i++
		}
	}
	ls.peeked, ls.peekVer = int(ls.log.Len()), r.keyVer
	return r.keyVer != ver
}

func (r *Room) open(id log.ID, seq, epoch uint64, b []byte) ([]byte, [32]byte, error) {
	var o log.Opener
	return r.openWith(&o, r.keys, id, seq, epoch, b)
}

// openWith is open with o and keys: the plaintext is valid until o's next
// Open.
func (r *Room) openWith(o *log.Opener, keys map[uint64][]epochKey, id log.ID, seq, epoch uint64, b []byte) ([]byte, [32]byte, error) {
	for _, k := range keys[epoch] {
		if pt, err := o.Open(k.key, r.disc, id, seq, b); err == nil {
			return pt, k.id, nil
		}
	}
	return nil, [32]byte{}, errNoKey
}

// clock gives Lamport clocks to the decoded entries whose dependencies
// have them, and returns them.
func (r *Room) clock() []*node {
	var fresh []*node
	for {
		progress := false
		for _, ls := range r.logs {
			for len(ls.pending) > 0 {
				n := ls.pending[0]
				c, ok := r.clockOf(ls, n)
				if !ok {
					break
				}
				n.clock = c
				r.clocked(ls, n)
				ls.pending[0] = nil
				ls.pending = ls.pending[1:]
				fresh = append(fresh, n)
				progress = true
			}
			if len(ls.pending) == 0 {
				ls.pending = nil
			}
		}
		if !progress {
			return fresh
		}
	}
}

func (r *Room) clockOf(ls *logState, n *node) (uint64, bool) {
	var c uint64
	if n.ref.Seq > 0 {
		c, _ = r.clockAt(r.content.tx, ls, n.ref.Seq-1)
	}
	for _, d := range otherDeps(n.ref.Writer, n.entry) {
		dl, ok := r.logs[d.Writer]
		if !ok || uint64(dl.clocked) < d.Length {
			return 0, false
		}
		dc, ok := r.clockAt(r.content.tx, dl, d.Length-1)
		if !ok {
			return 0, false
		}
		c = max(c, dc)
	}
	return c + 1, true
}

// clockAt returns the clock of entry seq of a log, if it has one.
func (r *Room) clockAt(tx Tx, ls *logState, seq uint64) (uint64, bool) {
	switch {
	case seq >= uint64(ls.clocked):
		return 0, false
	case ls.run.has(seq):
		return ls.run.at(seq), true
	case ls.mem != nil:
		return ls.mem[seq].clock, true
	case tx == nil:
		return 0, false
	}
	run, ok := readRun(tx, ls.log.Writer(), seq)
	if !ok {
		r.content.fail(errors.Join(errRow, errors.New("an entry's clock is not stored")))
		return 0, false
	}
	return run.at(seq), true
}

// clocked records the clock of the next entry of a log: in its run, its
// dependencies in the store (in memory for an unsaved log).
func (r *Room) clocked(ls *logState, n *node) {
	seq := n.ref.Seq
	r.markExcluding(n)
	if ls.unsaved {
		ls.mem = append(ls.mem, n)
	} else if deps := otherDeps(n.ref.Writer, n.entry); len(deps) > 0 {
		r.content.fail(r.content.tx.Put(bucketDeps, seqKey(n.ref.Writer, seq), encodeDeps(deps)))
	}
	if ls.run.n > 0 && seq == ls.run.start+ls.run.n && n.clock == ls.run.clock+ls.run.n {
		ls.run.n++
		ls.run.dirty = !ls.unsaved
	} else {
		r.flushRun(ls)
		ls.run = clockRun{start: seq, clock: n.clock, n: 1, dirty: !ls.unsaved}
	}
	ls.clocked++
}

// flushRun writes a log's last run if it changed.
func (r *Room) flushRun(ls *logState) {
	if ls.run.dirty {
		r.content.fail(putRun(r.content.tx, ls.log.Writer(), ls.run))
		ls.run.dirty = false
	}
}

// storeRows writes the clocks and dependencies of a log kept in memory
// until its writer proved to be a member's device (flushHeld).
func (r *Room) storeRows(ls *logState) {
	w := ls.log.Writer()
	ls.run = clockRun{}
	for _, n := range ls.mem {
		if deps := otherDeps(w, n.entry); len(deps) > 0 {
			r.content.fail(r.content.tx.Put(bucketDeps, seqKey(w, n.ref.Seq), encodeDeps(deps)))
		}
		if ls.run.n > 0 && n.ref.Seq == ls.run.start+ls.run.n && n.clock == ls.run.clock+ls.run.n {
			ls.run.n++
			continue
		}
		if ls.run.n > 0 {
			ls.run.dirty = true
			r.flushRun(ls)
		}
		ls.run = clockRun{start: n.ref.Seq, clock: n.clock, n: 1}
	}
	ls.run.dirty = ls.run.n > 0
	r.flushRun(ls)
	ls.mem, ls.rowsDue = nil, false
}

// order1 places fresh entries in the order: applied in turn when they all
// come after what is applied and none may exclude anyone, otherwise the
// view is computed again from the start (a late branch, authority.go).
func (r *Room) order1(fresh []*node) {
	slices.SortFunc(fresh, func(a, b *node) int {
		if less(a, b) {
			return -1
		}
		return 1
	})
	tail := r.last == nil || less(r.last, fresh[0])
	if tail && !slices.ContainsFunc(fresh, func(n *node) bool { return !r.seenAll(n) }) {
		for _, n := range fresh {
			r.applyNode(n)
			r.applied(n)
		}
		return
	}
	if !tail && r.rewind(fresh) {
		return
	}
	r.recomputes++
	r.rebuild()
}

// seenAll reports whether an entry at the tail of the order may be
// applied as it comes although it may exclude someone: it excludes nobody
// whose entries it had not all seen. An exclusion changes what the passes
// of authority.go hand each other only if it is a violation: its target
// has an accepted entry it had not seen. An entry that had seen every
// entry of every other log the room holds (and, but for a hello, is the
// last of its own) cannot be one in any pass. A fork proof, which counts
// none of its target's entries as seen, always may.
func (r *Room) seenAll(n *node) bool {
	if n.entry == nil || !excludes(n.entry.Op.Type) {
		return true
	}
	if n.entry.Op.Type == OpFork {
		return false
	}
	f := r.frontier(n.ref)
	for w, ls := range r.logs {
		if w == n.ref.Writer {
			// A hello supersedes only devices of an older identity
			// epoch: never its own.
			if n.entry.Op.Type != OpHello && uint64(ls.clocked) > n.ref.Seq+1 {
				return false
			}
			continue
		}
		if f[w] < uint64(ls.clocked) {
			return false
		}
	}
	return true
}

// rebuild computes the view from the whole order, in as many passes as
// its exclusions take to settle (authority.go), reading the entries from
// the store again in each.
func (r *Room) rebuild() {
	var pre map[Ref]*exclusion
	void := map[Ref]bool{}
	for pass := 1; ; pass++ {
		r.content.clear()
		r.clearCkpts()
		r.view = newView(r.cfg.Founder, r.disc, r, r.content, pre)
		r.view.void = void
		r.last = nil
		r.eachEntry(func(n *node) {
			r.applyNode(n)
			r.applied(n)
		})
		next, same := r.view.nextPre()
		if same || pass == maxPasses {
			if !same {
				r.log.Warn("exclusions did not settle", logattr.Room(r.id.String()), slog.Int("passes", pass))
			}
			return
		}
		pre = next
	}
}

// entryCursor walks one log's clocked entries in order.
type entryCursor struct {
	ls   *logState
	next uint64  // the next entry to read
	buf  []*node // read, not yet given
	run  clockRun
}

type entryHeap []*entryCursor

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return less(h[i].buf[0], h[j].buf[0]) }
func (h entryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entryHeap) Push(x any)        { *h = append(*h, x.(*entryCursor)) }
func (h *entryHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// fill reads the cursor's next entries; false when the log has no more.
func (r *Room) fill(c *entryCursor) bool {
	ls := c.ls
	end := uint64(ls.clocked)
	if c.next >= end {
		return false
	}
	if ls.mem != nil {
		c.buf = append(c.buf[:0], ls.mem[c.next:min(end, c.next+readChunk)]...)
		c.next += uint64(len(c.buf))
		return true
	}
	blocks, err := r.blocksOf(ls, c.next, int(min(end-c.next, 64)))
	if err != nil || len(blocks) == 0 {
		r.content.fail(errors.Join(errRow, errors.New("the entries of a log could not be read again"), err))
		return false
	}
	c.buf = c.buf[:0]
	out := r.decodeBlocks(ls, c.next, blocks)
	for i := range out {
		seq := c.next
		if !c.run.has(seq) {
			switch run, ok := readRun(r.content.tx, ls.log.Writer(), seq); {
			case ls.run.has(seq):
				c.run = ls.run
			case ok:
				c.run = run
			default:
				r.content.fail(errors.Join(errRow, errors.New("an entry's clock is not stored")))
				return false
			}
		}
		if out[i].noKey {
			// The keys that opened it are kept: only a damaged store
			// gets here.
			r.content.fail(errors.Join(errRow, errNoKey))
			return false
		}
		n := &out[i].node
		n.clock = c.run.at(seq)
		c.buf = append(c.buf, n)
		c.next++
	}
	return true
}

// eachEntry calls fn with every entry that has a clock, in the room's
// order, read from the store (a merge of the logs by clock).
func (r *Room) eachEntry(fn func(n *node)) { r.eachEntryFrom(nil, fn) }

// eachEntryFrom is eachEntry from the first entry whose order key is at
// or after from.
func (r *Room) eachEntryFrom(from []byte, fn func(n *node)) {
	var h entryHeap
	for _, ls := range r.logs {
		c := &entryCursor{ls: ls}
		if from != nil {
			c.next = r.startAfter(ls, from)
		}
		if r.fill(c) {
			h = append(h, c)
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		c := h[0]
		n := c.buf[0]
		c.buf = c.buf[1:]
		fn(n)
		if len(c.buf) > 0 || r.fill(c) {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
}

// eachDeps calls fn with the dependencies declared by the entries
// [from, to] of writer's log that declare any, in order, until fn
// returns false.
func (r *Room) eachDeps(w identity.PublicKey, from, to uint64, fn func(seq uint64, deps []Dep) bool) {
	ls, ok := r.logs[w]
	if !ok {
		return
	}
	to = min(to, uint64(ls.clocked)-1)
	if uint64(ls.clocked) == 0 || from > to {
		return
	}
	if ls.mem != nil {
		for _, n := range ls.mem[from : to+1] {
			if deps := otherDeps(w, n.entry); len(deps) > 0 && !fn(n.ref.Seq, deps) {
				return
			}
		}
		return
	}
	tx := r.content.tx
	if tx == nil {
		return
	}
	c := tx.Cursor(bucketDeps)
	for k, v := c.Seek(seqKey(w, from)); k != nil; k, v = c.Next() {
		if len(k) != 40 || !bytes.Equal(k[:32], w[:]) {
			return
		}
		seq := binary.BigEndian.Uint64(k[32:])
		if seq > to {
			return
		}
		deps, err := decodeDeps(v)
		if err != nil {
			r.content.fail(err)
			return
		}
		if !fn(seq, deps) {
			return
		}
	}
}

// frontier implements dag: the entries an entry's writer had seen, by the
// dependencies declared by it and by every earlier entry of its log.
func (r *Room) frontier(ref Ref) map[identity.PublicKey]uint64 {
	if f, ok := r.fronts[ref]; ok {
		return f
	}
	f := map[identity.PublicKey]uint64{ref.Writer: ref.Seq + 1}
	r.eachDeps(ref.Writer, 0, ref.Seq, func(_ uint64, deps []Dep) bool {
		for _, d := range deps {
			if d.Length > f[d.Writer] {
				f[d.Writer] = d.Length
			}
		}
		return true
	})
	r.fronts[ref] = f
	return f
}

type verifiedDevice struct {
	d   Device
	err error
}

// device implements dag.
func (r *Room) device(ref Ref, proof, record []byte) (*Device, error) {
	vd, ok := r.verified[ref]
	if !ok {
		d, err := r.view.device(ref.Writer, proof, record)
		if d != nil {
			vd.d = *d
		}
		vd.err = err
		r.verified[ref] = vd
	}
	if vd.err != nil {
		return nil, vd.err
	}
	d := vd.d
	return &d, nil
}

type seenKey struct {
	writer identity.PublicKey
	target Ref
}

// seenScan remembers how far a log was searched for its first entry that
// had seen a target: entries never change, so neither does the answer.
type seenScan struct {
	next  uint64 // entries [0, next) were searched
	found bool
	at    uint64 // the first entry that had seen it
}

// seen implements dag.
func (r *Room) seen(ref, target Ref) bool {
	if ref.Writer == target.Writer {
		return ref.Seq > target.Seq
	}
	k := seenKey{ref.Writer, target}
	s, ok := r.seenAt[k]
	if !ok {
		s = &seenScan{}
		r.seenAt[k] = s
	}
	if !s.found && s.next <= ref.Seq {
		r.eachDeps(ref.Writer, s.next, ref.Seq, func(seq uint64, deps []Dep) bool {
			for _, d := range deps {
				if d.Writer == target.Writer && d.Length > target.Seq {
					s.found, s.at = true, seq
					return false
				}
			}
			return true
		})
		if !s.found {
			s.next = ref.Seq + 1
		}
	}
	return s.found && s.at <= ref.Seq
}

func (r *Room) applyNode(n *node) {
	if n.entry == nil {
		r.content.reject(orderKey(n.clock, n.ref), Rejection{Ref: n.ref, Reason: "undecodable"})
		return
	}
	err := r.view.sealedWith(n.epoch, n.keyID)
	if err == nil {
		err = r.view.apply(n.ref, n.clock, n.entry, n.epoch, n.keyID)
	}
	if err != nil {
		r.content.reject(orderKey(n.clock, n.ref), Rejection{Ref: n.ref, Op: n.entry.Op.Type, Reason: err.Error()})
	}
}

// resync sets every log's order from what the store holds and computes
// the view from it: when a room is loaded, and after a transaction that
// applied entries failed.
func (r *Room) resync() {
	tx := r.content.tx
	for w, ls := range r.logs {
		if ls.unsaved {
			continue // in memory, as it was
		}
		run, ok := lastRun(tx, w)
		if !ok || run.start+run.n > ls.log.Len() {
			run = clockRun{}
		}
		ls.run, ls.clocked, ls.decoded = run, int(run.start+run.n), int(run.start+run.n)
		ls.pending, ls.mem, ls.rowsDue, ls.peeked, ls.peekVer = nil, nil, false, 0, 0
	}
	r.fronts = map[Ref]map[identity.PublicKey]uint64{}
	r.seenAt = map[seenKey]*seenScan{}
	r.rebuild()
}
