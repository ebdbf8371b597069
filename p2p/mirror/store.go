package mirror

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/logdb"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/storage"
)

// Defaults of a mirror's limits.
const (
	DefaultBudget = 8 << 30   // bytes of everything kept, pinned data aside
	DefaultQuota  = 256 << 20 // bytes of the rooms one stranger asked to keep
	// MaxRoomsPerStranger bounds the rooms one identity that is not an
	// owner can ask to keep, and those one peer can; MaxStrangerRooms
	// those all identities that are not owners can.
	MaxRoomsPerStranger = 64
	MaxStrangerRooms    = 4096
)

// Errors of the store.
var (
	ErrNotKept = errors.New("this mirror does not keep that room")
	ErrDenied  = errors.New("only an owner of the mirror or whoever asked to keep the room may do that")
	// ErrFull wraps replication.ErrRefused: the data is fine, there is no
	// room for it.
	ErrFull = fmt.Errorf("%w: mirror quota or budget exhausted", replication.ErrRefused)
)

// Config sets a Store's policy.
type Config struct {
	// Owners are the identities that may keep, pin and drop without
	// limit.
	Owners []identity.PublicKey
	// Budget bounds the bytes of unpinned data; the least recently used
	// unpinned room is evicted to make space. Zero means DefaultBudget.
	Budget int64
	// Quota bounds the bytes of the rooms one stranger asked to keep.
	// Zero means DefaultQuota.
	Quota int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
	// DropBlob deletes a file's chunks when its room is dropped or
	// evicted; nil keeps them.
	DropBlob func(root [32]byte)
}

// Info describes one kept room.
type Info struct {
	Discovery log.Discovery      `json:"discovery"`
	Requester identity.PublicKey `json:"requester"`
	Pinned    bool               `json:"pinned"`
	Bytes     int64              `json:"bytes"`
	Logs      int                `json:"logs"`
	Entries   uint64             `json:"entries"`
	Kept      time.Time          `json:"kept"`
	Used      time.Time          `json:"used"`
	// Limit is the most the room may hold here: the budget for an owner's
	// room, the quota (within it) for a stranger's.
	Limit int64 `json:"limit,omitempty"`
}

// record is what the database holds of a kept room.
type record struct {
	Requester identity.PublicKey `json:"requester"`
	Peer      string             `json:"peer,omitempty"` // the peer that asked
	Pinned    bool               `json:"pinned"`
	Bytes     int64              `json:"bytes"`
	Kept      int64              `json:"kept"` // unix ms
	Used      int64              `json:"used"` // unix ms
	// Blobs are the files of the room kept here (ciphertext chunks in the
	// chunk store), root (hex) → bytes of verified chunks held.
	Blobs map[string]int64 `json:"blobs,omitempty"`
	// Pending are the files accepted and not all fetched yet, root (hex)
	// → the size their manifest claims. A claim counts for nothing: the
	// chunks count as they arrive and verify (GrowBlob).
	Pending map[string]int64 `json:"pending,omitempty"`
}

var bucketRecords = []byte("mirror")

func bucketOf(kind string, d log.Discovery) []byte {
	return []byte("mirror-" + kind + "/" + d.String())
}

// buckets are the room's buckets of blocks and heads.
func (b *Blind) buckets() logdb.Buckets {
	return logdb.Named(func(kind string) []byte { return bucketOf(kind, b.disc) })
}

// Store keeps rooms blind: ciphertext blocks and signed heads, verified
// against the writer's signature before they are stored, never a key.
//
// Its memory does not grow with what it keeps: a kept room is a record on
// disk, and in memory a summary of a few words (who asked, its bytes,
// when it was last used: what quotas and eviction weigh). A room's logs
// and names are loaded when a peer syncs it (Lookup) or an owner acts on
// it, and unloaded once idle, at most maxLive at a time.
type Store struct {
	db  *storage.DB
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	rooms     map[log.Discovery]*summary                // every kept room
	live      map[log.Discovery]*Blind                  // loaded rooms (lazy.go)
	revoked   map[identity.PublicKey]identity.PublicKey // revoked device -> its identity (revoked.go)
	revokedOf map[identity.PublicKey]int                // revocations kept per identity
	epochs    map[identity.PublicKey]uint64             // newest identity epoch seen per identity
}

