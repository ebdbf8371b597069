package room

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// Errors callers branch on.
var (
	// ErrNotMember means this device may not write to the room (never
	// added, removed, or without the current epoch's key).
	ErrNotMember = errors.New("not a member of this room")
	// ErrUnknownMessage means a message id names no message.
	ErrUnknownMessage = errors.New("no such message")
	// ErrJunkLog means a log can never count: it does not open with a
	// member device's hello. It comes wrapped with log.ErrRefused;
	// whoever offers it (but a mirror, which passes on what it was
	// given) is at fault.
	ErrJunkLog = log.ErrJunk
)

// Self is this device as a writer of rooms.
type Self struct {
	Identity identity.PublicKey
	Device   identity.SigningKey
	Sealing  identity.SealingKey
	Proof    []byte // encoded device proof
	Record   []byte // encoded device record
}

// Store keeps a room's logs, which the room does not hold in memory:
// blocks with the heads that cover them, and the epoch keys learnt. The
// room reads blocks back when it decodes or serves them. Implementations
// must make a save durable before returning, and check that blocks start
// where the log stored ends and hash to the head's root. The room calls
// it with its lock held, so it must not call back into the room.
type Store interface {
	SaveBlocks(disc log.Discovery, head log.Head, start uint64, blocks [][]byte) error
	SaveKey(disc log.Discovery, epoch uint64, key [32]byte) error
	// ReadBlocks returns blocks [from, from+n) of writer's log, fewer
	// where it ends.
	ReadBlocks(disc log.Discovery, writer identity.PublicKey, from uint64, n int) ([][]byte, error)
	// Serve returns blocks [from, h.Length) of writer's log with the
	// head h that covers them, as Room.Blocks, h no longer than length.
	Serve(disc log.Discovery, writer identity.PublicKey, from, length uint64, maxBytes int) (h log.Head, blocks [][]byte, ok bool, err error)
	// Writers lists the writers of the logs stored.
	Writers(disc log.Discovery) ([]identity.PublicKey, error)
	// OpenLog returns writer's log as stored (empty if nothing is),
	// reading its proofs from the store.
	OpenLog(disc log.Discovery, writer identity.PublicKey) (*log.Log, error)
	// Update runs fn in a transaction on the room's view as kept (Tx):
	// all of fn's writes reach the store, or none. View runs fn to read.
	// Neither may be called from within fn.
	Update(disc log.Discovery, fn func(Tx) error) error
	View(disc log.Discovery, fn func(Tx) error) error
}

// Config opens a room. Key, Founder and Self are required; the zero
// values of the rest keep the room in memory (a MemStore), use the system
// clock and discard logs.
type Config struct {
	Key     Key
	Founder identity.PublicKey
	Self    Self
	Store   Store
	Now     func() time.Time
	Logger  *slog.Logger
	// OnChange, if set, is called (without the room's lock) after new
	// entries were applied, with the heads of this device's own log that
	// are new, so the caller can announce them.
	OnChange func(own []log.Head)
}

type logState struct {
	log     *log.Log
	bytes   int  // of blocks held while unsaved
	unsaved bool // held in memory only (Room.held): its writer is not known to be a member device yet
	// fresh are blocks [freshAt, freshAt+len) just written or received,
	// kept until they are decoded so they are not read back at once.
	fresh   [][]byte
	freshAt uint64
	decoded int       // blocks [0, decoded) were opened: [clocked, decoded) are pending
	peeked  int       // blocks [decoded, peeked) were searched for keys
	peekVer int       // with keyVer at that time
	clocked int       // entries [0, clocked) have clocks (order.go)
	pending []*node   // decoded, waiting for the entries they depend on
	ready   *prepared // entries of fresh blocks decoded ahead (Room.Prepare)
	run     clockRun
	// mem holds the entries [0, clocked) of an unsaved log, whose clocks
	// and dependencies are not stored; rowsDue: the log was saved since,
	// they are to be stored.
	mem     []*node
	rowsDue bool
}

// epochKey is a key of an epoch with its name (KeyIDOf).
type epochKey struct {
	key log.Key
	id  [32]byte
}

// Room is one room as this device holds it. It is safe for concurrent use.
type Room struct {
	cfg  Config
	log  *slog.Logger
	now  func() time.Time
	disc log.Discovery
	id   ID

	store Store     // cfg.Store, or a MemStore
	held  *MemStore // logs of devices not known yet (logState.unsaved)

	mu         sync.Mutex
	logs       map[identity.PublicKey]*logState
	keys       map[uint64][]epochKey
	keyVer     int                   // grows with keys
	rotKeys    map[Ref]log.Key       // the key each rotation of version 1 carried for this device
	last       *node                 // the last entry applied, in the order
	sinceCkpt  int                   // entries applied since the last checkpoint (rewind.go)
	rewinds    int                   // late branches applied by going back to a checkpoint
	recomputes int                   // fresh entries that made the view be computed from the start
	chunks     []*[readChunk]decoded // taken by decode during process (releaseChunks)
	// announced is the longest head peers announced of each log, while
	// this device has not said hello (Wants); helloWaitFrom is when its
	// hello first waited for them.
	announced     map[identity.PublicKey]uint64
	helloWaitFrom time.Time
	view          *View
	fronts        map[Ref]map[identity.PublicKey]uint64 // frontier of excluding entries
	seenAt        map[seenKey]*seenScan
	verified      map[Ref]verifiedDevice
	ownHeads      []log.Head // heads of the own log not yet reported by OnChange
	auto          bool       // writing a hello or rotation of our own accord
	content       *content   // the view's rows, within process's transaction
	// stale: the last transaction that applied entries failed, so the
	// store's rows lag the view: the next one computes them again.
	stale   bool
	newKeys []savedKey // learnt within a transaction, saved after it
}

