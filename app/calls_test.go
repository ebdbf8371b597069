package app

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// founded opens the rooms of a linked device whose identity founded its
// one room, "family", written here.
func founded(t *testing.T) (*Device, *Rooms, *room.Room) {
	t.Helper()
	d, l := linkedDevice(t)
	pid, _ := d.PeerID()
	l.By = pid
	rs, err := OpenRooms(RoomsConfig{Host: noNet{pid}, Device: d, Linked: l, Store: room.NewMemStore(), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Close)
	var r *room.Room
	for _, x := range rs.byDisc {
		r = x
	}
	if err := r.Create("family"); err != nil {
		t.Fatal(err)
	}
	return d, rs, r
}

// TestCallsAuthorize: the app takes a ring only from a device of a member
// of the room it names, as the room's view has it; a stranger, a device
// the room does not know, a room this device is not in, are refused.
func TestCallsAuthorize(t *testing.T) {
	d, rs, r := founded(t)
	pid, _ := d.PeerID()
	c, err := NewCalls(CallsConfig{Host: noNet{pid}, Device: d, Rooms: rs,
		Endpoint: func(*call.Call, call.EndpointEvents) (call.Endpoint, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p, err := c.authorize(pid, [16]byte(r.ID())); err != nil || p.Device != d.Key.Public().String() {
		t.Fatalf("a device of the room: %+v %v", p, err)
	}
	stranger, _ := identity.GenerateSigningKey()
	sp, _ := proto.PeerOf(stranger.Public())
	if _, err := c.authorize(sp, [16]byte(r.ID())); err == nil {
		t.Fatal("a stranger's ring was taken")
	}
	if _, err := c.authorize(pid, [16]byte{1, 2, 3}); err == nil {
		t.Fatal("a ring over a room this device is not in was taken")
	}
	// Unlock: this room has no door.
	if _, err := c.Unlock(context.Background(), "family", ""); err == nil || !strings.Contains(err.Error(), "no door") {
		t.Fatalf("unlocking a room without a door: %v", err)
	}
}

// TestSetPush: the app gives its subscription only to rooms that have the
// key it subscribed with, once (the same subscription writes nothing
// again), and refuses one that is not a subscription.
func TestSetPush(t *testing.T) {
	_, rs, r := founded(t)
	ua, _ := ecdh.P256().GenerateKey(rand.Reader)
	auth := make([]byte, 16)
	rand.Read(auth)
	if rs.PushKey() != nil {
		t.Fatal("a push key with no room key")
	}
	if _, err := rs.SetPush([]byte{4}, "https://push.example/x", ua.PublicKey().Bytes(), auth); err == nil {
		t.Fatal("a subscription taken with no room key")
	}
	vapid, _ := ecdh.P256().GenerateKey(rand.Reader)
	if _, err := r.Write(room.Op{Type: room.OpVAPID, Blob: vapid.Bytes()}); err != nil {
		t.Fatal(err)
	}
	key := rs.PushKey()
	if !bytes.Equal(key, vapid.PublicKey().Bytes()) {
		t.Fatal("the push key is not the room's")
	}
	for _, bad := range []struct {
		endpoint     string
		p256dh, auth []byte
	}{{"", ua.PublicKey().Bytes(), auth}, {"https://push.example/x", []byte("short"), auth}, {"https://push.example/x", ua.PublicKey().Bytes(), auth[:8]},
		{"https://push.example/x", append([]byte{4}, make([]byte, 64)...), auth}} {
		if _, err := rs.SetPush(key, bad.endpoint, bad.p256dh, bad.auth); err == nil {
			t.Fatalf("a bad subscription taken: %q %x %x", bad.endpoint, bad.p256dh, bad.auth)
		}
	}
	heads := len(r.Heads())
	n, err := rs.SetPush(key, "https://push.example/x", ua.PublicKey().Bytes(), auth)
	if err != nil || n != 1 {
		t.Fatalf("SetPush: %d %v", n, err)
	}
	length := func() uint64 {
		var l uint64
		for _, h := range r.Heads() {
			l += h.Length
		}
		return l
	}
	after := length()
	if _, err := rs.SetPush(key, "https://push.example/x", ua.PublicKey().Bytes(), auth); err != nil {
		t.Fatal(err)
	}
	if length() != after || len(r.Heads()) != heads {
		t.Fatal("the same subscription written again")
	}
	r.View(func(v *room.View) {
		if s, ok := v.PushOf(rs.self.Device.Public()); !ok || s.Endpoint != "https://push.example/x" {
			t.Fatalf("the room's view of the subscription: %+v", s)
		}
	})
}

// TestRelays: the always-on nodes a link's addresses go through, once
// each, with their own addresses given to the node.
func TestRelays(t *testing.T) {
	k1, _ := identity.GenerateSigningKey()
	k2, _ := identity.GenerateSigningKey()
	relay, _ := proto.PeerOf(k1.Public())
	target, _ := proto.PeerOf(k2.Public())
	via := "/ip4/192.0.2.1/udp/4002/webrtc-direct/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ/p2p/" + relay.String()
	n := &addrBook{m: map[peer.ID][]ma.Multiaddr{}}
	got := relays(n, []string{
		"/ip4/10.0.0.2/udp/5000/webrtc-direct/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ/p2p/" + target.String(),
		via + "/p2p-circuit/p2p/" + target.String(),
		via + "/p2p-circuit/p2p/" + relay.String(),
		"nonsense/p2p-circuit",
	})
	if len(got) != 1 || got[0] != relay {
		t.Fatalf("relays: %v", got)
	}
	if len(n.m[relay]) == 0 || !strings.HasPrefix(via, n.m[relay][0].String()) {
		t.Fatalf("the relay's address: %v", n.m[relay])
	}
}

type addrBook struct {
	noNet
	m map[peer.ID][]ma.Multiaddr
}

func (a *addrBook) AddAddrs(p peer.ID, addrs []ma.Multiaddr) { a.m[p] = append(a.m[p], addrs...) }
