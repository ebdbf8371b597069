package net

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// Every protocol handler of a node reports what a peer sends that breaks
// its protocol (a frame that does not decode, an oversized one, a bad
// signature or proof): Offence. A peer that offends BanScore times within
// scoreWindow is disconnected and its connections are refused for
// BanTime, whatever protocol it tries next. Honest peers never offend:
// an offence is a bug or an attack. This is the node's only ban: no
// protocol keeps a threshold of its own (docs/security.md states BanScore,
// test/hostile_test.go pins it on every protocol).

const (
	// BanScore is the number of offences, over every protocol together,
	// that bans a peer: a peer may slip BanScore-1 times (an honest
	// peer's bug should not cut a household off at once), an attacker
	// gets that few bad frames read before it is refused.
	BanScore = 5
	// BanTime is how long a banned peer is refused.
	BanTime     = 10 * time.Minute
	scoreWindow = 10 * time.Minute
	maxScored   = 4096 // peers remembered at once; a flood of new keys forgets the oldest
)

// scorer counts offences and gates banned peers' connections.
type scorer struct {
	log *slog.Logger

	mu     sync.Mutex
	scores map[peer.ID]*score
	closer func(peer.ID) // the host's ClosePeer, set once the host exists
}

type score struct {
	n      int
	first  time.Time // the window's start
	banned time.Time // until
}

func newScorer(log *slog.Logger) *scorer {
	return &scorer{log: logattr.OrDiscard(log), scores: map[peer.ID]*score{}}
}

// offence records one offence of p; it reports whether p is banned now.
func (s *scorer) offence(p peer.ID, proto string, why error) bool {
	now := time.Now()
	s.mu.Lock()
	sc := s.scores[p]
	if sc == nil {
		if len(s.scores) >= maxScored {
			s.forgetOldest()
		}
		sc = &score{first: now}
		s.scores[p] = sc
	}
	if now.Sub(sc.first) > scoreWindow {
		sc.n, sc.first = 0, now
	}
	sc.n++
	n := sc.n
	ban := n >= BanScore && now.After(sc.banned)
	if ban {
		sc.banned = now.Add(BanTime)
	}
	closer := s.closer
	s.mu.Unlock()
	s.log.Debug("protocol offence", logattr.Peer(p.String()), slog.String("protocol", proto), slog.Int("score", n), logattr.Err(why))
	if ban {
		s.log.Warn("peer banned for protocol offences", logattr.Peer(p.String()), slog.String("last", proto), slog.Duration("for", BanTime))
		if closer != nil {
			go closer(p)
		}
	}
	return n >= BanScore
}

// forgetOldest drops the peer scored longest ago that is not banned (the
// caller holds mu).
func (s *scorer) forgetOldest() {
	var old peer.ID
	var at time.Time
	now := time.Now()
	for p, sc := range s.scores {
		if now.Before(sc.banned) {
			continue
		}
		if at.IsZero() || sc.first.Before(at) {
			old, at = p, sc.first
		}
	}
	delete(s.scores, old)
}

func (s *scorer) banned(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scores[p]
	return sc != nil && time.Now().Before(sc.banned)
}

func (s *scorer) score(p peer.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.scores[p]; sc != nil {
		return sc.n
	}
	return 0
}

// The connection gater: a banned peer is neither dialed nor accepted.
func (s *scorer) InterceptPeerDial(p peer.ID) bool                                { return !s.banned(p) }
func (s *scorer) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool                { return !s.banned(p) }
func (s *scorer) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (s *scorer) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
func (s *scorer) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !s.banned(p)
}

// Offence records a protocol offence by p (proto names the protocol, why
// what it did). At BanScore offences within ten minutes p is disconnected
// and refused for BanTime. It reports whether p is banned.
func (n *Node) Offence(p peer.ID, proto string, why error) bool {
	return n.scores.offence(p, proto, why)
}

// Banned reports whether p is banned now.
func (n *Node) Banned(p peer.ID) bool { return n.scores.banned(p) }

// Score is p's offences in the current window.
func (n *Node) Score(p peer.ID) int { return n.scores.score(p) }

// scorers are the running nodes' scorers by host, so that any protocol
// handler given a host can report an offence (Report).
var scorers sync.Map // peer.ID -> *scorer

// Report records a protocol offence by p against the node whose host is
// h (see Node.Offence); a host that is not a Node's ignores it. It
// reports whether p is banned.
func Report(h host.Host, p peer.ID, proto string, why error) bool {
	if s, ok := scorers.Load(h.ID()); ok {
		return s.(*scorer).offence(p, proto, why)
	}
	return false
}

// BannedAt reports whether p is banned by the node whose host is h (see
// Node.Banned); a host that is not a Node's bans nobody.
func BannedAt(h host.Host, p peer.ID) bool {
	if s, ok := scorers.Load(h.ID()); ok {
		return s.(*scorer).banned(p)
	}
	return false
}

// ScoreAt is p's offences in the current window at the node whose host is
// h (see Node.Score); 0 at a host that is not a Node's.
func ScoreAt(h host.Host, p peer.ID) int {
	if s, ok := scorers.Load(h.ID()); ok {
		return s.(*scorer).score(p)
	}
	return 0
}