// savedKey is an epoch key to save.
type savedKey struct {
	epoch uint64
	key   log.Key
}

// Open returns a room with no entries yet (Create writes the genesis;
// Receive and Load bring the rest).
func Open(cfg Config) (*Room, error) {
	if !cfg.Self.Device.Valid() {
		return nil, errors.New("room: no device key")
	}
	r := &Room{
		cfg:      cfg,
		log:      logattr.OrDiscard(cfg.Logger),
		now:      cfg.Now,
		disc:     cfg.Key.Discovery(),
		id:       cfg.Key.ID(),
		logs:     map[identity.PublicKey]*logState{},
		keys:     map[uint64][]epochKey{},
		rotKeys:  map[Ref]log.Key{},
		fronts:   map[Ref]map[identity.PublicKey]uint64{},
		seenAt:   map[seenKey]*seenScan{},
		verified: map[Ref]verifiedDevice{},
		store:    cfg.Store,
		held:     NewMemStore(),
	}
	if r.store == nil {
		r.store = NewMemStore()
	}
	if r.now == nil {
		r.now = time.Now
	}
	r.addKey(0, cfg.Key.epochZero())
	r.content = &content{order: func(ref Ref) ([]byte, bool) { return r.orderOf(r.content.tx, ref) }}
	r.view = newView(cfg.Founder, r.disc, r, r.content, nil)
	return r, nil
}

// ID returns the room's id.
func (r *Room) ID() ID { return r.id }

// Discovery returns the room's discovery key.
func (r *Room) Discovery() log.Discovery { return r.disc }

// Key returns the room key (to invite others).
func (r *Room) Key() Key { return r.cfg.Key }

// Founder returns the identity that created the room.
func (r *Room) Founder() identity.PublicKey { return r.cfg.Founder }

// Create writes the genesis entry: this device founds the room.
func (r *Room) Create(name string) error {
	if r.cfg.Founder != r.cfg.Self.Identity {
		return errors.New("room: only the founder writes the genesis")
	}
	_, err := r.Write(Op{Type: OpGenesis, Name: name, Proof: r.cfg.Self.Proof, Record: r.cfg.Self.Record})
	return err
}

// logFor returns the state of w's log, opening it from the store (or, for
// a device the view does not know, empty in memory, held) if the room has
// none yet.
func (r *Room) logFor(w identity.PublicKey, held bool) (*logState, error) {
	if ls, ok := r.logs[w]; ok {
		return ls, nil
	}
	ls := &logState{unsaved: held}
	var err error
	if ls.log, err = r.storeOf(ls).OpenLog(r.disc, w); err != nil {
		return nil, fmt.Errorf("opening the log of %s: %w", w.Short(), err)
	}
	r.logs[w] = ls
	return ls, nil
}

// storeOf is where a log's blocks are.
func (r *Room) storeOf(ls *logState) Store {
	if ls.unsaved {
		return r.held
	}
	return r.store
}

// blocksOf returns blocks [from, from+n) of a log, fewer where it ends:
// from those just saved if they are, else from its store.
func (r *Room) blocksOf(ls *logState, from uint64, n int) ([][]byte, error) {
	if from >= ls.freshAt && from < ls.freshAt+uint64(len(ls.fresh)) {
		i := from - ls.freshAt
		return ls.fresh[i:min(i+uint64(n), uint64(len(ls.fresh)))], nil
	}
	if tx := r.content.tx; tx != nil && !ls.unsaved {
		return tx.ReadBlocks(ls.log.Writer(), from, n)
	}
	return r.storeOf(ls).ReadBlocks(r.disc, ls.log.Writer(), from, n)
}

// saved records blocks [start, ...) just saved of a log, to be decoded.
func (ls *logState) saved(start uint64, blocks [][]byte) {
	if ls.freshAt+uint64(len(ls.fresh)) == start && len(ls.fresh) > 0 {
		ls.fresh = append(ls.fresh, blocks...)
		return
	}
	ls.fresh, ls.freshAt = slices.Clip(blocks), start
}

// Write appends one operation to this device's log and applies it.
func (r *Room) Write(op Op) (Ref, error) {
	refs, err := r.WriteBatch([]Op{op})
	if err != nil {
		return Ref{}, err
	}
	return refs[0], nil
}

// WriteBatch appends operations as one batch (one signed head) and
// applies them. A device's first write is preceded by its hello.
// MaxBatchBytes bounds the plaintext of one appended batch, so that a
// batch with its signed head always fits one sync frame. WriteBatch
// splits larger batches.
const MaxBatchBytes = 512 << 10

// MaxBatchEntries bounds the entries of one appended batch, so heads come
// often enough for a catching-up peer to verify and apply as it goes.
const MaxBatchEntries = 1024

func (r *Room) WriteBatch(ops []Op) ([]Ref, error) {
	r.mu.Lock()
	var refs []Ref
	var err error
	for len(ops) > 0 && err == nil {
		n, size := 0, 0
		for n < len(ops) && n < MaxBatchEntries {
			size += len(ops[n].Text) + len(ops[n].Proof) + len(ops[n].Record) + len(ops[n].Blob) + 64*len(ops[n].Keys) + 128
			if n > 0 && size > MaxBatchBytes {
				break
			}
			n++
		}
		var got []Ref
		got, err = r.writeLocked(ops[:n])
		refs = append(refs, got...)
		ops = ops[n:]
	}
	own := r.takeOwn()
	r.mu.Unlock()
	r.notify(own)
	return refs, err
}

