package room

import (
	"bytes"
	"slices"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// Reading what the room shows. A room's history is read a page, a message
// or a kind at a time from its store: what is read costs what is read,
// never the whole history. Every method returns what the caller may keep.

// read runs fn on the room's store to read its view. The caller holds
// r.mu.
func (r *Room) read(fn func(tx Tx) error) error {
	return r.store.View(r.disc, fn)
}

// orderOf returns the order key of an entry the room ordered, reading
// its clock within tx. The caller holds r.mu.
func (r *Room) orderOf(tx Tx, ref Ref) ([]byte, bool) {
	ls, ok := r.logs[ref.Writer]
	if !ok {
		return nil, false
	}
	c, ok := r.clockAt(tx, ls, ref.Seq)
	if !ok {
		return nil, false
	}
	return orderKey(c, ref), true
}

// messageAt decodes the message row at order key k, if there is one.
func messageAt(tx Tx, k []byte) (*Message, error) {
	row := tx.Get(bucketMsgs, k)
	if row == nil {
		return nil, nil
	}
	return decodeMessage(row)
}

// Message returns the message of id as the room shows it now.
func (r *Room) Message(id Ref) (*Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var m *Message
	if err := r.read(func(tx Tx) error {
		k, ok := r.orderOf(tx, id)
		if !ok {
			return nil
		}
		var err error
		m, err = messageAt(tx, k)
		return err
	}); err != nil {
		r.log.Warn("reading a message", logattr.Room(r.id.String()), logattr.Err(err))
		return nil, false
	}
	return m, m != nil
}

// FindMessage returns the id of the message at position seq of the log
// whose writer's key starts with prefix (as Ref.String shows it).
func (r *Room) FindMessage(prefix []byte, seq uint64) (Ref, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var found Ref
	var ok bool
	err := r.read(func(tx Tx) error {
		for w := range r.logs {
			if !bytes.HasPrefix(w[:], prefix) {
				continue
			}
			id := Ref{Writer: w, Seq: seq}
			if k, in := r.orderOf(tx, id); in && tx.Get(bucketMsgs, k) != nil {
				found, ok = id, true
				return nil
			}
		}
		return nil
	})
	return found, ok && err == nil
}

// Page returns the limit messages (all of them if limit <= 0) that come
// before the message before (the zero Ref: the newest), oldest first, and
// whether older ones come before them. A before that names no message is
// ErrUnknownMessage.
func (r *Room) Page(before Ref, limit int) ([]*Message, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*Message
	more := false
	err := r.read(func(tx Tx) error {
		cur := tx.Cursor(bucketMsgs)
		var k, row []byte
		if before == (Ref{}) {
			k, row = cur.Last()
		} else {
			at, ok := r.orderOf(tx, before)
			if !ok || tx.Get(bucketMsgs, at) == nil {
				return ErrUnknownMessage
			}
			cur.Seek(at)
			k, row = cur.Prev()
		}
		for ; k != nil; k, row = cur.Prev() {
			if limit > 0 && len(out) == limit {
				more = true
				break
			}
			m, err := decodeMessage(row)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	slices.Reverse(out)
	return out, more, nil
}

// Messages calls fn with each message in the room's order, the oldest
// first (the newest first if reverse), until fn returns false.
func (r *Room) Messages(reverse bool, fn func(*Message) bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read(func(tx Tx) error {
		return walk(tx.Cursor(bucketMsgs), reverse, func(_, row []byte) (bool, error) {
			m, err := decodeMessage(row)
			if err != nil {
				return false, err
			}
			return fn(m), nil
		})
	})
}

// walk calls fn with each key of a cursor, forward or in reverse, until
// fn returns false or an error.
func walk(cur Cursor, reverse bool, fn func(k, v []byte) (bool, error)) error {
	first, next := cur.First, cur.Next
	if reverse {
		first, next = cur.Last, cur.Prev
	}
	for k, v := first(); k != nil; k, v = next() {
		more, err := fn(k, v)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Files calls fn with each message that carries a file (a doorphone's
// picture or clip included), as Messages does.
func (r *Room) Files(reverse bool, fn func(*Message) bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read(func(tx Tx) error {
		return walk(tx.Cursor(bucketFiles), reverse, func(k, _ []byte) (bool, error) {
			m, err := messageAt(tx, k)
			if err != nil || m == nil {
				return false, err
			}
			return fn(m), nil
		})
	})
}

// Count returns how many messages the room shows.
func (r *Room) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view.Count
}

// Rejection returns why the room refused the entry at ref, if it did.
func (r *Room) Rejection(ref Ref) (Rejection, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var rj Rejection
	found := false
	err := r.read(func(tx Tx) error {
		k, ok := r.orderOf(tx, ref)
		if !ok {
			return nil
		}
		row := tx.Get(bucketRej, k)
		if row == nil {
			return nil
		}
		var err error
		rj, err = decodeRejection(row)
		found = err == nil
		return err
	})
	return rj, found && err == nil
}

// Rejections calls fn with each entry the room refused, the latest in
// the room's order first, until fn returns false.
func (r *Room) Rejections(fn func(Rejection) bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.read(func(tx Tx) error {
		return walk(tx.Cursor(bucketRej), true, func(_, row []byte) (bool, error) {
			rj, err := decodeRejection(row)
			if err != nil {
				return false, err
			}
			return fn(rj), nil
		})
	})
}

// Digest is a hash of everything the room shows, so peers can check they
// converged.
func (r *Room) Digest() [32]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d [32]byte
	if err := r.read(func(tx Tx) error {
		var err error
		d, err = r.view.digest(tx)
		return err
	}); err != nil {
		r.log.Warn("reading the view", logattr.Room(r.id.String()), logattr.Err(err))
	}
	return d
}
