package mirror

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/logdb"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/storage"
)

// A blind mirror cannot read a room, so it cannot tell a member's log from
// a log of fresh keys that whoever knows the discovery key (a former
// member) syncs into it. The room's keeper tells it: the devices of the
// identity that asked to keep the room, or of an owner, are members and
// read the view; they name (OpWriters, and with OpKeep)
//   - the writer logs to keep, each with the length to keep at most (0: no
//     bound; a removed member's or a revoked device's log is kept up to
//     where the room stopped counting it), and
//   - the identities that are members now.
//
// A device of a named member that the keeper has not named yet (a member
// who joined while the keeper was offline) names itself with the same
// operation: its device proof shows its identity, and its log is kept.
// The mirror stores no block of any other log, and deletes the logs of
// writers no longer named.

// Bounds of the names of one room.
const (
	MaxWriters = 4096 // logs
	MaxMembers = 4096 // identities
	// MaxSelfNamed bounds the devices one member identity names itself.
	MaxSelfNamed = 64
)

var bucketWriters = []byte("mirror-writers") // discovery -> names (encoded)

// Writer is one log the keeper names, kept up to Max blocks (0: no bound).
type Writer struct {
	Key identity.PublicKey
	Max uint64
}

// names are what the keeper (and members' devices) named of one room.
type names struct {
	writers map[identity.PublicKey]uint64             // by the keeper: writer -> bound (0: none)
	members map[identity.PublicKey]bool               // by the keeper: member identities
	self    map[identity.PublicKey]identity.PublicKey // by members' devices: device -> identity
}

func (n *names) encode() []byte {
	w := wire.Encoder{}
	w.Uint(uint64(len(n.writers)))
	for _, k := range slices.SortedFunc(maps.Keys(n.writers), cmpKey) {
		w.Fixed(k[:])
		w.Uint(n.writers[k])
	}
	w.Uint(uint64(len(n.members)))
	for _, k := range slices.SortedFunc(maps.Keys(n.members), cmpKey) {
		w.Fixed(k[:])
	}
	w.Uint(uint64(len(n.self)))
	for _, k := range slices.SortedFunc(maps.Keys(n.self), cmpKey) {
		id := n.self[k]
		w.Fixed(k[:])
		w.Fixed(id[:])
	}
	return w.B
}

func cmpKey(a, b identity.PublicKey) int { return slices.Compare(a[:], b[:]) }

func decodeNames(b []byte) (*names, error) {
	d := wire.NewDecoder(b)
	n := &names{writers: map[identity.PublicKey]uint64{}, members: map[identity.PublicKey]bool{}, self: map[identity.PublicKey]identity.PublicKey{}}
	for range d.Count(MaxWriters) {
		var k identity.PublicKey
		d.Fixed(k[:])
		n.writers[k] = d.Uint()
	}
	for range d.Count(MaxMembers) {
		var k identity.PublicKey
		d.Fixed(k[:])
		n.members[k] = true
	}
	for range d.Count(MaxWriters) {
		var k, id identity.PublicKey
		d.Fixed(k[:])
		d.Fixed(id[:])
		n.self[k] = id
	}
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("mirror names: %w", err)
	}
	return n, nil
}

// Name acts on the names of the kept room of d sent by device dev of
// identity by. The keeper (an owner, or the identity that asked to keep
// the room) sets the writers and members; the logs of writers no longer
// named are deleted. A device of a member the keeper named names itself.
// Anyone else is denied.
func (s *Store) Name(d log.Discovery, by, dev identity.PublicKey, writers []Writer, members []identity.PublicKey) error {
	if len(writers) > MaxWriters || len(members) > MaxMembers {
		return fmt.Errorf("%w: %d writers and %d members, at most %d and %d", errBadRequest, len(writers), len(members), MaxWriters, MaxMembers)
	}
	b, done, ok := s.use(d)
	if !ok {
		return ErrNotKept
	}
	defer done()
	if s.IsOwner(by) || b.requester() == by {
		return b.setNames(writers, members)
	}
	return b.selfName(by, dev)
}

