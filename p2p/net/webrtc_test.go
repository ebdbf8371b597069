package net

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// webrtcAddr is n's WebRTC-direct address.
func webrtcAddr(t *testing.T, n *Node) ma.Multiaddr {
	t.Helper()
	for _, a := range n.Host.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_CERTHASH); err == nil {
			return a
		}
	}
	t.Fatalf("no WebRTC-direct address among %v", n.Host.Addrs())
	return nil
}

// TestWebRTCDirect: a node listens on WebRTC-direct (what a browser
// dials); another reaches it over that transport alone, pings it and
// opens a Hearth stream; the address's certhash derives from the device
// key, so it is the same after a restart (an address the phone stored
// stays good).
func TestWebRTCDirect(t *testing.T) {
	k, _ := identity.GenerateSigningKey()
	listen := []string{"/ip4/127.0.0.1/udp/0/webrtc-direct"}
	srv, err := New(Config{Key: k, Listen: listen, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := webrtcAddr(t, srv)
	srv.Host.SetStreamHandler(proto.Sync, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})

	ck, _ := identity.GenerateSigningKey()
	cli, err := New(Config{Key: ck, Listen: []string{"/ip4/127.0.0.1/udp/0/webrtc-direct"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cli.Host.Connect(ctx, peer.AddrInfo{ID: srv.Host.ID(), Addrs: []ma.Multiaddr{addr}}); err != nil {
		t.Fatalf("dialling %s: %v", addr, err)
	}
	conns := cli.Host.Network().ConnsToPeer(srv.Host.ID())
	if len(conns) == 0 || !strings.Contains(conns[0].RemoteMultiaddr().String(), "/webrtc-direct") {
		t.Fatalf("not a WebRTC-direct connection: %v", conns)
	}
	if res := <-ping.Ping(ctx, cli.Host, srv.Host.ID()); res.Error != nil {
		t.Fatalf("ping: %v", res.Error)
	}
	s, err := cli.Host.NewStream(ctx, srv.Host.ID(), proto.Sync)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello over a data channel")
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != string(msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
	s.Close()

	// The same key gives the same certhash.
	srv.Close()
	again, err := New(Config{Key: k, Listen: listen, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	h1, _ := addr.ValueForProtocol(ma.P_CERTHASH)
	h2, _ := webrtcAddr(t, again).ValueForProtocol(ma.P_CERTHASH)
	if h1 != h2 {
		t.Fatalf("certhash changed across a restart: %s, then %s", h1, h2)
	}
}
