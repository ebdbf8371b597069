package av

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/webrtc/v4"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/internal/wire"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

var testRoom = [16]byte{1, 2, 3}

// otherRoom is a second room every test device is in.
var otherRoom = [16]byte{4, 5, 6}

// device is a call manager on a real libp2p host on loopback.
type device struct {
	t    *testing.T
	name string
	h    host.Host
	m    *call.Manager

	mu      sync.Mutex
	changes []call.Status
	allow   func(peer.ID) bool
	reach   func(context.Context, peer.ID) error // if set, how the device reaches a peer
	// identity names a peer's identity, when two devices share one; by
	// default each device is an identity of its own.
	identity map[peer.ID]string
}

func newDevice(t *testing.T, name string, ring time.Duration, record string) *device {
	t.Helper()
	return newDeviceSrc(t, name, ring, record, Synthetic{Width: 320, Height: 240, FPS: 30, Bitrate: 500_000})
}

func newDeviceSrc(t *testing.T, name string, ring time.Duration, record string, src Source) *device {
	t.Helper()
	return newDeviceCfg(t, name, ring, PeerConfig{Loopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() }, RecordDir: record, Source: src})
}

func newDeviceCfg(t *testing.T, name string, ring time.Duration, pc PeerConfig) *device {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	d := &device{t: t, name: name, h: h}
	d.m = call.New(call.Config{
		Host: h,
		Key:  h.Peerstore().PrivKey(h.ID()),
		Reach: func(ctx context.Context, p peer.ID) error {
			d.mu.Lock()
			reach := d.reach
			d.mu.Unlock()
			if reach == nil {
				return nil
			}
			return reach(ctx, p)
		},
		Authorize: func(p peer.ID, room [16]byte) (call.Party, error) {
			d.mu.Lock()
			allow := d.allow
			d.mu.Unlock()
			if (room != testRoom && room != otherRoom) || (allow != nil && !allow(p)) {
				return call.Party{}, errors.New("not a member")
			}
			d.mu.Lock()
			id := d.identity[p]
			d.mu.Unlock()
			if id == "" {
				id = "id-" + p.ShortString()
			}
			return call.Party{Identity: id, Name: "dev-" + p.ShortString(), Device: p.String()}, nil
		},
		Endpoint: PeerEndpoints(pc),
		OnChange: func(s call.Status) {
			d.mu.Lock()
			d.changes = append(d.changes, s)
			d.mu.Unlock()
		},
		RingTimeout: ring,
	})
	t.Cleanup(func() {
		d.m.Close()
		h.Close()
	})
	return d
}

func (d *device) connect(others ...*device) []peer.ID {
	var ids []peer.ID
	for _, o := range others {
		if err := d.h.Connect(context.Background(), peer.AddrInfo{ID: o.h.ID(), Addrs: o.h.Addrs()}); err != nil {
			d.t.Fatal(err)
		}
		ids = append(ids, o.h.ID())
	}
	return ids
}