// summary is what the store keeps in memory of a kept room.
type summary struct {
	requester identity.PublicKey // these three under Store.mu
	peer      string
	pinned    bool
	bytes     atomic.Int64 // as the room's record says
	used      atomic.Int64
}

func summaryOf(rec record) *summary {
	s := &summary{requester: rec.Requester, peer: rec.Peer, pinned: rec.Pinned}
	s.bytes.Store(rec.Bytes)
	s.used.Store(rec.Used)
	return s
}

// Open opens the store of db: the kept rooms' records are read, their
// logs only when they are used.
func Open(db *storage.DB, cfg Config) (*Store, error) {
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.Quota <= 0 {
		cfg.Quota = DefaultQuota
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Store{db: db, cfg: cfg, log: logattr.OrDiscard(cfg.Logger), rooms: map[log.Discovery]*summary{}, live: map[log.Discovery]*Blind{}}
	err := db.View(func(tx *storage.Tx) error {
		return tx.ForEach(bucketRecords, func(k, v []byte) error {
			var rec record
			if len(k) != len(log.Discovery{}) {
				return fmt.Errorf("mirror record key of %d bytes", len(k))
			}
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("mirror record: %w", err)
			}
			s.rooms[log.Discovery(k)] = summaryOf(rec)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if err := s.loadRevoked(); err != nil {
		return nil, err
	}
	if err := s.loadEpochs(); err != nil {
		return nil, err
	}
	return s, nil
}

// IsOwner reports whether id may keep without limit.
// Budget is the bytes of unpinned data this mirror keeps at most.
func (s *Store) Budget() int64 { return s.cfg.Budget }

func (s *Store) IsOwner(id identity.PublicKey) bool { return slices.Contains(s.cfg.Owners, id) }

// Keep starts keeping the room of d for requester. Owners' rooms are
// pinned when pin is set; a stranger has a bounded number of rooms. Keeping
// a room kept already only updates the pin (owners).
func (s *Store) Keep(d log.Discovery, requester identity.PublicKey, pin bool) (Info, error) {
	return s.KeepFrom(d, requester, "", pin)
}

// KeepFrom is Keep at the request of peer, which bounds the rooms one peer
// may ask for, whatever identities it shows.
func (s *Store) KeepFrom(d log.Discovery, requester identity.PublicKey, peer string, pin bool) (Info, error) {
	owner := s.IsOwner(requester)
	if pin && !owner {
		return Info{}, fmt.Errorf("%w: only an owner can pin", ErrDenied)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[d]; ok {
		b, err := s.acquireLocked(d)
		if err != nil {
			return Info{}, err
		}
		defer s.releaseLocked(b)
		b.mu.Lock()
		// An owner who asks for a room a stranger asked for first takes
		// it over: it is the owners' now, out of reach of strangers'
		// eviction, and named by the owners' devices.
		takeover := owner && !s.IsOwner(b.rec.Requester)
		if takeover || (owner && pin != b.rec.Pinned) {
			if takeover {
				s.log.Info("an owner takes over a room a stranger asked to keep", logattr.Room(d))
				b.rec.Requester = requester
			}
			b.rec.Pinned = pin
			if err := b.saveRecordLocked(); err != nil {
				b.mu.Unlock()
				return Info{}, err
			}
			b.sum.requester, b.sum.pinned = b.rec.Requester, b.rec.Pinned
		}
		b.mu.Unlock()
		return s.infoOf(b), nil
	}
	if !owner {
		var mine, onPeer, strangers int
		for _, o := range s.rooms {
			if s.IsOwner(o.requester) {
				continue
			}
			strangers++
			if o.requester == requester {
				mine++
			}
			if peer != "" && o.peer == peer {
				onPeer++
			}
		}
		switch {
		case mine >= MaxRoomsPerStranger:
			return Info{}, fmt.Errorf("%w: %d rooms kept for this identity already", ErrFull, mine)
		case onPeer >= MaxRoomsPerStranger:
			return Info{}, fmt.Errorf("%w: %d rooms kept at this device's request already", ErrFull, onPeer)
		case strangers >= MaxStrangerRooms:
			return Info{}, fmt.Errorf("%w: %d rooms kept for identities that do not own this mirror, the most it keeps", ErrFull, strangers)
		}
	}
	now := s.cfg.Now().UnixMilli()
	b := &Blind{s: s, disc: d, logs: map[identity.PublicKey]*log.Log{},
		rec: record{Requester: requester, Peer: peer, Pinned: pin && owner, Kept: now, Used: now}}
	b.mu.Lock()
	err := b.saveRecordLocked()
	b.mu.Unlock()
	if err != nil {
		return Info{}, err
	}
	b.sum = summaryOf(b.rec)
	s.rooms[d] = b.sum
	s.live[d] = b
	s.unloadIdleLocked()
	s.log.Info("mirror keeps a room", logattr.Room(d), slog.Bool("pinned", b.rec.Pinned))
	return s.infoOf(b), nil
}

// Drop forgets the room of d and deletes its data. Only an owner or the
// identity that asked to keep it may drop it.
func (s *Store) Drop(d log.Discovery, requester identity.PublicKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum, ok := s.rooms[d]
	if !ok {
		return ErrNotKept
	}
	if !s.IsOwner(requester) && sum.requester != requester {
		return ErrDenied
	}
	return s.dropLocked(d)
}

// dropLocked deletes the room of d: its logs, names and record, and the
// chunks of its files.
func (s *Store) dropLocked(d log.Discovery) error {
	var rec record
	err := s.db.Update(func(tx *storage.Tx) error {
		if v, err := tx.Get(bucketRecords, d[:]); err == nil {
			json.Unmarshal(v, &rec)
		}
		for _, kind := range logdb.Kinds {
			if err := tx.DeleteBucket(bucketOf(kind, d)); err != nil {
				return err
			}
		}
		if err := tx.Delete(bucketWriters, d[:]); err != nil {
			return err
		}
		return tx.Delete(bucketRecords, d[:])
	})
	if err != nil {
		return fmt.Errorf("mirror: dropping %s: %w", d.Short(), err)
	}
	if b, ok := s.live[d]; ok {
		b.mu.Lock()
		b.dropped = true
		rec.Blobs, rec.Pending = b.rec.Blobs, b.rec.Pending
		b.mu.Unlock()
		delete(s.live, d)
	}
	delete(s.rooms, d)
	blobs := maps.Clone(rec.Blobs)
	for r := range rec.Pending {
		if blobs == nil {
			blobs = map[string]int64{}
		}
		blobs[r] = 0
	}
	if s.cfg.DropBlob != nil {
		for r := range blobs {
			if root, err := hex.DecodeString(r); err == nil && len(root) == 32 {
				s.cfg.DropBlob([32]byte(root))
			}
		}
	}
	return nil
}

// List returns the rooms kept for requester; an owner sees every room.
func (s *Store) List(requester identity.PublicKey) []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner := s.IsOwner(requester)
	var out []Info
	for d, sum := range s.rooms {
		if !owner && sum.requester != requester {
			continue
		}
		b, err := s.acquireLocked(d)
		if err != nil {
			s.log.Warn("mirror: loading a room", logattr.Room(d), logattr.Err(err))
			continue
		}
		out = append(out, s.infoOf(b))
		s.releaseLocked(b)
	}
	slices.SortFunc(out, func(a, b Info) int { return bytes.Compare(a.Discovery[:], b.Discovery[:]) })
	return out
}

// Kept returns the discovery keys of every kept room.
func (s *Store) Kept() []log.Discovery {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]log.Discovery, 0, len(s.rooms))
	for d := range s.rooms {
		out = append(out, d)
	}
	return out
}

// Lookup returns the kept room of d, for replication: what it returns
// loads the room for each call, so a session may outlive its loading.
func (s *Store) Lookup(d log.Discovery) (replication.Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[d]; !ok {
		return nil, false
	}
	return handle{s: s, d: d}, true
}

// Room returns the kept room of d, loaded. It may be unloaded once idle:
// keep it for one operation only.
func (s *Store) Room(d log.Discovery) (*Blind, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.acquireLocked(d)
	if err != nil {
		return nil, false
	}
	s.releaseLocked(b)
	return b, true
}

// admit makes space for n more bytes in the room of b. Every byte kept
// counts against the budget, pinned ones too; a stranger's bytes count
// against its quota as well. Space is made by evicting the least recently
// used unpinned rooms: a stranger's room only ever evicts strangers'
// rooms; an owner's evicts strangers' rooms first, then owners'. Pinned
// rooms are never evicted.
func (s *Store) admit(b *Blind, n int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	me, ok := s.rooms[b.disc]
	if !ok {
		return ErrNotKept
	}
	req := me.requester
	owner := s.IsOwner(req)
	var total, mine int64
	type victim struct {
		d           log.Discovery
		bytes, used int64
		requester   identity.PublicKey
	}
	var strangers, owners []victim
	for d, o := range s.rooms {
		ob := o.bytes.Load()
		total += ob
		if o.requester == req {
			mine += ob
		}
		if d == b.disc || o.pinned {
			continue
		}
		v := victim{d, ob, o.used.Load(), o.requester}
		if s.IsOwner(o.requester) {
			owners = append(owners, v)
		} else {
			strangers = append(strangers, v)
		}
	}
	if !owner && mine+n > s.cfg.Quota {
		return fmt.Errorf("%w: quota of %d bytes for this identity", ErrFull, s.cfg.Quota)
	}
	byUse := func(x, y victim) int { return cmp.Compare(x.used, y.used) }
	slices.SortFunc(strangers, byUse)
	slices.SortFunc(owners, byUse)
	victims := strangers
	if owner {
		victims = append(victims, owners...)
	}
	for total+n > s.cfg.Budget && len(victims) > 0 {
		v := victims[0]
		victims = victims[1:]
		total -= v.bytes
		s.log.Info("mirror evicts a room to make space", logattr.Room(v.d), slog.Int64("bytes", v.bytes),
			slog.Bool("stranger's", !s.IsOwner(v.requester)))
		if err := s.dropLocked(v.d); err != nil {
			return err
		}
	}
	if total+n > s.cfg.Budget {
		if owner {
			return fmt.Errorf("%w: budget of %d bytes, taken by pinned rooms and this room", ErrFull, s.cfg.Budget)
		}
		return fmt.Errorf("%w: budget of %d bytes, taken by the owners' rooms", ErrFull, s.cfg.Budget)
	}
	return nil
}

// Blind is one kept room: per writer, a verified log whose blocks are on
// disk. It implements replication.Room.
type Blind struct {
	s    *Store
	disc log.Discovery

	sum *summary // the store's summary of it

	// In use by inUse operations, the last ended at lastUse: guarded by
	// the store's mu (lazy.go).
	inUse   int
	lastUse int64

	mu       sync.Mutex
	rec      record
	savedUse int64 // rec.Used as last saved
	logs     map[identity.PublicKey]*log.Log
	dropped  bool
	// names are the logs to keep (writers.go); nil: none named yet.
	names *names
}

var _ replication.Room = (*Blind)(nil)

func (b *Blind) requester() identity.PublicKey {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.Requester
}

func (b *Blind) pinned() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.Pinned
}

func (b *Blind) bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.Bytes
}

