package rooms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/mirror"
	"github.com/hearthp2p/hearth/p2p/room"
)

// How often a mirror looks in the DHT for the peers of a kept room it is
// not syncing with.
const mirrorFindEvery = time.Minute

// ErrNotMirror: a local mirror command on a daemon started without
// --mirror.
var ErrNotMirror = errors.New("this daemon is not a mirror: start it with 'hearth daemon --mirror', or name a mirror with --mirror MADDR")

// mirrorState is the mirror side of a daemon started with --mirror.
type mirrorState struct {
	store *mirror.Store
	boxes *mirror.Mailboxes
	svc   *mirror.Service

	mu   sync.Mutex
	find map[log.Discovery]time.Time // last DHT look-up per kept room
}

// StartMirror serves the mirror protocol for the kept rooms and
// mailboxes, on a daemon started with --mirror (else it does nothing).
// keepBlob hears of each file a writer of a kept room announces: the
// files of kept rooms are kept too.
func (rs *Mirrors) StartMirror(keepBlob func(d log.Discovery, root [32]byte, size int64, chunkSize uint32, from peer.ID)) {
	m := rs.mirror
	if m == nil {
		return
	}
	m.svc = mirror.NewService(mirror.ServiceConfig{
		Host: rs.node.Host, Store: m.store, Boxes: m.boxes, Logger: rs.log,
		OnKeep: func(d log.Discovery, p peer.ID) {
			// Fetch from the member that asked, at once.
			rs.Poke()
			rs.spawn(func(ctx context.Context) {
				ctx, cancel := context.WithTimeout(ctx, FindTimeout)
				defer cancel()
				rs.TrySync(ctx, p, d)
			})
		},
		OnBlob: func(d log.Discovery, root [32]byte, size int64, chunkSize uint32, from peer.ID) {
			keepBlob(d, root, size, chunkSize, from)
		},
		OnOpen: func(b mirror.BoxID) {
			rs.spawn(func(ctx context.Context) {
				ctx, cancel := context.WithTimeout(ctx, FindTimeout)
				defer cancel()
				if err := rs.node.Announce(ctx, mirror.MailboxTopic(b)); err != nil {
					rs.log.Debug("announcing a mailbox", logattr.Err(err))
				}
			})
		},
	})
}

// runMirror keeps every kept room (not held as a member) in sync: it
// announces them, and looks up their peers when no session is open.
func (rs *Mirrors) runMirror(ctx context.Context, announce bool) {
	m := rs.mirror
	if m == nil {
		return
	}
	if announce {
		for _, b := range m.boxes.Boxes() {
			actx, cancel := context.WithTimeout(ctx, FindTimeout)
			if err := rs.node.Announce(actx, mirror.MailboxTopic(b)); err != nil {
				rs.log.Debug("announcing a mailbox", logattr.Err(err))
			}
			cancel()
		}
	}
	for _, d := range m.store.Kept() {
		if _, member := rs.ByDiscovery(d); member {
			continue // synced as a room already
		}
		if announce {
			actx, cancel := context.WithTimeout(ctx, FindTimeout)
			if err := rs.node.Announce(actx, room.AnnounceTopic(d)); err != nil {
				rs.log.Debug("announcing a kept room", logattr.Room(d), logattr.Err(err))
			}
			cancel()
		}
		if rs.sync.Sessions(d) > 0 {
			continue
		}
		m.mu.Lock()
		due := time.Since(m.find[d]) > mirrorFindEvery
		if due {
			m.find[d] = time.Now()
		}
		m.mu.Unlock()
		if !due {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, FindTimeout)
		peers := rs.node.FindPeers(fctx, room.AnnounceTopic(d), 8)
		cancel()
		for _, ai := range peers {
			rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
			rs.TrySync(ctx, ai.ID, d)
		}
	}
}

func (rs *Manager) ByDiscovery(d log.Discovery) (*room.Room, bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r, ok := rs.byDisc[d]
	return r, ok
}

// syncMirrors opens sessions with the mirrors a room names.
func (rs *Mirrors) syncMirrors(ctx context.Context, r *room.Room) {
	var ms []room.Mirror
	r.View(func(v *room.View) {
		for _, m := range v.Mirrors {
			ms = append(ms, *m)
		}
	})
	for _, m := range ms {
		p, err := peer.Decode(m.PeerID)
		if err != nil || p == rs.node.Host.ID() {
			continue
		}
		addMirrorAddrs(rs.Manager, p, m.Addrs)
		rs.TrySync(ctx, p, r.Discovery())
	}
}

