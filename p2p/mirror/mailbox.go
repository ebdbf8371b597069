package mirror

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// Limits of mailboxes. A mirror's owners always have room: what others
// open is bounded apart (per identity, per peer, in all, in bytes), and
// lives far shorter; their inviting daemons renew it while the invite
// lives.
const (
	MaxBoxEntries      = 32 // requests one box holds
	MaxBoxLife         = 90 * 24 * time.Hour
	MaxStrangerBoxLife = 7 * 24 * time.Hour // a box opened by an identity that does not own the mirror
	MaxBoxes           = 1024               // request boxes of the owners
	// MaxBoxesPerOpener bounds the request boxes open for one identity
	// that is not an owner, and for one peer.
	MaxBoxesPerOpener = 8
	// MaxStrangerBoxes bounds the request boxes open for all identities
	// that are not owners, MaxStrangerBoxBytes the requests and answers
	// they hold.
	MaxStrangerBoxes    = 256
	MaxStrangerBoxBytes = 32 << 20
	// MaxAnswerers bounds the identities whose devices may answer the
	// requests of one box.
	MaxAnswerers = 64
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
	// ErrBoxLimit: the mirror keeps no more mailboxes for this opener;
	// the message says which bound.
	ErrBoxLimit = errors.New("mailbox limit")
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
	// Peer is the peer that opened a request box; Answerers the
	// identities whose devices may answer its requests (the room's
	// admins, as the opener named them; the opener always).
	Peer      string               `json:"peer,omitempty"`
	Answerers []identity.PublicKey `json:"answerers,omitempty"`
}

// size is the bytes a box holds.
func (b *box) size() int64 {
	var n int64
	for _, e := range b.Entries {
		n += int64(len(e.Sealed))
	}
	for _, a := range b.Answers {
		n += int64(len(a))
	}
	return n
}

