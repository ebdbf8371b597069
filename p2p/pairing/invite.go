package pairing

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"golang.org/x/crypto/hkdf"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// ID names an invite publicly.
type ID [16]byte

// Invite is an invite seed, and in a link the tag of what the answer must
// be. It never prints itself.
type Invite struct {
	seed [32]byte
	tag  Tag
}

// Tag commits a link to what its answer must carry: the room (RoomTag) or
// the identity (IdentityTag). Anyone else who holds the invite can read a
// candidate's request and answer it, but not with the right room or
// identity: the candidate checks the tag and ignores such an answer.
type Tag [8]byte

// RoomTag is the tag of a room invite: a hash of the room's discovery key.
func RoomTag(discovery [32]byte) Tag {
	h := sha256.Sum256(append([]byte("hearth/invite-tag/room/v1\x00"), discovery[:]...))
	return Tag(h[:8])
}

// IdentityTag is the tag of a device link: a hash of the identity key.
func IdentityTag(id identity.PublicKey) Tag {
	h := sha256.Sum256(append([]byte("hearth/invite-tag/identity/v1\x00"), id[:]...))
	return Tag(h[:8])
}

// WithTag returns the invite committed to tag, for its link.
func (i Invite) WithTag(tag Tag) Invite { i.tag = tag; return i }

// Tag returns what the link commits the answer to.
func (i Invite) Tag() Tag { return i.tag }

// ErrWrongAnswer means an answer opened but is not for the room or
// identity the link names: someone else holding the invite made it.
var ErrWrongAnswer = errors.New("an answer for another room or identity than the link names")

// NewInvite makes a fresh invite.
func NewInvite() Invite {
	var i Invite
	rand.Read(i.seed[:])
	return i
}

// FromSeed makes an invite from its seed.
func FromSeed(seed [32]byte) Invite { return Invite{seed: seed} }

// Seed returns the seed, to keep it in the room.
func (i Invite) Seed() [32]byte { return i.seed }

func (Invite) String() string       { return "Invite(redacted)" }
func (Invite) GoString() string     { return "Invite(redacted)" }
func (Invite) LogValue() slog.Value { return slog.StringValue("redacted") }

func (i Invite) derive(label string, n int) []byte {
	out := make([]byte, n)
	io.ReadFull(hkdf.New(sha256.New, i.seed[:], nil, []byte(label)), out)
	return out
}

// key is the invite's signing key: a request signed with it proves the
// candidate holds the invite.
func (i Invite) key() identity.SigningKey {
	k, _ := identity.NewSigningKey(i.derive("hearth/invite-key/v1", 32))
	return k
}

// ID returns the invite's public id.
func (i Invite) ID() ID { return idOf(i.key().Public()) }

// Topic is what peers that can answer announce in the DHT.
func (i Invite) Topic() [32]byte { return [32]byte(i.derive("hearth/pairing-topic/v1", 32)) }

func (i Invite) requestKey() [32]byte { return [32]byte(i.derive("hearth/request-key/v1", 32)) }

const (
	linkPrefix       = "hearth://join/"
	deviceLinkPrefix = "hearth://link/"
	// maxLinkLen bounds a link a user pastes.
	maxLinkLen = 512
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ErrLink means a string is not an invite link.
var ErrLink = errors.New("not a hearth invite link")

// Link returns the invite as a link: the seed and, if not empty, the peer
// id of a device to ask first.
func (i Invite) Link(hint string) string { return i.link(linkPrefix, hint) }

// DeviceLink returns the invite as a device link (hearth://link/...): for
// a new device of the identity, not a new member of a room.
func (i Invite) DeviceLink(hint string) string { return i.link(deviceLinkPrefix, hint) }

func (i Invite) link(prefix, hint string) string {
	s := prefix + strings.ToLower(b32.EncodeToString(i.seed[:])) + "." + strings.ToLower(b32.EncodeToString(i.tag[:]))
	if hint != "" {
		s += "/" + hint
	}
	return s
}

// ParseLink reads a link made by Link.
func ParseLink(s string) (Invite, string, error) { return parseLink(s, linkPrefix, deviceLinkPrefix) }

// ParseDeviceLink reads a link made by DeviceLink.
func ParseDeviceLink(s string) (Invite, string, error) {
	return parseLink(s, deviceLinkPrefix, linkPrefix)
}

func parseLink(s, prefix, other string) (Invite, string, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxLinkLen {
		return Invite{}, "", fmt.Errorf("%w: %d characters", ErrLink, len(s))
	}
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		if strings.HasPrefix(s, other) {
			if other == linkPrefix {
				return Invite{}, "", fmt.Errorf("%w: this is a room invite: use 'hearth room join'", ErrLink)
			}
			return Invite{}, "", fmt.Errorf("%w: this is a device link: use 'hearth device join' on the new device", ErrLink)
		}
		return Invite{}, "", fmt.Errorf("%w: it must start with %s", ErrLink, prefix)
	}
	code, hint, _ := strings.Cut(rest, "/")
	seedPart, tagPart, _ := strings.Cut(code, ".")
	seed, err := b32.DecodeString(strings.ToUpper(seedPart))
	tag, terr := b32.DecodeString(strings.ToUpper(tagPart))
	if err != nil || len(seed) != 32 || terr != nil || len(tag) != len(Tag{}) {
		return Invite{}, "", fmt.Errorf("%w: the invite code is damaged (was the link cut short?)", ErrLink)
	}
	if strings.ContainsAny(hint, "/?#") {
		return Invite{}, "", fmt.Errorf("%w: bad peer hint", ErrLink)
	}
	return Invite{seed: [32]byte(seed), tag: Tag(tag)}, hint, nil
}

// depositMessage is what a candidate signs with the invite key to leave a
// request in a mailbox: a mirror then knows the depositor holds the
// invite, without being able to read anything.
func depositMessage(box ID, answerBox [16]byte, sealed []byte) []byte {
	m := append([]byte("hearth/mailbox-deposit/v1\x00"), box[:]...)
	m = append(m, answerBox[:]...)
	h := sha256.Sum256(sealed)
	return append(m, h[:]...)
}

// SignDeposit signs a mailbox deposit with the invite key; it returns the
// invite's public key and the signature.
func (i Invite) SignDeposit(answerBox [16]byte, sealed []byte) (identity.PublicKey, [64]byte) {
	k := i.key()
	return k.Public(), k.Sign(depositMessage(i.ID(), answerBox, sealed))
}

// idOf returns the invite id of an invite public key.
func idOf(pub identity.PublicKey) ID {
	h := sha256.Sum256(append([]byte("hearth/invite-id/v1\x00"), pub[:]...))
	return ID(h[:16])
}

// VerifyDeposit checks that a deposit into the box of invite id was
// signed by the key of that invite.
func VerifyDeposit(id ID, pub identity.PublicKey, answerBox [16]byte, sealed []byte, sig [64]byte) error {
	if idOf(pub) != id {
		return fmt.Errorf("%w: the key is not the invite's", ErrInvalid)
	}
	if !pub.Verify(depositMessage(id, answerBox, sealed), sig[:]) {
		return fmt.Errorf("%w: bad deposit signature", ErrInvalid)
	}
	return nil
}