func (b *Blind) used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.Used
}

// infoOf describes a kept room, with the limit it is held to.
func (s *Store) infoOf(b *Blind) Info {
	in := b.info()
	in.Limit = s.cfg.Budget
	if !s.IsOwner(b.requester()) {
		in.Limit = min(in.Limit, s.cfg.Quota)
	}
	return in
}

func (b *Blind) info() Info {
	b.mu.Lock()
	defer b.mu.Unlock()
	in := Info{Discovery: b.disc, Requester: b.rec.Requester, Pinned: b.rec.Pinned, Bytes: b.rec.Bytes,
		Logs: len(b.logs), Kept: time.UnixMilli(b.rec.Kept).UTC(), Used: time.UnixMilli(b.rec.Used).UTC()}
	for _, l := range b.logs {
		in.Entries += l.Len()
	}
	return in
}

func (b *Blind) saveRecordLocked() error {
	v, err := json.Marshal(b.rec)
	if err != nil {
		return err
	}
	if err := b.s.db.Put(bucketRecords, b.disc[:], v); err != nil {
		return err
	}
	b.savedUse = b.rec.Used
	b.noteLocked()
	return nil
}

// noteLocked tells the store's summary what the record says now.
func (b *Blind) noteLocked() {
	if b.sum != nil {
		b.sum.bytes.Store(b.rec.Bytes)
		b.sum.used.Store(b.rec.Used)
	}
}

