package door

import (
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/webpush"
	"github.com/hearthp2p/hearth/p2p/room"
)

// Rings while the app is closed: a ring is also pushed (Web Push) to
// every rung device that gave a subscription in the household room
// (calls.Calls.PushRing), signed with the room's VAPID key, which the door
// sets as an admin when the room has none.

// ensureVAPID gives the household room its push key, as an admin, if it
// has none.
func (d *Door) ensureVAPID() {
	var has bool
	var role room.Role
	d.room.View(func(v *room.View) {
		has = v.VAPID != nil
		role = v.Role(d.id.Identity)
	})
	if has || role < room.RoleAdmin {
		return
	}
	k, err := webpush.NewVAPID()
	if err != nil {
		d.log.Warn("no push key", logattr.Err(err))
		return
	}
	b, err := k.Bytes()
	if err != nil {
		return
	}
	if _, err := d.room.Write(room.Op{Type: room.OpVAPID, Blob: b}); err != nil {
		d.log.Warn("the household room's push key not written", logattr.Err(err))
		return
	}
	d.log.Info("the household room has a push key now: its members' apps can be rung while closed")
}
