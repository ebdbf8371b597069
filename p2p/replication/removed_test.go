package replication

import (
	"bufio"
	"context"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// TestRemovedMemberOverWire: mallory, removed by alice, goes on with a
// program of her own: it extends her device's log (her real key) with
// entries that declare what she had seen before the removal, sealed with
// the epoch key she still holds, and pushes them over the sync protocol
// to alice and bob. Neither shows any of it, and they agree.
func TestRemovedMemberOverWire(t *testing.T) {
	key := room.NewKey()
	disc := key.Discovery()
	alice, bob, mallory := newMember(t), newMember(t), newMember(t)
	a := newPeer(t, key, alice.id.Public(), alice)
	a.room.Create("home")
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: bob.id.Public(), Role: room.RoleMember})
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: mallory.id.Public(), Role: room.RoleMember})
	b := newPeer(t, key, alice.id.Public(), bob)
	m := newPeer(t, key, alice.id.Public(), mallory)
	connect(t, b, a)
	connect(t, m, a)
	for _, p := range []*peerNode{b, m} {
		waitFor(t, "the room", func() bool {
			var ok bool
			p.room.View(func(v *room.View) { ok = len(v.Members) == 3 })
			return ok
		})
	}
	m.room.Write(room.Op{Type: room.OpMessage, Text: "mallory, while a member"})
	bm, _ := b.room.Write(room.Op{Type: room.OpMessage, Text: "bob's"})
	for _, p := range []*peerNode{a, b, m} {
		waitFor(t, "the first messages", func() bool { return messages(p.room) == 2 })
	}
	// Alice talks a while (her clock runs ahead), then removes mallory.
	for range 4 {
		a.room.Write(room.Op{Type: room.OpMessage, Text: "alice"})
	}
	a.room.Write(room.Op{Type: room.OpRemoveMember, Identity: mallory.id.Public()})
	waitFor(t, "the removal at bob's", func() bool {
		var gone bool
		b.room.View(func(v *room.View) { _, gone = v.Former[mallory.id.Public()] })
		return gone
	})

	// Her program: her log as she holds it, extended.
	h0, blocks, _ := m.room.Blocks(m.dev, 0, 1<<30)
	l := log.New(disc, m.dev)
	if err := l.Extend(h0, blocks); err != nil {
		t.Fatal(err)
	}
	var entries [][]byte
	for _, op := range []room.Op{
		{Type: room.OpMessage, Text: "backdated"},
		{Type: room.OpReact, Target: bm, Emoji: "💩"},
		{Type: room.OpDelete, Target: bm},
		{Type: room.OpMirror, Name: "12D3KooWmallorysmirror", Text: "/ip4/127.0.0.1/tcp/1"},
	} {
		// No dependencies beyond her own log: the clock stays below the
		// removal's, so every device orders these before it.
		e := room.Entry{Time: time.Now().UnixMilli(), Op: op}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, b)
	}
	start := l.Len()
	forged, head, err := l.Append(mallory.self.Device, key.EpochZero(), 0, entries)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, p := range []*peerNode{a, b} {
		if err := m.node.Host.Connect(ctx, p.node.Host.Peerstore().PeerInfo(p.node.Host.ID())); err != nil {
			m.node.Host.Peerstore().AddAddrs(p.node.Host.ID(), p.node.Host.Addrs(), time.Hour)
		}
		st, err := m.node.Host.NewStream(ctx, p.node.Host.ID(), proto.Sync)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(st)
		writeFrame(w, &frame{typ: frameHello, disc: disc})
		writeFrame(w, &frame{typ: frameBlocks, head: head, start: start, blocks: forged})
		w.Flush()
		st.CloseWrite()
		waitFor(t, "the forged blocks delivered", func() bool { return p.room.Len(m.dev) == head.Length })
		st.Reset()
	}
	for i, p := range []*peerNode{a, b} {
		var mirrors int
		p.room.View(func(v *room.View) { mirrors = len(v.Mirrors) })
		if n := p.room.Count(); n != 6 || mirrors != 0 {
			t.Errorf("replica %d: %d messages, %d mirrors", i, n, mirrors)
		}
		if msg, _ := p.room.Message(bm); msg == nil || msg.Deleted || len(msg.Reactions) != 0 {
			t.Errorf("replica %d: bob's message touched by the removed member", i)
		}
		var refused []room.Rejection
		p.room.Rejections(func(r room.Rejection) bool {
			if r.Ref.Writer == m.dev && r.Ref.Seq >= start {
				refused = append(refused, r)
			}
			return true
		})
		if len(refused) != len(forged) {
			t.Errorf("replica %d refused %d of the %d forged entries: %+v", i, len(refused), len(forged), refused)
		}
	}
	if digest(a.room) != digest(b.room) {
		t.Fatal("alice and bob differ")
	}
}