func (r *Room) writeLocked(ops []Op) ([]Ref, error) {
	return r.writeWith(ops, nil)
}

// sealKey is a key to seal a batch with other than the current one.
type sealKey struct {
	epoch uint64
	key   log.Key
}

// writeWith appends ops sealed under with, or under the current key.
func (r *Room) writeWith(ops []Op, with *sealKey) ([]Ref, error) {
	me := r.cfg.Self.Device.Public()
	ls, err := r.logFor(me, false)
	if err != nil {
		return nil, err
	}
	hello := 0
	if ops[0].Type != OpGenesis {
		if _, ok := r.view.Members[r.cfg.Self.Identity]; !ok {
			return nil, ErrNotMember
		}
		if ls.log.Len() == 0 && ops[0].Type != OpHello {
			ops = append([]Op{{Type: OpHello, Proof: r.cfg.Self.Proof, Record: r.cfg.Self.Record}}, ops...)
			hello = 1
		} else if _, ok := r.view.Devices[me]; !ok && ops[0].Type != OpHello {
			return nil, ErrNotMember
		}
		if _, ok := r.view.Revoked[me]; ok {
			return nil, fmt.Errorf("%w: this device was revoked", ErrNotMember)
		}
		if _, ok := r.view.Forked[me]; ok {
			return nil, fmt.Errorf("%w: this device signed two histories of its log", ErrNotMember)
		}
	}
	epoch, key, ok := r.currentKey()
	if !ok && len(ops) == 1 && ops[0].Type == OpHello {
		// A device given the keys of an earlier epoch only still says
		// hello: the room's admins then share the keys it lacks.
		epoch, key, ok = r.newestKey()
	}
	if with != nil {
		epoch, key, ok = with.epoch, with.key, true
	}
	if !ok {
		return nil, ErrNotMember
	}
	deps := r.deps(me)
	now := r.now().UnixMilli()
	plain := make([][]byte, len(ops))
	for i := range ops {
		e := Entry{Deps: deps, Time: now, Op: ops[i]}
		b, err := e.MarshalBinary()
		if err != nil {
			return nil, err
		}
		plain[i] = b
		deps = nil // later entries of the batch follow the first one
	}
	// The batch counts once it is stored: a head signed and never stored
	// is never announced, and the next batch takes its place.
	start := ls.log.Len()
	next := ls.log.Clone()
	blocks, head, hashed, err := next.AppendHashed(r.cfg.Self.Device, key, epoch, plain)
	if err != nil {
		return nil, err
	}
	if err := r.process(&batch{ls: ls, next: next, head: head, start: start, blocks: blocks, hashed: hashed, own: true}); err != nil {
		return nil, err
	}
	refs := make([]Ref, 0, len(ops)-hello)
	for i := hello; i < len(ops); i++ {
		refs = append(refs, Ref{Writer: me, Seq: start + uint64(i)})
	}
	return refs, nil
}

// deps lists, for every other log, how many of its entries are ordered.
func (r *Room) deps(me identity.PublicKey) []Dep {
	var deps []Dep
	for w, ls := range r.logs {
		if w != me && ls.clocked > 0 {
			deps = append(deps, Dep{Writer: w, Length: uint64(ls.clocked)})
		}
	}
	slices.SortFunc(deps, func(a, b Dep) int { return bytes.Compare(a.Writer[:], b.Writer[:]) })
	if len(deps) > MaxRoomDevices {
		deps = deps[:MaxRoomDevices]
	}
	return deps
}

// currentKey returns the epoch and key to write with: the key of the
// rotation that won the current epoch.
func (r *Room) currentKey() (uint64, log.Key, bool) {
	e, id := r.view.Epoch, r.view.EpochKeyID
	if e == 0 {
		return 0, r.keys[0][0].key, true
	}
	if id == ([32]byte{}) { // a rotation of version 1
		k, ok := r.rotKeys[r.view.EpochRef]
		if !ok && len(r.keys[e]) == 1 {
			return e, r.keys[e][0].key, true
		}
		return e, k, ok
	}
	for _, k := range r.keys[e] {
		if k.id == id {
			return e, k.key, true
		}
	}
	return e, log.Key{}, false
}

// newestKey returns the newest key this device holds that an accepted
// rotation carried.
func (r *Room) newestKey() (uint64, log.Key, bool) {
	for e := r.view.Epoch; ; e-- {
		for _, k := range r.keys[e] {
			if e == 0 || r.view.sealedWith(e, k.id) == nil {
				return e, k.key, true
			}
		}
		if e == 0 {
			return 0, log.Key{}, false
		}
	}
}

// Receive adds blocks [n, head.Length) of a writer's log, where n is what
// the room holds of it, after verifying them against the signed head.
// Entries whose epoch key this device lacks wait (forever, for a removed
// member).
func (r *Room) Receive(head log.Head, blocks [][]byte) error {
	return r.receive(head, blocks, nil)
}

// receive is Receive using what Prepare did of the blocks, if p is of
// them.
func (r *Room) receive(head log.Head, blocks [][]byte, p *prepared) error {
	r.mu.Lock()
	err := r.receiveLocked(head, blocks, p)
	own := r.takeOwn()
	r.mu.Unlock()
	r.notify(own)
	return err
}

