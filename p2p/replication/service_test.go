package replication

import (
	"bufio"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

type member struct {
	id   identity.SigningKey
	self room.Self
}

func newMember(t *testing.T) member {
	t.Helper()
	id, _ := identity.GenerateSigningKey()
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	proof, _ := identity.NewProof(id, dev.Public(), 1).MarshalBinary()
	rec, _ := identity.NewDeviceRecord(id.Public(), dev, seal.Public(), "t", time.Unix(1, 0))
	rb, _ := rec.MarshalBinary()
	return member{id: id, self: room.Self{Identity: id.Public(), Device: dev, Sealing: seal, Proof: proof, Record: rb}}
}

type peerNode struct {
	dev  identity.PublicKey // the device key it writes with
	node *hnet.Node
	svc  *Service
	room *room.Room
}

func newPeer(t *testing.T, key room.Key, founder identity.PublicKey, m member) *peerNode {
	t.Helper()
	return newPeerWith(t, key, founder, m, nil)
}

// newPeerWith is newPeer with the service's Config changed by set.
func newPeerWith(t *testing.T, key room.Key, founder identity.PublicKey, m member, set func(*Config)) *peerNode {
	t.Helper()
	n, err := hnet.New(hnet.Config{Key: m.self.Device, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &peerNode{node: n, dev: m.self.Device.Public()}
	p.room, err = room.Open(room.Config{Key: key, Founder: founder, Self: m.self, OnChange: func([]log.Head) {
		if p.svc != nil {
			p.svc.Changed(key.Discovery())
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Host: n.Host, Lookup: func(d log.Discovery) (Room, bool) {
		return p.room, d == key.Discovery()
	}}
	if set != nil {
		set(&cfg)
	}
	p.svc = New(cfg)
	t.Cleanup(func() {
		p.svc.Close()
		n.Close()
	})
	return p
}

func connect(t *testing.T, a, b *peerNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.node.Host.Connect(ctx, peer.AddrInfo{ID: b.node.Host.ID(), Addrs: b.node.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.Sync(ctx, b.node.Host.ID(), a.room.Discovery()); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pushAll sends frames to the peer to over a sync stream of from's, and
// returns once to handled every one of them: after them it asks for the
// log of writer (held by to, not empty) from its start, and reads until
// those blocks come (a session handles its frames in order). It fails the
// test if the stream ends first: to refused or dropped the frames.
func pushAll(t *testing.T, ctx context.Context, from host.Host, to peer.ID, disc log.Discovery, writer identity.PublicKey, frames ...*frame) {
	t.Helper()
	st, err := from.NewStream(ctx, to, proto.Sync)
	if err != nil {
		t.Fatalf("a stream to %s: %v", to.ShortString(), err)
	}
	defer st.Reset()
	w := bufio.NewWriter(st)
	writeFrame(w, &frame{typ: frameHello, disc: disc})
	for _, f := range frames {
		writeFrame(w, f)
	}
	writeFrame(w, &frame{typ: frameWant, writer: writer, from: 0})
	if err := w.Flush(); err != nil {
		t.Fatalf("sending %d frames: %v", len(frames), err)
	}
	st.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(st)
	for {
		f, err := readFrame(r)
		if err != nil {
			t.Fatalf("the answer after %d frames sent: %v", len(frames), err)
		}
		if f.typ == frameBlocks && f.head.Writer == writer {
			return
		}
	}
}

func messages(r *room.Room) int { return r.Count() }

func TestSyncOverLoopback(t *testing.T) {
	key := room.NewKey()
	alice, bob := newMember(t), newMember(t)
	a := newPeer(t, key, alice.id.Public(), alice)
	if err := a.room.Create("home"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.room.Write(room.Op{Type: room.OpAddMember, Identity: bob.id.Public(), Role: room.RoleMember}); err != nil {
		t.Fatal(err)
	}
	ops := make([]room.Op, 5000)
	for i := range ops {
		ops[i] = room.Op{Type: room.OpMessage, Text: fmt.Sprintf("history %d", i)}
	}
	if _, err := a.room.WriteBatch(ops); err != nil {
		t.Fatal(err)
	}
	b := newPeer(t, key, alice.id.Public(), bob)
	connect(t, b, a)
	waitFor(t, "catch-up", func() bool { return messages(b.room) == 5000 })
	// Live: bob's hello and message reach alice, alice's reply reaches bob.
	if _, err := b.room.Write(room.Op{Type: room.OpMessage, Text: "hi alice"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's message at alice", func() bool { return messages(a.room) == 5001 })
	if _, err := a.room.Write(room.Op{Type: room.OpMessage, Text: "hi bob"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "alice's reply at bob", func() bool { return messages(b.room) == 5002 })
	var da, db [32]byte
	da = a.room.Digest()
	db = b.room.Digest()
	if da != db {
		t.Fatal("views differ")
	}
}

func TestHostilePeerScoredAndDisconnected(t *testing.T) {
	key := room.NewKey()
	alice := newMember(t)
	a := newPeer(t, key, alice.id.Public(), alice)
	a.room.Create("home")
	mallory := newMember(t)
	m, err := hnet.New(hnet.Config{Key: mallory.self.Device, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Host.Connect(ctx, peer.AddrInfo{ID: a.node.Host.ID(), Addrs: a.node.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	attacks := []func(s *bufio.Writer){
		func(w *bufio.Writer) { w.Write([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}) }, // oversized length
		func(w *bufio.Writer) { w.Write([]byte{3, 9, 9, 9}) },                   // garbage frame
		func(w *bufio.Writer) { // a valid hello, then blocks that do not hash to their head
			writeFrame(w, &frame{typ: frameHello, disc: key.Discovery()})
			w.Flush()
			h := log.SignHead(mallory.self.Device, key.Discovery(), 1, log.Hash{1})
			writeFrame(w, &frame{typ: frameBlocks, head: h, start: 0, blocks: [][]byte{make([]byte, 60)}})
		},
	}
	// Each attack is one offence, scored by the node with every other
	// protocol's: BanScore-1 leave mallory connected, the next bans her.
	for i := range proto.BanScore {
		st, err := m.Host.NewStream(ctx, a.node.Host.ID(), proto.Sync)
		if err != nil {
			t.Fatalf("attack %d: %v", i, err)
		}
		w := bufio.NewWriter(st)
		attacks[i%len(attacks)](w)
		w.Flush()
		want := i + 1
		waitFor(t, fmt.Sprintf("score %d", want), func() bool { return a.svc.Score(m.Host.ID()) >= want })
		st.Reset()
		if want < proto.BanScore && (a.node.Banned(m.Host.ID()) || len(a.node.Host.Network().ConnsToPeer(m.Host.ID())) == 0) {
			t.Fatalf("mallory banned or disconnected after %d offences, fewer than BanScore (%d)", want, proto.BanScore)
		}
	}
	if n := a.svc.Score(m.Host.ID()); n != proto.BanScore {
		t.Fatalf("%d attacks scored %d", proto.BanScore, n)
	}
	waitFor(t, "disconnect", func() bool { return len(a.node.Host.Network().ConnsToPeer(m.Host.ID())) == 0 })
	if !a.node.Banned(m.Host.ID()) {
		t.Fatal("mallory not banned at BanScore")
	}
	// Alice still works.
	if _, err := a.room.Write(room.Op{Type: room.OpMessage, Text: "still fine"}); err != nil {
		t.Fatal(err)
	}
}