// wait waits until cond holds of the device's call of id (any call if
// id is zero).
func (d *device) wait(what string, cond func(call.Status) bool) call.Status {
	d.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range d.m.Calls() {
			if cond(s) {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("%s: no call %s; calls: %+v", d.name, what, d.m.Calls())
	return call.Status{}
}

func state(st string) func(call.Status) bool {
	return func(s call.Status) bool { return s.State == st }
}

func (d *device) incoming() *call.Call {
	d.t.Helper()
	s := d.wait("ringing", state(call.StateRinging))
	id, _ := call.ParseID(s.ID)
	c, ok := d.m.Get(id)
	if !ok {
		d.t.Fatal("the ringing call is gone")
	}
	return c
}

// TestCallMediaBothWays: a call rings, is answered, and media flows both
// ways (video and audio with the codecs, stamps over the data channel
// without); the receiver reads the frame numbers back, finds no long gap
// and measures latency. Hanging up from either side ends both, records
// close, and nothing is left running (TestMain checks goroutines).
func TestCallMediaBothWays(t *testing.T) {
	for _, hangupBy := range []string{"caller", "callee"} {
		t.Run("hangup by "+hangupBy, func(t *testing.T) {
			fdsBefore := openFiles(t)
			rec := t.TempDir()
			alice, bob := newDevice(t, "alice", 10*time.Second, ""), newDevice(t, "bob", 10*time.Second, rec)
			ids := alice.connect(bob)
			c, err := alice.m.Place(context.Background(), testRoom, ids, call.Audio|call.Video)
			if err != nil {
				t.Fatal(err)
			}
			in := bob.incoming()
			if in.Status().Peer == nil || !strings.HasPrefix(in.Status().Peer.Identity, "id-") {
				t.Fatalf("the callee does not know the caller: %+v", in.Status())
			}
			if err := in.Answer(call.Audio | call.Video); err != nil {
				t.Fatal(err)
			}
			alice.wait("active", state(call.StateActive))
			bob.wait("active", state(call.StateActive))
			// Two seconds of media.
			enough := func(s call.Status) bool {
				return s.Stats != nil && s.Stats.VideoFrames >= 45 && (len(Codecs()) == 0 || s.Stats.AudioPackets >= 50)
			}
			as := alice.wait("with media from bob", enough)
			bs := bob.wait("with media from alice", enough)
			for _, s := range []call.Status{as, bs} {
				checkStamped(t, s.Stats)
				if s.Stats.LatencyP50 <= 0 || s.Stats.LatencyP50 > 1000 {
					t.Errorf("latency p50 %.1f ms", s.Stats.LatencyP50)
				}
				if !strings.Contains(s.Stats.Path, "host") {
					t.Errorf("path %q", s.Stats.Path)
				}
				t.Logf("%s: %d frames (%d unread, %d bad stamps), %d gaps, %d audio packets, latency p50 %.1f ms p99 %.1f ms, first frame %.0f ms after the answer, path %s",
					s.Direction, s.Stats.VideoFrames, s.Stats.UnreadFrames, s.Stats.BadStamps, s.Stats.FrameGaps, s.Stats.AudioPackets, s.Stats.LatencyP50, s.Stats.LatencyP99, s.Stats.FirstFrameMs, s.Stats.Path)
			}
			if hangupBy == "caller" {
				c.Hangup("")
			} else {
				in.Hangup("")
			}
			ea := alice.wait("ended", state(call.StateEnded))
			eb := bob.wait("ended", state(call.StateEnded))
			wantA, wantB := call.EndHungUp, call.EndRemoteHung
			if hangupBy == "callee" {
				wantA, wantB = call.EndRemoteHung, call.EndHungUp
			}
			if ea.Reason != wantA || eb.Reason != wantB {
				t.Fatalf("reasons %q and %q", ea.Reason, eb.Reason)
			}
			if ea.Duration() <= 0 || ea.Stats == nil || ea.Stats.VideoFrames == 0 {
				t.Fatalf("ended call %+v", ea)
			}
			// The whole call, to its end.
			checkStamped(t, ea.Stats)
			checkStamped(t, eb.Stats)
			// The recording: files with what bob received.
			if len(Codecs()) > 0 {
				dirs, _ := os.ReadDir(rec)
				if len(dirs) != 1 {
					t.Fatalf("recordings: %v", dirs)
				}
				for _, name := range []string{"video.ivf", "audio.ogg"} {
					fi, err := os.Stat(filepath.Join(rec, dirs[0].Name(), name))
					if err != nil || fi.Size() < 2_000 {
						t.Fatalf("recording %s: %v", name, err)
					}
				}
			}
			alice.m.Close()
			bob.m.Close()
			if after := openFiles(t); after > fdsBefore+4 {
				t.Errorf("open files: %d before, %d after", fdsBefore, after)
			}
		})
	}
}

// maxLoopbackGaps bounds the frames a call on loopback may lose between
// stamps read back: none. On loopback a frame is lost only to a receiver
// stalled for seconds (its socket buffer full), and such a loss would
// most likely leave the frames after it unread too (decoded from a
// reference that never came), which fails the checks anyway.
const maxLoopbackGaps = 0

// checkStamped checks the figures of a call whose other side sends the
// stamped pattern: every frame that came whole had its stamp read back
// and checked, and none is missing between them.
func checkStamped(t *testing.T, s *call.Stats) {
	t.Helper()
	if s.UnreadFrames != 0 || s.BadStamps != 0 {
		t.Errorf("of %d frames received, %d were not read and %d had a wrong stamp: %+v", s.Frames(), s.UnreadFrames, s.BadStamps, *s)
	}
	if s.FrameGaps > maxLoopbackGaps {
		t.Errorf("%d frames missing between %d read: %+v", s.FrameGaps, s.VideoFrames, *s)
	}
}

func openFiles(t *testing.T) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	// Hosts close in the cleanup: count after a moment for sockets.
	runtime.GC()
	return len(fds)
}

// TestRingFanOut: three devices of two members are rung at once; the
// first to answer gets the call and the others stop ringing, each saying
// what happened (bob's other device: answered on another device; carol's:
// answered by someone else). Then nobody answers: a missed call
// everywhere. Then the caller gives up: missed. Then everyone declines.
func TestRingFanOut(t *testing.T) {
	caller := newDevice(t, "door", 2*time.Second, "")
	b1, b2, c1 := newDevice(t, "bob-phone", 2*time.Second, ""), newDevice(t, "bob-laptop", 2*time.Second, ""), newDevice(t, "carol", 2*time.Second, "")
	caller.identity = map[peer.ID]string{b1.h.ID(): "bob", b2.h.ID(): "bob"}
	ids := caller.connect(b1, b2, c1)

	placed, err := caller.m.Place(context.Background(), testRoom, ids, call.Audio|call.Video)
	if err != nil {
		t.Fatal(err)
	}
	r1, r2, r3 := b1.incoming(), b2.incoming(), c1.incoming()
	if err := r2.Answer(call.Audio); err != nil {
		t.Fatal(err)
	}
	caller.wait("active", state(call.StateActive))
	if s := b1.wait("ended elsewhere", state(call.StateEnded)); s.Reason != call.EndElsewhere {
		t.Fatalf("bob's other device: %q", s.Reason)
	}
	if s := c1.wait("ended", state(call.StateEnded)); s.Reason != call.EndOther {
		t.Fatalf("carol: %q", s.Reason)
	}
	if err := r1.Answer(call.Audio); err == nil {
		t.Fatal("a call answered elsewhere could still be answered")
	}
	_ = r3
	if got := placed.Status().Peer; got == nil || got.Device != b2.h.ID().String() {
		t.Fatalf("answered by %+v", got)
	}
	// A second call while in one: busy.
	other := newDevice(t, "other", 2*time.Second, "")
	oid := other.connect(b2)
	if c, err := other.m.Place(context.Background(), testRoom, oid, call.Audio); err != nil {
		t.Fatal(err)
	} else if s := other.wait("busy", state(call.StateEnded)); s.Reason != call.EndBusy {
		t.Fatalf("a call to a device in a call: %q (%v)", s.Reason, c.Status())
	}
	placed.Hangup("")
	b2.wait("ended", func(s call.Status) bool { return s.ID == placed.ID.String() && s.State == call.StateEnded })

	// Nobody answers.
	missed, err := caller.m.Place(context.Background(), testRoom, ids, call.Audio|call.Video)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-missed.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("an unanswered call never ended")
	}
	if s := missed.Status(); s.Reason != call.EndMissed {
		t.Fatalf("unanswered: %q", s.Reason)
	}
	for _, d := range []*device{b1, b2, c1} {
		if s := d.wait("no longer ringing", func(s call.Status) bool { return s.ID == missed.ID.String() && s.State == call.StateEnded }); s.Reason != call.EndMissed {
			t.Fatalf("%s, not answered: %q", d.name, s.Reason)
		}
	}
	// The caller gives up before the timeout.
	gaveUp, err := caller.m.Place(context.Background(), testRoom, ids, call.Audio)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{b1, b2, c1} {
		d.wait("ringing", func(s call.Status) bool { return s.ID == gaveUp.ID.String() && s.State == call.StateRinging })
	}
	gaveUp.Hangup("")
	for _, d := range []*device{b1, b2, c1} {
		if s := d.wait("the caller gave up", func(s call.Status) bool { return s.ID == gaveUp.ID.String() && s.State == call.StateEnded }); s.Reason != call.EndMissed {
			t.Fatalf("%s, the caller gave up: %q", d.name, s.Reason)
		}
	}

	// Everyone declines.
	declined, err := caller.m.Place(context.Background(), testRoom, ids, call.Audio)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{b1, b2, c1} {
		d.wait("ringing again", func(s call.Status) bool { return s.ID == declined.ID.String() && s.State == call.StateRinging })
		c, _ := d.m.Get(declined.ID)
		c.Hangup("not now")
	}
	<-declined.Ended()
	if s := declined.Status(); s.Reason != call.EndDeclined {
		t.Fatalf("declined: %q", s.Reason)
	}
}

