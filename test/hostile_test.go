package test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
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
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// hearthProtocols are every protocol a daemon serves to other devices.
var hearthProtocols = []protocol.ID{hnet.ProtocolSync, hnet.ProtocolPairing, hnet.ProtocolMirror, hnet.ProtocolBlob,
	hnet.ProtocolDoor, hnet.ProtocolDoorView, call.Protocol}

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

// send writes b on a new stream and waits until the daemon closes or
// resets it (at most 15 s): it reports whether the daemon did.
func (a *attacker) send(p protocol.ID, b []byte) bool {
	s := a.stream(p)
	if s == nil {
		return true
	}
	defer s.Reset()
	s.SetDeadline(time.Now().Add(15 * time.Second))
	s.Write(b)
	s.CloseWrite()
	_, err := io.Copy(io.Discard, s)
	return err == nil || !os.IsTimeout(err)
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
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
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

// TestHostilePeers: peers that send garbage, oversized frames, endless
// streams, slow streams (slowloris), floods of rings and of join
// requests, and forged requests, at a daemon that keeps serving an honest
// member all along. The daemon stays within bounded memory, the honest
// member's messages keep arriving, and every peer that broke a protocol
// is disconnected and refused (banned) after a few offences.
func TestHostilePeers(t *testing.T) {
	alice := newDaemon(t, "alice", "--log-level", "debug")
	bob := newDaemon(t, "bob", "--bootstrap", tcpAddr(t, alice))
	room := shareRoom(t, "home", alice, bob)
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
	pid := alice.cmd.Process.Pid
	rss0, cpu0 := procRSS(t, pid), procCPU(t, pid)

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
	peak := rss0
	var peakMu sync.Mutex
	watch := func() {
		peakMu.Lock()
		peak = max(peak, procRSS(t, pid))
		peakMu.Unlock()
	}

	junk := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	huge := binary.AppendUvarint(nil, 1<<62) // a length prefix of 4 EiB

	// 1. Garbage and oversized frames on every protocol, each attacker
	// until it is banned.
	for _, kind := range []string{"garbage", "oversized"} {
		a := newAttacker(t, alice)
		offences := 0
		for i := 0; offences < 3*len(hearthProtocols) && !a.banned(); i++ {
			p := hearthProtocols[i%len(hearthProtocols)]
			b := append([]byte{4}, junk(64)...) // a short message of junk
			if kind == "oversized" {
				b = append(append([]byte{}, huge...), junk(64)...)
			}
			if !a.send(p, b) {
				t.Fatalf("%s on %s: the daemon neither answered nor closed the stream in 15 s", kind, p)
			}
			offences++
			watch()
		}
		if !a.banned() {
			t.Fatalf("%s: the attacker is not banned after %d bad frames", kind, offences)
		}
		t.Logf("%s: banned after at most %d frames", kind, offences)
	}

	// 2. An endless stream: the daemon stops it (a frame over its bound
	// is refused before it is read, and the stream is reset).
	{
		a := newAttacker(t, alice)
		s := a.stream(hnet.ProtocolSync)
		if s == nil {
			t.Fatal("no sync stream")
		}
		var wrote int64
		start := time.Now()
		buf := append(binary.AppendUvarint(nil, 16<<20), junk(32<<10)...)
		s.SetWriteDeadline(time.Now().Add(20 * time.Second))
		for time.Since(start) < 20*time.Second {
			n, err := s.Write(buf)
			wrote += int64(n)
			if err != nil {
				break
			}
			buf = junk(32 << 10)
		}
		s.Reset()
		if time.Since(start) >= 20*time.Second {
			t.Fatalf("an endless stream ran for 20 s (%d MiB)", wrote>>20)
		}
		t.Logf("endless stream: stopped after %d KiB, %s", wrote>>10, time.Since(start).Round(time.Millisecond))
		watch()
	}

	// 3. Slowloris: many streams that send a byte now and then. The
	// resource manager bounds how many one peer holds, and each is dropped
	// when its deadline passes.
	{
		a := newAttacker(t, alice)
		var open []network.Stream
		for i := 0; i < 300; i++ {
			p := []protocol.ID{hnet.ProtocolPairing, hnet.ProtocolMirror, hnet.ProtocolDoor}[i%3]
			s := a.stream(p)
			if s == nil {
				continue
			}
			s.Write([]byte{0x80}) // the first byte of a length, never finished
			open = append(open, s)
		}
		watch()
		if len(open) >= 300 {
			t.Fatalf("one peer held %d slow streams at once", len(open))
		}
		t.Logf("slowloris: %d of 300 slow streams opened (the rest refused)", len(open))
		// Within the handlers' deadlines, every stream is dropped.
		deadline := time.Now().Add(40 * time.Second)
		for _, s := range open {
			s.SetReadDeadline(deadline)
			buf := make([]byte, 1)
			if _, err := s.Read(buf); err != nil && os.IsTimeout(err) {
				t.Fatal("a slow stream is still held after 40 s")
			}
			s.Reset()
		}
	}

	// 4. Floods: thousands of rings from a stranger's device, thousands of
	// join requests for invites that do not exist. Refused, rate-limited,
	// and cheap.
	{
		a := newAttacker(t, alice)
		rings := 0
		for i := 0; i < 2000; i++ {
			s := a.stream(call.Protocol)
			if s == nil {
				continue
			}
			sig := call.Signal{Kind: call.Ring, Call: call.NewID(), Media: call.Audio | call.Video}
			copy(sig.Room[:], junk(16))
			b, _ := sig.MarshalBinary()
			wire.WriteMsg(s, b)
			s.Reset()
			rings++
		}
		joins := 0
		for i := 0; i < 2000; i++ {
			s := a.stream(hnet.ProtocolPairing)
			if s == nil {
				continue
			}
			wire.WriteMsg(s, junk(16+200))
			r := bufio.NewReader(s)
			if ans, err := wire.ReadMsg(r, 4096); err == nil && len(ans) > 0 && ans[0] == 1 && strings.Contains(string(ans[1:]), "too many") {
				joins++ // refused for the rate
			}
			s.Reset()
		}
		watch()
		if cs := alice.calls(); len(cs) != 0 {
			t.Fatalf("a stranger's rings rang: %+v", cs)
		}
		if joins < 1500 {
			t.Fatalf("only %d of 2000 join requests were refused for their rate", joins)
		}
		t.Logf("floods: %d rings sent, none rang; %d of 2000 join requests refused for the rate", rings, joins)
	}

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
	watch()
	cpu := procCPU(t, pid) - cpu0
	t.Logf("alice: RSS %.0f MiB before, peak %.0f MiB; %s of processor time during the attacks; %d honest messages all delivered", rss0, peak, cpu, sent.Load())
	if peak > rss0+200 {
		t.Fatalf("alice's memory grew from %.0f to %.0f MiB under attack", rss0, peak)
	}
}
