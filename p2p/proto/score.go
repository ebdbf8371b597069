package proto

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
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

// Scorer counts a node's offences by peer, and gates banned peers'
// connections (it is a libp2p connection gater).
type Scorer struct {
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

// NewScorer returns a Scorer that logs bans to log (nil: nowhere).
func NewScorer(log *slog.Logger) *Scorer {
	return &Scorer{log: logattr.OrDiscard(log), scores: map[peer.ID]*score{}}
}

// SetCloser sets what closes a banned peer's connections (the host's
// ClosePeer), once the host exists.
func (s *Scorer) SetCloser(f func(peer.ID)) {
	s.mu.Lock()
	s.closer = f
	s.mu.Unlock()
}

// Offence records a protocol offence by p (proto names the protocol, why
// what it did). At BanScore offences within ten minutes p is disconnected
// and refused for BanTime. It reports whether p is banned.
func (s *Scorer) Offence(p peer.ID, proto string, why error) bool {
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
func (s *Scorer) forgetOldest() {
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

// Banned reports whether p is banned now.
func (s *Scorer) Banned(p peer.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.scores[p]
	return sc != nil && time.Now().Before(sc.banned)
}

// Score is p's offences in the current window.
func (s *Scorer) Score(p peer.ID) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sc := s.scores[p]; sc != nil {
		return sc.n
	}
	return 0
}

// The connection gater: a banned peer is neither dialed nor accepted.
func (s *Scorer) InterceptPeerDial(p peer.ID) bool                                { return !s.Banned(p) }
func (s *Scorer) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool                { return !s.Banned(p) }
func (s *Scorer) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (s *Scorer) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
func (s *Scorer) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !s.Banned(p)
}

// scorers are the running nodes' scorers by host, so that any protocol
// handler given a host can report an offence (Report).
var scorers sync.Map // peer.ID -> *Scorer

// Local is the node a protocol handler serves: a libp2p host, or the
// browser's peer.
type Local interface{ ID() peer.ID }

// Register makes s the scorer of the node whose peer id is id, until
// Unregister.
func Register(id peer.ID, s *Scorer) { scorers.Store(id, s) }

// Unregister forgets the scorer of node id.
func Unregister(id peer.ID) { scorers.Delete(id) }

// Report records a protocol offence by p against the node whose host is
// h (see Scorer.Offence); a host with no scorer registered ignores it. It
// reports whether p is banned.
func Report(h Local, p peer.ID, proto string, why error) bool {
	if s, ok := scorers.Load(h.ID()); ok {
		return s.(*Scorer).Offence(p, proto, why)
	}
	return false
}

// BannedAt reports whether p is banned by the node whose host is h (see
// Scorer.Banned); a host with no scorer bans nobody.
func BannedAt(h Local, p peer.ID) bool {
	if s, ok := scorers.Load(h.ID()); ok {
		return s.(*Scorer).Banned(p)
	}
	return false
}

// ScoreAt is p's offences in the current window at the node whose host is
// h (see Scorer.Score); 0 at a host with no scorer.
func ScoreAt(h Local, p peer.ID) int {
	if s, ok := scorers.Load(h.ID()); ok {
		return s.(*Scorer).Score(p)
	}
	return 0
}