func addMirrorAddrs(rs *Manager, p peer.ID, addrs []string) {
	for _, s := range addrs {
		ai, err := peer.AddrInfoFromString(s)
		if err == nil && ai.ID == p {
			rs.node.Host.Peerstore().AddAddrs(p, ai.Addrs, peerstore.AddressTTL)
		}
	}
}

// MirrorTarget resolves a room or a discovery key.
func (rs *Mirrors) MirrorTarget(arg string) (log.Discovery, *room.Room, error) {
	if r, err := rs.Resolve(arg); err == nil {
		return r.Discovery(), r, nil
	} else if !errors.Is(err, ErrNoRoom) {
		return log.Discovery{}, nil, err
	}
	b, err := hex.DecodeString(arg)
	if err != nil || len(b) != len(log.Discovery{}) {
		return log.Discovery{}, nil, fmt.Errorf("%w: %q is neither a room here nor a discovery key (64 hex digits)", ErrNoRoom, arg)
	}
	d := log.Discovery(b)
	r, _ := rs.ByDiscovery(d)
	return d, r, nil
}

// RemoteMirror connects to the mirror at a full multiaddr.
func (rs *Mirrors) RemoteMirror(ctx context.Context, addr string) (*peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: mirror address %q: %v (want a multiaddr ending in /p2p/PEERID)", control.ErrBadArg, addr, err)
	}
	rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
	if err := rs.node.Reach(ctx, ai.ID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return ai, nil
}

var ErrUnreachable = errors.New("mirror unreachable")

func (rs *Devices) ProofBytes() []byte { return rs.self.Proof }

// PeerID is this device's peer id.
func (rs *Manager) PeerID() peer.ID { return rs.node.Host.ID() }

// IsMirror says whether this daemon keeps rooms (started with --mirror).
func (rs *Mirrors) IsMirror() bool { return rs.mirror != nil }

// KeepHere keeps a room on this daemon's own mirror (as its owner), with
// rm's writers named if this device is in it (nil: a room it only
// keeps), and looks for its peers at once.
func (rs *Mirrors) KeepHere(disc log.Discovery, rm *room.Room, pin bool) (mirror.Info, error) {
	if rs.mirror == nil {
		return mirror.Info{}, ErrNotMirror
	}
	in, err := rs.mirror.store.Keep(disc, rs.self.Identity, pin)
	if err != nil {
		return mirror.Info{}, err
	}
	if rm != nil {
		ws, members := RoomWriters(rm)
		if err := rs.mirror.store.Name(disc, rs.self.Identity, rs.self.Device.Public(), ws, members); err != nil {
			return mirror.Info{}, err
		}
		rs.NameMirror(rm, rs.node.Host.ID(), rs.Addrs())
	}
	rs.mirror.mu.Lock()
	delete(rs.mirror.find, disc) // look for its peers now
	rs.mirror.mu.Unlock()
	rs.Poke()
	return in, nil
}

// DropHere stops keeping a room on this daemon's own mirror.
func (rs *Mirrors) DropHere(disc log.Discovery) error {
	if rs.mirror == nil {
		return ErrNotMirror
	}
	return rs.mirror.store.Drop(disc, rs.self.Identity)
}

// KeptHere lists the rooms this daemon's own mirror keeps for this
// identity, and the mirror's budget in bytes.
func (rs *Mirrors) KeptHere() ([]mirror.Info, int64, error) {
	if rs.mirror == nil {
		return nil, 0, ErrNotMirror
	}
	return rs.mirror.store.List(rs.self.Identity), rs.mirror.store.Budget(), nil
}

// AskMirror sends req to the mirror p as this device, with its proof and
// its identity's revocations.
func (rs *Mirrors) AskMirror(ctx context.Context, p peer.ID, req mirror.Request) (*mirror.Response, error) {
	req.Proof, req.Revocations = rs.Devices.ProofBytes(), rs.Devices.RevocationBlobs()
	return mirror.Ask(ctx, rs.node.Host, p, req)
}

// NameMirror writes the mirror into the room's view, unless it is there,
// so that every member keeps it up to date and fetches from it.
func (rs *Mirrors) NameMirror(rm *room.Room, p peer.ID, addrs []string) {
	named := false
	rm.View(func(v *room.View) { _, named = v.Mirrors[p.String()] })
	if named {
		return
	}
	if _, err := rm.Write(room.Op{Type: room.OpMirror, Name: p.String(), Text: strings.Join(addrs, " ")}); err != nil {
		rs.log.Warn("naming a mirror in the room", logattr.Room(rm.ID().String()), logattr.Err(err))
	}
}
