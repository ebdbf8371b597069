package rooms

import (
	"bytes"
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
	var found room.Ref
	var ok bool
	rm.View(func(v *room.View) {
		for _, m := range v.Messages {
			if m.ID.Seq == seq && bytes.HasPrefix(m.ID.Writer[:], prefix) {
				found, ok = m.ID, true
				return
			}
		}
	})
	if !ok {
		return room.Ref{}, fmt.Errorf("%w: %s", room.ErrUnknownMessage, id)
	}
	return found, nil
}