func (r *Room) receiveLocked(head log.Head, blocks [][]byte, p *prepared) error {
	if head.Writer == r.cfg.Self.Device.Public() {
		return errors.New("a peer sent this device's own log")
	}
	member := false
	if _, known := r.view.Devices[head.Writer]; !known {
		ls, held := r.logs[head.Writer]
		var first []byte
		switch {
		case held && ls.log.Len() > 0:
			bs, err := r.blocksOf(ls, 0, 1)
			if err != nil || len(bs) == 0 {
				return fmt.Errorf("reading the log of %s: %v", head.Writer.Short(), err)
			}
			first = bs[0]
		case len(blocks) > 0:
			first = blocks[0]
		}
		size := 0
		for _, b := range blocks {
			size += len(b)
		}
		if first != nil {
			m, err := r.admit(head.Writer, first, held, head.Length, size)
			if err != nil {
				return err
			}
			member = m
		}
	}
	// A log of a device the view does not know is held in memory until
	// its writer proves to be a member's device (its hello names a
	// member, or the view comes to know it: flushHeld): a stranger's log
	// never reaches the disk.
	_, known := r.view.Devices[head.Writer]
	ls, err := r.logFor(head.Writer, !known && !member)
	if err != nil {
		return err
	}
	forget := func() {
		if ls.log.Len() == 0 && ls.decoded == 0 {
			delete(r.logs, head.Writer)
		}
	}
	start := ls.log.Len()
	next := ls.log.Clone()
	var hashed *log.Hashed
	if p.covers(head.Writer, start, blocks) {
		hashed, err = p.extend(next, head, start, blocks)
	} else {
		p = nil
		hashed, err = next.ExtendHashed(head, blocks)
	}
	if err != nil {
		forget()
		return err
	}
	if !ls.unsaved {
		// Stored with what it changes in the view, in one transaction.
		err := r.process(&batch{ls: ls, next: next, head: head, start: start, blocks: blocks, hashed: hashed, prepared: p})
		if err != nil {
			forget()
		}
		return err
	}
	if err := r.held.SaveBlocks(r.disc, head, start, blocks); err != nil {
		forget()
		return fmt.Errorf("saving entries: %w", err)
	}
	ls.log = next
	ls.saved(start, blocks)
	for _, b := range blocks {
		ls.bytes += len(b)
	}
	return r.process(nil)
}

// flushHeld saves the logs held in memory whose writers the view now
// knows.
func (r *Room) flushHeld() error {
	var first error
	for w, ls := range r.logs {
		if _, known := r.view.Devices[w]; !ls.unsaved || !known {
			continue
		}
		if err := r.flush(ls); err != nil && first == nil {
			first = fmt.Errorf("saving entries: %w", err)
		}
	}
	return first
}

// flush moves a held log to the store, head by head (a flush cut short
// goes on from what was stored).
func (r *Room) flush(ls *logState) error {
	w := ls.log.Writer()
	stored, err := r.store.OpenLog(r.disc, w)
	if err != nil {
		return err
	}
	from := stored.Len()
	for _, h := range r.held.heads(r.disc, w) {
		if h.Length <= from {
			continue
		}
		blocks, err := r.held.ReadBlocks(r.disc, w, from, int(h.Length-from))
		if err != nil {
			return err
		}
		if err := r.store.SaveBlocks(r.disc, h, from, blocks); err != nil {
			return err
		}
		from = h.Length
	}
	if stored, err = r.store.OpenLog(r.disc, w); err != nil {
		return err
	}
	if stored.Len() != ls.log.Len() {
		return fmt.Errorf("the log of %s: %d blocks stored of %d held", w.Short(), stored.Len(), ls.log.Len())
	}
	ls.log, ls.unsaved, ls.bytes, ls.rowsDue = stored, false, 0, true
	r.held.drop(r.disc, w)
	return nil
}

// MaxStrangers bounds the logs a room holds of devices its view does not
// know, MaxStrangerEntries each one's length and MaxStrangerBytes their
// bytes together. A new device's log may come before the entry that adds
// its identity, or sealed with an epoch key that has not come yet; but a
// peer that knows the room's discovery key without being a member (a
// mirror, a former member) must not make members hold logs of any number
// of fresh keys, or of any length. Such logs stay in memory until their
// writer proves to be a member's device; one refused now is asked for
// again at the peer's next heads.
const (
	MaxStrangers       = 16
	MaxStrangerEntries = 1024
	MaxStrangerBytes   = 256 << 10
)

// admit decides whether the room holds (held: goes on holding) length
// entries of the log of writer, a device its view does not know, whose
// first block is first. A log must open with its device's hello (or the
// founder's genesis): one that opens and is anything else can never count
// and is refused; one that is the hello of a member's device is taken,
// whatever its length (member); one that cannot be judged yet (its epoch
// key, or its identity's admission, has not come) is held while fewer
// than MaxStrangers are, up to MaxStrangerEntries.
func (r *Room) admit(writer identity.PublicKey, first []byte, held bool, length uint64, size int) (member bool, err error) {
	refuse := func(why string) (bool, error) {
		return false, fmt.Errorf("%w: the log of %s: %s", log.ErrRefused, writer.Short(), why)
	}
	junk := func(why string) (bool, error) {
		return false, fmt.Errorf("%w: %w: the log of %s: %s", log.ErrRefused, ErrJunkLog, writer.Short(), why)
	}
	epoch, err := log.BlockEpoch(first)
	if err != nil {
		return false, err // malformed: the log says so the same way
	}
	if pt, _, err := r.open(log.LogID(r.disc, writer), 0, epoch, first); err == nil {
		e, err := ParseEntry(pt)
		switch {
		case err != nil:
			return junk("its first entry does not decode")
		case e.Op.Type != OpHello && e.Op.Type != OpGenesis:
			return junk("it does not begin with a hello")
		}
		d, err := r.view.device(writer, e.Op.Proof, e.Op.Record)
		if err != nil {
			return junk("its device proof does not verify")
		}
		if _, ok := r.view.Members[d.Identity]; ok || e.Op.Type == OpGenesis && d.Identity == r.cfg.Founder {
			return true, nil
		}
	}
	if length > MaxStrangerEntries {
		return refuse(fmt.Sprintf("%d entries of a device the room does not know yet", length))
	}
	strangers, bytes := 0, 0
	for w, ls := range r.logs {
		if _, ok := r.view.Devices[w]; !ok && w != r.cfg.Self.Device.Public() {
			strangers++
			bytes += ls.bytes
		}
	}
	if bytes+size > MaxStrangerBytes {
		return refuse(fmt.Sprintf("the room holds %d bytes of logs of devices it does not know", bytes))
	}
	if !held && strangers >= MaxStrangers {
		return refuse(fmt.Sprintf("the room already holds %d logs of devices it does not know", strangers))
	}
	return false, nil
}