// TestRingRefused: a ring from a non-member is declined and never rings;
// garbage on the stream, a stream that starts with anything but a ring,
// and a flood of rings are refused without harm.
func TestRingRefused(t *testing.T) {
	alice, mallory := newDevice(t, "alice", 2*time.Second, ""), newDevice(t, "mallory", 2*time.Second, "")
	alice.mu.Lock()
	alice.allow = func(p peer.ID) bool { return p != mallory.h.ID() }
	alice.mu.Unlock()
	ids := mallory.connect(alice)
	c, err := mallory.m.Place(context.Background(), testRoom, ids, call.Audio)
	if err != nil {
		t.Fatal(err)
	}
	<-c.Ended()
	if s := c.Status(); s.Reason != call.EndDeclined {
		t.Fatalf("a non-member's call: %q", s.Reason)
	}
	if n := len(alice.m.Calls()); n != 0 {
		t.Fatalf("a non-member's call rang: %+v", alice.m.Calls())
	}

	send := func(b []byte) error {
		st, err := mallory.h.NewStream(context.Background(), alice.h.ID(), call.Protocol)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := wire.WriteMsg(st, b); err != nil {
			return err
		}
		st.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = st.Read(make([]byte, 1))
		return err
	}
	for _, b := range [][]byte{
		[]byte("garbage"),
		mustMarshal(t, call.Signal{Kind: call.Offer, Call: call.NewID(), SDP: "v=0"}),
		mustMarshal(t, call.Signal{Kind: call.Hangup, Call: call.NewID()}),
	} {
		// Not answered, but closed by alice: she read it and ended the
		// stream (a read that only timed out proves nothing arrived).
		var timeout net.Error
		switch err := send(b); {
		case err == nil:
			t.Fatalf("%q was answered", b)
		case errors.As(err, &timeout) && timeout.Timeout():
			t.Fatalf("%q: neither answered nor closed: %v", b, err)
		}
	}
	// A flood: at most call.RingsPerMinute are read, the rest reset at once.
	refused := 0
	for range call.RingsPerMinute + 10 {
		st, err := mallory.h.NewStream(context.Background(), alice.h.ID(), call.Protocol)
		if err != nil {
			refused++
			continue
		}
		wire.WriteMsg(st, mustMarshal(t, call.Signal{Kind: call.Ring, Call: call.NewID(), Room: [16]byte{9}}))
		st.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 64)
		var timeout net.Error
		switch _, err := st.Read(b); {
		case errors.As(err, &timeout) && timeout.Timeout():
			t.Fatalf("a flooding ring neither answered nor reset: %v", err)
		case err != nil:
			refused++ // reset at once
		}
		st.Close()
	}
	if refused < 10 {
		t.Fatalf("only %d of %d flooding rings refused", refused, call.RingsPerMinute+10)
	}
	if n := len(alice.m.Calls()); n != 0 {
		t.Fatalf("garbage made calls: %+v", alice.m.Calls())
	}
}

