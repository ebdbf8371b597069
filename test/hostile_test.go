package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// hearthProtocols are every protocol a daemon serves to other devices.
var hearthProtocols = []protocol.ID{proto.Sync, proto.Pairing, proto.Mirror, proto.Blob,
	proto.Door, proto.DoorView, call.Protocol}

// attacker is a libp2p host with a fresh key, connected to a daemon.
type attacker struct {
	t      *testing.T
	node   *hnet.Node
	target peer.AddrInfo
}

func newAttacker(t *testing.T, d *daemon) *attacker {
	t.Helper()
	key, err := identity.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	n, err := hnet.New(hnet.Config{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	full, err := ma.NewMultiaddr(tcpAddr(t, d))
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(full)
	if err != nil {
		t.Fatal(err)
	}
	a := &attacker{t: t, node: n, target: *ai}
	if err := a.connect(); err != nil {
		t.Fatal(err)
	}
	return a
}

func (a *attacker) connect() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.node.Host.Network().ClosePeer(a.target.ID)
	return a.node.Host.Connect(ctx, a.target)
}

// stream opens a stream, or returns nil when the daemon refuses.
func (a *attacker) stream(p protocol.ID) network.Stream {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := a.node.Host.NewStream(ctx, a.target.ID, p)
	if err != nil {
		return nil
	}
	return s
}

// banned reports whether the daemon refuses this attacker now: its dial
// fails, or the daemon closes the connection as soon as it knows who
// dialed (its gater runs after the handshake).
func (a *attacker) banned() bool {
	if a.connect() != nil {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := a.node.Host.NewStream(ctx, a.target.ID, "/ipfs/ping/1.0.0")
	if err != nil {
		return true
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(3 * time.Second))
	ping := make([]byte, 32)
	if _, err := s.Write(ping); err != nil {
		return true
	}
	_, err = io.ReadFull(s, ping)
	return err != nil
}

// procRSS is a process's resident memory in MiB.
func procRSS(t *testing.T, pid int) float64 {
	t.Helper()
	m, err := rssMiB(pid)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// procCPU is a process's processor time so far.
func procCPU(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	u, _ := strconv.ParseUint(f[11], 10, 64)
	k, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond // USER_HZ = 100
}

// rssMiB is a process's resident memory in MiB (VmRSS).
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// rssWatch samples a process's resident memory every rssEvery from
// watchRSS until stop: the peak of a whole attack, not of a few moments
// picked by the test.
type rssWatch struct {
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	peak    float64
	lap     float64 // the peak since the last call of lapPeak
	samples int
	err     error
}

const rssEvery = 150 * time.Millisecond

func watchRSS(pid int) *rssWatch {
	w := &rssWatch{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(rssEvery)
		defer tick.Stop()
		for {
			m, err := rssMiB(pid)
			w.mu.Lock()
			if err != nil && w.err == nil {
				w.err = err
			}
			w.peak = max(w.peak, m)
			w.lap = max(w.lap, m)
			w.samples++
			w.mu.Unlock()
			select {
			case <-w.quit:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// lapPeak is the peak since the last call.
func (w *rssWatch) lapPeak() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.lap
	w.lap = 0
	return p
}

// stop ends the sampling (after one last sample) and returns the peak.
func (w *rssWatch) stop() (peak float64, samples int, err error) {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak, w.samples, w.err
}

// rssSlack bounds how much alice's resident memory may grow over what it
// was before the attacks, at any sample, in MiB. Measured on this test's
// attacks (2 cores shared with four other test runs): a daemon built with
// the race detector grows from about 86 MiB by 60-73 MiB at its peak (the
// slowloris' 224 held streams cost half of it, the race detector's shadow
// memory and per-goroutine state most of that), one built without it
// from 41 MiB by 6-8 MiB. The bounds leave 40% more (race) and three
// times as much (no race) for load and noise, yet a handler that kept a
// 4 MiB answer buffer per held stream, or took an endless stream's 16 MiB
// frames, crosses them.
func rssSlack() float64 {
	if len(raceFlags) > 0 {
		return 104
	}
	return 24
}

// The attacks' frames. Length-prefixed protocols read a uvarint length
// first; blob requests are 41 bytes without one.
var (
	// garbageFrame is a 4-byte message (within every bound) that no
	// protocol decodes: a version, type or operation of 4 or 0xff, too
	// short for a pairing request; blob reads an unknown operation 4.
	garbageFrame = append([]byte{4}, bytes.Repeat([]byte{0xff}, 64)...)
	// oversizedFrame's length prefix (4 EiB) is over every bound; blob
	// reads an unknown operation 0x80.
	oversizedFrame = append(binary.AppendUvarint(nil, 1<<62), bytes.Repeat([]byte{0xff}, 64)...)
)

// refuses sends b on a new stream of p, and fails the test unless the
// daemon ends the stream (reset, or an answer and close) within 15 s. A
// stream it will not open fails too: the attack must reach p.
func (a *attacker) refuses(p protocol.ID, b []byte) {
	a.t.Helper()
	s := a.stream(p)
	if s == nil {
		a.t.Fatalf("%s: no stream: the attack does not reach it", p)
	}
	if !a.sendOn(s, b) {
		a.t.Fatalf("%s: the daemon neither answered nor ended a bad stream in 15 s", p)
	}
}

// sendOn writes b on s and reports whether the daemon ends the stream
// within 15 s.
func (a *attacker) sendOn(s network.Stream, b []byte) bool {
	defer s.Reset()
	s.SetDeadline(time.Now().Add(15 * time.Second))
	s.Write(b)
	s.CloseWrite()
	_, err := io.Copy(io.Discard, s)
	return err == nil || !os.IsTimeout(err)
}

// dropped waits (at most 10 s) until the daemon closes this attacker's
// connection of its own accord, and reports whether it did.
func (a *attacker) dropped() bool {
	deadline := time.Now().Add(10 * time.Second)
	for len(a.node.Host.Network().ConnsToPeer(a.target.ID)) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// forgedUnlock is an unlock request for door in room, in the door
// protocol's format (device/unlock.go: version 1, room, door, counter,
// time, nonce, signature), signed with a key that is not the sending
// device's: what an attacker sends to pass for another device.
func forgedUnlock(t *testing.T, rm [16]byte, door identity.PublicKey) []byte {
	t.Helper()
	other, err := identity.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	var e wire.Encoder
	e.U8(1)
	e.Fixed(rm[:])
	e.Fixed(door[:])
	now := uint64(time.Now().UnixMilli())
	e.U64(now)
	e.U64(now)
	var nonce [16]byte
	rand.Read(nonce[:])
	e.Fixed(nonce[:])
	sig := other.Sign(append([]byte("hearth door unlock v1\x00"), e.B...))
	e.Fixed(sig[:])
	return e.B
}

// TestHostilePeers: strangers attack a doorphone that is also a mirror
// (role "both": it serves all seven protocols, hearthProtocols) and
// serves an honest member all along.
//
//  1. Garbage and oversized frames on every protocol pin the ban, the one
//     docs/security.md states (proto.BanScore): proto.BanScore-1 of them on
//     one protocol alone, or over the others in turn, leave the attacker
//     connected and welcome; one more, on each protocol in turn,
//     disconnects it and it is refused on reconnecting.
//  2. Forged requests: an unlock signed by another key than the sender's
//     is refused, the door stays shut, and it counts towards the ban; a
//     stranger's ring naming a room of alice's is declined and never
//     rings. (Forged heads and blocks of a room's sync, and a mirror's
//     lies, need a room key to send: p2p/replication TestHostileMember and
//     TestOutsiderLogs, p2p/mirror malicious_test.go send them.)
//  3. An endless stream on every protocol is stopped.
//  4. Slowloris on every protocol: 40 streams each that send the first
//     byte of a frame and never another, nor read; the daemon refuses
//     those over its limits and drops the rest at its deadlines, and a
//     timeout is no offence.
//  5. Floods of rings and of join requests: refused, rate-limited, cheap.
//
// Alice's resident memory is sampled every rssEvery throughout and stays
// within rssSlack of what it was before; every message of the honest
// member arrives.
func TestHostilePeers(t *testing.T) {
	began := time.Now()
	alice := newDaemon(t, "alice", "--role", "both", "--hal", "sim", "--log-level", "debug")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "kitchen", alice, bob)
	defer func() {
		if t.Failed() {
			alice.stop()
			for _, l := range strings.Split(alice.logs.String(), "\n") {
				if strings.Contains(l, "offence") || strings.Contains(l, "banned") || strings.Contains(l, "refused") || strings.Contains(l, "bad") {
					t.Log(l)
				}
			}
		}
	}()
	var ds struct {
		Room        string
		RelayPulses int
		Unlocks     int
	}
	alice.json(&ds, "door", "status")
	var self struct{ Device string }
	alice.json(&self, "id", "show")
	doorKey, err := identity.ParsePublicKey(self.Device)
	if err != nil {
		t.Fatal(err)
	}
	var household, kitchen [16]byte
	for _, r := range []struct {
		hex string
		id  *[16]byte
	}{{ds.Room, &household}, {room, &kitchen}} {
		if b, err := hex.DecodeString(r.hex); err != nil || len(b) != 16 {
			t.Fatalf("room id %q: %v", r.hex, err)
		} else {
			copy(r.id[:], b)
		}
	}

	pid := alice.cmd.Process.Pid
	rss0, cpu0 := procRSS(t, pid), procCPU(t, pid)
	mem := watchRSS(pid)
	t.Cleanup(func() { mem.stop() })

	// The honest member writes all along; alice must see it all.
	stop := make(chan struct{})
	var honest sync.WaitGroup
	var sent atomic.Int64
	stopHonest := sync.OnceFunc(func() { close(stop); honest.Wait() })
	t.Cleanup(stopHonest)
	honest.Add(1)
	go func() {
		defer honest.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if _, _, code := hearth(t, "", "room", "send", room, fmt.Sprintf("honest %d", i), "--home", bob.home); code == 0 {
				sent.Add(1)
			}
		}
	}()
	phase := time.Now()
	lap := func(what string) {
		t.Logf("%s: %s, RSS peak %.0f MiB", what, time.Since(phase).Round(100*time.Millisecond), mem.lapPeak())
		phase = time.Now()
	}

	// 1. The ban, pinned on every protocol and both kinds of bad frame:
	// proto.BanScore-1 on one protocol alone leave the attacker connected
	// (no protocol bans on its own, earlier); proto.BanScore over a mix of
	// them, the last on each protocol in turn, disconnect it and refuse
	// it on reconnecting (every protocol's bad frame counts). The door's
	// protocols read 3 requests of a stranger, then reset the rest unread
	// for 10 s: alone, they see 3 of the frames.
	docs, err := os.ReadFile("../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("at %d offences within 10 minutes", proto.BanScore); !strings.Contains(strings.Join(strings.Fields(string(docs)), " "), want) {
		t.Fatalf("docs/security.md does not state the ban as the code has it: %q", want)
	}
	for _, k := range []struct {
		kind  string
		frame []byte
	}{{"garbage", garbageFrame}, {"oversized", oversizedFrame}} {
		for i, p := range hearthProtocols {
			a := newAttacker(t, alice)
			conn := a.node.Host.Network().ConnsToPeer(a.target.ID)[0]
			for range proto.BanScore - 1 {
				a.refuses(p, k.frame)
			}
			if conn.IsClosed() || a.banned() {
				t.Fatalf("%d %s frames on %s alone: disconnected or refused, with fewer than proto.BanScore (%d)", proto.BanScore-1, k.kind, p, proto.BanScore)
			}
			a.node.Host.Network().ClosePeer(a.target.ID) // not to count on alice's connection manager

			a = newAttacker(t, alice)
			conn = a.node.Host.Network().ConnsToPeer(a.target.ID)[0]
			for j := 1; j < proto.BanScore; j++ {
				a.refuses(hearthProtocols[(i+j)%len(hearthProtocols)], k.frame)
			}
			if conn.IsClosed() || a.banned() {
				t.Fatalf("%d %s frames on the protocols after %s: disconnected or refused, with fewer than proto.BanScore (%d)", proto.BanScore-1, k.kind, p, proto.BanScore)
			}
			a.refuses(p, k.frame)
			var seq []string
			for j := 1; j <= proto.BanScore; j++ { // the last is p's
				seq = append(seq, path.Base(path.Dir(string(hearthProtocols[(i+j%proto.BanScore)%len(hearthProtocols)]))))
			}
			if !a.dropped() {
				t.Fatalf("%d %s frames (on %s): still connected", proto.BanScore, k.kind, strings.Join(seq, ", "))
			}
			if !a.banned() {
				t.Fatalf("%d %s frames (on %s): not refused on reconnecting", proto.BanScore, k.kind, strings.Join(seq, ", "))
			}
		}
	}
	lap("bad frames: every protocol and kind banned at exactly proto.BanScore")

	// 2. Forged requests.
	{
		a := newAttacker(t, alice)
		for j := 1; j < proto.BanScore; j++ {
			a.refuses(proto.Sync, garbageFrame)
		}
		s := a.stream(proto.Door)
		if s == nil {
			t.Fatal("no door stream")
		}
		s.SetDeadline(time.Now().Add(15 * time.Second))
		wire.WriteMsg(s, forgedUnlock(t, household, doorKey))
		ans, err := wire.ReadMsg(bufio.NewReader(s), 512)
		s.Reset()
		if err == nil && (len(ans) == 0 || ans[0] != 0) {
			t.Fatalf("a forged unlock: the door answered %q", ans)
		}
		if !a.dropped() || !a.banned() {
			t.Fatal("a forged unlock after proto.BanScore-1 offences: not banned (a forged signature is not scored)")
		}
		var after struct {
			RelayPulses int
			Unlocks     int
		}
		alice.json(&after, "door", "status")
		if after.RelayPulses != ds.RelayPulses || after.Unlocks != ds.Unlocks {
			t.Fatalf("a forged unlock opened the door: %+v, before %+v", after, ds)
		}
		b := newAttacker(t, alice)
		for range 3 {
			s := b.stream(call.Protocol)
			if s == nil {
				t.Fatal("no call stream")
			}
			sig := call.Signal{Kind: call.Ring, Call: call.NewID(), Room: kitchen, Media: call.Audio | call.Video}
			m, _ := sig.MarshalBinary()
			s.SetDeadline(time.Now().Add(15 * time.Second))
			wire.WriteMsg(s, m)
			ans, err := wire.ReadMsg(bufio.NewReader(s), call.MaxSignal)
			s.Reset()
			var got call.Signal
			// Declined for who rings (a doorphone declines every ring, for
			// want of anyone to answer, but that is not what refuses it).
			if err != nil || got.UnmarshalBinary(ans) != nil || got.Kind != call.Decline || !strings.Contains(got.Reason, "not a member") {
				t.Fatalf("a stranger's ring naming alice's room: answered %v %q (%v), not declined as not a member's", got.Kind, got.Reason, err)
			}
		}
		if cs := alice.calls(); len(cs) != 0 {
			t.Fatalf("a stranger's ring naming alice's room rang: %+v", cs)
		}
	}
	lap("forged requests: refused, an unlock scored")

	// 3. An endless stream on every protocol: the daemon stops each (a
	// frame over its bound is refused before it is read, and the stream
	// reset, or answered and no longer read: flow control then holds the
	// writer, a write that waits 3 s counts as stopped). It must take no
	// more than a few windows of it, nor for 20 s. One attacker per
	// protocol: each stream is one offence.
	for _, p := range hearthProtocols {
		a := newAttacker(t, alice)
		s := a.stream(p)
		if s == nil {
			t.Fatalf("%s: no stream", p)
		}
		var wrote int64
		start := time.Now()
		junk := make([]byte, 32<<10)
		buf := append(binary.AppendUvarint(nil, 16<<20), junk...)
		var err error
		for err == nil && time.Since(start) < 20*time.Second {
			s.SetWriteDeadline(time.Now().Add(3 * time.Second))
			var n int
			n, err = s.Write(buf)
			wrote += int64(n)
			buf = junk
		}
		s.Reset()
		if err == nil || wrote > 4<<20 {
			t.Fatalf("%s: an endless stream ran for %s, %d KiB taken", p, time.Since(start).Round(time.Millisecond), wrote>>10)
		}
		how := "reset"
		if os.IsTimeout(err) {
			how = "no longer read"
		}
		t.Logf("endless stream on %s: %s after %d KiB", p, how, wrote>>10)
	}
	lap("endless streams")

	// 4. Slowloris on every protocol. Each stream's handler has a deadline
	// (10 s for sync, blob, door, door view and calls, 15 s for the
	// mirror, 30 s for pairing); 15 s more for a loaded machine.
	{
		// An attacker per protocol: one peer may hold 128 inbound streams
		// (p2p/net limits), 32 of a protocol.
		const perProto = 40
		type slow struct {
			p protocol.ID
			s network.Stream
		}
		var open []slow
		refused := map[protocol.ID]int{}
		start := time.Now()
		var as []*attacker
		for _, p := range hearthProtocols {
			a := newAttacker(t, alice)
			as = append(as, a)
			for range perProto {
				s := a.stream(p)
				if s == nil {
					refused[p]++
					continue
				}
				s.Write([]byte{0x80}) // the first byte of a length (or a blob request), never finished
				open = append(open, slow{p, s})
			}
		}
		opened := map[protocol.ID]int{}
		for _, o := range open {
			opened[o.p]++
		}
		for _, p := range hearthProtocols {
			if opened[p] == 0 {
				t.Fatalf("slowloris: no stream of %s opened: the attack does not reach it", p)
			}
		}
		t.Logf("slowloris: %d of %d slow streams opened (%v), the rest refused (%v)", len(open), perProto*len(hearthProtocols), opened, refused)
		deadline := start.Add(45 * time.Second)
		for _, o := range open {
			o.s.SetReadDeadline(deadline)
			if _, err := io.Copy(io.Discard, o.s); err != nil && os.IsTimeout(err) {
				t.Fatalf("slowloris: a slow stream of %s is still held after %s", o.p, time.Since(start).Round(time.Second))
			}
			o.s.Reset()
		}
		for i, a := range as {
			if a.banned() {
				t.Fatalf("slowloris on %s: slow streams were scored as offences (a timeout is not one)", hearthProtocols[i])
			}
		}
	}
	lap("slowloris")

	// 5. Floods: thousands of rings from a stranger's device, thousands of
	// join requests for invites that do not exist. Refused, rate-limited,
	// and cheap.
	{
		a := newAttacker(t, alice)
		// Each ring's answer is read: a decline (not a member of the
		// room) or a reset (over the rate), so every ring counted reached
		// alice.
		rings, declined, reset := 0, 0, 0
		for i := 0; i < 2000; i++ {
			s := a.stream(call.Protocol)
			if s == nil {
				continue
			}
			sig := call.Signal{Kind: call.Ring, Call: call.NewID(), Media: call.Audio | call.Video}
			rand.Read(sig.Room[:])
			b, _ := sig.MarshalBinary()
			if wire.WriteMsg(s, b) != nil {
				s.Reset()
				continue
			}
			// Shorter than the daemon's wait for a first signal (10 s):
			// a ring that did not arrive is never taken for a reset.
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			ans, err := wire.ReadMsg(bufio.NewReader(s), call.MaxSignal)
			var got call.Signal
			var timeout interface{ Timeout() bool }
			switch {
			case err == nil && got.UnmarshalBinary(ans) == nil && got.Kind == call.Decline:
				declined++
			case err != nil && !(errors.As(err, &timeout) && timeout.Timeout()):
				reset++
			default:
				t.Fatalf("a stranger's ring: answered %v %+v, want a decline or a reset", err, got)
			}
			s.Reset()
			rings++
		}
		if declined == 0 || declined+reset != rings {
			t.Fatalf("of %d rings, %d declined and %d reset", rings, declined, reset)
		}
		joins := 0
		for i := 0; i < 2000; i++ {
			s := a.stream(proto.Pairing)
			if s == nil {
				continue
			}
			req := make([]byte, 16+200)
			rand.Read(req)
			wire.WriteMsg(s, req)
			r := bufio.NewReader(s)
			if ans, err := wire.ReadMsg(r, 4096); err == nil && len(ans) > 0 && ans[0] == 1 && strings.Contains(string(ans[1:]), "too many") {
				joins++ // refused for the rate
			}
			s.Reset()
		}
		if cs := alice.calls(); len(cs) != 0 {
			t.Fatalf("a stranger's rings rang: %+v", cs)
		}
		if joins < 1500 {
			t.Fatalf("only %d of 2000 join requests were refused for their rate", joins)
		}
		t.Logf("floods: %d rings sent, none rang (%d declined, %d reset for the rate); %d of 2000 join requests refused for the rate", rings, declined, reset, joins)
	}
	lap("floods")

	stopHonest()
	// Alice kept serving bob: every message he sent arrives.
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for _, m := range alice.history(room) {
			if strings.HasPrefix(m.Text, "honest ") {
				n++
			}
		}
		if int64(n) == sent.Load() && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice has %d of bob's %d messages after the attacks", n, sent.Load())
		}
		time.Sleep(300 * time.Millisecond)
	}
	peak, samples, err := mem.stop()
	if err != nil {
		t.Fatalf("sampling alice's memory: %v", err)
	}
	cpu := procCPU(t, pid) - cpu0
	t.Logf("alice: RSS %.0f MiB before, peak %.0f MiB (+%.0f, %d samples every %s); %s of processor time during the attacks; %d honest messages all delivered",
		rss0, peak, peak-rss0, samples, rssEvery, cpu, sent.Load())
	if peak > rss0+rssSlack() {
		t.Fatalf("alice's memory grew from %.0f to %.0f MiB under attack, over the %.0f MiB allowed", rss0, peak, rssSlack())
	}
	// Nothing the attackers sent flooded alice's log: no message at Info
	// or above came more often than the log's limit lets it.
	allowed := logattr.LimitBurst + int(time.Since(began)/logattr.LimitEvery) + 1
	lines := map[string]int{}
	for _, l := range strings.Split(alice.logs.String(), "\n") {
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(l), &rec) == nil && rec.Level != "DEBUG" {
			lines[rec.Msg]++
		}
	}
	for msg, n := range lines {
		if n > allowed {
			t.Errorf("alice logged %q %d times in %v, over the %d the log's limit allows", msg, n, time.Since(began).Round(time.Second), allowed)
		}
	}
}
