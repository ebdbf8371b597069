package net

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/p2p/identity"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func newNode(t *testing.T, public bool, boot ...string) *Node {
	t.Helper()
	k, _ := identity.GenerateSigningKey()
	n, err := New(Config{Key: k, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, Public: public, Bootstrap: boot})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// TestDHTFindsAnnouncedTopic: two home nodes that only know a public node
// find each other through Hearth's DHT by a room's topic, and reach each
// other by peer id alone.
func TestDHTFindsAnnouncedTopic(t *testing.T) {
	pub := newNode(t, true)
	addr := pub.Addrs()[0]
	if !strings.Contains(addr, "/p2p/"+pub.Host.ID().String()) {
		t.Fatalf("address without /p2p/: %s", addr)
	}
	a := newNode(t, false, addr)
	b := newNode(t, false, addr)
	topic := [32]byte{1, 2, 3}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(a.DHT.RoutingTable().ListPeers()) == 0 || len(b.DHT.RoutingTable().ListPeers()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the DHT never got a peer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := a.Announce(ctx, topic); err != nil {
		t.Fatal(err)
	}
	var found bool
	for !found && ctx.Err() == nil {
		for _, ai := range b.FindPeers(ctx, topic, 4) {
			found = found || ai.ID == a.Host.ID()
		}
	}
	if !found {
		t.Fatal("b did not find a by the topic")
	}
	if err := b.Reach(ctx, a.Host.ID()); err != nil {
		t.Fatal(err)
	}
	if b.PathTo(a.Host.ID()) != "direct" {
		t.Fatalf("path %s", b.PathTo(a.Host.ID()))
	}
	// The DHT speaks Hearth's protocol, never the public IPFS one.
	for _, p := range a.Host.Mux().Protocols() {
		if strings.HasPrefix(string(p), "/ipfs/kad") {
			t.Fatalf("IPFS DHT protocol registered: %s", p)
		}
	}
}

func TestBadBootstrapAddress(t *testing.T) {
	k, _ := identity.GenerateSigningKey()
	_, err := New(Config{Key: k, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, Bootstrap: []string{"/ip4/127.0.0.1/tcp/1"}})
	if err == nil || !strings.Contains(err.Error(), "/p2p/PEERID") {
		t.Fatalf("bootstrap address without a peer id: %v", err)
	}
}

// TestReachBootstrapByItsAddress: a bootstrap node is reached at the
// address it was given, whatever the peerstore holds: a command that asks
// a bootstrap peer something right after start (a device link) must not
// depend on the background dial having run first.
func TestReachBootstrapByItsAddress(t *testing.T) {
	pub := newNode(t, true)
	a := newNode(t, false, pub.Addrs()[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for a.Host.Network().Connectedness(pub.Host.ID()) != network.Connected {
		if ctx.Err() != nil {
			t.Fatal("the bootstrap node was never dialled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// As if the background dial had not run yet.
	a.Host.Network().ClosePeer(pub.Host.ID())
	a.Host.Peerstore().ClearAddrs(pub.Host.ID())
	if err := a.Reach(ctx, pub.Host.ID()); err != nil {
		t.Fatalf("a bootstrap node unreachable by its own address: %v", err)
	}
}
