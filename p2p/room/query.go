package room

import (
	"bytes"
	"maps"
	"slices"
)

// Reading what the room shows. A room's history is read a page, a message
// or a kind at a time: what is read costs what is read, never the whole
// history. Every method returns copies the caller may keep.

// clone returns a copy of m that shares nothing the room changes.
func (m *Message) clone() *Message {
	c := *m
	if m.ReplyTo != nil {
		r := *m.ReplyTo
		c.ReplyTo = &r
	}
	if m.Reactions != nil {
		c.Reactions = maps.Clone(m.Reactions)
		for e, who := range c.Reactions {
			c.Reactions[e] = slices.Clone(who)
		}
	}
	return &c
}

// Message returns the message of id as the room shows it now.
func (r *Room) Message(id Ref) (*Message, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.view.byRef[id]
	if !ok {
		return nil, false
	}
	return m.clone(), true
}

// FindMessage returns the id of the message at position seq of the log
// whose writer's key starts with prefix (as Ref.String shows it).
func (r *Room) FindMessage(prefix []byte, seq uint64) (Ref, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for w := range r.logs {
		if !bytes.HasPrefix(w[:], prefix) {
			continue
		}
		id := Ref{Writer: w, Seq: seq}
		if _, ok := r.view.byRef[id]; ok {
			return id, true
		}
	}
	return Ref{}, false
}

// Page returns the limit messages (all of them if limit <= 0) that come
// before the message before (the zero Ref: the newest), oldest first, and
// whether older ones come before them. A before that names no message is
// ErrUnknownMessage.
func (r *Room) Page(before Ref, limit int) ([]*Message, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	msgs := r.view.Messages
	end := len(msgs)
	if before != (Ref{}) {
		end = slices.IndexFunc(msgs, func(m *Message) bool { return m.ID == before })
		if end < 0 {
			return nil, false, ErrUnknownMessage
		}
	}
	start := 0
	if limit > 0 && end > limit {
		start = end - limit
	}
	out := make([]*Message, 0, end-start)
	for _, m := range msgs[start:end] {
		out = append(out, m.clone())
	}
	return out, start > 0, nil
}

// Messages calls fn with each message in the room's order, the oldest
// first (the newest first if reverse), until fn returns false.
func (r *Room) Messages(reverse bool, fn func(*Message) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eachMessage(reverse, func(m *Message) bool { return fn(m.clone()) })
}

func (r *Room) eachMessage(reverse bool, fn func(*Message) bool) {
	msgs := r.view.Messages
	for i := range msgs {
		if reverse {
			i = len(msgs) - 1 - i
		}
		if !fn(msgs[i]) {
			return
		}
	}
}

// Files calls fn with each message that carries a file (a doorphone's
// picture or clip included), as Messages does.
func (r *Room) Files(reverse bool, fn func(*Message) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eachMessage(reverse, func(m *Message) bool {
		if m.File == nil {
			return true
		}
		return fn(m.clone())
	})
}

// Count returns how many messages the room shows.
func (r *Room) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.view.Messages)
}

// Rejection returns why the room refused the entry at ref, if it did.
func (r *Room) Rejection(ref Ref) (Rejection, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.view.Rejections) - 1; i >= 0; i-- {
		if r.view.Rejections[i].Ref == ref {
			return r.view.Rejections[i], true
		}
	}
	return Rejection{}, false
}

// Rejections calls fn with each entry the room refused, the latest in
// the room's order first, until fn returns false.
func (r *Room) Rejections(fn func(Rejection) bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.view.Rejections) - 1; i >= 0; i-- {
		if !fn(r.view.Rejections[i]) {
			return
		}
	}
}

// Digest is a hash of everything the room shows (View.Digest), so peers
// can check they converged.
func (r *Room) Digest() [32]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view.Digest()
}
