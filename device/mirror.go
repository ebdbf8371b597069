package device

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/mirror"
	"github.com/hearthp2p/hearth/p2p/room"
)

// How often a mirror looks in the DHT for the peers of a kept room it is
// not syncing with.
const mirrorFindEvery = time.Minute

// errNotMirror: a local mirror command on a daemon started without
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

// startMirror serves the mirror protocol for the store and mailboxes
// set in rs.mirror.
func (rs *Manager) startMirror() {
	m := rs.mirror
	m.svc = mirror.NewService(mirror.ServiceConfig{
		Host: rs.node.Host, Store: m.store, Boxes: m.boxes, Logger: rs.log,
		OnKeep: func(d log.Discovery, p peer.ID) {
			// Fetch from the member that asked, at once.
			rs.Poke()
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), FindTimeout)
				defer cancel()
				rs.TrySync(ctx, p, d)
			}()
		},
		OnBlob: func(d log.Discovery, root [32]byte, size int64, chunkSize uint32, from peer.ID) {
			rs.files.KeepBlob(d, root, size, chunkSize, from)
		},
		OnOpen: func(b mirror.BoxID) {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), FindTimeout)
				defer cancel()
				if err := rs.node.Announce(ctx, mirror.MailboxTopic(b)); err != nil {
					rs.log.Debug("announcing a mailbox", logattr.Err(err))
				}
			}()
		},
	})
}

// runMirror keeps every kept room (not held as a member) in sync: it
// announces them, and looks up their peers when no session is open.
func (rs *Manager) runMirror(ctx context.Context, announce bool) {
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
func (rs *Manager) syncMirrors(ctx context.Context, r *room.Room) {
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
		addMirrorAddrs(rs, p, m.Addrs)
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

// mirrorTarget resolves a room or a discovery key.
func (rs *Manager) MirrorTarget(arg string) (log.Discovery, *room.Room, error) {
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

// remoteMirror connects to the mirror at a full multiaddr.
func (rs *Manager) RemoteMirror(ctx context.Context, addr string) (*peer.AddrInfo, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: mirror address %q: %v (want a multiaddr ending in /p2p/PEERID)", ErrBadArg, addr, err)
	}
	rs.node.Host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.AddressTTL)
	if err := rs.node.Reach(ctx, ai.ID); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return ai, nil
}

var ErrUnreachable = errors.New("mirror unreachable")

func (rs *Manager) ProofBytes() []byte { return rs.self.Proof }
