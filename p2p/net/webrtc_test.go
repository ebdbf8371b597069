package net

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/pion/stun/v3"

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

// TestWebRTCDirectStunFlood: a stranger asks for 2000 new WebRTC-direct
// handshakes a second (a STUN binding request with a fresh ufrag each,
// never finished), from eight addresses. An honest peer from another
// address still connects over WebRTC-direct and pings, and TCP is
// untouched. Without the STUN gate the honest dial times out: libp2p holds
// about seven half-open handshakes at once.
func TestWebRTCDirectStunFlood(t *testing.T) {
	k, _ := identity.GenerateSigningKey()
	srv, err := New(Config{Key: k, Listen: []string{"/ip4/127.0.0.1/udp/0/webrtc-direct", "/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr := webrtcAddr(t, srv)
	port, err := addr.ValueForProtocol(ma.P_UDP)
	if err != nil {
		t.Fatal(err)
	}
	target, err := net.ResolveUDPAddr("udp4", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+w))}
			for i := 0; ; i++ {
				c, err := net.DialUDP("udp4", src, target)
				if err != nil {
					t.Error(err)
					return
				}
				for j := range 50 {
					select {
					case <-stop:
						c.Close()
						return
					default:
					}
					u := fmt.Sprintf("libp2p+webrtc+v1/flood%dx%dx%d", w, i, j)
					m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(u+":"+u), stun.Fingerprint)
					if err == nil {
						c.Write(m.Raw)
						sent.Add(1)
					}
					// 250 a second from each sender: handshakes asked for,
					// not a flood of packets that fills the kernel's
					// buffers (nothing above UDP helps against that one).
					time.Sleep(4 * time.Millisecond)
				}
				c.Close()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(time.Second) // the flood is on

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, dial := range []ma.Multiaddr{addr, tcpAddrOf(t, srv)} {
		ck, _ := identity.GenerateSigningKey()
		cli, err := New(Config{Key: ck, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		if err := cli.Host.Connect(ctx, peer.AddrInfo{ID: srv.Host.ID(), Addrs: []ma.Multiaddr{dial}}); err != nil {
			t.Fatalf("an honest peer over %s during the flood: %v", dial, err)
		}
		if res := <-ping.Ping(ctx, cli.Host, srv.Host.ID()); res.Error != nil {
			t.Fatalf("ping over %s during the flood: %v", dial, res.Error)
		}
	}
	t.Logf("%d handshakes asked for by the flood while two honest peers connected", sent.Load())
}

func tcpAddrOf(t *testing.T, n *Node) ma.Multiaddr {
	t.Helper()
	for _, a := range n.Host.Addrs() {
		if _, err := a.ValueForProtocol(ma.P_TCP); err == nil {
			return a
		}
	}
	t.Fatalf("no TCP address among %v", n.Host.Addrs())
	return nil
}

// TestSTUNGate: the gate's counts, on its own clock: a source begins
// stunPerIP handshakes, then waits for its window; retries of a ufrag let
// through pass; all sources together begin stunPending; a window that
// ended frees its place; a ufrag quiet for stunForget is new again.
func TestSTUNGate(t *testing.T) {
	now := time.Unix(1000, 0)
	g := newSTUNGate(nil)
	g.now = func() time.Time { return now }
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range stunPerIP {
		if !g.admit(fmt.Sprint("a", i), a) {
			t.Fatalf("handshake %d of a source refused", i)
		}
	}
	if g.admit("a-more", a) {
		t.Fatal("a source began more than stunPerIP handshakes")
	}
	if !g.admit("a0", a) {
		t.Fatal("a retry of a ufrag let through was refused")
	}
	if !g.admit("b0", b) {
		t.Fatal("another source was refused")
	}
	for i := 0; g.total < stunPending; i++ {
		g.admit(fmt.Sprint("x", i), netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}))
	}
	if g.admit("c0", netip.MustParseAddr("203.0.113.9")) {
		t.Fatal("more than stunPending handshakes begun")
	}
	now = now.Add(stunWindow)
	if !g.admit("a-more", a) || !g.admit("c0", netip.MustParseAddr("203.0.113.9")) {
		t.Fatal("a window that ended did not free its place")
	}
	now = now.Add(stunWindow + stunForget)
	g.admit("tick", b)
	if _, ok := g.ufrags["a0"]; ok {
		t.Fatal("a quiet ufrag was not forgotten")
	}
	if g.pending[a] != 0 && g.total > 1 {
		t.Fatalf("counts after every window ended: %v, total %d", g.pending, g.total)
	}
}