// Load opens every log the store holds, as stored (the store verified
// them when they were saved), and the view as it was applied: nothing is
// verified, decoded or applied again. Call it, with LoadKey, before
// Process; a room whose view was not stored (or was stored by another
// version) computes it again there, reading its logs.
func (r *Room) Load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	writers, err := r.store.Writers(r.disc)
	if err != nil {
		return fmt.Errorf("loading room %s: %w", r.id, err)
	}
	for _, w := range writers {
		if _, err := r.logFor(w, false); err != nil {
			return fmt.Errorf("loading room %s: %w", r.id, err)
		}
	}
	var restored bool
	err = r.store.View(r.disc, func(tx Tx) error {
		r.content.tx = tx
		defer func() { r.content.tx = nil }()
		var err error
		restored, err = r.restoreState(tx)
		return err
	})
	if err != nil {
		r.log.Warn("the stored view is computed again", logattr.Room(r.id.String()), logattr.Err(err))
	}
	r.stale = !restored
	if restored {
		r.rotKeyOfEpoch()
	}
	return nil
}

// rotKeyOfEpoch learns again the key that the rotation which began the
// current epoch carried for this device, when the rotation names no key
// (version 1): the room remembers it only in memory.
func (r *Room) rotKeyOfEpoch() {
	v := r.view
	if v.Epoch == 0 || v.EpochKeyID != ([32]byte{}) {
		return
	}
	ls, ok := r.logs[v.EpochRef.Writer]
	if !ok {
		return
	}
	blocks, err := r.blocksOf(ls, v.EpochRef.Seq, 1)
	if err != nil || len(blocks) == 0 {
		return
	}
	if n, err := r.decodeBlock(ls, v.EpochRef.Seq, blocks[0]); err == nil && n.entry != nil {
		r.learnKey(n.ref, &n.entry.Op)
	}
}

// LoadLog adds a log held elsewhere, the heads in ascending order and
// every block, verified like Receive and saved; a device's copy of its
// own log included (tests make twins of a device this way).
func (r *Room) LoadLog(writer identity.PublicKey, heads []log.Head, blocks [][]byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ls, err := r.logFor(writer, false)
	if err != nil {
		return err
	}
	for _, h := range heads {
		start := ls.log.Len()
		if h.Length <= start {
			continue
		}
		if h.Length > uint64(len(blocks)) {
			return fmt.Errorf("loading log %s: head of %d blocks, %d given", writer.Short(), h.Length, len(blocks))
		}
		next := ls.log.Clone()
		if err := next.Extend(h, blocks[start:h.Length]); err != nil {
			return fmt.Errorf("loading log %s: %w", writer.Short(), err)
		}
		if err := r.store.SaveBlocks(r.disc, h, start, blocks[start:h.Length]); err != nil {
			return fmt.Errorf("loading log %s: %w", writer.Short(), err)
		}
		ls.log = next
	}
	return nil
}

// LoadKey restores an epoch key saved by Store.
func (r *Room) LoadKey(epoch uint64, key [32]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addKey(epoch, log.NewKey(key))
}

// KeyIDOf names an epoch's key in the entries that carry it, so that
// every device tells which key of an epoch opened a block. It reveals
// nothing of the key.
func KeyIDOf(disc log.Discovery, epoch uint64, k log.Key) [32]byte {
	kb := k.Bytes()
	h := sha256.New()
	h.Write([]byte("hearth/epoch-key-id/v1\x00"))
	h.Write(disc[:])
	h.Write(binary.BigEndian.AppendUint64(nil, epoch))
	h.Write(kb[:])
	return [32]byte(h.Sum(nil))
}

// Process applies everything loaded; call it once after LoadLog and
// LoadKey.
func (r *Room) Process() {
	r.mu.Lock()
	r.process(nil)
	own := r.takeOwn()
	r.mu.Unlock()
	r.notify(own)
}

func (r *Room) addKey(epoch uint64, k log.Key) bool {
	id := KeyIDOf(r.disc, epoch, k)
	for _, have := range r.keys[epoch] {
		if have.id == id {
			return false
		}
	}
	r.keys[epoch] = append(r.keys[epoch], epochKey{key: k, id: id})
	r.keyVer++
	return true
}

func (r *Room) takeOwn() []log.Head {
	own := r.ownHeads
	r.ownHeads = nil
	return own
}

func (r *Room) notify(own []log.Head) {
	if r.cfg.OnChange != nil {
		r.cfg.OnChange(own)
	}
}

