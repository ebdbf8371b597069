// Package bench measures whole-system figures of Hearth on this machine:
// what `hearth bench` prints. Every figure comes from real components (real
// libp2p hosts on loopback, real daemons as processes), never from a model.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms/roomdb"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// Figure is one measured number.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Note  string  `json:"note,omitempty"`
	// Goal is what the project aims at, if anything (goals.go); Met
	// says whether Value reached it.
	Goal *Goal `json:"goal,omitempty"`
	Met  *bool `json:"met,omitempty"`
}

// Config sizes a run. Quick shrinks every workload to finish in about a
// minute.
type Config struct {
	Quick bool
	// Binary is the hearth executable for the figures that need a daemon
	// process (memory); empty means this process's own executable.
	Binary string
	// Only, if not empty, names the sections to run (see Sections).
	Only []string
	// DoorCommand, if set, runs the doorphone daemon of the door section
	// (e.g. an emulator and another architecture's binary).
	DoorCommand []string
	// HistoryCommand, if set, runs the history section's daemon (as
	// DoorCommand the door's): the home is written by this process.
	HistoryCommand []string
	// Progress, if set, receives a line as each figure starts.
	Progress func(string)
}

// Sections are the groups of figures, in the order they run; Config.Only
// picks some of them.
var Sections = []string{"catchup", "rotation", "latency", "memory", "history", "mirror", "files", "calls", "encode", "door", "phone", "hub"}

// Run measures the figures of every section (or of cfg.Only's).
func Run(ctx context.Context, cfg Config) ([]Figure, error) {
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	for _, name := range cfg.Only {
		if !slices.Contains(Sections, name) {
			return nil, fmt.Errorf("no bench section %q (there are %s)", name, strings.Join(Sections, ", "))
		}
	}
	want := func(name string) bool { return len(cfg.Only) == 0 || slices.Contains(cfg.Only, name) }
	n, lat := 100_000, 300
	rotations := 9
	rooms := 100
	mirrorRoomCount, mirrorPerRoom := 10_000, 100
	historyLong, historyRooms, historyPerRoom := 1_000_000, 100, 10_000
	fileSize, multiSize := int64(1<<30), int64(128<<20)
	phoneMessages := 10_000
	if cfg.Quick {
		phoneMessages = 2_000
		multiSize = 32 << 20
		n, lat, rooms = 20_000, 100, 20
		rotations = 3
		mirrorRoomCount = 100
		fileSize = 64 << 20
		historyLong, historyRooms, historyPerRoom = 50_000, 10, 2_000
	}
	type step struct {
		section, what string
		run           func() ([]Figure, error)
	}
	steps := []step{
		{"catchup", fmt.Sprintf("catch-up: a new member syncs %d messages from one peer", n),
			func() ([]Figure, error) { return catchUp(ctx, n) }},
		{"rotation", "rotation: members removed one by one from a room of 50 devices, each time a new key sealed to every device that remains",
			func() ([]Figure, error) { return rotation(50, rotations) }},
		{"latency", fmt.Sprintf("latency: %d messages, send to visible at the other peer", lat),
			func() ([]Figure, error) { return latency(ctx, lat) }},
		{"memory", fmt.Sprintf("memory: a daemon idle, then holding %d rooms", rooms),
			func() ([]Figure, error) { return memory(ctx, cfg.Binary, rooms) }},
		{"history", fmt.Sprintf("history: a daemon holding a room of %d messages: starting, memory, pages", historyLong),
			func() ([]Figure, error) { return history(ctx, cfg.Binary, cfg.HistoryCommand, 1, historyLong) }},
		{"history", fmt.Sprintf("history: a daemon holding %d rooms of %d messages: starting, memory, pages", historyRooms, historyPerRoom),
			func() ([]Figure, error) {
				return history(ctx, cfg.Binary, cfg.HistoryCommand, historyRooms, historyPerRoom)
			}},
		{"mirror", fmt.Sprintf("mirror catch-up: a returning member syncs %d messages from a mirror alone", n),
			func() ([]Figure, error) { return mirrorCatchUp(ctx, n) }},
		{"mirror", fmt.Sprintf("mirror rooms: a mirror daemon keeping %d rooms of %d messages", mirrorRoomCount, mirrorPerRoom),
			func() ([]Figure, error) { return mirrorRooms(ctx, cfg.Binary, mirrorRoomCount, mirrorPerRoom) }},
		{"files", fmt.Sprintf("file transfer: %d MiB sent and received over libp2p, against a plain stream", fileSize>>20),
			func() ([]Figure, error) { return transfer(ctx, fileSize) }},
		{"files", fmt.Sprintf("multi-source: %d MiB from one source, then from three, each uploading at %.0f Mbit/s", multiSize>>20, sourceUplink*8/1e6),
			func() ([]Figure, error) { return multiSource(ctx, multiSize) }},
		{"files", fmt.Sprintf("daemon file transfer: %d MiB between two daemon processes, their memory meanwhile", fileSize>>20),
			func() ([]Figure, error) { return transferDaemons(ctx, cfg.Binary, fileSize) }},
		{"calls", "calls: setup and glass-to-glass latency of a 720p30 call on loopback (and with 30 ms added)",
			func() ([]Figure, error) { return calls(ctx, cfg.Quick) }},
		{"encode", "encode: processor time of VP8 and H.264 at 30 fps",
			func() ([]Figure, error) { return encode(cfg.Quick) }},
		{"door", "doorphone: button press to ring, answer to first frame, idle memory and processor time of a doorphone daemon",
			func() ([]Figure, error) { return doorFigures(ctx, cfg.Binary, cfg.DoorCommand) }},
		{"door", "doorphone under attack: press to ring while a member rings the door every second and a stranger holds its handshake slots",
			func() ([]Figure, error) { return doorUnderAttack(ctx, 5) }},
		{"phone", fmt.Sprintf("phone: the app in headless Chromium: size, first load, catch-up of %d messages, answer to first frame, ring to notification with the page closed", phoneMessages),
			func() ([]Figure, error) { return phoneFigures(ctx, cfg.Binary, phoneMessages) }},
		{"hub", "home hub: a press to the MQTT ring event, an RTSP client's first frame, the bridge's idle memory",
			func() ([]Figure, error) { return hubFigures(ctx, cfg.Binary) }},
	}
	var out []Figure
	for _, st := range steps {
		if !want(st.section) {
			continue
		}
		say(st.what)
		f, err := st.run()
		if err != nil {
			what, _, _ := strings.Cut(st.what, ":")
			return withGoals(out), fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, f...)
	}
	return withGoals(out), nil
}

