package net

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// Hole punching. libp2p's DCUtR service tries once, when a relayed
// connection arrives, and only if by then it knows a public address of
// ours. A home device often meets its peers through the relay in its
// first second, before any peer has told it its address, and one lost
// packet ends an attempt for good. So the node runs the service itself
// and keeps trying, with a growing pause, for every peer it reaches only
// through a relay.

// Pauses between hole-punch attempts with one peer.
const (
	punchEvery    = 10 * time.Second
	punchFirst    = 15 * time.Second
	punchMaxPause = 10 * time.Minute
)

// puncher holds what the node's peers observed of its addresses and the
// schedule of attempts.
type puncher struct {
	n   *Node
	svc *holepunch.Service

	mu       sync.Mutex
	observed map[network.Conn]ma.Multiaddr
	next     map[peer.ID]punchState
}

type punchState struct {
	at    time.Time
	pause time.Duration
	busy  bool
}

// startPuncher starts the DCUtR service on n's host and the loop that
// retries it.
func startPuncher(n *Node) (*puncher, error) {
	p := &puncher{n: n, observed: map[network.Conn]ma.Multiaddr{}, next: map[peer.ID]punchState{}}
	ids, ok := n.Host.(interface{ IDService() identify.IDService })
	if !ok {
		return nil, fmt.Errorf("net: host has no identify service")
	}
	sub, err := n.Host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, fmt.Errorf("net: subscribing to identify: %w", err)
	}
	p.svc, err = holepunch.NewService(n.Host, ids.IDService(), p.addrs, holepunch.WithTracer((*punchTracer)(n)))
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("net: hole punching: %w", err)
	}
	n.wg.Add(2)
	go func() {
		defer n.wg.Done()
		defer sub.Close()
		for {
			select {
			case <-n.ctx.Done():
				return
			case e := <-sub.Out():
				p.observe(e.(event.EvtPeerIdentificationCompleted))
			}
		}
	}()
	go func() {
		defer n.wg.Done()
		t := time.NewTicker(punchEvery)
		defer t.Stop()
		for {
			select {
			case <-n.ctx.Done():
				return
			case <-t.C:
				p.round()
			}
		}
	}()
	return p, nil
}

// observe keeps the address a peer saw this node's connection come from,
// when that connection left from a port the node listens on (libp2p
// reuses it for dialing), so that the address can be dialed back.
func (p *puncher) observe(e event.EvtPeerIdentificationCompleted) {
	if e.Conn == nil || e.ObservedAddr == nil || isRelayed(e.Conn.RemoteMultiaddr()) || !manet.IsPublicAddr(e.ObservedAddr) {
		return
	}
	if !p.listensOn(e.Conn.LocalMultiaddr()) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.observed[e.Conn] = e.ObservedAddr
}

// listensOn reports whether local's transport and port are one the node
// listens on.
func (p *puncher) listensOn(local ma.Multiaddr) bool {
	key := func(a ma.Multiaddr) string {
		for _, code := range []int{ma.P_TCP, ma.P_UDP} {
			if v, err := a.ValueForProtocol(code); err == nil {
				return ma.ProtocolWithCode(code).Name + "/" + v
			}
		}
		return ""
	}
	want := key(local)
	if want == "" {
		return false
	}
	for _, l := range p.n.Host.Network().ListenAddresses() {
		if key(l) == want {
			return true
		}
	}
	return false
}

// addrs are the public addresses this node can be dialed at for a hole
// punch: those its interfaces carry and those its open connections were
// seen from.
func (p *puncher) addrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range p.n.Host.Addrs() {
		if manet.IsPublicAddr(a) && !isRelayed(a) {
			out = append(out, a)
		}
	}
	p.mu.Lock()
	for c, a := range p.observed {
		if c.IsClosed() {
			delete(p.observed, c)
			continue
		}
		out = append(out, a)
	}
	p.mu.Unlock()
	return ma.Unique(append(out, p.tcpGuesses(out)...))
}