// process decodes what can be decoded, orders it and applies it, until
// nothing changes (a rotation may bring keys that open more blocks).
// batch is blocks to store with what they change in the view: next is
// their log once they are.
type batch struct {
	ls     *logState
	next   *log.Log
	head   log.Head
	start  uint64
	blocks [][]byte
	hashed *log.Hashed
	own    bool // written by this device: its head is announced
	// prepared is what Room.Prepare did of the blocks, if anything.
	prepared *prepared
}

// process decodes what can be decoded, orders it and applies it, until
// nothing changes (a rotation may bring keys that open more blocks), in
// one transaction of the store with b's blocks, if any: they are stored
// only with what they change, and what they change only with them. The
// error is b's not being stored.
func (r *Room) process(b *batch) error {
	defer r.releaseChunks()
	var prev *log.Log
	var saveErr error
	err := r.store.Update(r.disc, func(tx Tx) error {
		r.content.tx, r.content.err = tx, nil
		defer func() { r.content.tx = nil }()
		if b != nil {
			if saveErr = tx.SaveBlocks(b.head, b.start, b.blocks, b.hashed); saveErr != nil {
				return saveErr
			}
			prev, b.ls.log = b.ls.log, b.next
			b.ls.saved(b.start, b.blocks)
			b.ls.ready = b.prepared
		}
		for _, ls := range r.logs {
			if ls.rowsDue {
				r.storeRows(ls)
			}
		}
		if r.stale {
			r.resync()
		}
		for {
			decoded := r.decode()
			fresh := r.clock()
			if len(fresh) > 0 {
				r.order1(fresh)
			}
			if !decoded && len(fresh) == 0 {
				break
			}
		}
		for _, ls := range r.logs {
			r.flushRun(ls)
		}
		r.saveState()
		return r.content.err
	})
	if saveErr != nil {
		return fmt.Errorf("saving entries: %w", saveErr)
	}
	if err != nil {
		// Nothing of the transaction reached the store: the view in
		// memory is ahead of it, and computed again next time.
		r.stale = true
		r.log.Warn("saving the view", logattr.Room(r.id.String()), logattr.Err(err))
		if b != nil {
			if prev != nil {
				b.ls.log, b.ls.fresh, b.ls.ready = prev, nil, nil
			}
			return fmt.Errorf("saving entries: %w", err)
		}
	} else {
		r.stale = false
	}
	if b != nil && b.own {
		r.ownHeads = append(r.ownHeads, b.head)
	}
	r.saveKeys()
	r.maybeHello()
	r.maybeRotate()
	r.maybeShare()
	if err := r.flushHeld(); err != nil {
		r.log.Warn("saving entries", logattr.Room(r.id.String()), logattr.Err(err))
	}
	for _, ls := range r.logs {
		ls.fresh = nil
		if ls.ready != nil {
			r.chunks = append(r.chunks, ls.ready.chunks...) // releaseChunks
			ls.ready = nil
		}
	}
	return nil
}

// maxKeysPerEntry bounds the sealed keys of one rotation or sharing
// entry (about 1.2 KB each), so it stays within log.MaxEntryLen.
const maxKeysPerEntry = 32