func mustMarshal(t *testing.T, s call.Signal) []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckCandidate(t *testing.T) {
	for line, ok := range map[string]bool{
		"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host":                           true,
		"candidate:1 1 udp 2130706431 192.168.1.7 5000 typ host":                         true,
		"candidate:1 1 udp 1694498815 203.0.113.9 41000 typ srflx raddr 0.0.0.0 rport 0": true,
		"candidate:1 1 udp 2130706431 0.0.0.0 5000 typ host":                             false,
		"candidate:1 1 udp 2130706431 224.0.0.251 5353 typ host":                         false,
		"candidate:1 1 udp 2130706431 255.255.255.255 5000 typ host":                     false,
		"candidate:1 1 udp 2130706431 abcd.local 5000 typ host":                          false,
		"candidate:1 1 udp 2130706431 127.0.0.1 0 typ host":                              false,
		"nonsense": false,
	} {
		if err := CheckCandidate(line); (err == nil) != ok {
			t.Errorf("%s: %v", line, err)
		}
	}
}

// TestCallThroughTURN: a TURN node hands credentials to the devices it
// serves (over libp2p, on their device proof) and refuses others; two
// devices that may only use relays call each other through it, over UDP,
// and over TCP alone (a device whose network drops UDP).
func TestCallThroughTURN(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) { testCallThroughTURN(t, transport) })
	}
}

