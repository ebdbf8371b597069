package rooms

import (
	"context"
	"time"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/mirror"
	"github.com/hearthp2p/hearth/p2p/room"
)

// RevocationBlobs returns every revocation of this identity's devices
// this device knows: made here, or read in a room.
func (rs *Devices) RevocationBlobs() [][]byte {
	seen := map[identity.PublicKey][]byte{}
	rs.idMu.Lock()
	for _, rv := range rs.id.Revocations {
		if b, err := rv.MarshalBinary(); err == nil {
			seen[rv.Device] = b
		}
	}
	rs.idMu.Unlock()
	me := rs.self.Identity
	for _, r := range rs.List() {
		r.View(func(v *room.View) {
			for dev, b := range v.Revocations {
				if d, ok := v.Devices[dev]; (!ok || d.Identity == me) && seen[dev] == nil {
					if rv, err := identity.ParseRevocation(b); err == nil && rv.Identity == me {
						seen[dev] = b
					}
				}
			}
		})
	}
	out := make([][]byte, 0, len(seen))
	for _, b := range seen {
		out = append(out, b)
	}
	return out
}

// PublishRevocations writes every revocation of this identity into every
// room it is a member of that does not hold it yet: the room's view then
// refuses what the revoked device writes without having seen it, and the
// room's key rotates without it. A room joined later, or one whose write
// failed, gets it on the next call (run calls it every round).
func (rs *Devices) PublishRevocations() {
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
	for _, r := range rs.List() {
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

// TellMirrors hands this identity's revocations to the mirrors of its
// rooms, with a request that changes nothing (a list): a mirror then
// refuses the revoked devices' proofs, so a stolen phone cannot drop the
// household's rooms from it.
func (rs *Devices) TellMirrors(ctx context.Context) {
	revs := rs.RevocationBlobs()
	if len(revs) == 0 {
		return
	}
	for _, p := range rs.allMirrors() {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := mirror.Ask(actx, rs.node.Host, p, mirror.Request{Op: mirror.OpList, Proof: rs.ProofBytes(), Revocations: revs})
		cancel()
		if err != nil {
			rs.log.Debug("revocations not handed to a mirror", logattr.Peer(p.String()), logattr.Err(err))
		}
	}
}

// Identity runs f with this device's identity, its revocations held
// still (AddRevocation changes them).
func (rs *Devices) Identity(f func(id *identity.Local)) {
	rs.idMu.Lock()
	defer rs.idMu.Unlock()
	f(rs.id)
}

// AddRevocation keeps a revocation of a device of this identity (see
// identity.Local.AddRevocation); PublishRevocations writes it into the
// rooms.
func (rs *Devices) AddRevocation(rv *identity.Revocation) (*identity.Revocation, error) {
	rs.idMu.Lock()
	defer rs.idMu.Unlock()
	return rs.id.AddRevocation(rv)
}