// touch marks the room used now (least recently used goes first). The
// time reaches the disk with the next write.
func (b *Blind) touch() {
	b.mu.Lock()
	b.rec.Used = b.s.cfg.Now().UnixMilli()
	b.noteLocked()
	b.mu.Unlock()
}

// load opens the logs from disk, as verified when they were stored.
func (b *Blind) load() error {
	var writers []identity.PublicKey
	err := b.s.db.View(func(tx *storage.Tx) error {
		var err error
		writers, err = logdb.Writers(tx, b.buckets())
		return err
	})
	if err != nil {
		return err
	}
	for _, w := range writers {
		l, err := logdb.Open(b.s.db, b.buckets(), b.disc, w)
		if err != nil {
			return err
		}
		b.logs[w] = l
	}
	return nil
}

// Heads returns the latest head of every log held.
func (b *Blind) Heads() []log.Head {
	b.touch()
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]log.Head, 0, len(b.logs))
	for _, l := range b.logs {
		if h, ok := l.Head(); ok {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(x, y log.Head) int { return bytes.Compare(x.Writer[:], y.Writer[:]) })
	return out
}

// Len returns how many blocks of writer's log are held.
func (b *Blind) Len(writer identity.PublicKey) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.logs[writer]; ok {
		return l.Len()
	}
	return 0
}

