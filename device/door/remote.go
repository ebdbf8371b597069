package door

import (
	"bufio"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Remote is a member's side of the doors of its rooms: it asks a door to
// unlock or to show its live view; the door decides.
type Remote struct {
	node  *hnet.Node
	rooms *rooms.Manager
	now   func() time.Time

	mu      sync.Mutex
	counter UnlockCounter
}

// NewRemote makes this device's side of the doors.
func NewRemote(node *hnet.Node, rms *rooms.Manager, now func() time.Time) *Remote {
	return &Remote{node: node, rooms: rms, now: now}
}

// Unlock signs a fresh request and sends it to the door doorDev of rm.
func (dr *Remote) Unlock(ctx context.Context, rm *room.Room, doorDev identity.PublicKey) (UnlockAnswer, error) {
	dr.mu.Lock()
	req := &UnlockRequest{Room: [16]byte(rm.ID()), Door: doorDev, Counter: dr.counter.Next(dr.now()), Time: dr.now().UnixMilli()}
	dr.mu.Unlock()
	var err error
	dr.rooms.Devices.Identity(func(id *identity.Local) { err = req.Sign(id.Device) })
	if err != nil {
		return UnlockAnswer{}, err
	}
	return dr.SendUnlock(ctx, doorDev, req.Marshal())
}

// SendUnlock sends request bytes to a door and reads its answer.
func (dr *Remote) SendUnlock(ctx context.Context, doorDev identity.PublicKey, b []byte) (UnlockAnswer, error) {
	ab, err := dr.deliver(ctx, doorDev, proto.Door, b)
	if err != nil {
		return UnlockAnswer{}, err
	}
	return ParseUnlockAnswer(ab)
}

// View asks the door doorDev of rm for its live view; the door calls
// this device back. A door that refuses says why (ViewAnswer.Reason).
func (dr *Remote) View(ctx context.Context, rm *room.Room, doorDev identity.PublicKey) (ViewAnswer, error) {
	b, err := dr.deliver(ctx, doorDev, proto.DoorView, ViewRequest([16]byte(rm.ID())))
	if err != nil {
		return ViewAnswer{}, err
	}
	return ParseViewAnswer(b)
}

// deliver sends one request to a door on a protocol and reads its
// answer's bytes.
func (dr *Remote) deliver(ctx context.Context, doorDev identity.PublicKey, proto protocol.ID, b []byte) ([]byte, error) {
	p, err := rooms.PeerOf(doorDev)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := dr.node.Reach(ctx, p); err != nil {
		return nil, fmt.Errorf("the door is not reachable: %w", err)
	}
	s, err := dr.node.Host.NewStream(ctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("the door: %w", err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteMsg(s, b); err != nil {
		s.Reset()
		return nil, fmt.Errorf("sending the request: %w", err)
	}
	ab, err := ReadUnlockMsg(bufio.NewReader(s))
	if err != nil {
		return nil, fmt.Errorf("reading the door's answer: %w", err)
	}
	return ab, nil
}