func testCallThroughTURN(t *testing.T, transport string) {
	node, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	srv, err := StartTURN(TURNConfig{Listen: "127.0.0.1:0", Public: net.IPv4(127, 0, 0, 1), Host: node,
		Authorize: func(p peer.ID, proof []byte) error {
			if string(proof) != "proof of "+p.String() {
				return errors.New("not a device of an identity served here")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	mk := func(name string) *device {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Connect(context.Background(), peer.AddrInfo{ID: node.ID(), Addrs: node.Addrs()}); err != nil {
			t.Fatal(err)
		}
		d := &device{t: t, name: name, h: h}
		cfg := PeerConfig{Loopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() },
			RelayOnly: true, Source: Synthetic{Width: 320, Height: 240}}
		if transport == "udp" {
			cfg.TURN = &call.TURNClients{Host: h, Nodes: func() []peer.ID { return []peer.ID{node.ID()} }, Proof: []byte("proof of " + h.ID().String())}
		} else {
			// The node's offer, its TURN over TCP alone: as if UDP
			// were dropped.
			o, err := call.FetchTURN(context.Background(), h, node.ID(), []byte("proof of "+h.ID().String()))
			if err != nil {
				t.Fatal(err)
			}
			ice := ICEServer(o)
			ice.URLs = slices.DeleteFunc(ice.URLs, func(u string) bool { return !strings.HasSuffix(u, "?transport=tcp") })
			if len(ice.URLs) != 1 {
				t.Fatalf("no TURN over TCP in the offer: %v", o.URLs)
			}
			cfg.ICEServers = []webrtc.ICEServer{ice}
		}
		d.m = call.New(call.Config{Host: h,
			Authorize:   func(p peer.ID, room [16]byte) (call.Party, error) { return call.Party{Identity: p.String()}, nil },
			Endpoint:    PeerEndpoints(cfg),
			RingTimeout: 5 * time.Second,
		})
		t.Cleanup(func() { d.m.Close(); h.Close() })
		return d
	}
	alice, bob := mk("alice"), mk("bob")
	// A device the node does not serve gets no credentials.
	if _, err := call.FetchTURN(context.Background(), alice.h, node.ID(), []byte("a forged proof")); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("credentials for a stranger: %v", err)
	}
	ids := alice.connect(bob)
	c, err := alice.m.Place(context.Background(), testRoom, ids, call.Audio|call.Video)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.incoming().Answer(call.Audio | call.Video); err != nil {
		t.Fatal(err)
	}
	s := alice.wait("with media through TURN", func(s call.Status) bool { return s.Stats != nil && s.Stats.VideoFrames >= 30 })
	if s.Stats.Path != "relay/relay" {
		t.Fatalf("path %q, want relay/relay", s.Stats.Path)
	}
	if n := srv.Allocations(); n < 1 {
		t.Fatalf("%d TURN allocations during the call", n)
	}
	t.Logf("through TURN: %d frames, p50 %.1f ms, path %s", s.Stats.VideoFrames, s.Stats.LatencyP50, s.Stats.Path)
	c.Hangup("")
	<-c.Ended()
}

// TestBadSignals: a member's device that sends a malformed session
// description, or candidates no peer has, gets the call failed or the
// candidates refused, with a reason; nothing panics and nothing is left.
func TestBadSignals(t *testing.T) {
	bob := newDevice(t, "bob", 5*time.Second, "")
	mallory, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer mallory.Close()
	if err := mallory.Connect(context.Background(), peer.AddrInfo{ID: bob.h.ID(), Addrs: bob.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"garbage", "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nm=video 9 FOO/BAR 96\r\n"} {
		st, err := mallory.NewStream(context.Background(), bob.h.ID(), call.Protocol)
		if err != nil {
			t.Fatal(err)
		}
		id := call.NewID()
		l := &rawLeg{t: t, st: st, r: bufio.NewReader(st), id: id}
		if err := l.send(call.Signal{Kind: call.Ring, Call: id, Room: testRoom, Media: call.Audio | call.Video}); err != nil {
			t.Fatal(err)
		}
		if err := bob.incoming().Answer(call.Audio | call.Video); err != nil {
			t.Fatal(err)
		}
		if s, err := l.recv(); err != nil || s.Kind != call.Accept {
			t.Fatalf("no accept: %+v %v", s, err)
		}
		// Candidates for no peer, before and after the offer.
		for _, c := range []string{"candidate:1 1 udp 2130706431 0.0.0.0 5000 typ host", "candidate:1 1 udp 2130706431 224.0.0.1 5000 typ host"} {
			l.send(call.Signal{Kind: call.Candidate, Call: id, Candidate: c})
		}
		l.send(call.Signal{Kind: call.Offer, Call: id, SDP: bad})
		s, err := l.recv()
		if err != nil || s.Kind != call.Hangup {
			t.Fatalf("a bad offer: %+v %v", s, err)
		}
		c, _ := bob.m.Get(id)
		<-c.Ended()
		if st := c.Status(); st.Reason != call.EndFailed || !strings.Contains(st.Error, "offer") {
			t.Fatalf("after a bad offer: %+v", st)
		}
		st.Close()
	}
}

// TestCallH264: one side sends H.264 (libx264), the other VP8; each
// receives the other's frames. The H.264 is recorded as it came, not
// decoded (counted unread); a real decoder (ffmpeg) decodes the recording
// and every picture's stamp reads back: frame numbers going up, none
// missing, as many as bob counted.
func TestCallH264(t *testing.T) {
	rec := t.TempDir()
	alice := newDeviceSrc(t, "alice", 10*time.Second, "", Synthetic{Width: 320, Height: 240, Codec: "h264", Bitrate: 500_000})
	bob := newDevice(t, "bob", 10*time.Second, rec)
	from := time.Now()
	c, err := alice.m.Place(context.Background(), testRoom, alice.connect(bob), call.Audio|call.Video)
	if err != nil {
		t.Fatal(err)
	}
	if err := bob.incoming().Answer(call.Audio | call.Video); err != nil {
		t.Fatal(err)
	}
	as := alice.wait("with VP8 from bob", func(s call.Status) bool { return s.Stats != nil && s.Stats.VideoFrames >= 45 })
	checkStamped(t, as.Stats)
	bs := bob.wait("with H.264 from alice", func(s call.Status) bool { return s.Stats != nil && s.Stats.Frames() >= 45 })
	t.Logf("bob got %d H.264 frames, %d bytes", bs.Stats.Frames(), bs.Stats.BytesIn)
	c.Hangup("")
	eb := bob.wait("ended", state(call.StateEnded))
	to := time.Now()
	if len(Codecs()) == 0 {
		return
	}
	// Not decoded here: counted unread, and nothing else.
	if s := eb.Stats; s.VideoFrames != 0 || s.BadStamps != 0 || s.FrameGaps != 0 || s.UnreadFrames < 45 {
		t.Fatalf("bob's figures of the H.264: %+v", *s)
	}
	dirs, _ := os.ReadDir(rec)
	if len(dirs) != 1 {
		t.Fatalf("recordings: %v", dirs)
	}
	stamps, unread := decodeH264(t, filepath.Join(rec, dirs[0].Name(), "video.h264"), 320, 240)
	checkDecoded(t, stamps, unread, eb.Stats.UnreadFrames, from, to)
	t.Logf("the recording decodes to %d pictures, frames %d to %d", len(stamps)+unread, stamps[0].Frame, stamps[len(stamps)-1].Frame)
}

// TestSpeakerPlaysVoice: a headless device plays the other side's voice:
// the Opus it receives, decoded in Go, reaches its player program as PCM,
// the caller's 440 Hz tone. Without the codecs nothing is sent, and
// nothing is played.
func TestSpeakerPlaysVoice(t *testing.T) {
	out := filepath.Join(t.TempDir(), "played.raw")
	alice := newDevice(t, "alice", 10*time.Second, "")
	door := newDeviceCfg(t, "door", 10*time.Second, PeerConfig{Loopback: true, IPFilter: func(ip net.IP) bool { return ip.IsLoopback() },
		Source: Synthetic{Width: 320, Height: 240}, Speaker: []string{"sh", "-c", "cat > " + out}})
	c, err := alice.m.Place(context.Background(), testRoom, alice.connect(door), call.Audio|call.Video)
	if err != nil {
		t.Fatal(err)
	}
	if err := door.incoming().Answer(call.Audio | call.Video); err != nil {
		t.Fatal(err)
	}
	if len(Codecs()) == 0 {
		door.wait("with stamps", func(s call.Status) bool { return s.Stats != nil && s.Stats.VideoFrames >= 30 })
		c.Hangup("")
		door.wait("ended", state(call.StateEnded))
		if b, _ := os.ReadFile(out); len(b) != 0 {
			t.Fatalf("%d bytes played without any audio sent", len(b))
		}
		return
	}
	door.wait("with a second of voice played", func(s call.Status) bool { return s.Stats != nil && s.Stats.AudioPlayedMs >= 1000 })
	c.Hangup("")
	door.wait("ended", state(call.StateEnded))
	b, err := os.ReadFile(out)
	if err != nil || len(b) < 2*48000 {
		t.Fatalf("played %d bytes: %v", len(b), err)
	}
	// Count the tone's zero crossings over the last second.
	pcm := b[len(b)-2*48000:]
	crossings, peak := 0, 0
	prev := int16(binary.LittleEndian.Uint16(pcm))
	for i := 2; i < len(pcm); i += 2 {
		v := int16(binary.LittleEndian.Uint16(pcm[i:]))
		if (prev < 0) != (v < 0) {
			crossings++
		}
		peak = max(peak, int(v), -int(v))
		prev = v
	}
	if hz := crossings / 2; hz < 400 || hz > 480 || peak < 2000 {
		t.Fatalf("played a %d Hz sound of peak %d, want the 440 Hz tone", hz, peak)
	}
	t.Logf("played %.1f s of the caller's 440 Hz tone (%d crossings/s, peak %d)", float64(len(b))/2/48000, crossings, peak)
}

// TestGroupCall: a group call of four devices is a mesh: the caller rings
// three, each who answers joins, learns who else is there and calls them,
// and in the end every device has a call with every other, media flowing
// on each. One who hangs up leaves; the others go on.
func TestGroupCall(t *testing.T) {
	a := newDevice(t, "a", 10*time.Second, "")
	others := []*device{newDevice(t, "b", 10*time.Second, ""), newDevice(t, "c", 10*time.Second, ""), newDevice(t, "d", 10*time.Second, "")}
	e := newDevice(t, "e", 10*time.Second, "")
	ids := a.connect(append(others, e)...)
	// The others know each other too (as members of one room do).
	others[0].connect(others[1], others[2])
	others[1].connect(others[2])
	g, err := a.m.PlaceGroup(context.Background(), testRoom, ids, call.Audio|call.Video, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range others {
		if err := d.incoming().Answer(call.Audio | call.Video); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Every device: three live calls of the group, each with media.
	meshed := func(d *device, want int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			n := 0
			for _, s := range d.m.Calls() {
				if s.Group == g.ID.String() && s.State == call.StateActive && s.Stats != nil && s.Stats.VideoFrames >= 20 {
					n++
				}
			}
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d calls of the group with media, want %d: %+v", d.name, n, want, d.m.Calls())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, d := range append([]*device{a}, others...) {
		meshed(d, 3)
	}
	t.Logf("a mesh of four: every device has three calls with media")
	// A fifth who answers finds the group full.
	if err := e.incoming().Answer(call.Audio); err != nil {
		t.Fatal(err)
	}
	if s := e.wait("turned away", state(call.StateEnded)); s.Reason != call.EndElsewhere {
		t.Fatalf("the fifth: %q", s.Reason)
	}
	// b leaves.
	live, _ := others[0].m.Live()
	live.Hangup("")
	for _, d := range []*device{a, others[1], others[2]} {
		deadline := time.Now().Add(15 * time.Second)
		for {
			n := 0
			for _, s := range d.m.Calls() {
				if s.Group == g.ID.String() && s.State != call.StateEnded {
					n++
				}
			}
			if n == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d live calls after b left, want 2", d.name, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestGroupJoinUnasked: mallory was rung for a group call and declined;
// later, as her own program would, she rings a participant naming the
// group's id: without an admission, with one she signed herself, with one
// the caller made for someone else, over another room they share, and
// with a real one after her removal from the room. Each is declined at
// once, nothing rings, the participant's group is unchanged, and nobody's
// camera goes to her.
func TestGroupJoinUnasked(t *testing.T) {
	a, b, mal := newDevice(t, "a", 10*time.Second, ""), newDevice(t, "b", 10*time.Second, ""), newDevice(t, "mallory", 10*time.Second, "")
	ids := a.connect(b, mal)
	mal.connect(b)
	g, err := a.m.PlaceGroup(context.Background(), testRoom, ids, call.Audio|call.Video, nil)
	if err != nil {
		t.Fatal(err)
	}
	mal.incoming().Hangup("")
	if err := b.incoming().Answer(call.Audio | call.Video); err != nil {
		t.Fatal(err)
	}
	b.wait("in the group", func(s call.Status) bool { return s.Group == g.ID.String() && s.State == call.StateActive })
	groupCalls := func() int {
		n := 0
		for _, s := range b.m.Calls() {
			if s.Group == g.ID.String() {
				n++
			}
		}
		return n
	}
	before := groupCalls()
	ring := func(s call.Signal) call.Signal {
		t.Helper()
		st, err := mal.h.NewStream(context.Background(), b.h.ID(), call.Protocol)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		s.Kind, s.Call = call.Ring, call.NewID()
		if err := wire.WriteMsg(st, mustMarshal(t, s)); err != nil {
			t.Fatal(err)
		}
		st.SetReadDeadline(time.Now().Add(10 * time.Second))
		msg, err := wire.ReadMsg(bufio.NewReader(st), call.MaxSignal)
		if err != nil {
			t.Fatalf("no answer to the join: %v", err)
		}
		var got call.Signal
		if err := got.UnmarshalBinary(msg); err != nil {
			t.Fatal(err)
		}
		return got
	}
	own, err := call.Admission(mal.h.Peerstore().PrivKey(mal.h.ID()), g.ID, testRoom, mal.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	forOther, err := call.Admission(a.h.Peerstore().PrivKey(a.h.ID()), g.ID, testRoom, b.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	real, err := call.Admission(a.h.Peerstore().PrivKey(a.h.ID()), g.ID, testRoom, mal.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	realOther, err := call.Admission(a.h.Peerstore().PrivKey(a.h.ID()), g.ID, otherRoom, mal.h.ID())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		s    call.Signal
	}{
		{"no admission", call.Signal{Room: testRoom, Group: g.ID, Media: call.Audio | call.Video}},
		{"an admission she signed", call.Signal{Room: testRoom, Group: g.ID, Admit: own}},
		{"another's admission", call.Signal{Room: testRoom, Group: g.ID, Admit: forOther}},
		{"over another room", call.Signal{Room: otherRoom, Group: g.ID, Admit: realOther}},
		{"junk", call.Signal{Room: testRoom, Group: g.ID, Admit: []byte("junk")}},
	} {
		got := ring(tc.s)
		if got.Kind != call.Decline {
			t.Fatalf("%s: answered %s", tc.name, got.Kind)
		}
		if n := groupCalls(); n != before {
			t.Fatalf("%s: b has %d calls of the group, had %d", tc.name, n, before)
		}
	}
	for _, s := range b.m.Calls() {
		if s.State == call.StateRinging {
			t.Fatalf("a join rang on b: %+v", s)
		}
	}
	// Removed from the room, a real admission does not help either.
	b.mu.Lock()
	b.allow = func(p peer.ID) bool { return p != mal.h.ID() }
	b.mu.Unlock()
	if got := ring(call.Signal{Room: testRoom, Group: g.ID, Admit: real}); got.Kind != call.Decline || groupCalls() != before {
		t.Fatalf("a removed member with a real admission: %s", got.Kind)
	}
	g.Hangup("")
}

// rawLeg is an attacker's end of a call: signals written and read as
// they come, with no manager to check them.
type rawLeg struct {
	t  *testing.T
	st network.Stream
	r  *bufio.Reader
	id call.ID
}

func (l *rawLeg) send(s call.Signal) error {
	s.Call = l.id
	return wire.WriteMsg(l.st, mustMarshal(l.t, s))
}

func (l *rawLeg) recv() (call.Signal, error) {
	var s call.Signal
	b, err := wire.ReadMsg(l.r, call.MaxSignal)
	if err == nil {
		err = s.UnmarshalBinary(b)
	}
	return s, err
}
