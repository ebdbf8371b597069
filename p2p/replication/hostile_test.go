package replication

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	gonet "net"
	"runtime"
	"slices"
	"sort"
	gosync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// TestHostileMember: mallory is a member of the room, with a valid device
// proof and the room key, who turns against it, over real libp2p hosts.
//
//  1. She writes what her role does not allow (making herself admin,
//     deleting alice's message, editing bob's, removing alice, adding a
//     stranger, inviting, a junk revocation and fork proof), and two more
//     devices of hers write with bad proofs (one claims to be a device of
//     alice's identity). Every view refuses all of it, alike; the bad
//     devices' logs are not even kept. She pushes logs of 300 fresh keys
//     that alice cannot judge yet: alice keeps a bounded number.
//  2. She floods the room: alice and bob take every valid entry while
//     bob's messages keep reaching alice; the figures are logged.
//  3. At the sync level she forges a head of alice's log and sends blocks
//     that do not hash to her signed head: offences. Then she forks her
//     log: two copies of her device write two histories from one point,
//     and her program, connected to alice and to bob (who do not sync
//     with each other meanwhile), sends one history to alice, the other
//     to bob, then each the twin's blocks. Each holds its history and
//     catches the fork in the head of the twin's blocks, writes the
//     proof; her entries (the forked ones, and the one she writes on
//     each history after) arrive and are held back. She is banned by
//     alice; alice and bob meet again, agree, and write the proof once.
func TestHostileMember(t *testing.T) {
	flood := 50_000
	if testing.Short() {
		flood = 10_000
	}
	key := room.NewKey()
	disc := key.Discovery()
	alice, bob, mallory, stranger := newMember(t), newMember(t), newMember(t), newMember(t)
	// Alice and bob write every fork their services tell of into the
	// room, as the daemon does (which also skips a device already
	// proven; here the service's telling each fork once is what is
	// tested); each records what it was told.
	aForks, bForks := &forks{}, &forks{}
	a := aForks.peer(t, key, alice.id.Public(), alice)
	a.room.Create("home")
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: bob.id.Public(), Role: room.RoleMember})
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: mallory.id.Public(), Role: room.RoleMember})
	aliceMsg, _ := a.room.Write(room.Op{Type: room.OpMessage, Text: "alice's"})
	b := bForks.peer(t, key, alice.id.Public(), bob)
	m := newPeer(t, key, alice.id.Public(), mallory)
	connect(t, b, a)
	connect(t, m, a)
	for _, p := range []*peerNode{b, m} {
		waitFor(t, "alice's message", func() bool { return messages(p.room) == 1 })
	}
	bobMsg, _ := b.room.Write(room.Op{Type: room.OpMessage, Text: "bob's"})
	m.room.Write(room.Op{Type: room.OpMessage, Text: "mallory's, still friendly"})
	for i, p := range []*peerNode{a, b, m} {
		waitFor(t, fmt.Sprintf("the first three messages at replica %d", i), func() bool { return messages(p.room) == 3 })
	}

	// 1. What her role does not allow, and devices with bad proofs.
	junk := make([]byte, 200)
	rand.Read(junk)
	var inv room.InviteID
	rand.Read(inv[:])
	for _, op := range []room.Op{
		{Type: room.OpSetRole, Identity: mallory.id.Public(), Role: room.RoleAdmin},
		{Type: room.OpDelete, Target: aliceMsg},
		{Type: room.OpEdit, Target: bobMsg, Text: "mallory was here"},
		{Type: room.OpRemoveMember, Identity: alice.id.Public()},
		{Type: room.OpAddMember, Identity: stranger.id.Public(), Role: room.RoleAdmin},
		{Type: room.OpInvite, Invite: inv, Role: room.RoleAdmin, Uses: 100},
		{Type: room.OpRevoke, Blob: junk},
		{Type: room.OpFork, Blob: junk},
	} {
		if _, err := m.room.Write(op); err != nil {
			t.Fatalf("mallory writing %s: %v", op.Type, err)
		}
	}
	dev2, dev3 := newMember(t).self, newMember(t).self
	// Her second device's proof is for another key; her third claims to be
	// alice's, with a proof she signed herself.
	dev2.Identity = mallory.id.Public()
	dev2.Proof, _ = identity.NewProof(mallory.id, bob.self.Device.Public(), 1).MarshalBinary()
	dev3.Identity = alice.id.Public()
	dev3.Proof, _ = identity.NewProof(mallory.id, dev3.Device.Public(), 1).MarshalBinary()
	var fakes []*peerNode
	for _, self := range []room.Self{dev2, dev3} {
		f := newPeer(t, key, alice.id.Public(), member{self: self})
		connect(t, f, a)
		// Its hello, with the bad proof, is written as soon as it has the
		// room (its identity is a member's); the view refuses the device,
		// so it can write nothing more.
		waitFor(t, "a fake device's hello", func() bool { return f.room.Len(f.dev) == 1 })
		if _, err := f.room.Write(room.Op{Type: room.OpMessage, Text: "I am alice, trust me"}); !errors.Is(err, room.ErrNotMember) {
			t.Fatalf("a device with a bad proof wrote: %v", err)
		}
		fakes = append(fakes, f)
	}
	// Alice refuses their logs outright (they can never count), and
	// takes mallory's entries.
	for _, p := range []*peerNode{a, b} {
		waitFor(t, "mallory's entries", func() bool { return p.room.Len(m.dev) == m.room.Len(m.dev) })
	}
	for _, f := range fakes {
		if n := a.room.Len(f.dev); n != 0 {
			t.Errorf("alice holds %d entries of a device with a bad proof", n)
		}
	}
	// Logs of fresh keys, sealed with a key alice does not have (as a
	// mirror, which knows the discovery key and not the room key, could
	// make): alice holds a bounded number of them, and it is nobody's
	// offence (an honest mirror may pass on what an attacker left there).
	logs0 := len(a.room.Heads())
	fresh := 300
	{
		frames := make([]*frame, fresh)
		for i := range frames {
			k, _ := identity.GenerateSigningKey()
			blocks, h, err := log.New(disc, k.Public()).Append(k, log.RandomKey(), 9, [][]byte{junk})
			if err != nil {
				t.Fatal(err)
			}
			frames[i] = &frame{typ: frameBlocks, head: h, start: 0, blocks: blocks}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		pushAll(t, ctx, m.node.Host, a.node.Host.ID(), disc, a.dev, frames...)
		cancel()
	}
	// Alice handled every one of them: she holds as many as she may
	// (they arrived, and are bounded).
	held := len(a.room.Heads()) - logs0
	if held != room.MaxStrangers {
		t.Errorf("alice holds %d of %d logs of fresh keys, want %d", held, fresh, room.MaxStrangers)
	}
	if n := a.svc.Score(m.node.Host.ID()); n != 0 {
		t.Errorf("logs that may be valid counted as %d offences", n)
	}
	t.Logf("logs of fresh keys: alice holds %d of %d", held, fresh)
	for i, p := range []*peerNode{a, b, m} {
		p.room.View(func(v *room.View) {
			switch {
			case v.Members[mallory.id.Public()].Role != room.RoleMember:
				t.Errorf("replica %d: mallory made herself %v", i, v.Members[mallory.id.Public()].Role)
			case v.Members[alice.id.Public()] == nil || v.Members[alice.id.Public()].Role != room.RoleAdmin:
				t.Errorf("replica %d: alice is no longer admin", i)
			case v.Members[stranger.id.Public()] != nil:
				t.Errorf("replica %d: mallory added a stranger", i)
			case len(v.Invites) != 0:
				t.Errorf("replica %d: mallory's invite counts", i)
			}
			for _, f := range fakes {
				if _, ok := v.Devices[f.dev]; ok {
					t.Errorf("replica %d: a device with a bad proof counts", i)
				}
			}
		})
		if n := p.room.Count(); n != 3 {
			t.Errorf("replica %d: %d messages, want the three honest ones", i, n)
		}
		if msg, _ := p.room.Message(aliceMsg); msg == nil || msg.Deleted {
			t.Errorf("replica %d: mallory deleted alice's message", i)
		}
		if msg, _ := p.room.Message(bobMsg); msg == nil || msg.Edited || msg.Text != "bob's" {
			t.Errorf("replica %d: mallory edited bob's message", i)
		}
	}
	if digest(a.room) != digest(b.room) || digest(b.room) != digest(m.room) {
		t.Fatal("the views differ after mallory's refused entries")
	}

	// 2. The flood: every entry valid, as fast as she can write them.
	runtime.GC()
	heap0, cpu0 := heapInUse(), processCPU()
	began := time.Now()
	ops := make([]room.Op, 1000)
	lat := make(chan []time.Duration, 1)
	stop := make(chan struct{})
	go func() { // bob writes every 50 ms and times each message to alice
		var ds []time.Duration
		defer func() { lat <- ds }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			text := fmt.Sprintf("bob during the flood %d", i)
			sent := time.Now()
			ref, err := b.room.Write(room.Op{Type: room.OpMessage, Text: text})
			if err != nil {
				t.Errorf("bob: %v", err)
				return
			}
			for {
				var ok bool
				if _, ok = a.room.Message(ref); ok {
					break
				}
				if time.Since(sent) > time.Minute {
					t.Errorf("bob's message %d did not reach alice in a minute of flood", i)
					return
				}
				time.Sleep(2 * time.Millisecond)
			}
			ds = append(ds, time.Since(sent))
		}
	}()
	for n := 0; n < flood; n += len(ops) {
		for i := range ops {
			ops[i] = room.Op{Type: room.OpMessage, Text: fmt.Sprintf("flood %d", n+i)}
		}
		if _, err := m.room.WriteBatch(ops); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*peerNode{a, b} {
		waitFor(t, "the flood", func() bool { return p.room.Len(m.dev) == m.room.Len(m.dev) })
	}
	took := time.Since(began)
	close(stop)
	ds := <-lat
	runtime.GC()
	heap1, cpu := heapInUse(), processCPU()-cpu0
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if len(ds) == 0 {
		t.Fatal("bob sent nothing during the flood")
	}
	t.Logf("flood of %d messages: written by mallory and taken by alice and bob in %v (the process's processor time %v, %.1f µs per entry and replica); heap %.0f → %.0f MiB; bob's %d messages during it reached alice in %v median, %v at most",
		flood, took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(2*flood),
		float64(heap0)/(1<<20), float64(heap1)/(1<<20), len(ds), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
	if digest(a.room) != digest(b.room) {
		t.Fatal("alice's and bob's views differ after the flood")
	}

	// 3. Forgeries at the sync level, on streams of her own.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	me := m.dev
	// raw sends frames on a stream of her own and reads until alice
	// closes it, or wait passes (an offence closes it: a loaded machine
	// may take its time to get there).
	raw := func(wait time.Duration, frames ...*frame) {
		st, err := m.node.Host.NewStream(ctx, a.node.Host.ID(), proto.Sync)
		if err != nil {
			t.Fatalf("a stream to alice: %v", err)
		}
		defer st.Reset()
		w := bufio.NewWriter(st)
		writeFrame(w, &frame{typ: frameHello, disc: disc})
		for _, f := range frames {
			writeFrame(w, f)
		}
		w.Flush()
		st.SetReadDeadline(time.Now().Add(wait))
		for {
			if _, err := st.Read(make([]byte, 1<<16)); err != nil {
				break
			}
		}
	}
	before := a.svc.Score(m.node.Host.ID())
	// A head of alice's log, signed by mallory.
	forged := log.Head{Discovery: disc, Writer: a.dev, Length: a.room.Len(a.dev) + 5}
	forged.Sig = log.SignHead(mallory.self.Device, disc, forged.Length, log.Hash{7}).Sig
	raw(20*time.Second, &frame{typ: frameHeads, heads: []log.Head{forged}})
	waitFor(t, "the forged head scored", func() bool { return a.svc.Score(m.node.Host.ID()) > before })
	// Blocks that do not hash to her own, validly signed, head.
	h := log.SignHead(mallory.self.Device, disc, m.room.Len(me)+1, log.Hash{9})
	raw(20*time.Second, &frame{typ: frameBlocks, head: h, start: m.room.Len(me), blocks: [][]byte{junk[:120]}})
	waitFor(t, "the bad blocks scored", func() bool { return a.svc.Score(m.node.Host.ID()) > before+1 })
	// A fork. From here her program runs without the sync service (her
	// frames only), connected to alice and to bob, and alice and bob do
	// not sync with each other: whatever either holds of her log, and
	// every head of it either sees, came from her frames.
	m.svc.Close()
	a.node.Host.Network().ClosePeer(b.node.Host.ID())
	waitFor(t, "alice and bob apart", func() bool {
		return !a.svc.has(disc, b.node.Host.ID()) && !b.svc.has(disc, a.node.Host.ID())
	})
	if err := m.node.Host.Connect(ctx, peer.AddrInfo{ID: b.node.Host.ID(), Addrs: b.node.Host.Addrs()}); err != nil {
		t.Fatalf("mallory connecting to bob: %v", err)
	}
	// Two copies of her device (her real keys) write two histories from
	// the same point: "left" and "right".
	n0 := m.room.Len(me)
	left, right := twinOf(t, m.room, key, alice.id.Public(), mallory.self), twinOf(t, m.room, key, alice.id.Public(), mallory.self)
	left.Write(room.Op{Type: room.OpMessage, Text: "left"})
	right.Write(room.Op{Type: room.OpMessage, Text: "right"})
	lh, lb, _ := left.Blocks(me, n0, 1<<20)
	rh, rb, _ := right.Blocks(me, n0, 1<<20)
	if lh.Length != n0+1 || rh.Length != n0+1 || lh.Root == rh.Root {
		t.Fatalf("the two histories: %d and %d entries, same root %v", lh.Length, rh.Length, lh.Root == rh.Root)
	}
	// holds: p holds exactly blocks [n0, h.Length) of her log under h.
	holds := func(p *peerNode, h log.Head, blocks [][]byte) bool {
		got, bl, ok := p.room.Blocks(me, n0, 1<<20)
		return ok && got == h && slices.EqualFunc(bl, blocks, bytes.Equal)
	}
	// She sends alice the left history and bob the right one; each takes
	// and shows its own (nothing proves a fork yet).
	send(t, ctx, m, a, disc, &frame{typ: frameBlocks, head: lh, start: n0, blocks: lb})
	send(t, ctx, m, b, disc, &frame{typ: frameBlocks, head: rh, start: n0, blocks: rb})
	waitFor(t, "the left history at alice", func() bool { return holds(a, lh, lb) })
	waitFor(t, "the right history at bob", func() bool { return holds(b, rh, rb) })
	waitFor(t, `"left" shown by alice`, func() bool { return shows(a.room, "left") })
	waitFor(t, `"right" shown by bob`, func() bool { return shows(b.room, "right") })
	// Then the twin's blocks to each: the right history to alice, the
	// left one to bob. Each catches the fork in the head of what she
	// sent it (only her frames carry that head there), and writes the
	// proof into its room.
	send(t, ctx, m, a, disc, &frame{typ: frameBlocks, head: rh, start: n0, blocks: rb})
	send(t, ctx, m, b, disc, &frame{typ: frameBlocks, head: lh, start: n0, blocks: lb})
	waitFor(t, "alice catching the fork in the right history's head", func() bool { return aForks.caught(rh) })
	waitFor(t, "bob catching the fork in the left history's head", func() bool { return bForks.caught(lh) })
	for i, p := range []*peerNode{a, b} {
		waitFor(t, fmt.Sprintf("the fork proof in replica %d's view", i), func() bool {
			var forked bool
			p.room.View(func(v *room.View) { forked = v.Devices[me] != nil && v.Devices[me].Forked })
			return forked
		})
	}
	if !holds(a, lh, lb) || !holds(b, rh, rb) {
		t.Fatal("a replica took the twin's blocks over what it held")
	}
	// She goes on writing on each history, and each replica takes it.
	left.Write(room.Op{Type: room.OpMessage, Text: "after the fork"})
	right.Write(room.Op{Type: room.OpMessage, Text: "after the fork"})
	lh2, lb2, _ := left.Blocks(me, n0+1, 1<<20)
	rh2, rb2, _ := right.Blocks(me, n0+1, 1<<20)
	send(t, ctx, m, a, disc, &frame{typ: frameBlocks, head: lh2, start: n0 + 1, blocks: lb2})
	send(t, ctx, m, b, disc, &frame{typ: frameBlocks, head: rh2, start: n0 + 1, blocks: rb2})
	waitFor(t, "her entry after the fork at alice", func() bool { return holds(a, lh2, append(lb, lb2...)) })
	waitFor(t, "her entry after the fork at bob", func() bool { return holds(b, rh2, append(rb, rb2...)) })
	// Every replica holds the forked entries, and shows none of them:
	// none of her device's entries counts once the fork is proven.
	heldBack := func(i int, p *peerNode) {
		t.Helper()
		var shown []string
		p.room.Messages(false, func(msg *room.Message) bool {
			if msg.Device == me {
				shown = append(shown, msg.Text)
			}
			return true
		})
		if len(shown) > 0 {
			t.Errorf("replica %d shows %d messages of the forked device, the last %q", i, len(shown), shown[max(0, len(shown)-3):])
		}
		for _, seq := range []uint64{n0, n0 + 1} {
			if _, ok := p.room.Rejection(room.Ref{Writer: me, Seq: seq}); !ok {
				t.Errorf("replica %d: the forked device's entry %d is not refused", i, seq)
			}
		}
	}
	for i, p := range []*peerNode{a, b} {
		heldBack(i, p)
	}
	// More forgeries reach the node's ban (proto.BanScore).
	for a.svc.Score(m.node.Host.ID()) < proto.BanScore {
		n := a.svc.Score(m.node.Host.ID())
		raw(20*time.Second, &frame{typ: frameHeads, heads: []log.Head{forged}})
		waitFor(t, "another forgery scored", func() bool { return a.svc.Score(m.node.Host.ID()) > n })
	}
	waitFor(t, "mallory disconnected", func() bool { return len(a.node.Host.Network().ConnsToPeer(m.node.Host.ID())) == 0 })
	// Refused: no connection, or no stream, or a stream alice resets at
	// once (a read that only times out would prove nothing).
	if err := m.node.Host.Connect(ctx, peer.AddrInfo{ID: a.node.Host.ID(), Addrs: a.node.Host.Addrs()}); err == nil {
		if st, err := m.node.Host.NewStream(ctx, a.node.Host.ID(), proto.Sync); err == nil {
			writeFrame(st, &frame{typ: frameHello, disc: disc})
			st.SetReadDeadline(time.Now().Add(20 * time.Second))
			var timeout gonet.Error
			switch _, err := st.Read(make([]byte, 1)); {
			case err == nil:
				t.Fatal("alice still syncs with mallory after the ban")
			case errors.As(err, &timeout) && timeout.Timeout():
				t.Fatalf("alice neither answered nor refused mallory's stream after the ban: %v", err)
			}
			st.Reset()
		}
	}
	// Alice and bob meet again, each holding another history of her log.
	// A message each way: each has handled heads of the other, which
	// name the other history. They agree, hold her device back, and
	// write no more proofs (each proof written is a change, which sends
	// heads again).
	connect(t, b, a)
	ref, _ := a.room.Write(room.Op{Type: room.OpMessage, Text: "alice, after it all"})
	waitFor(t, "alice's message at bob", func() bool {
		_, ok := b.room.Message(ref)
		return ok
	})
	ref, _ = b.room.Write(room.Op{Type: room.OpMessage, Text: "bob, after it all"})
	waitFor(t, "bob's message at alice", func() bool {
		_, ok := a.room.Message(ref)
		return ok
	})
	waitFor(t, "alice and bob agree", func() bool { return digest(a.room) == digest(b.room) })
	if !holds(a, lh2, append(lb, lb2...)) || !holds(b, rh2, append(rb, rb2...)) {
		t.Fatal("a replica's history of the forked log changed")
	}
	for i, p := range []*peerNode{a, b} {
		heldBack(i, p)
	}
	for i, f := range []*forks{aForks, bForks} {
		if n, w := f.count(); n != 1 || w != 1 {
			t.Errorf("replica %d: told of one device's fork %d times, wrote %d proofs", i, n, w)
		}
	}
}

// forks records the fork proofs a peer's service caught, and writes them
// into its room as the daemon does.
type forks struct {
	mu     gosync.Mutex
	proofs []*log.ForkProof
	writes int
}

// peer is newPeer with its service's forks recorded and written.
func (f *forks) peer(t *testing.T, key room.Key, founder identity.PublicKey, mem member) *peerNode {
	t.Helper()
	var p *peerNode
	p = newPeerWith(t, key, founder, mem, func(c *Config) {
		c.OnFork = func(d log.Discovery, fp *log.ForkProof) {
			f.mu.Lock()
			f.proofs = append(f.proofs, fp)
			f.mu.Unlock()
			b, _ := fp.MarshalBinary()
			if _, err := p.room.Write(room.Op{Type: room.OpFork, Blob: b}); err == nil {
				f.mu.Lock()
				f.writes++
				f.mu.Unlock()
			}
		}
	})
	return p
}

// caught reports whether a fork proof names h as one of its heads.
func (f *forks) caught(h log.Head) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.ContainsFunc(f.proofs, func(fp *log.ForkProof) bool { return fp.A == h || fp.B == h })
}