// may reports whether id may answer the requests of request box b, or
// renew it.
func (b *box) may(id identity.PublicKey) bool {
	return id == b.Opener || slices.Contains(b.Answerers, id)
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

// Open opens (or renews) the request box of an invite until expires, for
// opener on peer, whose devices and those of answerers may answer its
// requests. A box open already is renewed (and its answerers set, when
// given) only by its opener or one of its answerers.
func (m *Mailboxes) Open(id BoxID, opener identity.PublicKey, peer string, expires time.Time, answerers []identity.PublicKey) error {
	if len(answerers) > MaxAnswerers {
		return fmt.Errorf("%w: %d answerers, at most %d", errBadRequest, len(answerers), MaxAnswerers)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.expireLocked(); err != nil {
		return err
	}
	now := m.now()
	if !expires.After(now) {
		return fmt.Errorf("%w: the invite has expired", ErrDenied)
	}
	owner := m.isOwner(opener)
	life := MaxBoxLife
	if !owner {
		life = MaxStrangerBoxLife
	}
	if max := now.Add(life); expires.After(max) {
		expires = max
	}
	if b, ok := m.boxes[id]; ok {
		if b.IsReply {
			return fmt.Errorf("%w: that is an answer box", ErrDenied)
		}
		if !b.may(opener) {
			return fmt.Errorf("%w: that mailbox is another identity's", ErrDenied)
		}
		b.Expires = max(b.Expires, expires.UnixMilli())
		if len(answerers) > 0 {
			b.Answerers = uniq(answerers)
		}
		for _, e := range b.Entries {
			if ab, ok := m.boxes[e.AnswerBox]; ok {
				ab.Expires = b.Expires
				if err := m.saveLocked(e.AnswerBox); err != nil {
					return err
				}
			}
		}
		return m.saveLocked(id)
	}
	var mine, onPeer, strangers, owners int
	for _, b := range m.boxes {
		if b.IsReply {
			continue
		}
		switch {
		case m.isOwner(b.Opener):
			owners++
		default:
			strangers++
		}
		if b.Opener == opener {
			mine++
		}
		if peer != "" && b.Peer == peer {
			onPeer++
		}
	}
	switch {
	case owner && owners >= MaxBoxes:
		return fmt.Errorf("%w: the owners have %d mailboxes open, the most a mirror keeps", ErrBoxLimit, owners)
	case owner:
	case mine >= MaxBoxesPerOpener:
		return fmt.Errorf("%w: %d mailboxes open for this identity, the most this mirror keeps for one that does not own it", ErrBoxLimit, mine)
	case onPeer >= MaxBoxesPerOpener:
		return fmt.Errorf("%w: %d mailboxes open from this device, the most this mirror keeps for one that does not own it", ErrBoxLimit, onPeer)
	case strangers >= MaxStrangerBoxes:
		return fmt.Errorf("%w: %d mailboxes open for identities that do not own this mirror, the most it keeps; its owners' invites still get one", ErrBoxLimit, strangers)
	}
	m.boxes[id] = &box{Opener: opener, Peer: peer, Expires: expires.UnixMilli(), Answerers: uniq(answerers)}
	m.log.Info("mailbox opened", slog.String("box", fmt.Sprintf("%x", id[:4])), slog.Bool("owner", owner))
	return m.saveLocked(id)
}

func uniq(ids []identity.PublicKey) []identity.PublicKey {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b identity.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// strangerBytesLocked returns the bytes held in the boxes of identities
// that do not own the mirror (their answer boxes included).
func (m *Mailboxes) strangerBytesLocked() int64 {
	var n int64
	for _, b := range m.boxes {
		rb := b
		if b.IsReply {
			if rb = m.boxes[b.Request]; rb == nil {
				continue
			}
		}
		if !m.isOwner(rb.Opener) {
			n += b.size()
		}
	}
	return n
}

// roomFor checks that n more bytes fit in request box rb's share.
func (m *Mailboxes) roomFor(rb *box, n int) error {
	if m.isOwner(rb.Opener) {
		return nil
	}
	if used := m.strangerBytesLocked(); used+int64(n) > MaxStrangerBoxBytes {
		return fmt.Errorf("%w: the mailboxes of identities that do not own this mirror hold %d bytes, the most it keeps", ErrBoxLimit, used)
	}
	return nil
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
	if err := m.roomFor(b, len(sealed)); err != nil {
		return err
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

// Answer leaves a sealed answer in an answer box for by, an identity whose
// device proved itself: only the request box's opener and answerers (the
// room's admins) may answer, so no holder of the invite can mark requests
// answered with junk. A box takes MaxAnswers.
func (m *Mailboxes) Answer(id BoxID, by identity.PublicKey, sealed []byte) error {
	if len(sealed) == 0 || len(sealed) > pairing.MaxAnswer {
		return fmt.Errorf("%w: an answer of %d bytes", errBadRequest, len(sealed))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.boxes[id]
	if !ok || !b.IsReply || b.Expires <= m.now().UnixMilli() {
		return ErrNoBox
	}
	rb, ok := m.boxes[b.Request]
	if !ok {
		return ErrNoBox
	}
	if !rb.may(by) {
		return fmt.Errorf("%w: only the devices of an identity the mailbox's opener named may answer its requests", ErrDenied)
	}
	for _, a := range b.Answers {
		if bytes.Equal(a, sealed) {
			return nil
		}
	}
	if err := m.roomFor(rb, len(sealed)); err != nil {
		return err
	}
	if len(b.Answers) >= MaxAnswers {
		return fmt.Errorf("%w: answered %d times already", ErrDenied, len(b.Answers))
	}
	b.Answers = append(b.Answers, append([]byte{}, sealed...))
	for i := range rb.Entries {
		if rb.Entries[i].AnswerBox == id {
			rb.Entries[i].Answered = true
		}
	}
	if err := m.saveLocked(b.Request); err != nil {
		return err
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
