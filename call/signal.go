package call

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hearthp2p/hearth/internal/wire"
)

// Protocol is the signaling protocol: one stream per call between the
// caller's device and one callee device, carrying Signals.
const Protocol = "/hearth/call/1.0.0"

// Kind is what a signal says.
type Kind byte

// The signals. A call leg goes Ring → (Accept | Decline | Busy |
// Elsewhere) → Offer → Answer, with Candidates both ways from the offer
// on, until a Hangup from either side.
const (
	Ring      Kind = 1  // caller → callee: Room, Media
	Accept    Kind = 2  // callee → caller: Media it will send
	Decline   Kind = 3  // callee → caller: Reason
	Busy      Kind = 4  // callee → caller: in another call
	Elsewhere Kind = 5  // caller → callee: answered on another device, or the caller gave up
	Offer     Kind = 6  // caller → callee: SDP
	Answer    Kind = 7  // callee → caller: SDP
	Candidate Kind = 8  // both ways: an ICE candidate
	Hangup    Kind = 9  // both ways: Reason
	Roster    Kind = 10 // group caller → a new participant: Peers, the others to join
	kindMax        = Roster
)

var kindNames = [...]string{"", "ring", "accept", "decline", "busy", "elsewhere", "offer", "answer", "candidate", "hangup", "roster"}

func (k Kind) String() string {
	if k == 0 || k > kindMax {
		return fmt.Sprintf("kind(%d)", byte(k))
	}
	return kindNames[k]
}

// Media says what a side sends.
type Media byte

// Media bits.
const (
	Audio Media = 1 << iota
	Video
	mediaAll = Audio | Video
)

func (m Media) String() string {
	switch m {
	case Audio:
		return "audio"
	case Video:
		return "video"
	case Audio | Video:
		return "audio+video"
	}
	return "none"
}

// ID names a call; the caller picks it at random.
type ID [16]byte

// NewID returns a random call id.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	return id
}

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID reads an id as String prints it.
func ParseID(s string) (ID, error) {
	var id ID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("bad call id %q: 32 hexadecimal digits", s)
	}
	copy(id[:], b)
	return id, nil
}

// Limits of a signal's fields.
const (
	MaxSDP       = 32 << 10
	MaxCandidate = 1 << 10
	MaxReason    = 200
	MaxSignal    = MaxSDP + 256
	// MaxGroup is the most devices in a group call (a mesh: each sends
	// its media to every other).
	MaxGroup   = 4
	maxPeerLen = 128
	maxAdmit   = 128 // a group admission: a signature
)

// Signal is one signaling message.
type Signal struct {
	Kind  Kind
	Call  ID
	Room  [16]byte // ring: the room the call is in
	Media Media    // ring, accept
	// Group, on a ring, names the group call it belongs to (zero: a call
	// of two).
	Group ID
	// Peers are the other participants' peer ids (roster).
	Peers []string
	// Admit is a group admission (admit.go): on a roster, the group's
	// caller's signature letting the newcomer in; on a ring that joins a
	// group, the joiner shows it to each participant.
	Admit []byte
	// SDP is the session description of an offer or answer.
	SDP string
	// Candidate, Mid and MLine are an ICE candidate (Candidate empty: the
	// end of candidates).
	Candidate string
	Mid       string
	MLine     uint16
	Reason    string // decline, hangup
}

const signalVersion = 1

// ErrMalformed means a signal could not be decoded.
var ErrMalformed = errors.New("malformed signal")

// MarshalBinary encodes the signal.
func (s *Signal) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	w := wire.Encoder{B: make([]byte, 0, 40+len(s.SDP)+len(s.Candidate))}
	w.U8(signalVersion)
	w.U8(byte(s.Kind))
	w.Fixed(s.Call[:])
	switch s.Kind {
	case Ring:
		w.Fixed(s.Room[:])
		w.U8(byte(s.Media))
		w.Fixed(s.Group[:])
		w.Bytes(s.Admit)
	case Accept:
		w.U8(byte(s.Media))
	case Roster:
		w.Uint(uint64(len(s.Peers)))
		for _, p := range s.Peers {
			w.String(p)
		}
		w.Bytes(s.Admit)
	case Decline, Hangup:
		w.String(s.Reason)
	case Offer, Answer:
		w.String(s.SDP)
	case Candidate:
		w.String(s.Candidate)
		w.String(s.Mid)
		w.Uint(uint64(s.MLine))
	}
	return w.B, nil
}

func (s *Signal) check() error {
	switch {
	case s.Kind == 0 || s.Kind > kindMax:
		return fmt.Errorf("%w: unknown kind %d", ErrMalformed, s.Kind)
	case s.Media&^mediaAll != 0:
		return fmt.Errorf("%w: unknown media %#x", ErrMalformed, byte(s.Media))
	case len(s.SDP) > MaxSDP:
		return fmt.Errorf("%w: a session description of %d bytes, at most %d", ErrMalformed, len(s.SDP), MaxSDP)
	case len(s.Candidate) > MaxCandidate || len(s.Mid) > MaxCandidate:
		return fmt.Errorf("%w: a candidate of %d bytes, at most %d", ErrMalformed, len(s.Candidate), MaxCandidate)
	case len(s.Reason) > MaxReason:
		return fmt.Errorf("%w: a reason of %d bytes, at most %d", ErrMalformed, len(s.Reason), MaxReason)
	case (s.Kind == Offer || s.Kind == Answer) && s.SDP == "":
		return fmt.Errorf("%w: an empty session description", ErrMalformed)
	case len(s.Admit) > maxAdmit:
		return fmt.Errorf("%w: an admission of %d bytes", ErrMalformed, len(s.Admit))
	case len(s.Peers) > MaxGroup-1:
		return fmt.Errorf("%w: a roster of %d", ErrMalformed, len(s.Peers))
	}
	for _, p := range s.Peers {
		if p == "" || len(p) > maxPeerLen {
			return fmt.Errorf("%w: a roster entry of %d bytes", ErrMalformed, len(p))
		}
	}
	return nil
}

// UnmarshalBinary decodes a signal; every field is bounded and checked.
func (s *Signal) UnmarshalBinary(b []byte) error {
	d := wire.NewDecoder(b)
	if v := d.U8(); d.Err() == nil && v != signalVersion {
		return fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	var out Signal
	out.Kind = Kind(d.U8())
	d.Fixed(out.Call[:])
	switch out.Kind {
	case Ring:
		d.Fixed(out.Room[:])
		out.Media = Media(d.U8())
		d.Fixed(out.Group[:])
		out.Admit = d.Bytes(maxAdmit)
	case Accept:
		out.Media = Media(d.U8())
	case Roster:
		n := d.Count(MaxGroup - 1)
		for range n {
			out.Peers = append(out.Peers, d.String(maxPeerLen))
		}
		out.Admit = d.Bytes(maxAdmit)
	case Decline, Hangup:
		out.Reason = printable(d.String(MaxReason))
	case Offer, Answer:
		out.SDP = d.String(MaxSDP)
	case Candidate:
		out.Candidate = d.String(MaxCandidate)
		out.Mid = d.String(MaxCandidate)
		ml := d.Uint()
		if ml > 0xffff {
			d.Fail(wire.ErrTooLong)
		}
		out.MLine = uint16(ml)
	}
	if err := d.Finish(); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(out.Admit) == 0 {
		out.Admit = nil
	}
	if err := out.check(); err != nil {
		return err
	}
	*s = out
	return nil
}

// printable drops what a terminal or a log would take as control: a
// reason comes from the other side and is shown to people.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}
