package rooms

import (
	"fmt"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/room"
)

// FindMessage resolves a message id (device prefix and position).
func FindMessage(rm *room.Room, id string) (room.Ref, error) {
	prefix, seq, err := room.ParseRefPrefix(id)
	if err != nil {
		return room.Ref{}, fmt.Errorf("%w: %v", control.ErrBadArg, err)
	}
	found, ok := rm.FindMessage(prefix, seq)
	if !ok {
		return room.Ref{}, fmt.Errorf("%w: %s", room.ErrUnknownMessage, id)
	}
	return found, nil
}
