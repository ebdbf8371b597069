package replication

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
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
//  3. At the sync level she forges a head of alice's log, sends blocks that
//     do not hash to her signed head, and shows a fork of her own log: the
//     forgeries are offences, the fork is caught and written into the
//     room (her device's later entries are held back), and she is
//     disconnected and refused. Alice and bob keep working.
func TestHostileMember(t *testing.T) {
	flood := 50_000
	if testing.Short() {
		flood = 10_000
	}
	key := room.NewKey()
	disc := key.Discovery()
	alice, bob, mallory, stranger := newMember(t), newMember(t), newMember(t), newMember(t)
	var a *peerNode
	a = newPeerWith(t, key, alice.id.Public(), alice, func(c *Config) {
		c.OnFork = func(d log.Discovery, fp *log.ForkProof) {
			// What the daemon does: the proof goes into the room.
			b, _ := fp.MarshalBinary()
			a.room.Write(room.Op{Type: room.OpFork, Blob: b})
		}
	})
	a.room.Create("home")
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: bob.id.Public(), Role: room.RoleMember})
	a.room.Write(room.Op{Type: room.OpAddMember, Identity: mallory.id.Public(), Role: room.RoleMember})
	aliceMsg, _ := a.room.Write(room.Op{Type: room.OpMessage, Text: "alice's"})
	b := newPeer(t, key, alice.id.Public(), bob)
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
		st, err := m.node.Host.NewStream(context.Background(), a.node.Host.ID(), hnet.ProtocolSync)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(st)
		writeFrame(w, &frame{typ: frameHello, disc: disc})
		for range fresh {
			k, _ := identity.GenerateSigningKey()
			blocks, h, err := log.New(disc, k.Public()).Append(k, log.RandomKey(), 9, [][]byte{junk})
			if err != nil {
				t.Fatal(err)
			}
			writeFrame(w, &frame{typ: frameBlocks, head: h, start: 0, blocks: blocks})
		}
		w.Flush()
		st.CloseWrite()
		waitFor(t, "the fresh logs sent", func() bool { return len(a.room.Heads()) > logs0 })
		time.Sleep(200 * time.Millisecond)
		st.Reset()
	}
	held := len(a.room.Heads()) - logs0
	if held > room.MaxStrangers {
		t.Errorf("alice holds %d of %d logs of fresh keys", held, fresh)
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
			case len(v.Messages) != 3:
				t.Errorf("replica %d: %d messages, want the three honest ones", i, len(v.Messages))
			}
			if msg, _ := v.Message(aliceMsg); msg == nil || msg.Deleted {
				t.Errorf("replica %d: mallory deleted alice's message", i)
			}
			if msg, _ := v.Message(bobMsg); msg == nil || msg.Edited || msg.Text != "bob's" {
				t.Errorf("replica %d: mallory edited bob's message", i)
			}
			for _, f := range fakes {
				if _, ok := v.Devices[f.dev]; ok {
					t.Errorf("replica %d: a device with a bad proof counts", i)
				}
			}
		})
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
				a.room.View(func(v *room.View) { _, ok = v.Message(ref) })
				if ok {
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
		st, err := m.node.Host.NewStream(ctx, a.node.Host.ID(), hnet.ProtocolSync)
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
	// A fork: a twin of her device writes another history from the same
	// point, and she shows its head once alice holds the first.
	twin, err := room.Open(room.Config{Key: key, Founder: alice.id.Public(), Self: mallory.self})
	if err != nil {
		t.Fatal(err)
	}
	mh, mblocks, _ := m.room.Blocks(me, 0, 1<<30)
	if len(mblocks) < int(mh.Length) {
		t.Fatalf("mallory's log: %d of %d blocks in one read", len(mblocks), mh.Length)
	}
	if err := twin.LoadLog(me, []log.Head{mh}, mblocks); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*room.Room{a.room, b.room} {
		for _, hh := range w.Heads() {
			if hh.Writer == me {
				continue
			}
			for {
				bh, bl, ok := w.Blocks(hh.Writer, twin.Len(hh.Writer), 1<<20)
				if !ok || twin.Receive(bh, bl) != nil {
					break
				}
			}
		}
	}
	m.room.Write(room.Op{Type: room.OpMessage, Text: "left"})
	twin.Write(room.Op{Type: room.OpMessage, Text: "right"})
	waitFor(t, "mallory's last entry at alice", func() bool { return a.room.Len(me) == m.room.Len(me) })
	var th log.Head
	for _, hh := range twin.Heads() {
		if hh.Writer == me {
			th = hh
		}
	}
	raw(2*time.Second, &frame{typ: frameHeads, heads: []log.Head{th}})
	waitFor(t, "the fork caught and written", func() bool {
		forked := false
		a.room.View(func(v *room.View) { forked = v.Devices[me] != nil && v.Devices[me].Forked })
		return forked
	})
	// More forgeries reach the node's ban (hnet.BanScore).
	for a.svc.Score(m.node.Host.ID()) < hnet.BanScore {
		n := a.svc.Score(m.node.Host.ID())
		raw(20*time.Second, &frame{typ: frameHeads, heads: []log.Head{forged}})
		waitFor(t, "another forgery scored", func() bool { return a.svc.Score(m.node.Host.ID()) > n })
	}
	waitFor(t, "mallory disconnected", func() bool { return len(a.node.Host.Network().ConnsToPeer(m.node.Host.ID())) == 0 })
	if err := m.node.Host.Connect(ctx, peer.AddrInfo{ID: a.node.Host.ID(), Addrs: a.node.Host.Addrs()}); err == nil {
		if st, err := m.node.Host.NewStream(ctx, a.node.Host.ID(), hnet.ProtocolSync); err == nil {
			st.SetReadDeadline(time.Now().Add(3 * time.Second))
			if _, err := st.Read(make([]byte, 1)); err == nil {
				t.Fatal("alice still syncs with mallory after the ban")
			}
			st.Reset()
		}
	}
	// Her device's entries after the proof are held back everywhere.
	m.room.Write(room.Op{Type: room.OpMessage, Text: "after the fork"})
	connect(t, b, a)
	ref, _ := a.room.Write(room.Op{Type: room.OpMessage, Text: "alice, after it all"})
	waitFor(t, "alice's message at bob", func() bool {
		var ok bool
		b.room.View(func(v *room.View) { _, ok = v.Message(ref) })
		return ok
	})
	for i, p := range []*peerNode{a, b} {
		p.room.View(func(v *room.View) {
			for _, msg := range v.Messages {
				if msg.Text == "after the fork" || msg.Text == "right" {
					t.Errorf("replica %d applied %q of a forked device", i, msg.Text)
				}
			}
		})
	}
	waitFor(t, "alice and bob agree", func() bool { return digest(a.room) == digest(b.room) })
}

// digest is a room's view digest.
func digest(r *room.Room) (d [32]byte) {
	r.View(func(v *room.View) { d = v.Digest() })
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