// count returns how often the service told of a fork, and how many
// proofs were written.
func (f *forks) count() (told, written int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.proofs), f.writes
}

// twinOf opens a room as the device of self, holding every log src holds
// (src being that device's room): a copy of the device that can write
// another history of its log.
func twinOf(t *testing.T, src *room.Room, key room.Key, founder identity.PublicKey, self room.Self) *room.Room {
	t.Helper()
	twin, err := room.Open(room.Config{Key: key, Founder: founder, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	me := self.Device.Public()
	h, blocks, _ := src.Blocks(me, 0, 1<<30)
	if len(blocks) < int(h.Length) {
		t.Fatalf("the device's log: %d of %d blocks in one read", len(blocks), h.Length)
	}
	if err := twin.LoadLog(me, []log.Head{h}, blocks); err != nil {
		t.Fatal(err)
	}
	if err := room.Copy(twin, src); err != nil {
		t.Fatal(err)
	}
	return twin
}

// send opens a sync stream from's host to to's, says hello and sends
// frames; the stream stays open (reading nothing) until the test ends.
func send(t *testing.T, ctx context.Context, from, to *peerNode, disc log.Discovery, frames ...*frame) {
	t.Helper()
	st, err := from.node.Host.NewStream(ctx, to.node.Host.ID(), proto.Sync)
	if err != nil {
		t.Fatalf("a stream: %v", err)
	}
	t.Cleanup(func() { st.Reset() })
	w := bufio.NewWriter(st)
	writeFrame(w, &frame{typ: frameHello, disc: disc})
	for _, f := range frames {
		writeFrame(w, f)
	}
	if err := w.Flush(); err != nil {
		t.Fatalf("sending: %v", err)
	}
}

// shows reports whether a room's view shows a message of text.
func shows(r *room.Room, text string) (ok bool) {
	r.Messages(false, func(m *room.Message) bool {
		ok = m.Text == text
		return !ok
	})
	return ok
}

// digest is a room's view digest.
func digest(r *room.Room) (d [32]byte) {
	d = r.Digest()
	return d
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
