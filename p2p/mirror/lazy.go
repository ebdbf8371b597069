package mirror

import (
	"encoding/json"
	"fmt"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/storage"
)

// Kept rooms are loaded when used and unloaded once idle: the store holds
// at most maxLive loaded rooms that no operation is using.
const maxLive = 64

// acquireLocked returns the room of d loaded, counted in use until
// releaseLocked. The caller holds s.mu.
func (s *Store) acquireLocked(d log.Discovery) (*Blind, error) {
	b, ok := s.live[d]
	if !ok {
		sum, kept := s.rooms[d]
		if !kept {
			return nil, ErrNotKept
		}
		var err error
		if b, err = s.loadBlind(d, sum); err != nil {
			return nil, err
		}
		s.live[d] = b
	}
	b.inUse++
	return b, nil
}

// releaseLocked ends a use of b, and unloads idle rooms beyond maxLive.
func (s *Store) releaseLocked(b *Blind) {
	b.inUse--
	b.lastUse = s.cfg.Now().UnixNano()
	s.unloadIdleLocked()
}

// unloadIdleLocked unloads the least recently used idle rooms beyond
// maxLive, writing when they were last used first.
func (s *Store) unloadIdleLocked() {
	for len(s.live) > maxLive {
		var oldest *Blind
		for _, b := range s.live {
			if b.inUse == 0 && (oldest == nil || b.lastUse < oldest.lastUse) {
				oldest = b
			}
		}
		if oldest == nil {
			return
		}
		oldest.mu.Lock()
		if oldest.rec.Used != oldest.savedUse && !oldest.dropped {
			if err := oldest.saveRecordLocked(); err != nil {
				s.log.Warn("mirror: saving a room's record", logattr.Room(oldest.disc), logattr.Err(err))
			}
		}
		oldest.mu.Unlock()
		delete(s.live, oldest.disc)
	}
}

// use returns the room of d loaded, and the function that ends its use.
func (s *Store) use(d log.Discovery) (*Blind, func(), bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.acquireLocked(d)
	if err != nil {
		return nil, nil, false
	}
	return b, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.releaseLocked(b)
	}, true
}

// loadBlind reads a kept room from disk: its record, names and logs (a
// log's frontier and latest head, as verified when stored).
func (s *Store) loadBlind(d log.Discovery, sum *summary) (*Blind, error) {
	b := &Blind{s: s, disc: d, sum: sum, logs: map[identity.PublicKey]*log.Log{}}
	err := s.db.View(func(tx *storage.Tx) error {
		v, err := tx.Get(bucketRecords, d[:])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(v, &b.rec); err != nil {
			return fmt.Errorf("mirror record: %w", err)
		}
		if v, err := tx.Get(bucketWriters, d[:]); err == nil {
			if b.names, err = decodeNames(v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mirror: loading room %s: %w", d.Short(), err)
	}
	b.savedUse = b.rec.Used
	if err := b.load(); err != nil {
		return nil, fmt.Errorf("mirror: loading room %s: %w", d.Short(), err)
	}
	return b, nil
}

// handle is a kept room as replication holds it: each call uses the room
// loaded, so a session may outlast the room's staying loaded.
type handle struct {
	s *Store
	d log.Discovery
}

func (h handle) with(fn func(b *Blind)) bool {
	b, done, ok := h.s.use(h.d)
	if !ok {
		return false
	}
	defer done()
	fn(b)
	return true
}

func (h handle) Heads() (out []log.Head) {
	h.with(func(b *Blind) { out = b.Heads() })
	return out
}

func (h handle) Len(w identity.PublicKey) (n uint64) {
	h.with(func(b *Blind) { n = b.Len(w) })
	return n
}

func (h handle) Blocks(w identity.PublicKey, from uint64, maxBytes int) (head log.Head, blocks [][]byte, ok bool) {
	h.with(func(b *Blind) { head, blocks, ok = b.Blocks(w, from, maxBytes) })
	return head, blocks, ok
}

func (h handle) Receive(head log.Head, blocks [][]byte) (err error) {
	if !h.with(func(b *Blind) { err = b.Receive(head, blocks) }) {
		return ErrNotKept
	}
	return err
}

func (h handle) Check(head log.Head) (fp *log.ForkProof, err error) {
	h.with(func(b *Blind) { fp, err = b.Check(head) })
	return fp, err
}

// Wants is Blind.Wants.
func (h handle) Wants(head log.Head) (ok bool) {
	h.with(func(b *Blind) { ok = b.Wants(head) })
	return ok
}
