package mirror

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/storage"
)

// Mailboxes carry blind pairing while the parties are offline. An admin
// opens a box for an invite (by the invite's public id) on the room's
// mirrors; a candidate leaves its sealed request there, naming the box its
// answer goes to; an admin who comes online fetches the requests, and
// leaves each sealed answer in its answer box; the candidate fetches it
// when it comes back. The mirror reads none of it: requests are sealed to
// the invite, answers to the candidate's ephemeral key.

// Limits of mailboxes.
const (
	MaxBoxEntries     = 32 // requests one box holds
	MaxBoxLife        = 90 * 24 * time.Hour
	MaxBoxesPerOpener = 64 // open boxes of one identity that is not an owner
	MaxBoxes          = 1024
)

// BoxID names a mailbox: an invite's id, or an answer box.
type BoxID [16]byte

// AnswerBox returns the box an answer to a request goes to: a hash of the
// request's ephemeral public key. Whoever can open the request can
// compute it, but only the candidate can open what is left there.
func AnswerBox(ephemeral []byte) BoxID {
	h := sha256.Sum256(append([]byte("hearth/answer-box/v1\x00"), ephemeral...))
	return BoxID(h[:16])
}

// Errors of mailboxes.
var (
	ErrNoBox   = errors.New("no such mailbox")
	ErrBoxFull = errors.New("mailbox full")
)

// Entry is one request in a box.
type Entry struct {
	Sealed    []byte `json:"sealed"`
	AnswerBox BoxID  `json:"answer_box"`
	Time      int64  `json:"time"` // unix ms
	Answered  bool   `json:"answered"`
}

type box struct {
	Opener  identity.PublicKey `json:"opener"`
	Expires int64              `json:"expires"` // unix ms
	Entries []Entry            `json:"entries"`
	// Answers, for an answer box: the sealed answers left. Anyone who
	// holds the invite can read a request and answer it, so a box takes a
	// few: the candidate keeps the one for the room its link names.
	Answers [][]byte `json:"answers,omitempty"`
	// Request is, for an answer box, the request box it belongs to.
	Request BoxID `json:"request"`
	IsReply bool  `json:"is_reply"`
}

var bucketBoxes = []byte("mailboxes")

// Mailboxes is a mirror's store of boxes.
type Mailboxes struct {
	db      *storage.DB
	now     func() time.Time
	isOwner func(identity.PublicKey) bool
	log     *slog.Logger

	mu    sync.Mutex
	boxes map[BoxID]*box
}

