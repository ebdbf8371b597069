package device

import (
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
)

// publishRevocations writes every revocation of this identity into every
// room it is a member of that does not hold it yet: the room's view then
// refuses what the revoked device writes without having seen it, and the
// room's key rotates without it. A room joined later, or one whose write
// failed, gets it on the next call (run calls it every round).
func (rs *rooms) publishRevocations() {
	rs.idMu.Lock()
	var blobs [][]byte
	var devs []identity.PublicKey
	for _, rv := range rs.id.Revocations {
		b, err := rv.MarshalBinary()
		if err != nil {
			continue
		}
		blobs = append(blobs, b)
		devs = append(devs, rv.Device)
	}
	rs.idMu.Unlock()
	if len(blobs) == 0 {
		return
	}
	me := rs.self.Identity
	for _, r := range rs.list() {
		var ops []room.Op
		r.View(func(v *room.View) {
			if _, ok := v.Members[me]; !ok {
				return
			}
			if d, ok := v.Devices[rs.self.Device.Public()]; !ok || d.Revoked {
				return
			}
			for i, dev := range devs {
				if _, done := v.Revoked[dev]; !done {
					ops = append(ops, room.Op{Type: room.OpRevoke, Blob: blobs[i]})
				}
			}
		})
		if len(ops) == 0 {
			continue
		}
		if _, err := r.WriteBatch(ops); err != nil {
			rs.log.Warn("revocation not written into the room", logattr.Room(r.ID().String()), logattr.Err(err))
			continue
		}
		rs.log.Info("revocations written into the room", logattr.Room(r.ID().String()), "count", len(ops))
	}
}
