package rooms

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/mirror"
	"github.com/hearthp2p/hearth/p2p/room"
)

// A blind mirror keeps only the logs the room's keeper names (package
// mirror, writers.go). Every member device names them, on each mirror
// the room names, whenever the room's devices change: the mirror takes
// the names of the identity that asked it to keep the room (and of its
// owners), and refuses the others'.

// renameEvery is how often the names are sent again though unchanged (a
// mirror that lost them, a room kept again).
const renameEvery = time.Hour

type namedKey struct {
	p    peer.ID
	disc log.Discovery
}

type namedAt struct {
	sum   [32]byte
	again time.Time // sent again though unchanged from then on
}

// RoomWriters returns the logs a mirror is to keep of r: every device of
// its view; one whose entries the room stopped counting (revoked, forked,
// of a former member) only up to the length held here. And the
// identities that are members now, whose devices may name themselves.
func RoomWriters(r *room.Room) ([]mirror.Writer, []identity.PublicKey) {
	type dev struct {
		key     identity.PublicKey
		bounded bool
	}
	var devs []dev
	var members []identity.PublicKey
	r.View(func(v *room.View) {
		for k, d := range v.Devices {
			_, former := v.Former[d.Identity]
			devs = append(devs, dev{key: k, bounded: d.Revoked || d.Forked || d.Superseded || former})
		}
		for id := range v.Members {
			members = append(members, id)
		}
	})
	out := make([]mirror.Writer, 0, len(devs))
	for _, d := range devs {
		w := mirror.Writer{Key: d.key}
		if d.bounded {
			if w.Max = r.Len(d.key); w.Max == 0 {
				continue
			}
		}
		out = append(out, w)
	}
	if len(out) > mirror.MaxWriters {
		out = out[:mirror.MaxWriters]
	}
	if len(members) > mirror.MaxMembers {
		members = members[:mirror.MaxMembers]
	}
	return out, members
}

func writersSum(ws []mirror.Writer, members []identity.PublicKey) [32]byte {
	var x [32]byte // order-free: the xor of each name's hash
	add := func(b []byte) {
		h := sha256.Sum256(b)
		for i := range x {
			x[i] ^= h[i]
		}
	}
	for _, w := range ws {
		add(binary.BigEndian.AppendUint64(append([]byte{'w'}, w.Key[:]...), w.Max))
	}
	for _, m := range members {
		add(append([]byte{'m'}, m[:]...))
	}
	return x
}

// publishWriters names each room's writers on the mirrors the room names
// that this device is connected to (or is), when they changed since they
// were last named there. run calls it every round.
func (rs *Mirrors) publishWriters(ctx context.Context) {
	for _, r := range rs.List() {
		rs.nameWriters(ctx, r)
	}
}

// nameNow names r's writers on its mirrors at once: a member just admitted
// can write there though this device goes offline right after.
func (rs *Mirrors) nameNow(ctx context.Context, r *room.Room) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	rs.nameWriters(ctx, r)
}

// deniedRetry is how soon names a mirror refused are sent again: a member
// who joined while the keeper was offline is named once the keeper names
// its identity.
const deniedRetry = time.Minute

// nameWriters names r's writers on its mirrors (see publishWriters).
func (rs *Mirrors) nameWriters(ctx context.Context, r *room.Room) {
	mirrors := rs.RoomMirrors(r)
	if len(mirrors) == 0 {
		return
	}
	ws, members := RoomWriters(r)
	sum := writersSum(ws, members)
	d := r.Discovery()
	for _, p := range mirrors {
		k := namedKey{p, d}
		rs.namedMu.Lock()
		last, ok := rs.named[k]
		rs.namedMu.Unlock()
		if ok && last.sum == sum && rs.now().Before(last.again) {
			continue
		}
		var err error
		switch {
		case p == rs.node.Host.ID():
			if rs.mirror == nil {
				continue
			}
			err = rs.mirror.store.Name(d, rs.self.Identity, rs.self.Device.Public(), ws, members)
		case rs.node.Host.Network().Connectedness(p) != network.Connected:
			continue // named once connected
		default:
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err = mirror.Ask(actx, rs.node.Host, p, mirror.Request{Op: mirror.OpWriters, Proof: rs.self.Proof,
				Revocations: rs.Devices.RevocationBlobs(), Discovery: d, Writers: ws, Members: members})
			cancel()
		}
		var again time.Duration
		switch {
		case err == nil:
			again = renameEvery
		case errors.Is(err, mirror.ErrDenied), errors.Is(err, mirror.ErrNotKept):
			again = deniedRetry // not ours to name (yet), or not kept there
		default:
			rs.log.Debug("naming a room's writers on a mirror", logattr.Peer(p.String()), logattr.Err(err))
			continue
		}
		rs.namedMu.Lock()
		if rs.named == nil {
			rs.named = map[namedKey]namedAt{}
		}
		rs.named[k] = namedAt{sum: sum, again: rs.now().Add(again)}
		rs.namedMu.Unlock()
	}
}
