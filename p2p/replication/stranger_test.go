package replication

import (
	"bufio"
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// memStore records what a room saves.
type memStore struct {
	*room.MemStore
	saved map[identity.PublicKey]int
}

func (s *memStore) SaveBlocks(d log.Discovery, h log.Head, start uint64, blocks [][]byte) error {
	s.saved[h.Writer] += len(blocks)
	return s.MemStore.SaveBlocks(d, h, start, blocks)
}

// Update records the blocks saved within the room's transactions too.
func (s *memStore) Update(d log.Discovery, fn func(room.Tx) error) error {
	return s.MemStore.Update(d, func(tx room.Tx) error { return fn(recordingTx{tx, s}) })
}

type recordingTx struct {
	room.Tx
	s *memStore
}

func (t recordingTx) SaveBlocks(h log.Head, start uint64, blocks [][]byte, hashed *log.Hashed) error {
	t.s.saved[h.Writer] += len(blocks)
	return t.Tx.SaveBlocks(h, start, blocks, hashed)
}

// TestOutsiderLogs: whoever knows a room's discovery key and its key (a
// former member) pushes logs of fresh keys to a member over the sync
// protocol. Logs that can never count (no member device's hello first)
// are refused and their sender is scored until banned; logs that cannot
// be judged yet are held within a small budget, in memory only, and
// reach the disk once their writer proves to be a member's device.
func TestOutsiderLogs(t *testing.T) {
	key := room.NewKey()
	disc := key.Discovery()
	alice, carol, former := newMember(t), newMember(t), newMember(t)
	store := &memStore{MemStore: room.NewMemStore(), saved: map[identity.PublicKey]int{}}
	n, err := hnet.New(hnet.Config{Key: alice.self.Device, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	a := &peerNode{node: n, dev: alice.self.Device.Public()}
	a.room, _ = room.Open(room.Config{Key: key, Founder: alice.id.Public(), Self: alice.self, Store: store})
	a.svc = New(Config{Host: n.Host, Lookup: func(d log.Discovery) (Room, bool) { return a.room, d == disc }})
	t.Cleanup(func() { a.svc.Close(); n.Close() })
	a.room.Create("home")

	x := newPeer(t, key, alice.id.Public(), former)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func(p *peerNode) {
		t.Helper()
		if err := p.node.Host.Connect(ctx, peer.AddrInfo{ID: n.Host.ID(), Addrs: n.Host.Addrs()}); err != nil {
			t.Fatal(err)
		}
	}
	dial(x)
	send := func(frames ...*frame) {
		t.Helper()
		st, err := x.node.Host.NewStream(ctx, n.Host.ID(), proto.Sync)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(st)
		writeFrame(w, &frame{typ: frameHello, disc: disc})
		for _, f := range frames {
			writeFrame(w, f)
		}
		w.Flush()
		st.CloseWrite()
		t.Cleanup(func() { st.Reset() })
	}
	logOf := func(k identity.SigningKey, lk log.Key, epoch uint64, entries ...[]byte) *frame {
		blocks, h, err := log.New(disc, k.Public()).Append(k, lk, epoch, entries)
		if err != nil {
			t.Fatal(err)
		}
		return &frame{typ: frameBlocks, head: h, start: 0, blocks: blocks}
	}
	// 1. Logs that can never count: a message first, sealed with the key
	// of epoch 0 (decodable, so judged). Each is an offence.
	msg, _ := (&room.Entry{Time: 1, Op: room.Op{Type: room.OpMessage, Text: "no hello"}}).MarshalBinary()
	var junk []*frame
	for range proto.BanScore + 2 {
		k, _ := identity.GenerateSigningKey()
		junk = append(junk, logOf(k, key.EpochZero(), 0, msg))
	}
	send(junk...)
	waitFor(t, "the sender banned", func() bool { return a.svc.Score(x.node.Host.ID()) >= proto.BanScore })
	// Each of the first BanScore logs was handled (one offence each,
	// in order); none of them is held.
	for _, f := range junk[:proto.BanScore] {
		if a.room.Len(f.head.Writer) != 0 {
			t.Fatal("a junk log is held")
		}
	}

	// 2. Logs that cannot be judged yet (sealed in an epoch to come), from
	// another former member: held within the budget, never on disk.
	y := newPeer(t, key, alice.id.Public(), newMember(t))
	x = y
	dial(y)
	big := make([]byte, 60<<10)
	var held []*frame
	for range 3 * room.MaxStrangers {
		k, _ := identity.GenerateSigningKey()
		held = append(held, logOf(k, log.RandomKey(), 7, big))
	}
	pushAll(t, ctx, y.node.Host, n.Host.ID(), disc, a.dev, held...) // every one handled
	bytes, logs := 0, 0
	for _, f := range held {
		if a.room.Len(f.head.Writer) > 0 {
			logs++
			for _, b := range f.blocks {
				bytes += len(b)
			}
		}
		if store.saved[f.head.Writer] != 0 {
			t.Fatal("a log of an unknown device reached the disk")
		}
	}
	if logs == 0 || bytes > room.MaxStrangerBytes || logs > room.MaxStrangers {
		t.Fatalf("alice holds %d logs, %d bytes, of devices she does not know", logs, bytes)
	}
	if n := a.svc.Score(y.node.Host.ID()); n != 0 {
		t.Fatalf("logs that may yet count cost their sender %d offences", n)
	}
	t.Logf("held %d logs, %d bytes, of %d offered", logs, bytes, len(held))

	// 3. Carol's device: its log comes before her addition; held in
	// memory, then saved once she is added.
	// Her hello declares it follows the addition (alice's next entry).
	deps := []room.Dep{{Writer: a.dev, Length: a.room.Len(a.dev) + 1}}
	hello, _ := (&room.Entry{Deps: deps, Time: 1, Op: room.Op{Type: room.OpHello, Proof: carol.self.Proof, Record: carol.self.Record}}).MarshalBinary()
	cf := logOf(carol.self.Device, key.EpochZero(), 0, hello)
	if err := a.room.Receive(cf.head, cf.blocks); err != nil {
		t.Fatal(err)
	}
	if a.room.Len(carol.self.Device.Public()) != 1 || store.saved[carol.self.Device.Public()] != 0 {
		t.Fatal("the log of a device not yet known is not held, or reached the disk")
	}
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: carol.id.Public(), Role: room.RoleMember})
	if store.saved[carol.self.Device.Public()] != 1 {
		t.Fatalf("carol's log saved %d blocks once she was added", store.saved[carol.self.Device.Public()])
	}
}

// TestJoinLargeRoom: a new member of a room of more devices than a room
// holds logs of devices it does not know gets every log over the sync
// protocol, whatever order they come in: the logs it refuses until the
// admissions arrive are asked for again.
func TestJoinLargeRoom(t *testing.T) {
	key := room.NewKey()
	alice, zed := newMember(t), newMember(t)
	a := newPeer(t, key, alice.id.Public(), alice)
	a.room.Create("big")
	for i := range 4 * room.MaxStrangers {
		m := newMember(t)
		if _, err := a.room.Write(room.Op{Type: room.OpAddMember, Identity: m.id.Public(), Role: room.RoleMember}); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		r, err := room.Open(room.Config{Key: key, Founder: alice.id.Public(), Self: m.self})
		if err != nil {
			t.Fatal(err)
		}
		if err := room.Copy(r, a.room); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Write(room.Op{Type: room.OpMessage, Text: "here"}); err != nil {
			t.Fatal(err)
		}
		if err := room.Copy(a.room, r); err != nil {
			t.Fatal(err)
		}
	}
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: zed.id.Public(), Role: room.RoleMember})
	z := newPeer(t, key, alice.id.Public(), zed)
	connect(t, z, a)
	want := messages(a.room)
	waitFor(t, "every device's log at the new member, and one view", func() bool {
		return messages(z.room) == want && digest(z.room) == digest(a.room)
	})
	t.Logf("the new member holds %d logs, %d messages", len(z.room.Heads()), want)
}
