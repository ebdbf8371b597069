package door

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// The door's unlock protocol (/hearth/door/1.0.0): a member's device
// sends one signed request on a stream and reads one answer. The
// doorphone opens only for a device of an admin of its household room,
// and only for a request that is fresh (its time within unlockSkew of the
// door's clock) and newer than every request it took from that device
// before (its counter; the last one is kept on disk), so a request
// recorded and sent again, or held back and sent after a newer one, is
// refused.

// UnlockVersion is the request's format.
const UnlockVersion = 1

// unlockSkew bounds the difference between a request's time and the
// door's clock.
const unlockSkew = 30 * time.Second

// maxUnlockMsg bounds a request and an answer on the wire.
const maxUnlockMsg = 512

// unlockDomain separates the signature of an unlock from every other
// signature of a device key.
const unlockDomain = "hearth door unlock v1\x00"

// UnlockRequest asks a door to open.
type UnlockRequest struct {
	Room    [16]byte
	Door    identity.PublicKey // the doorphone's device
	Counter uint64             // strictly increasing per sending device
	Time    int64              // unix milliseconds, the sender's clock
	Nonce   [16]byte
	Sig     [64]byte // by the sending device's key
}

func (u *UnlockRequest) signed() []byte {
	var e wire.Encoder
	e.Fixed([]byte(unlockDomain))
	e.U8(UnlockVersion)
	e.Fixed(u.Room[:])
	e.Fixed(u.Door[:])
	e.U64(u.Counter)
	e.U64(uint64(u.Time))
	e.Fixed(u.Nonce[:])
	return e.B
}

func (u *UnlockRequest) Marshal() []byte {
	b := u.signed()[len(unlockDomain):]
	return append(b, u.Sig[:]...)
}

func ParseUnlock(b []byte) (*UnlockRequest, error) {
	d := wire.NewDecoder(b)
	if v := d.U8(); d.Err() == nil && v != UnlockVersion {
		return nil, fmt.Errorf("unlock request version %d (this door speaks %d)", v, UnlockVersion)
	}
	var u UnlockRequest
	d.Fixed(u.Room[:])
	d.Fixed(u.Door[:])
	u.Counter = d.U64()
	u.Time = int64(d.U64())
	d.Fixed(u.Nonce[:])
	d.Fixed(u.Sig[:])
	if err := d.Finish(); err != nil {
		return nil, fmt.Errorf("unlock request: %w", err)
	}
	return &u, nil
}

// Sign fills in the nonce and signature.
func (u *UnlockRequest) Sign(key identity.SigningKey) error {
	if _, err := rand.Read(u.Nonce[:]); err != nil {
		return err
	}
	u.Sig = key.Sign(u.signed())
	return nil
}

// Verify checks the signature against the sending device.
func (u *UnlockRequest) Verify(dev identity.PublicKey) error {
	if !dev.Verify(u.signed(), u.Sig[:]) {
		return errors.New("bad signature")
	}
	return nil
}

// UnlockAnswer is the door's answer.
type UnlockAnswer struct {
	Opened bool
	Reason string
}

func (a UnlockAnswer) Marshal() []byte {
	var e wire.Encoder
	e.Bool(a.Opened)
	e.String(a.Reason)
	return e.B
}

func ParseUnlockAnswer(b []byte) (UnlockAnswer, error) {
	d := wire.NewDecoder(b)
	var a UnlockAnswer
	a.Opened = d.Bool()
	a.Reason = d.String(maxUnlockMsg - 8)
	if err := d.Finish(); err != nil {
		return a, fmt.Errorf("the door's answer: %w", err)
	}
	return a, nil
}

// ReadUnlockMsg reads one framed message.
func ReadUnlockMsg(r *bufio.Reader) ([]byte, error) { return wire.ReadMsg(r, maxUnlockMsg) }

// counterBytes is the on-disk form of the last counter taken from a
// device.
func counterBytes(c uint64) []byte { return binary.BigEndian.AppendUint64(nil, c) }

// UnlockCounter is the next counter of this device: its clock in
// milliseconds, and always more than the last one sent, so it grows
// across restarts without being stored.
type UnlockCounter struct{ last uint64 }

func (c *UnlockCounter) Next(now time.Time) uint64 {
	c.last = max(c.last+1, uint64(now.UnixMilli()))
	return c.last
}