func (b *Blind) selfName(by, dev identity.PublicKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.dropped:
		return ErrNotKept
	case b.names == nil || !b.names.members[by]:
		return fmt.Errorf("%w: not a member the room's keeper named here", ErrDenied)
	case b.names.self[dev] == by:
		return nil
	}
	if _, named := b.names.writers[dev]; named {
		return nil // the keeper's word on it stands
	}
	n := 0
	for _, id := range b.names.self {
		if id == by {
			n++
		}
	}
	if n >= MaxSelfNamed || len(b.names.self) >= MaxWriters {
		return fmt.Errorf("%w: %d devices of this identity named already", ErrFull, n)
	}
	next := *b.names
	next.self = maps.Clone(b.names.self)
	next.self[dev] = by
	if err := b.s.db.Put(bucketWriters, b.disc[:], next.encode()); err != nil {
		return fmt.Errorf("mirror: naming a writer: %w", err)
	}
	b.names = &next
	b.s.log.Info("a member's device named its log", logattr.Room(b.disc), logattr.Dev(dev))
	return nil
}

func (b *Blind) setNames(writers []Writer, members []identity.PublicKey) error {
	next := &names{writers: make(map[identity.PublicKey]uint64, len(writers)), members: make(map[identity.PublicKey]bool, len(members)),
		self: map[identity.PublicKey]identity.PublicKey{}}
	for _, w := range writers {
		next.writers[w.Key] = w.Max
	}
	for _, m := range members {
		next.members[m] = true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return ErrNotKept
	}
	if b.names != nil {
		// Devices that named themselves stay while their identity is a
		// member and the keeper does not name them.
		for dev, id := range b.names.self {
			if _, named := next.writers[dev]; !named && next.members[id] {
				next.self[dev] = id
			}
		}
		if maps.Equal(b.names.writers, next.writers) && maps.Equal(b.names.members, next.members) && maps.Equal(b.names.self, next.self) {
			return nil
		}
	}
	var gone []identity.PublicKey
	for w := range b.logs {
		if !next.keeps(w) {
			gone = append(gone, w)
		}
	}
	var freed int64
	err := b.s.db.Update(func(tx *storage.Tx) error {
		bk := b.buckets()
		for _, w := range gone {
			n, err := logdb.DeleteLog(tx, bk, w)
			if err != nil {
				return err
			}
			freed += n
		}
		rec := b.rec
		rec.Bytes = max(0, rec.Bytes-freed)
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := tx.Put(bucketRecords, b.disc[:], v); err != nil {
			return err
		}
		return tx.Put(bucketWriters, b.disc[:], next.encode())
	})
	if err != nil {
		return fmt.Errorf("mirror: naming writers: %w", err)
	}
	for _, w := range gone {
		delete(b.logs, w)
	}
	b.rec.Bytes = max(0, b.rec.Bytes-freed)
	b.noteLocked()
	b.names = next
	if len(gone) > 0 {
		b.s.log.Info("mirror deleted logs its room's keeper does not name", logattr.Room(b.disc),
			slog.Int("logs", len(gone)), slog.Int64("bytes", freed))
	}
	return nil
}

// keeps reports whether any of w's log is kept.
func (n *names) keeps(w identity.PublicKey) bool {
	if _, ok := n.writers[w]; ok {
		return true
	}
	id, ok := n.self[w]
	return ok && n.members[id]
}

// bound returns how many blocks of w's log are kept at most (0: no
// bound), and whether any are.
func (n *names) bound(w identity.PublicKey) (uint64, bool) {
	if n == nil {
		return 0, false
	}
	if m, ok := n.writers[w]; ok {
		return m, true
	}
	id, ok := n.self[w]
	return 0, ok && n.members[id]
}

// named reports why the blocks up to h are not kept, if they are not:
// nobody named h's writer, or the keeper named it with a bound h passes.
func (b *Blind) named(h log.Head) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.names.bound(h.Writer)
	switch {
	case !ok:
		return fmt.Errorf("%w: the log of %s is not named here by the room's keeper or a member", replication.ErrRefused, h.Writer.Short())
	case m != 0 && h.Length > m:
		return fmt.Errorf("%w: the log of %s is kept up to %d blocks", replication.ErrRefused, h.Writer.Short(), m)
	}
	return nil
}

// Wants reports whether blocks up to h would be kept: replication does
// not ask for the others.
func (b *Blind) Wants(h log.Head) bool { return b.named(h) == nil }

// Writer reports whether dev is a named writer without bound: a member
// device of the room.
func (b *Blind) Writer(dev identity.PublicKey) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.names.bound(dev)
	return ok && m == 0
}
