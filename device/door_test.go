package device

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/call"
	"github.com/hearthp2p/hearth/call/av"
	"github.com/hearthp2p/hearth/device/config"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms/roomdb"
	"github.com/hearthp2p/hearth/internal/leakcheck"
	"github.com/hearthp2p/hearth/internal/wire"
	"github.com/hearthp2p/hearth/p2p/doorwire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// member is a daemon of a test with its own identity.
type member struct {
	name   string
	home   string
	id     *identity.Local
	c      *control.Client
	phrase string
}

func newMember(t *testing.T, name string) *member {
	t.Helper()
	home := filepath.Join(t.TempDir(), name)
	p, err := identity.NewPhrase()
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.Setup(home, p, "", identity.SetupOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return &member{name: name, home: home, id: id, c: control.NewClient(SocketPath(home)), phrase: p.Reveal()}
}

// secrets returns every secret the member's home holds: its phrase, its
// device and sealing keys, each room's key (and the epoch key derived from
// it) and every epoch key learnt. The daemon has stopped.
func (m *member) secrets(t *testing.T) map[string]leakcheck.Secret {
	t.Helper()
	out := leakcheck.Phrase(m.phrase)
	out["the device secret key"] = leakcheck.Key(m.id.Device.Seed())
	if b, err := m.id.Sealing.Bytes(); err == nil {
		out["the sealing secret key"] = leakcheck.Key(b)
	}
	db, err := storage.Open(filepath.Join(m.home, DBName), storage.Config{ReadOnly: true, LockTimeout: 5 * time.Second})
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: reading its secrets: %v", m.name, err)
		}
		return out
	}
	defer db.Close()
	db.View(func(tx *storage.Tx) error {
		return tx.ForEach(roomdb.BucketRooms, func(k, v []byte) error {
			var rec roomdb.Record
			if json.Unmarshal(v, &rec) != nil {
				return nil
			}
			key := room.KeyFromBytes(rec.Key)
			id := fmt.Sprintf("%x", k[:4])
			out["the key of room "+id] = leakcheck.Key(rec.Key[:])
			e0 := key.EpochZero().Bytes()
			out["the key of epoch 0 of room "+id] = leakcheck.Key(e0[:])
			return tx.ForEach(roomdb.BucketOf("keys", key.Discovery()), func(k, v []byte) error {
				out[fmt.Sprintf("an epoch key (%x) of room %s", k, id)] = leakcheck.Key(v)
				return nil
			})
		})
	})
	return out
}

// start runs the member's daemon until the test ends; its log, at debug
// level unless cfg names a logger, is then checked for every secret the
// member holds.
func (m *member) start(t *testing.T, cfg Config) {
	t.Helper()
	cfg.Home, cfg.NoMDNS, cfg.Listen = m.home, true, loopback
	var logs *leakcheck.Output
	if cfg.Logger == nil {
		logs = &leakcheck.Output{}
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		cfg.Ready = func() { close(ready) }
		done <- Run(ctx, cfg)
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("%s: %v", m.name, err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: Run: %v", m.name, err)
		}
		if logs != nil {
			for _, what := range leakcheck.Leaks(logs.String(), m.secrets(t)) {
				t.Errorf("%s's log holds %s", m.name, what)
			}
		}
	})
}

// addr is a full multiaddr of the member's daemon on TCP.
func (m *member) addr(t *testing.T) string {
	st, err := m.c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range st.Addrs {
		if strings.Contains(a, "/tcp/") {
			return a
		}
	}
	t.Fatalf("%s has no TCP address: %v", m.name, st.Addrs)
	return ""
}

