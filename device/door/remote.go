package door

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/p2p/doorwire"
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
	counter doorwire.UnlockCounter
}

// NewRemote makes this device's side of the doors.
func NewRemote(node *hnet.Node, rms *rooms.Manager, now func() time.Time) *Remote {
	return &Remote{node: node, rooms: rms, now: now}
}

// Unlock signs a fresh request and sends it to the door doorDev of rm.
func (dr *Remote) Unlock(ctx context.Context, rm *room.Room, doorDev identity.PublicKey) (doorwire.UnlockAnswer, error) {
	dr.mu.Lock()
	req := &doorwire.UnlockRequest{Room: [16]byte(rm.ID()), Door: doorDev, Counter: dr.counter.Next(dr.now()), Time: dr.now().UnixMilli()}
	dr.mu.Unlock()
	var err error
	dr.rooms.Devices.Identity(func(id *identity.Local) { err = req.Sign(id.Device) })
	if err != nil {
		return doorwire.UnlockAnswer{}, err
	}
	return dr.SendUnlock(ctx, doorDev, req.Marshal())
}

// SendUnlock sends request bytes to a door and reads its answer.
func (dr *Remote) SendUnlock(ctx context.Context, doorDev identity.PublicKey, b []byte) (doorwire.UnlockAnswer, error) {
	ab, err := dr.deliver(ctx, doorDev, proto.Door, b)
	if err != nil {
		return doorwire.UnlockAnswer{}, err
	}
	return doorwire.ParseUnlockAnswer(ab)
}

// View asks the door doorDev of rm for its live view; the door calls
// this device back. A door that refuses says why (ViewAnswer.Reason).
func (dr *Remote) View(ctx context.Context, rm *room.Room, doorDev identity.PublicKey) (doorwire.ViewAnswer, error) {
	b, err := dr.deliver(ctx, doorDev, proto.DoorView, doorwire.ViewRequest([16]byte(rm.ID())))
	if err != nil {
		return doorwire.ViewAnswer{}, err
	}
	return doorwire.ParseViewAnswer(b)
}

// deliver sends one request to a door on a protocol and reads its
// answer's bytes.
func (dr *Remote) deliver(ctx context.Context, doorDev identity.PublicKey, pid protocol.ID, b []byte) ([]byte, error) {
	p, err := proto.PeerOf(doorDev)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := dr.node.Reach(ctx, p); err != nil {
		return nil, fmt.Errorf("the door is not reachable: %w", err)
	}
	s, err := dr.node.Host.NewStream(ctx, p, pid)
	if err != nil {
		return nil, fmt.Errorf("the door: %w", err)
	}
	return doorwire.Ask(ctx, s, b)
}
