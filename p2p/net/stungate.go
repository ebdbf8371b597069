package net

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	ic "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/pnet"
	webrtcdirect "github.com/libp2p/go-libp2p/p2p/transport/webrtc"
	"github.com/pion/stun/v3"
)

// A WebRTC-direct handshake starts with a STUN binding request whose ufrag
// the listener has not seen: libp2p makes a peer connection for it and
// reserves 2.5 MiB of the transient budget until the handshake ends or
// 10 s pass. Any stranger can send such requests by the thousand (a new
// ufrag each, no handshake to finish) and fill the budget: a browser then
// cannot dial the door. The gate lets a new ufrag through only while its
// source address has fewer than stunPerIP handshakes begun in the last
// 10 s, and fewer than stunPending have begun in all (the transient
// budget, limits(), holds that many and more); what is over is dropped
// before libp2p sees it (the sender's ICE sends again). Requests of a
// ufrag already let through (ICE's retries, consent checks) always pass.
//
// An attacker from stunPending/stunPerIP addresses or more, or one that
// forges source addresses, still fills it: then browsers reach the daemon
// through the relay (docs/security.md).
const (
	stunPerIP   = 2
	stunPending = 20
	stunWindow  = 10 * time.Second
	stunForget  = time.Minute // a ufrag not heard from for this long is new again
	stunMax     = 8192        // ufrags remembered at most
)

type stunEntry struct {
	ip          netip.Addr
	first, last time.Time // first is zero once its window ended
}

// stunGate is the socket of a WebRTC-direct listener, gated.
type stunGate struct {
	net.PacketConn

	mu      sync.Mutex
	ufrags  map[string]*stunEntry
	pending map[netip.Addr]int // handshakes begun in the window, by source
	total   int
	swept   time.Time
	now     func() time.Time
}

func newSTUNGate(c net.PacketConn) *stunGate {
	return &stunGate{PacketConn: c, ufrags: map[string]*stunEntry{}, pending: map[netip.Addr]int{}, now: time.Now}
}

// ReadFrom reads the next packet the gate lets through.
func (g *stunGate) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := g.PacketConn.ReadFrom(p)
		if err != nil || g.allow(p[:n], addr) {
			return n, addr, err
		}
	}
}

// allow decides on one packet.
func (g *stunGate) allow(b []byte, addr net.Addr) bool {
	if !stun.IsMessage(b) {
		return true // DTLS and SCTP of a connection, judged by libp2p
	}
	m := &stun.Message{Raw: append([]byte(nil), b...)}
	if m.Decode() != nil || m.Type != stun.BindingRequest {
		return true // libp2p drops these itself
	}
	user, err := m.Get(stun.AttrUsername)
	if err != nil {
		return true
	}
	ufrag, _, _ := strings.Cut(string(user), ":")
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return true
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	return g.admit(ufrag, ip.Unmap())
}

// admit says whether a binding request of ufrag from ip passes.
func (g *stunGate) admit(ufrag string, ip netip.Addr) bool {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	if e, ok := g.ufrags[ufrag]; ok {
		e.last = now
		return true
	}
	if g.pending[ip] >= stunPerIP || g.total >= stunPending || len(g.ufrags) >= stunMax {
		return false
	}
	g.ufrags[ufrag] = &stunEntry{ip: ip, first: now, last: now}
	g.pending[ip]++
	g.total++
	return true
}

// sweep ends the window of handshakes begun stunWindow ago or more, and
// forgets ufrags not heard from for stunForget; four times a second at
// most.
func (g *stunGate) sweep(now time.Time) {
	if now.Sub(g.swept) < time.Second/4 {
		return
	}
	g.swept = now
	for u, e := range g.ufrags {
		if !e.first.IsZero() && now.Sub(e.first) >= stunWindow {
			if g.pending[e.ip]--; g.pending[e.ip] <= 0 {
				delete(g.pending, e.ip)
			}
			g.total--
			e.first = time.Time{}
		}
		if e.first.IsZero() && now.Sub(e.last) >= stunForget {
			delete(g.ufrags, u)
		}
	}
}

// webrtcTransport is libp2p's WebRTC-direct transport on gated sockets.
func webrtcTransport(key ic.PrivKey, psk pnet.PSK, gater connmgr.ConnectionGater, rm network.ResourceManager, listen webrtcdirect.ListenUDPFn) (*webrtcdirect.WebRTCTransport, error) {
	gated := func(nw string, laddr *net.UDPAddr) (net.PacketConn, error) {
		c, err := listen(nw, laddr)
		if err != nil {
			return nil, err
		}
		return newSTUNGate(c), nil
	}
	return webrtcdirect.New(key, psk, gater, rm, gated)
}