// Blocks reads blocks [from, h.Length) of writer's log from disk, h being
// the longest signed head whose blocks past from fit maxBytes (or the
// first past from when even it does not).
func (b *Blind) Blocks(writer identity.PublicKey, from uint64, maxBytes int) (log.Head, [][]byte, bool) {
	b.touch()
	b.mu.Lock()
	l, ok := b.logs[writer]
	if !ok || l.Len() <= from || b.dropped {
		b.mu.Unlock()
		return log.Head{}, nil, false
	}
	length := l.Len()
	b.mu.Unlock()
	var (
		h      log.Head
		found  bool
		blocks [][]byte
	)
	err := b.s.db.View(func(tx *storage.Tx) error {
		var err error
		h, blocks, found, err = logdb.Serve(tx, b.buckets(), writer, from, length, maxBytes)
		return err
	})
	if err != nil {
		b.s.log.Warn("mirror: reading blocks", logattr.Room(b.disc), logattr.Err(err))
		return log.Head{}, nil, false
	}
	return h, blocks, found
}

// Check compares a head a peer announced with the log held and returns a
// fork proof if the writer signed two histories.
func (b *Blind) Check(h log.Head) (*log.ForkProof, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.logs[h.Writer]
	if !ok {
		return nil, nil
	}
	return l.Check(h)
}

// Receive verifies blocks [Len, head.Length) of head's log against the
// writer's signature and stores them, within the mirror's quota and
// budget.
func (b *Blind) Receive(head log.Head, blocks [][]byte) error {
	if head.Discovery != b.disc {
		return errors.New("a head of another room")
	}
	if err := b.named(head); err != nil {
		return err
	}
	var n int64
	for _, bl := range blocks {
		n += int64(len(bl))
	}
	if err := b.s.admit(b, n); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return ErrNotKept
	}
	l, ok := b.logs[head.Writer]
	if !ok {
		var err error
		if l, err = logdb.Open(b.s.db, b.buckets(), b.disc, head.Writer); err != nil {
			return fmt.Errorf("mirror: opening a log: %w", err)
		}
	}
	start := l.Len()
	next := l.Clone()
	if err := next.Extend(head, blocks); err != nil {
		return err
	}
	rec := b.rec
	rec.Bytes += n
	rec.Used = b.s.cfg.Now().UnixMilli()
	rb, _ := json.Marshal(rec)
	err := b.s.db.Update(func(tx *storage.Tx) error {
		if err := logdb.Save(tx, b.buckets(), head, start, blocks); err != nil {
			return err
		}
		return tx.Put(bucketRecords, b.disc[:], rb)
	})
	if err != nil {
		// The disk refused: nothing changed, the blocks are asked for
		// again later.
		return fmt.Errorf("mirror: storing blocks: %w", err)
	}
	b.logs[head.Writer] = next
	b.rec = rec
	b.savedUse = rec.Used
	b.noteLocked()
	return nil
}
