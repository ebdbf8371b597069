package mirror

import (
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
)

// Files of a kept room. A member device asks the mirror to keep a file
// (OpKeepBlob): the mirror records the claim, which counts for nothing,
// and fetches the ciphertext chunks from that device; each chunk counts
// against the quota and the budget once it has arrived and matched its
// hash (GrowBlob), so a claim of any size evicts nothing.

// MaxPendingBlobs bounds the files of one room being fetched.
const MaxPendingBlobs = 32

// KeepBlob accepts the file of root, claimed to be size bytes, into the
// kept room of d, at the request of device dev: a member device the
// room's keeper named. It reports whether the chunks are to be fetched
// (false: the mirror holds the whole file already).
func (s *Store) KeepBlob(d log.Discovery, dev identity.PublicKey, root [32]byte, size int64) (bool, error) {
	b, done, ok := s.use(d)
	if !ok {
		return false, ErrNotKept
	}
	defer done()
	if !b.Writer(dev) {
		return false, fmt.Errorf("%w: only a member device the room's keeper named may add a file", ErrDenied)
	}
	if size < 0 {
		return false, fmt.Errorf("%w: a negative size", errBadRequest)
	}
	// A claim that could never fit is refused at once; one that might is
	// fetched, and counted chunk by chunk.
	limit := s.cfg.Budget
	if !s.IsOwner(b.requester()) {
		limit = min(limit, s.cfg.Quota)
	}
	if size > limit {
		return false, fmt.Errorf("%w: a file of %d bytes, over the %d this room may hold", ErrFull, size, limit)
	}
	key := hex.EncodeToString(root[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return false, ErrNotKept
	}
	_, pending := b.rec.Pending[key]
	if _, held := b.rec.Blobs[key]; held && !pending {
		return false, nil
	}
	if !pending {
		if len(b.rec.Pending) >= MaxPendingBlobs {
			return false, fmt.Errorf("%w: %d files of this room are being fetched already", ErrBusy, len(b.rec.Pending))
		}
		if b.rec.Pending == nil {
			b.rec.Pending = map[string]int64{}
		}
		b.rec.Pending[key] = size
		if err := b.saveRecordLocked(); err != nil {
			delete(b.rec.Pending, key)
			return false, err
		}
	}
	return true, nil
}

// GrowBlob counts n more bytes of verified chunks of the file of root in
// the room of d, within the quota and budget (evicting as admit does).
func (s *Store) GrowBlob(d log.Discovery, root [32]byte, n int64) error {
	b, done, ok := s.use(d)
	if !ok {
		return ErrNotKept
	}
	defer done()
	key := hex.EncodeToString(root[:])
	// The chunks are bound to the file's hash list, which is bound to
	// its root and size: they can only be as many as the file has.
	b.mu.Lock()
	_, pending := b.rec.Pending[key]
	b.mu.Unlock()
	if !pending {
		return errors.New("mirror: no such file being fetched")
	}
	if err := s.admit(b, n); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped {
		return ErrNotKept
	}
	if b.rec.Blobs == nil {
		b.rec.Blobs = map[string]int64{}
	}
	b.rec.Blobs[key] += n
	b.rec.Bytes += n
	return b.saveRecordLocked()
}

// BlobDone ends the fetch of the file of root: complete, it is kept; not
// complete and refused (no space), what arrived is deleted; otherwise it
// stays, to be resumed when a member asks again.
func (s *Store) BlobDone(d log.Discovery, root [32]byte, complete bool, fetchErr error) {
	b, done, ok := s.use(d)
	if !ok {
		return
	}
	defer done()
	key := hex.EncodeToString(root[:])
	b.mu.Lock()
	var drop bool
	switch {
	case complete:
		delete(b.rec.Pending, key)
		if _, ok := b.rec.Blobs[key]; !ok {
			if b.rec.Blobs == nil {
				b.rec.Blobs = map[string]int64{}
			}
			b.rec.Blobs[key] = 0 // every chunk was here already
		}
	case errors.Is(fetchErr, ErrFull):
		drop = true
		b.rec.Bytes -= b.rec.Blobs[key]
		delete(b.rec.Blobs, key)
		delete(b.rec.Pending, key)
	}
	err := b.saveRecordLocked()
	b.mu.Unlock()
	if err != nil {
		s.log.Warn("mirror: saving a room's record", logattr.Room(d), logattr.Err(err))
	}
	if drop {
		s.log.Info("mirror refused a file: no space", logattr.Room(d), logattr.Err(fetchErr))
		if s.cfg.DropBlob != nil {
			s.cfg.DropBlob(root)
		}
	} else if complete {
		s.log.Info("mirror keeps a file", logattr.Room(d), slog.Int64("bytes", b.blobBytes(key)))
	}
}

func (b *Blind) blobBytes(key string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rec.Blobs[key]
}