// OpenMailboxes loads the boxes kept in db, dropping expired ones.
func OpenMailboxes(db *storage.DB, isOwner func(identity.PublicKey) bool, now func() time.Time, logger *slog.Logger) (*Mailboxes, error) {
	if now == nil {
		now = time.Now
	}
	m := &Mailboxes{db: db, now: now, isOwner: isOwner, log: logattr.OrDiscard(logger), boxes: map[BoxID]*box{}}
	err := db.View(func(tx *storage.Tx) error {
		return tx.ForEach(bucketBoxes, func(k, v []byte) error {
			if len(k) != len(BoxID{}) {
				return fmt.Errorf("mailbox key of %d bytes", len(k))
			}
			var b box
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("mailbox: %w", err)
			}
			m.boxes[BoxID(k)] = &b
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m, m.expireLocked()
}

func (m *Mailboxes) saveLocked(id BoxID) error {
	b, ok := m.boxes[id]
	if !ok {
		return m.db.Update(func(tx *storage.Tx) error { return tx.Delete(bucketBoxes, id[:]) })
	}
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return m.db.Put(bucketBoxes, id[:], v)
}

// expireLocked drops expired boxes.
func (m *Mailboxes) expireLocked() error {
	now := m.now().UnixMilli()
	for id, b := range m.boxes {
		if b.Expires <= now {
			delete(m.boxes, id)
			if err := m.saveLocked(id); err != nil {
				return err
			}
		}
	}
	return nil
}

// Open opens (or extends) the request box of an invite until expires,
// for opener.
func (m *Mailboxes) Open(id BoxID, opener identity.PublicKey, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.expireLocked(); err != nil {
		return err
	}
	now := m.now()
	if !expires.After(now) {
		return fmt.Errorf("%w: the invite has expired", ErrDenied)
	}
	if max := now.Add(MaxBoxLife); expires.After(max) {
		expires = max
	}
	if b, ok := m.boxes[id]; ok {
		if b.IsReply {
			return fmt.Errorf("%w: that is an answer box", ErrDenied)
		}
		b.Expires = max(b.Expires, expires.UnixMilli())
		return m.saveLocked(id)
	}
	if len(m.boxes) >= MaxBoxes {
		return fmt.Errorf("%w: %d mailboxes", ErrFull, MaxBoxes)
	}
	if !m.isOwner(opener) {
		n := 0
		for _, b := range m.boxes {
			if b.Opener == opener && !b.IsReply {
				n++
			}
		}
		if n >= MaxBoxesPerOpener {
			return fmt.Errorf("%w: %d mailboxes open for this identity", ErrFull, n)
		}
	}
	m.boxes[id] = &box{Opener: opener, Expires: expires.UnixMilli()}
	m.log.Info("mailbox opened", slog.String("box", fmt.Sprintf("%x", id[:4])))
	return m.saveLocked(id)
}

// Put leaves a sealed request in the box of an invite, naming the box its
// answer goes to. The deposit must be signed with the invite's key (pub):
// only holders of the invite can fill its box. The same request twice is
// kept once.
func (m *Mailboxes) Put(id BoxID, sealed []byte, answer BoxID, pub identity.PublicKey, sig [64]byte) error {
	if len(sealed) == 0 || len(sealed) > pairing.MaxRequest {
		return fmt.Errorf("%w: a request of %d bytes", errBadRequest, len(sealed))
	}
	if err := pairing.VerifyDeposit(pairing.ID(id), pub, answer, sealed, sig); err != nil {
		return fmt.Errorf("%w: %v", ErrDenied, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.expireLocked(); err != nil {
		return err
	}
	b, ok := m.boxes[id]
	if !ok || b.IsReply {
		return ErrNoBox
	}
	for _, e := range b.Entries {
		if bytes.Equal(e.Sealed, sealed) {
			return nil
		}
	}
	if len(b.Entries) >= MaxBoxEntries {
		return ErrBoxFull
	}
	if _, taken := m.boxes[answer]; taken {
		return fmt.Errorf("%w: that answer box is taken", ErrDenied)
	}
	if len(m.boxes) >= MaxBoxes {
		return fmt.Errorf("%w: %d mailboxes", ErrFull, MaxBoxes)
	}
	b.Entries = append(b.Entries, Entry{Sealed: append([]byte{}, sealed...), AnswerBox: answer, Time: m.now().UnixMilli()})
	m.boxes[answer] = &box{Expires: b.Expires, Request: id, IsReply: true}
	if err := m.saveLocked(answer); err != nil {
		return err
	}
	return m.saveLocked(id)
}

// Requests returns the requests in the box of an invite.
func (m *Mailboxes) Requests(id BoxID) ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.boxes[id]
	if !ok || b.IsReply || b.Expires <= m.now().UnixMilli() {
		return nil, ErrNoBox
	}
	return append([]Entry(nil), b.Entries...), nil
}

// MaxAnswers bounds the answers one answer box takes.
const MaxAnswers = 4

// Answer leaves a sealed answer in an answer box; a box takes MaxAnswers.
func (m *Mailboxes) Answer(id BoxID, sealed []byte) error {
	if len(sealed) == 0 || len(sealed) > pairing.MaxAnswer {
		return fmt.Errorf("%w: an answer of %d bytes", errBadRequest, len(sealed))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.boxes[id]
	if !ok || !b.IsReply || b.Expires <= m.now().UnixMilli() {
		return ErrNoBox
	}
	for _, a := range b.Answers {
		if bytes.Equal(a, sealed) {
			return nil
		}
	}
	if len(b.Answers) >= MaxAnswers {
		return fmt.Errorf("%w: answered %d times already", ErrDenied, len(b.Answers))
	}
	b.Answers = append(b.Answers, append([]byte{}, sealed...))
	if rb, ok := m.boxes[b.Request]; ok {
		for i := range rb.Entries {
			if rb.Entries[i].AnswerBox == id {
				rb.Entries[i].Answered = true
			}
		}
		if err := m.saveLocked(b.Request); err != nil {
			return err
		}
	}
	return m.saveLocked(id)
}

// Fetch returns the answers left in an answer box (none yet: empty).
func (m *Mailboxes) Fetch(id BoxID) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.boxes[id]
	if !ok || !b.IsReply || b.Expires <= m.now().UnixMilli() {
		return nil, ErrNoBox
	}
	out := make([][]byte, len(b.Answers))
	for i, a := range b.Answers {
		out[i] = append([]byte(nil), a...)
	}
	return out, nil
}

var errBadRequest = errors.New("bad request")

// MailboxTopic is what a mirror holding the box of an invite announces in
// the DHT, and what a candidate looks up.
func MailboxTopic(b BoxID) [32]byte {
	return sha256.Sum256(append([]byte("hearth/mailbox-topic/v1\x00"), b[:]...))
}

// Boxes returns the request boxes open now.
func (m *Mailboxes) Boxes() []BoxID {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixMilli()
	var out []BoxID
	for id, b := range m.boxes {
		if !b.IsReply && b.Expires > now {
			out = append(out, id)
		}
	}
	return out
}
