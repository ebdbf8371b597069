package net

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
)

// TestHouseholdGetsIn: a stranger fills every slot of connections still
// in their handshake with silent TCP connections. A device that is not
// (yet) known as the household's cannot connect: the slots are full. Once
// the node knows it as the household's (it came before, from its
// address), it connects at once. The silent connections are closed within
// HandshakeTimeout.
func TestHouseholdGetsIn(t *testing.T) {
	door, phone := newNode(t, false), newNode(t, false)
	ai := peer.AddrInfo{ID: door.Host.ID(), Addrs: door.Host.Addrs()}
	ctx := context.Background()
	if err := phone.Host.Connect(ctx, ai); err != nil {
		t.Fatal(err)
	}
	conns := door.Host.Network().ConnsToPeer(phone.Host.ID())
	if len(conns) == 0 {
		t.Fatal("no connection from the phone")
	}
	from := conns[0].RemoteMultiaddr()
	phone.Host.Network().ClosePeer(door.Host.ID())

	// The stranger: silent connections from other loopback addresses
	// (loopback has no per-address limit: only the slots bound them).
	target := ""
	for _, a := range door.Host.Addrs() {
		if v, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			target = "127.0.0.1:" + v
		}
	}
	var silent []net.Conn
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	closedAt := make(chan time.Duration, 64)
	start := time.Now()
	for i := range 40 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}}
		c, err := d.Dial("tcp", target)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
		go func() {
			io.Copy(io.Discard, c)
			closedAt <- time.Since(start)
		}()
	}
	// Every slot of inbound connections in their handshake is taken.
	inHandshake := func() (n int) {
		door.rm.ViewTransient(func(s network.ResourceScope) error {
			n = s.Stat().NumConnsInbound
			return nil
		})
		return n
	}
	for deadline := time.Now().Add(HandshakeTimeout / 2); inHandshake() < int(limits().ToPartialLimitConfig().Transient.ConnsInbound); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the silent connections hold %d handshake slots", inHandshake())
		}
	}

	cctx, cancel := context.WithTimeout(ctx, HandshakeTimeout/2)
	defer cancel()
	if err := phone.Host.Connect(cctx, ai); err == nil {
		t.Fatal("a device not known as the household's got in while the slots were full: they were not full, the test proves nothing")
	}
	door.Household(phone.Host.ID(), from)
	if sw, ok := phone.Host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(door.Host.ID()) // the failed dial above backs off
	}
	if err := phone.Host.Connect(cctx, ai); err != nil {
		t.Fatalf("the household's device was locked out: %v", err)
	}
	// The stranger's hold ends by itself.
	var longest time.Duration
	for range 32 {
		select {
		case d := <-closedAt:
			longest = max(longest, d)
		case <-time.After(3 * HandshakeTimeout):
			t.Fatal("silent connections outlived the handshake timeout")
		}
	}
	t.Logf("the silent connections were closed after %s at most", longest.Round(10*time.Millisecond))
}
