package proto

import (
	"context"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Protocol ids. A breaking change to a protocol gets a new version.
const (
	Sync    protocol.ID = "/hearth/sync/1.0.0"
	Pairing protocol.ID = "/hearth/pairing/1.0.0"
	Mirror  protocol.ID = "/hearth/mirror/1.0.0"
	Blob    protocol.ID = "/hearth/blob/1.0.0"
	Door    protocol.ID = "/hearth/door/1.0.0"
	// DoorView asks a doorphone for its live view.
	DoorView protocol.ID = "/hearth/door-view/1.0.0"
)

// Host is what a protocol's service needs of its node: a libp2p host (a
// daemon's) satisfies it, and so does the browser's peer, whose streams
// are js-libp2p's.
type Host interface {
	Local
	SetStreamHandler(protocol.ID, network.StreamHandler)
	RemoveStreamHandler(protocol.ID)
	NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error)
}
