// Package doorwire is the door's protocol between the devices of a
// household and its doorphone, as it goes on the wire: a member's device
// sends one request on a stream (proto.Door to unlock, proto.DoorView for
// the live view) and reads one answer. The daemon (device/door) and the
// phone's app both speak it; the door decides (device/door).
//
// An unlock request is signed by the sending device's key. The doorphone
// opens only for a device of an admin of its household room, and only for
// a request that is fresh (its time near the door's clock) and newer than
// every request it took from that device before (its counter), so a
// request recorded and sent again, or held back and sent after a newer
// one, is refused.
package doorwire

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
)

// UnlockVersion is the request's format.
const UnlockVersion = 1

// MaxMsg bounds a request and an answer on the wire.
const MaxMsg = 512

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
	a.Reason = d.String(MaxMsg - 8)
	if err := d.Finish(); err != nil {
		return a, fmt.Errorf("the door's answer: %w", err)
	}
	return a, nil
}

// ReadMsg reads one framed request or answer.
func ReadMsg(r *bufio.Reader) ([]byte, error) { return wire.ReadMsg(r, MaxMsg) }

// UnlockCounter is the next counter of this device: its clock in
// milliseconds, and always more than the last one sent, so it grows
// across restarts without being stored.
type UnlockCounter struct{ last uint64 }

func (c *UnlockCounter) Next(now time.Time) uint64 {
	c.last = max(c.last+1, uint64(now.UnixMilli()))
	return c.last
}

const viewVersion = 1

// ViewRequest is a live view request's bytes: its version and the room.
func ViewRequest(rm [16]byte) []byte {
	var e wire.Encoder
	e.U8(viewVersion)
	e.Fixed(rm[:])
	return e.B
}

func ParseViewRequest(b []byte) ([16]byte, error) {
	var rm [16]byte
	d := wire.NewDecoder(b)
	if v := d.U8(); d.Err() == nil && v != viewVersion {
		return rm, fmt.Errorf("live view request version %d (this door speaks %d)", v, viewVersion)
	}
	d.Fixed(rm[:])
	if err := d.Finish(); err != nil {
		return rm, fmt.Errorf("live view request: %w", err)
	}
	return rm, nil
}

// ViewAnswer is the door's answer to a live view request: the call it
// placed (a call.ID), or why not.
type ViewAnswer struct {
	Call   [16]byte
	Reason string
}

func (a ViewAnswer) Marshal() []byte {
	var e wire.Encoder
	e.Fixed(a.Call[:])
	e.String(a.Reason)
	return e.B
}

func ParseViewAnswer(b []byte) (ViewAnswer, error) {
	var a ViewAnswer
	d := wire.NewDecoder(b)
	d.Fixed(a.Call[:])
	a.Reason = d.String(MaxMsg - 32)
	if err := d.Finish(); err != nil {
		return a, fmt.Errorf("the door's answer: %w", err)
	}
	if a.Reason == "" && a.Call == ([16]byte{}) {
		return a, errors.New("the door's answer names no call")
	}
	return a, nil
}

// Ask sends one request on s, a stream to the door, and reads the
// answer's bytes; ctx and 10 s bound it. The stream is closed after.
func Ask(ctx context.Context, s network.Stream, b []byte) ([]byte, error) {
	defer s.Close()
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.SetDeadline(deadline)
	if err := wire.WriteMsg(s, b); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sending the request: %w", err)
	}
	ab, err := ReadMsg(bufio.NewReader(s))
	if err != nil {
		s.Reset()
		return nil, fmt.Errorf("reading the door's answer: %w", err)
	}
	return ab, nil
}