// maybeShare seals the keys of accepted rotations this device holds to
// member devices that were not given them: one whose hello came before
// the key's epoch began and that no rotation or sharing sealed it to (it
// was added, or its member added back, concurrently with the rotation),
// or one whose hello was sealed in that epoch under another of its keys
// (two rotations of one epoch). Admins and moderators do it. Without it
// such a device could not open entries every other member accepts.
func (r *Room) maybeShare() {
	if r.auto {
		return
	}
	v := r.view
	me := r.cfg.Self.Device.Public()
	d, ok := v.Devices[me]
	if !ok || d.Revoked || d.Forked || v.Role(d.Identity) < RoleModerator {
		return
	}
	if _, _, ok := r.currentKey(); !ok {
		return
	}
	epochs := make([]uint64, 0, len(v.epochKeys))
	for e := range v.epochKeys {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	// Each device gets its keys sealed under the key of its hello, the
	// one it surely holds.
	type group struct {
		epoch uint64
		id    [32]byte
	}
	ops := map[group][]Op{}
	for _, epoch := range epochs {
		for _, id := range v.epochKeys[epoch] {
			var key log.Key
			found := false
			for _, k := range r.keys[epoch] {
				if k.id == id {
					key, found = k.key, true
				}
			}
			if !found {
				continue
			}
			kb := key.Bytes()
			byGroup := map[group][]SealedKey{}
			for dev, info := range v.Devices {
				switch {
				case dev == me, v.keyHolders[id][dev], info.Revoked, info.Forked, v.Role(info.Identity) == 0,
					info.helloEpoch > epoch, info.helloEpoch == epoch && info.helloKey == id:
					continue
				}
				sealed, err := info.Sealing.Seal(rotationInfo(r.disc, epoch), kb[:])
				if err != nil {
					r.log.Warn("sealing epoch key", logattr.Dev(dev), logattr.Err(err))
					continue
				}
				g := group{info.helloEpoch, info.helloKey}
				byGroup[g] = append(byGroup[g], SealedKey{Device: dev, Sealed: sealed})
			}
			for g, keys := range byGroup {
				slices.SortFunc(keys, func(a, b SealedKey) int { return bytes.Compare(a.Device[:], b.Device[:]) })
				for keys := range slices.Chunk(keys, maxKeysPerEntry) {
					ops[g] = append(ops[g], Op{Type: OpKeys, Epoch: epoch, KeyID: id, Keys: keys})
				}
			}
		}
	}
	if len(ops) == 0 {
		return
	}
	groups := slices.Collect(maps.Keys(ops))
	slices.SortFunc(groups, func(a, b group) int {
		if a.epoch != b.epoch {
			return cmp.Compare(a.epoch, b.epoch)
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	r.auto = true
	defer func() { r.auto = false }()
	for _, g := range groups {
		with := &sealKey{epoch: g.epoch}
		found := false
		for _, k := range r.keys[g.epoch] {
			if k.id == g.id || g.epoch == 0 {
				with.key, found = k.key, true
				break
			}
		}
		if !found {
			continue
		}
		if _, err := r.writeWith(ops[g], with); err != nil {
			r.log.Warn("sharing epoch keys", logattr.Room(r.id.String()), logattr.Err(err))
		}
	}
}

// maybeHello registers this device as soon as its identity is a member
// and it holds what its peers announced of the room (or helloWait after
// it first waited for that): its hello carries the sealing key that epoch
// rotations seal keys to.
func (r *Room) maybeHello() {
	if r.auto || r.cfg.Founder == r.cfg.Self.Identity && r.view.Name == "" {
		return
	}
	me := r.cfg.Self.Device.Public()
	if ls, ok := r.logs[me]; ok && ls.log.Len() > 0 {
		return
	}
	if _, ok := r.view.Members[r.cfg.Self.Identity]; !ok {
		return
	}
	if r.behind() {
		if r.helloWaitFrom.IsZero() {
			r.helloWaitFrom = r.now()
		}
		if r.now().Sub(r.helloWaitFrom) < helloWait {
			return
		}
	}
	r.announced = nil
	r.auto = true
	defer func() { r.auto = false }()
	if _, err := r.writeLocked([]Op{{Type: OpHello, Proof: r.cfg.Self.Proof, Record: r.cfg.Self.Record}}); err != nil {
		r.log.Warn("saying hello", logattr.Room(r.id.String()), logattr.Err(err))
	}
}

// helloWait bounds how long a device that finds itself a member waits
// before saying hello while peers announce more of the room than it
// holds. Said once it caught up, its hello sorts after the history it
// took, for every member; said midway, it sorts inside it, and each
// member that holds the rest goes back there to apply it (rewind.go),
// applying again all that follows: a whole history, for a new member of
// an old room. A peer that announces what it never sends delays the
// hello this long at most.
const helloWait = 30 * time.Second

// maxAnnounced bounds the logs whose announced lengths a device that has
// not said hello yet remembers.
const maxAnnounced = 256

// Wants notes a signed head a peer announced that is longer than what the
// room holds of its log (the sync protocol asks for the rest then): until
// it holds that much, a device that has not said hello yet waits
// (maybeHello). The room wants every log.
func (r *Room) Wants(h log.Head) bool {
	r.mu.Lock()
	me := r.cfg.Self.Device.Public()
	if ls, ok := r.logs[me]; (!ok || ls.log.Len() == 0) && h.Writer != me && h.Length > r.lenLocked(h.Writer) {
		if r.announced == nil {
			r.announced = map[identity.PublicKey]uint64{}
		}
		if _, ok := r.announced[h.Writer]; ok || len(r.announced) < maxAnnounced {
			r.announced[h.Writer] = max(r.announced[h.Writer], h.Length)
		}
	}
	r.maybeHello() // a wait may have run out
	own := r.takeOwn()
	r.mu.Unlock()
	r.notify(own)
	return true
}

// behind reports whether a peer announced more of a log than the room
// holds.
func (r *Room) behind() bool {
	for w, n := range r.announced {
		if r.lenLocked(w) < n {
			return true
		}
	}
	return false
}

// learnKey opens the key a rotation or a sharing of keys sealed for this
// device, whether or not the view accepts the entry: a key is only ever
// used to open blocks, and what they say is judged by the view.
func (r *Room) learnKey(ref Ref, o *Op) {
	me := r.cfg.Self.Device.Public()
	for _, sk := range o.Keys {
		if sk.Device != me {
			continue
		}
		pt, err := r.cfg.Self.Sealing.Open(rotationInfo(r.disc, o.Epoch), sk.Sealed)
		if err != nil || len(pt) != 32 {
			r.log.Debug("epoch key not opened", logattr.Room(r.id.String()), logattr.Err(err))
			return
		}
		k := log.NewKey([32]byte(pt))
		if o.KeyID != ([32]byte{}) && KeyIDOf(r.disc, o.Epoch, k) != o.KeyID {
			r.log.Debug("epoch key not the one named", logattr.Room(r.id.String()), logattr.Dev(ref.Writer))
			return
		}
		if o.Type == OpRotate {
			r.rotKeys[ref] = k
		}
		if r.addKey(o.Epoch, k) {
			r.newKeys = append(r.newKeys, savedKey{o.Epoch, k})
		}
		return
	}
}

// saveKeys saves the epoch keys learnt (outside the transaction that
// learnt them: a Store is not called from within one).
func (r *Room) saveKeys() {
	for _, k := range r.newKeys {
		if err := r.store.SaveKey(r.disc, k.epoch, k.key.Bytes()); err != nil {
			r.log.Warn("saving epoch key", logattr.Room(r.id.String()), logattr.Err(err))
		}
	}
	r.newKeys = nil
}

func rotationInfo(d log.Discovery, epoch uint64) []byte {
	return fmt.Appendf([]byte("hearth/epoch-key/v1\x00"), "%x/%d", d[:], epoch)
}

// maybeRotate starts a new epoch when a member or device was removed since
// the last rotation and this device is an admin or moderator.
func (r *Room) maybeRotate() {
	if !r.view.rotateNeeded || r.auto {
		return
	}
	me := r.cfg.Self.Device.Public()
	d, ok := r.view.Devices[me]
	if !ok || d.Revoked || d.Forked || r.view.Role(d.Identity) < RoleModerator {
		return
	}
	// An admin or moderator who removed someone rotates at once; only
	// when a member left or a device was revoked do the others step in.
	if by := r.view.rotateBy; by != d.Identity && r.view.Role(by) >= RoleModerator {
		return
	}
	if _, _, ok := r.currentKey(); !ok {
		return
	}
	key := log.RandomKey()
	kb := key.Bytes()
	epoch := r.view.Epoch + 1
	op := Op{Type: OpRotate, Epoch: epoch, KeyID: KeyIDOf(r.disc, epoch, key)}
	for dev, info := range r.view.Devices {
		if info.Revoked || info.Forked {
			continue
		}
		if _, ok := r.view.Members[info.Identity]; !ok {
			continue
		}
		sealed, err := info.Sealing.Seal(rotationInfo(r.disc, epoch), kb[:])
		if err != nil {
			r.log.Warn("sealing epoch key", logattr.Dev(dev), logattr.Err(err))
			continue
		}
		op.Keys = append(op.Keys, SealedKey{Device: dev, Sealed: sealed})
	}
	slices.SortFunc(op.Keys, func(a, b SealedKey) int { return bytes.Compare(a.Device[:], b.Device[:]) })
	// One entry holds the keys of maxKeysPerEntry devices: the rest
	// follow in the same batch, as sharings of the new key.
	ops := []Op{op}
	if len(op.Keys) > maxKeysPerEntry {
		rest := op.Keys[maxKeysPerEntry:]
		ops[0].Keys = op.Keys[:maxKeysPerEntry]
		for keys := range slices.Chunk(rest, maxKeysPerEntry) {
			ops = append(ops, Op{Type: OpKeys, Epoch: epoch, KeyID: op.KeyID, Keys: keys})
		}
	}
	r.auto = true
	defer func() { r.auto = false }()
	if _, err := r.writeLocked(ops); err != nil {
		r.log.Warn("rotating epoch", logattr.Room(r.id.String()), logattr.Err(err))
	}
}

// NamesMirror says whether the room names peer (a peer id) as a mirror:
// a mirror passes on whatever was left with it, junk included.
func (r *Room) NamesMirror(peer string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.view.Mirrors[peer]
	return ok
}

// View calls fn with the current view, under the room's lock: fn must not
// keep it or call the room.
func (r *Room) View(fn func(v *View)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(r.view)
}

// Heads returns the latest signed head of every log held.
func (r *Room) Heads() []log.Head {
	r.mu.Lock()
	defer r.mu.Unlock()
	heads := make([]log.Head, 0, len(r.logs))
	for _, ls := range r.logs {
		if h, ok := ls.log.Head(); ok {
			heads = append(heads, h)
		}
	}
	slices.SortFunc(heads, func(a, b log.Head) int { return bytes.Compare(a.Writer[:], b.Writer[:]) })
	return heads
}

// Len returns how many blocks of writer's log are held.
func (r *Room) Len(writer identity.PublicKey) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lenLocked(writer)
}

func (r *Room) lenLocked(writer identity.PublicKey) uint64 {
	if ls, ok := r.logs[writer]; ok {
		return ls.log.Len()
	}
	return 0
}

// Blocks returns blocks [from, h.Length) of writer's log and the signed
// head h that covers them: the longest head whose blocks past from total
// at most maxBytes, or the first head past from if even that one is
// larger. ok is false if nothing past from is held.
func (r *Room) Blocks(writer identity.PublicKey, from uint64, maxBytes int) (h log.Head, blocks [][]byte, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ls, found := r.logs[writer]
	if !found || ls.log.Len() <= from {
		return log.Head{}, nil, false
	}
	h, blocks, ok, err := r.storeOf(ls).Serve(r.disc, writer, from, ls.log.Len(), maxBytes)
	if err != nil {
		r.log.Warn("reading entries to serve", logattr.Room(r.id.String()), logattr.Dev(writer), logattr.Err(err))
		return log.Head{}, nil, false
	}
	return h, blocks, ok
}

// Copy gives dst every block src holds that dst lacks, in process, as
// the sync protocol would: a log dst refuses for now (it cannot judge it
// yet) is offered again once another log was taken. For tests and
// measurements of rooms without a network.
func Copy(dst, src *Room) error {
	for {
		progress, refused := false, false
		for _, h := range src.Heads() {
			hh, blocks, ok := src.Blocks(h.Writer, dst.Len(h.Writer), 1<<30)
			if !ok || h.Writer == dst.cfg.Self.Device.Public() {
				continue
			}
			switch err := dst.Receive(hh, blocks); {
			case errors.Is(err, log.ErrRefused):
				refused = true
			case err != nil:
				return err
			default:
				progress = true
			}
		}
		if !refused || !progress {
			return nil
		}
	}
}

// Check compares a head announced by a peer with the log held and returns
// a fork proof if the writer signed two histories.
func (r *Room) Check(h log.Head) (*log.ForkProof, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ls, ok := r.logs[h.Writer]
	if !ok {
		return nil, nil
	}
	return ls.log.Check(h)
}

// EpochKeys returns every epoch key this device holds, to hand to a new
// member or device so it can read the history. The caller keeps them
// secret.
func (r *Room) EpochKeys() map[uint64][][32]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[uint64][][32]byte{}
	for e, ks := range r.keys {
		if e == 0 {
			continue // derived from the room key
		}
		for _, k := range ks {
			out[e] = append(out[e], k.key.Bytes())
		}
	}
	return out
}