// tcpGuesses are TCP addresses to punch at, guessed from the QUIC ones
// seen. A node meets the relay over QUIC (libp2p dials it first), so no
// peer sees it at a TCP address; yet a peer whose network drops UDP can
// only punch over TCP. Most home routers keep a device's port: the
// address its QUIC was seen from, with its TCP port, is its TCP address
// outside too (where the router does not keep ports, the punch fails as
// it would anyway). Only hole punching uses these; they are never
// announced.
func (p *puncher) tcpGuesses(seen []ma.Multiaddr) []ma.Multiaddr {
	type ipTCP struct{ ip, port string }
	var ports []ipTCP // the family (ip4, ip6) and port of each TCP listener
	for _, l := range p.n.Host.Network().ListenAddresses() {
		port, err := l.ValueForProtocol(ma.P_TCP)
		if err != nil {
			continue
		}
		fam := "ip4"
		if _, err := l.ValueForProtocol(ma.P_IP6); err == nil {
			fam = "ip6"
		}
		ports = append(ports, ipTCP{fam, port})
	}
	hasTCP := map[string]bool{}
	for _, a := range seen {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			ip, _ := manet.ToIP(a)
			hasTCP[ip.String()] = true
		}
	}
	var out []ma.Multiaddr
	for _, a := range seen {
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); err != nil {
			continue
		}
		ip, err := manet.ToIP(a)
		if err != nil || hasTCP[ip.String()] {
			continue
		}
		fam := "ip4"
		if ip.To4() == nil {
			fam = "ip6"
		}
		for _, l := range ports {
			if l.ip != fam {
				continue
			}
			if g, err := ma.NewMultiaddr("/" + fam + "/" + ip.String() + "/tcp/" + l.port); err == nil {
				out = append(out, g)
			}
		}
	}
	return out
}

// round starts an attempt with every peer reached only through a relay
// whose pause is over. The side that received the relayed connection
// starts DCUtR (the other side refuses it).
func (p *puncher) round() {
	h := p.n.Host
	if !slices.Contains(h.Mux().Protocols(), holepunch.Protocol) {
		return // no public address known yet: the service is not ready
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, st := range p.next {
		if h.Network().Connectedness(id) != network.Limited && !st.busy {
			delete(p.next, id)
		}
	}
	for _, id := range h.Network().Peers() {
		if h.Network().Connectedness(id) != network.Limited || !inboundRelayed(h.Network().ConnsToPeer(id)) {
			continue
		}
		st, ok := p.next[id]
		if !ok {
			st = punchState{at: now.Add(punchFirst), pause: punchFirst}
			p.next[id] = st
			continue
		}
		if st.busy || now.Before(st.at) {
			continue
		}
		st.busy = true
		p.next[id] = st
		p.n.wg.Add(1)
		go func() {
			defer p.n.wg.Done()
			err := p.direct(id)
			p.mu.Lock()
			defer p.mu.Unlock()
			st.busy = false
			st.pause = min(2*st.pause, punchMaxPause)
			st.at = time.Now().Add(st.pause)
			p.next[id] = st
			if err != nil {
				p.n.log.Debug("hole punch", logattr.Peer(id.String()), logattr.Err(err))
			}
		}()
	}
}

// direct runs one DCUtR attempt with id, giving up when the node stops.
func (p *puncher) direct(id peer.ID) error {
	done := make(chan error, 1)
	go func() { done <- p.svc.DirectConnect(id) }()
	select {
	case err := <-done:
		return err
	case <-p.n.ctx.Done():
		return context.Canceled
	}
}

func (p *puncher) close() error { return p.svc.Close() }

func inboundRelayed(conns []network.Conn) bool {
	for _, c := range conns {
		if c.Stat().Direction == network.DirInbound && isRelayed(c.RemoteMultiaddr()) {
			return true
		}
	}
	return false
}

func isRelayed(a ma.Multiaddr) bool {
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// punchTracer logs the outcome of hole punches.
type punchTracer Node

func (t *punchTracer) Trace(e *holepunch.Event) {
	switch ev := e.Evt.(type) {
	case *holepunch.EndHolePunchEvt:
		if ev.Success {
			t.log.Info("direct connection by hole punching", logattr.Peer(e.Remote.String()))
		} else {
			t.log.Debug("hole punch failed", logattr.Peer(e.Remote.String()), "error", ev.Error)
		}
	case *holepunch.DirectDialEvt:
		if ev.Success {
			t.log.Info("direct connection", logattr.Peer(e.Remote.String()))
		}
	}
}
