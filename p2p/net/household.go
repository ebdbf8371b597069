package net

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// A stranger can fill the slots of connections still in their handshake
// (silent TCP connections, a QUIC Initial and nothing more) faster than
// they time out. What keeps the household in: the addresses its devices
// came from before are on the resource manager's allowlist, with slots of
// their own (limits: AllowlistedSystem, AllowlistedTransient) used when
// the common ones are full. An entry names the device too: a stranger
// who takes a household address gets a reserved slot for its handshake
// only, then is moved out (and closed when the common slots are full).

// maxHousehold bounds the addresses remembered; the oldest go first.
const maxHousehold = 256

type household struct {
	mu    sync.Mutex
	added map[string]time.Time // allowlist entry -> when last seen
}

// Household records that the device p, proven to be the household's,
// connected from remote: its address gets the reserved handshake slots
// from now on. Relayed connections have no address to reserve.
func (n *Node) Household(p peer.ID, remote ma.Multiaddr) {
	ip, err := manet.ToIP(remote)
	if err != nil {
		return // relayed: no address to reserve
	}
	proto := "ip4"
	if ip.To4() == nil {
		proto = "ip6"
	}
	entry, err := ma.NewMultiaddr("/" + proto + "/" + ip.String() + "/p2p/" + p.String())
	if err != nil {
		return
	}
	al := rcmgr.GetAllowlist(n.rm)
	if al == nil {
		return
	}
	key := entry.String()
	h := &n.household
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.added == nil {
		h.added = map[string]time.Time{}
	}
	if _, ok := h.added[key]; ok {
		h.added[key] = time.Now()
		return
	}
	if len(h.added) >= maxHousehold {
		var oldest string
		var at time.Time
		for k, t := range h.added {
			if oldest == "" || t.Before(at) {
				oldest, at = k, t
			}
		}
		if old, err := ma.NewMultiaddr(oldest); err == nil {
			al.Remove(old)
		}
		delete(h.added, oldest)
	}
	if err := al.Add(entry); err != nil {
		n.log.Debug("household address not reserved", slog.String("entry", key), logattr.Err(err))
		return
	}
	h.added[key] = time.Now()
}