type member struct {
	id   identity.SigningKey
	self room.Self
}

func newMember() member {
	id, _ := identity.GenerateSigningKey()
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	proof, _ := identity.NewProof(id, dev.Public(), 1).MarshalBinary()
	rec, _ := identity.NewDeviceRecord(id.Public(), dev, seal.Public(), "bench", time.Now())
	rb, _ := rec.MarshalBinary()
	return member{id: id, self: room.Self{Identity: id.Public(), Device: dev, Sealing: seal, Proof: proof, Record: rb}}
}

// peerNode is a room on a real libp2p host on loopback.
type peerNode struct {
	node *hnet.Node
	svc  *replication.Service
	room *room.Room
	ch   chan struct{}
}

func newPeer(key room.Key, founder identity.PublicKey, m member, bootstrap ...string) (*peerNode, error) {
	return newPeerOn(nil, key, founder, m, bootstrap...)
}

// diskStore is a room store in a database of its own, synced at every
// commit as a home's is, and the function that deletes it.
func diskStore() (room.Store, func(), error) {
	dir, err := os.MkdirTemp("", "hearth-bench-")
	if err != nil {
		return nil, nil, err
	}
	db, err := storage.Open(filepath.Join(dir, device.DBName), storage.Config{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return roomdb.New(db), func() { db.Close(); os.RemoveAll(dir) }, nil
}

// newPeerOn is newPeer whose room keeps its logs and view in store (nil:
// in memory).
func newPeerOn(store room.Store, key room.Key, founder identity.PublicKey, m member, bootstrap ...string) (*peerNode, error) {
	n, err := hnet.New(hnet.Config{Key: m.self.Device, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, Bootstrap: bootstrap})
	if err != nil {
		return nil, err
	}
	p := &peerNode{node: n, ch: make(chan struct{}, 1)}
	p.room, err = room.Open(room.Config{Key: key, Founder: founder, Self: m.self, Store: store, OnChange: func([]log.Head) {
		if p.svc != nil {
			p.svc.Changed(key.Discovery())
		}
		select {
		case p.ch <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		n.Close()
		return nil, err
	}
	p.svc = replication.New(replication.Config{Host: n.Host, Lookup: func(d log.Discovery) (replication.Room, bool) {
		return p.room, d == key.Discovery()
	}})
	return p, nil
}

func (p *peerNode) close() {
	p.svc.Close()
	p.node.Close()
}

func (p *peerNode) messages() (n int) {
	n = p.room.Count()
	return n
}

func connect(ctx context.Context, a, b *peerNode) error {
	if err := a.node.Host.Connect(ctx, peer.AddrInfo{ID: b.node.Host.ID(), Addrs: b.node.Host.Addrs()}); err != nil {
		return err
	}
	return a.svc.Sync(ctx, b.node.Host.ID(), a.room.Discovery())
}

func pair() (key room.Key, alice, bob member, a *peerNode, err error) {
	return pairOn(nil)
}

// pairOn is pair with alice's room kept in store (nil: in memory).
func pairOn(store room.Store) (key room.Key, alice, bob member, a *peerNode, err error) {
	key = room.NewKey()
	alice, bob = newMember(), newMember()
	a, err = newPeerOn(store, key, alice.id.Public(), alice)
	if err != nil {
		return
	}
	if err = a.room.Create("bench"); err != nil {
		return
	}
	_, err = a.room.Write(room.Op{Type: room.OpAddMember, Identity: bob.id.Public(), Role: room.RoleMember})
	return
}

func catchUp(ctx context.Context, n int) ([]Figure, error) {
	// The peer keeps its room on disk, as a daemon does.
	astore, adone, err := diskStore()
	if err != nil {
		return nil, err
	}
	defer adone()
	key, alice, bob, a, err := pairOn(astore)
	if err != nil {
		return nil, err
	}
	defer a.close()
	ops := make([]room.Op, n)
	for i := range ops {
		ops[i] = room.Op{Type: room.OpMessage, Text: fmt.Sprintf("message %d: a line of chat of typical length", i)}
	}
	if _, err := a.room.WriteBatch(ops); err != nil {
		return nil, err
	}
	ops = nil
	store, done, err := diskStore()
	if err != nil {
		return nil, err
	}
	defer done()
	b, err := newPeerOn(store, key, alice.id.Public(), bob)
	if err != nil {
		return nil, err
	}
	defer b.close()
	runtime.GC() // what the setup left is not the catch-up's to collect
	start := time.Now()
	if err := connect(ctx, b, a); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for b.messages() < n {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("only %d of %d after the deadline", b.messages(), n)
		}
		select {
		case <-b.ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
	el := time.Since(start)
	return []Figure{
		{Name: "catch-up", Value: float64(n) / el.Seconds(), Unit: "entries/s", Note: fmt.Sprintf("%d messages from a peer's room on disk over libp2p TCP on loopback: verified, decrypted, ordered, applied, written to disk", n)},
		{Name: "catch-up time", Value: el.Seconds(), Unit: "s"},
	}, nil
}

// latency measures send → visible at the other peer, over a direct
// connection and through a circuit relay.
func latency(ctx context.Context, count int) ([]Figure, error) {
	key, alice, bob, a, err := pair()
	if err != nil {
		return nil, err
	}
	defer a.close()
	b, err := newPeer(key, alice.id.Public(), bob)
	if err != nil {
		return nil, err
	}
	defer b.close()
	if err := connect(ctx, b, a); err != nil {
		return nil, err
	}
	direct, err := measure(a, b, count)
	if err != nil {
		return nil, err
	}
	relayed, err := latencyRelayed(ctx, count)
	if err != nil {
		return nil, fmt.Errorf("through a relay: %w", err)
	}
	note := fmt.Sprintf("%d messages, libp2p TCP on loopback, in memory (no disk)", count)
	return []Figure{
		{Name: "message latency p50", Value: direct.pct(0.50), Unit: "ms", Note: note},
		{Name: "message latency p99", Value: direct.pct(0.99), Unit: "ms"},
		{Name: "relayed message latency p50", Value: relayed.pct(0.50), Unit: "ms", Note: "the same through a circuit relay v2 node on loopback"},
		{Name: "relayed message latency p99", Value: relayed.pct(0.99), Unit: "ms"},
	}, nil
}

// latencyRelayed puts a public relay node between the two peers: bob
// holds a slot on it and alice reaches bob only through the circuit.
func latencyRelayed(ctx context.Context, count int) (durations, error) {
	relayKey, _ := identity.GenerateSigningKey()
	relay, err := hnet.New(hnet.Config{Key: relayKey, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true, Public: true})
	if err != nil {
		return nil, err
	}
	defer relay.Close()
	boot := relay.Addrs()[0]
	key, alice, bob, a, err := pair()
	if err != nil {
		return nil, err
	}
	defer a.close()
	b, err := newPeer(key, alice.id.Public(), bob, boot)
	if err != nil {
		return nil, err
	}
	defer b.close()
	circuit, err := ma.NewMultiaddr(boot + "/p2p-circuit")
	if err != nil {
		return nil, err
	}
	// Bob takes a slot on the relay in his first moments; until then
	// the relay refuses the circuit.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := a.node.Host.Connect(cctx, peer.AddrInfo{ID: b.node.Host.ID(), Addrs: []ma.Multiaddr{circuit}})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("no circuit to the other peer after 30 s: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := b.svc.Sync(ctx, a.node.Host.ID(), key.Discovery()); err != nil {
		return nil, err
	}
	lat, err := measure(a, b, count)
	if err != nil {
		return nil, err
	}
	if p := a.node.PathTo(b.node.Host.ID()); p != "relay" {
		return nil, fmt.Errorf("the peers met on a %s path, not through the relay", p)
	}
	return lat, nil
}

// durations are sorted latencies.
type durations []time.Duration

// pct returns the p-th percentile in milliseconds.
func (d durations) pct(p float64) float64 {
	return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
}

// measure writes count messages at a, one at a time, and times each until
// b's view shows it.
func measure(a, b *peerNode, count int) (durations, error) {
	base := b.messages()
	var lat durations
	for i := range count {
		want := base + i + 1
		start := time.Now()
		if _, err := a.room.Write(room.Op{Type: room.OpMessage, Text: "ping " + strconv.Itoa(i)}); err != nil {
			return nil, err
		}
		for b.messages() < want {
			select {
			case <-b.ch:
			case <-time.After(5 * time.Second):
				return nil, errors.New("a message did not arrive in 5 s")
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat, nil
}

// memory starts a daemon process on a fresh home and reads its resident
// set size idle and after creating rooms.
func memory(ctx context.Context, bin string, rooms int) (_ []Figure, err error) {
	bin, home, done, err := newHome(ctx, bin, "h")
	if err != nil {
		return nil, err
	}
	defer done()
	d, err := startProcess(ctx, "the daemon", bin, "daemon", "--home", home, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		return nil, err
	}
	defer stopped(d, &err)
	c := control.NewClient(filepath.Join(home, "hearth.sock"))
	for i := 0; ; i++ {
		if _, err := c.Status(ctx); err == nil {
			break
		}
		if i > 200 {
			return nil, errors.New("the daemon did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	idle, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	for i := range rooms {
		if _, err := c.Rooms.Create(ctx, fmt.Sprintf("room %d", i)); err != nil {
			return nil, err
		}
		if _, err := c.Rooms.Send(ctx, fmt.Sprintf("room %d", i), control.MessageSend{Text: "hello"}); err != nil {
			return nil, err
		}
	}
	time.Sleep(2 * time.Second)
	full, err := rss(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	return []Figure{
		{Name: "daemon RSS idle", Value: idle, Unit: "MiB"},
		{Name: fmt.Sprintf("daemon RSS with %d rooms", rooms), Value: full, Unit: "MiB"},
	}, nil
}

func rss(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the daemon's memory (Linux only): %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// JSON renders figures as one object.
func JSON(figs []Figure) ([]byte, error) {
	return json.Marshal(map[string]any{"figures": figs})
}