func eventually(t *testing.T, what string, within time.Duration, ok func() bool, state ...func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			for _, f := range state {
				t.Logf("last seen: %s", f())
			}
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func doorConfig(admins ...identity.PublicKey) *DoorConfig {
	return &DoorConfig{Room: "Home", Admins: admins, Cooldown: 300 * time.Millisecond, UnlockPulse: 150 * time.Millisecond,
		Clip: time.Second, Pairing: time.Minute, MotionEvery: time.Second,
		HAL: config.HALSettings{Driver: "sim", LongPress: config.Duration(800 * time.Millisecond), Debounce: config.Duration(10 * time.Millisecond)}}
}

// pair puts the doorphone in pairing mode and joins m with the invite it
// shows.
func pair(t *testing.T, ctx context.Context, doorC *control.Client, m *member) string {
	t.Helper()
	if _, err := doorC.Door.Press(ctx, control.DoorPress{Kind: "long"}); err != nil {
		t.Fatal(err)
	}
	var st *control.Door
	eventually(t, "pairing mode", 10*time.Second, func() bool {
		st, _ = doorC.Door.Status(ctx)
		return st != nil && st.Pairing != ""
	})
	if st.LED != "pairing" {
		t.Errorf("LED in pairing mode: %q", st.LED)
	}
	if _, err := m.c.Rooms.Join(ctx, st.Pairing); err != nil {
		t.Fatalf("%s joins with the door's invite: %v", m.name, err)
	}
	// A second long press closes pairing mode.
	if _, err := doorC.Door.Press(ctx, control.DoorPress{Kind: "long"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pairing mode off", 10*time.Second, func() bool {
		st, _ = doorC.Door.Status(ctx)
		return st != nil && st.Pairing == "" && st.LED == "off"
	})
	return st.Room
}

func history(t *testing.T, c *control.Client, rm string) []control.Message {
	t.Helper()
	h, err := c.Rooms.History(context.Background(), rm)
	if err != nil {
		t.Fatal(err)
	}
	return h.Messages
}

func doorEntries(t *testing.T, c *control.Client, rm, event string) []control.Message {
	var out []control.Message
	for _, m := range history(t, c, rm) {
		if m.Door != nil && m.Door.Event == event {
			out = append(out, m)
		}
	}
	return out
}

// TestDoorphoneStory runs the doorphone on the simulated board with two
// household members: pairing by long press, a ring answered and hung up,
// a ring nobody answers (missed, with the snapshot and a clip), and
// unlocks by an admin, by a member, replayed, reordered, stale and forged.
func TestDoorphoneStory(t *testing.T) {
	if testing.Short() {
		t.Skip("three daemons and calls: not in -short")
	}
	ctx := context.Background()
	doorM, phone, guest := newMember(t, "door"), newMember(t, "phone"), newMember(t, "guest")
	doorM.start(t, Config{Calls: CallConfig{RingTimeout: 3 * time.Second}, Door: doorConfig(phone.id.Identity)})
	boot := []string{doorM.addr(t)}
	phone.start(t, Config{Bootstrap: boot})
	guest.start(t, Config{Bootstrap: boot})

	st, err := doorM.c.Door.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != "idle" || st.RoomName != "Home" || st.Driver != "sim" {
		t.Fatalf("door at start: %+v", st)
	}
	rm := pair(t, ctx, doorM.c, phone)
	pair(t, ctx, doorM.c, guest)
	eventually(t, "the phone to be an admin (doorphone.admins)", 20*time.Second, func() bool {
		ms, err := phone.c.Rooms.Members(ctx, rm)
		if err != nil {
			return false
		}
		for _, m := range ms.Members {
			if m.Identity == phone.id.Identity.String() {
				return m.Role == "admin"
			}
		}
		return false
	})

	// 1. A press: the phone and the guest ring; the phone answers with
	// audio (the door sends audio and video); it hangs up.
	if _, err := doorM.c.Door.Press(ctx, control.DoorPress{}); err != nil {
		t.Fatal(err)
	}
	var incoming control.Call
	eventually(t, "the ring on the phone", 15*time.Second, func() bool {
		cs, err := phone.c.Calls.List(ctx)
		if err != nil {
			return false
		}
		for _, c := range cs.Calls {
			if c.State == call.StateRinging && c.Direction == call.Incoming {
				incoming = c
				return true
			}
		}
		return false
	})
	if st, _ := doorM.c.Door.Status(ctx); st.State != "ringing" || st.LED != "ringing" {
		t.Errorf("door while ringing: %+v", st)
	}
	if _, err := phone.c.Calls.Answer(ctx, incoming.ID, control.CallAnswer{AudioOnly: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the door in the call", 15*time.Second, func() bool {
		st, _ := doorM.c.Door.Status(ctx)
		return st != nil && st.State == "in call" && st.LED == "on"
	})
	// A long press during the call changes nothing.
	doorM.c.Door.Press(ctx, control.DoorPress{Kind: "long"})
	eventually(t, "media from the door", 20*time.Second, func() bool {
		c, err := phone.c.Calls.Get(ctx, incoming.ID)
		return err == nil && c.Stats != nil && c.Stats.VideoFrames >= 10
	})
	if st, _ := doorM.c.Door.Status(ctx); st.State != "in call" || st.Pairing != "" {
		t.Fatalf("a long press during the call: %+v", st)
	}
	if _, err := phone.c.Calls.Hangup(ctx, incoming.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the door idle again", 15*time.Second, func() bool {
		st, _ := doorM.c.Door.Status(ctx)
		return st != nil && st.State == "idle"
	})

	// The ring is in the room, with a snapshot the phone can fetch.
	var ring control.Message
	eventually(t, "the ring entry with its snapshot on the phone", 20*time.Second, func() bool {
		rs := doorEntries(t, phone.c, rm, "ring")
		if len(rs) == 0 || rs[0].File == nil {
			return false
		}
		ring = rs[0]
		return true
	})
	if ring.File.Type != "image/jpeg" || ring.Door.Call != incoming.ID {
		t.Fatalf("ring entry %+v, file %+v; call %s", ring.Door, ring.File, incoming.ID)
	}
	out := filepath.Join(t.TempDir(), "snap.jpg")
	dl, err := phone.c.Files.Get(ctx, rm, ring.ID, control.FileGet{Out: out})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the snapshot download", 20*time.Second, func() bool {
		d, err := phone.c.Files.Download(ctx, dl.Job)
		return err == nil && d.State == "done"
	})
	b, _ := os.ReadFile(out)
	if img, err := jpeg.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() < 320 {
		t.Fatalf("the snapshot is no picture: %v", err)
	}

	// 2. A press nobody answers: missed, with a clip where there is video.
	if _, err := doorM.c.Door.Press(ctx, control.DoorPress{}); err != nil {
		t.Fatal(err)
	}
	var missed []control.Message
	eventually(t, "the missed entry", 30*time.Second, func() bool {
		missed = doorEntries(t, doorM.c, rm, "missed")
		return len(missed) == 1
	})
	if len(av.Codecs()) > 0 {
		if missed[0].File == nil || missed[0].File.Size < 1000 || missed[0].File.Type != "video/x-ivf" {
			t.Fatalf("missed entry without a clip: %+v", missed[0].File)
		}
	}
	if n := len(doorEntries(t, doorM.c, rm, "ring")); n != 2 {
		t.Fatalf("%d ring entries, want 2", n)
	}
	if st, _ := doorM.c.Door.Status(ctx); st.Rings != 2 || st.Missed != 1 {
		t.Fatalf("door counts %+v", st)
	}
	eventually(t, "idle after the missed ring", 15*time.Second, func() bool {
		st, _ := doorM.c.Door.Status(ctx)
		return st != nil && st.State == "idle"
	})

	// A motion: a snapshot in the room (at most one per MotionEvery).
	if _, err := doorM.c.Door.Motion(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the motion entry with its snapshot", 20*time.Second, func() bool {
		ms := doorEntries(t, phone.c, rm, "motion")
		return len(ms) == 1 && ms[0].File != nil && ms[0].File.Type == "image/jpeg"
	})

	// 3. The live view: the phone asks, the door calls it back with its
	// camera; a second ask is refused while it watches; a visitor's
	// press ends the view and rings the household.
	viewTest(t, ctx, doorM, phone, guest, rm)

	// 4. Unlocks. The admin's opens the door once.
	pulses := func() int { st, _ := doorM.c.Door.Status(ctx); return st.RelayPulses }
	u, err := phone.c.Door.Unlock(ctx, rm, control.Unlock{})
	if err != nil || !u.Opened {
		t.Fatalf("the admin's unlock: %+v %v", u, err)
	}
	if pulses() != 1 {
		t.Fatalf("relay pulses %d, want 1", pulses())
	}
	// The guest is a member, not an admin.
	u, err = guest.c.Door.Unlock(ctx, rm, control.Unlock{})
	if err != nil || u.Opened || !strings.Contains(u.Reason, "not an admin") {
		t.Fatalf("a member's unlock: %+v %v", u, err)
	}

	// Crafted requests from the phone's own device key.
	doorDev := doorM.id.Device.Public()
	raw := rawUnlocker(t, phone, doorM)
	req := func(counter uint64, at time.Time) *doorwire.UnlockRequest {
		r := &doorwire.UnlockRequest{Room: mustRoomID(t, rm), Door: doorDev, Counter: counter, Time: at.UnixMilli()}
		if err := r.Sign(phone.id.Device); err != nil {
			t.Fatal(err)
		}
		return r
	}
	waitClosed := func() {
		time.Sleep(200 * time.Millisecond) // the 150 ms pulse ends
	}
	waitClosed()
	base := uint64(time.Now().UnixMilli()) + 1_000_000
	good := req(base, time.Now()).Marshal()
	if a := raw(good); !a.Opened {
		t.Fatalf("a fresh crafted request: %+v", a)
	}
	waitClosed()
	if a := raw(good); a.Opened || !strings.Contains(a.Reason, "replayed") {
		t.Fatalf("a replayed request: %+v", a)
	}
	if a := raw(req(base+10, time.Now()).Marshal()); !a.Opened {
		t.Fatalf("a newer request: %+v", a)
	}
	waitClosed()
	if a := raw(req(base+5, time.Now()).Marshal()); a.Opened || !strings.Contains(a.Reason, "out of order") {
		t.Fatalf("an older request after a newer one: %+v", a)
	}
	if a := raw(req(base+20, time.Now().Add(-10*time.Minute)).Marshal()); a.Opened || !strings.Contains(a.Reason, "stale") {
		t.Fatalf("a stale request: %+v", a)
	}
	forged := req(base+30, time.Now()).Marshal()
	forged[20] ^= 1
	if a := raw(forged); a.Opened || !strings.Contains(a.Reason, "signature") {
		t.Fatalf("a forged request: %+v", a)
	}
	if a := raw([]byte("garbage")); a.Opened {
		t.Fatalf("garbage: %+v", a)
	}
	// A stranger's request: refused, logged, but not written into the
	// room (new keys cost nothing: they must not fill the log).
	before := len(doorEntries(t, doorM.c, rm, "unlock refused"))
	strangerKey, _ := identity.GenerateSigningKey()
	stranger := &member{name: "stranger", id: &identity.Local{Device: strangerKey}}
	sr := &doorwire.UnlockRequest{Room: mustRoomID(t, rm), Door: doorDev, Counter: 1, Time: time.Now().UnixMilli()}
	sr.Sign(strangerKey)
	if a := rawUnlocker(t, stranger, doorM)(sr.Marshal()); a.Opened || !strings.Contains(a.Reason, "not a device of a member") {
		t.Fatalf("a stranger's request: %+v", a)
	}
	// The answer came after the door judged the request and wrote what it
	// writes (a member's refusal goes into the room before the answer).
	if after := len(doorEntries(t, doorM.c, rm, "unlock refused")); after != before {
		t.Fatalf("a stranger's refusal was written into the room (%d → %d entries)", before, after)
	}
	if got := pulses(); got != 3 {
		t.Fatalf("relay pulses %d, want 3 (the admin's, the crafted fresh one and the newer one)", got)
	}
	// Every unlock is in the room: who opened, and who was refused.
	eventually(t, "the unlocks in the room", 10*time.Second, func() bool {
		return len(doorEntries(t, doorM.c, rm, "unlocked")) == 3 && len(doorEntries(t, doorM.c, rm, "unlock refused")) >= 2
	})
	for _, e := range doorEntries(t, doorM.c, rm, "unlocked") {
		if e.Door.Identity != phone.id.Identity.String() {
			t.Fatalf("unlocked by %s, want the phone", e.Door.Identity)
		}
	}
	refusedBy := map[string]bool{}
	for _, e := range doorEntries(t, doorM.c, rm, "unlock refused") {
		refusedBy[e.Door.Identity] = true
	}
	if !refusedBy[guest.id.Identity.String()] || !refusedBy[phone.id.Identity.String()] {
		t.Fatalf("refusals by %v", refusedBy)
	}
}

func mustRoomID(t *testing.T, s string) [16]byte {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("room id %q", s)
	}
	return [16]byte(b)
}

// rawUnlocker sends request bytes to the door from a second libp2p host
// with the member's device key: to the door, it is the member's device.
func rawUnlocker(t *testing.T, m, doorM *member) func([]byte) doorwire.UnlockAnswer {
	t.Helper()
	send := rawDoor(t, m, doorM, proto.Door)
	return func(b []byte) doorwire.UnlockAnswer {
		t.Helper()
		a, err := doorwire.ParseUnlockAnswer(send(b))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
}

// rawDoor sends request bytes on a door protocol from a second libp2p
// host with the member's device key, and returns the answer's bytes.
func rawDoor(t *testing.T, m, doorM *member, proto protocol.ID) func([]byte) []byte {
	t.Helper()
	send := rawDoorErr(t, m, doorM, proto)
	return func(b []byte) []byte {
		t.Helper()
		ab, err := send(b)
		if err != nil {
			t.Fatal(err)
		}
		return ab
	}
}

// rawDoorErr is rawDoor returning the error of a request (a stream reset,
// no answer) rather than failing the test: it may run in any goroutine.
func rawDoorErr(t *testing.T, m, doorM *member, proto protocol.ID) func([]byte) ([]byte, error) {
	t.Helper()
	n, err := hnet.New(hnet.Config{Key: m.id.Device, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	full, err := ma.NewMultiaddr(doorM.addr(t))
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(full)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Host.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
	return func(b []byte) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := n.Host.NewStream(ctx, ai.ID, proto)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		s.SetDeadline(time.Now().Add(10 * time.Second))
		if err := wire.WriteMsg(s, b); err != nil {
			return nil, err
		}
		return wire.ReadMsg(bufio.NewReader(s), 64<<10)
	}
}

func viewTest(t *testing.T, ctx context.Context, doorM, phone, guest *member, rm string) {
	stranger := newMember(t, "stranger")
	sv := rawDoor(t, stranger, doorM, proto.DoorView)
	if a, err := doorwire.ParseViewAnswer(sv(doorwire.ViewRequest(mustRoomID(t, rm)))); err != nil || !strings.Contains(a.Reason, "not a device of a member") {
		t.Fatalf("a stranger's view: %+v %v", a, err)
	}
	// Bad requests, each from a key of its own (an outsider is answered
	// a few times a minute, then reset unread).
	for _, bad := range [][]byte{nil, {9}, append(doorwire.ViewRequest(mustRoomID(t, rm)), 0), doorwire.ViewRequest([16]byte{1})} {
		k, _ := identity.GenerateSigningKey()
		one := rawDoor(t, &member{name: "stranger", id: &identity.Local{Device: k}}, doorM, proto.DoorView)
		if a, err := doorwire.ParseViewAnswer(one(bad)); err != nil || a.Reason == "" {
			t.Fatalf("bad view request %x: %+v %v", bad, a, err)
		}
	}
	v, err := phone.c.Door.View(ctx, rm, control.View{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the view ringing on the phone", 10*time.Second, func() bool {
		c, err := phone.c.Calls.Get(ctx, v.Call)
		return err == nil && c.State == call.StateRinging
	})
	if _, err := phone.c.Calls.Answer(ctx, v.Call, control.CallAnswer{AudioOnly: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the door's camera on the phone", 20*time.Second, func() bool {
		c, err := phone.c.Calls.Get(ctx, v.Call)
		return err == nil && c.Stats != nil && c.Stats.VideoFrames >= 10
	})
	st, _ := doorM.c.Door.Status(ctx)
	if st.Viewing != phone.id.Identity.String() || st.State != "idle" {
		t.Fatalf("door during the view: %+v", st)
	}
	if _, err := guest.c.Door.View(ctx, rm, control.View{}); err == nil || !strings.Contains(err.Error(), "another member is watching") {
		t.Fatalf("a second view: %v", err)
	}
	if _, err := phone.c.Door.View(ctx, rm, control.View{}); err == nil || !strings.Contains(err.Error(), "too often") {
		t.Fatalf("asking again at once: %v", err)
	}
	// A visitor presses: the view ends and the household rings.
	if _, err := doorM.c.Door.Press(ctx, control.DoorPress{}); err != nil {
		t.Fatal(err)
	}
	var last *control.Call
	eventually(t, "the view ended by the ring", 15*time.Second, func() bool {
		c, err := phone.c.Calls.Get(ctx, v.Call)
		last = c
		return err == nil && c.State == call.StateEnded && strings.Contains(c.Reason, "rang")
	}, func() string { return fmt.Sprintf("%+v", last) })
	eventually(t, "the ring on the guest", 15*time.Second, func() bool {
		cs, err := guest.c.Calls.List(ctx)
		if err != nil {
			return false
		}
		for _, c := range cs.Calls {
			if c.State == call.StateRinging && c.Direction == call.Incoming {
				return true
			}
		}
		return false
	})
	eventually(t, "the door idle after the unanswered ring", 30*time.Second, func() bool {
		st, _ := doorM.c.Door.Status(ctx)
		return st != nil && st.State == "idle" && st.Viewing == "" && st.Missed == 2
	})
}
