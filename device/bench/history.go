package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms/roomdb"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// history measures a daemon whose rooms hold a long history: its memory
// idle and while serving pages of history, how long it takes to start
// and show the newest messages, and what a page of older ones costs. The
// home is written beforehand through the room package (the daemon's own
// store, as a daemon would have written it over the years), then the
// daemon runs as a process of its own.
func history(ctx context.Context, bin string, command []string, rooms, perRoom int) (_ []Figure, err error) {
	bin, home, done, err := newHome(ctx, bin, "h")
	if err != nil {
		return nil, err
	}
	defer done()
	began := time.Now()
	built, err := buildHistory(home, rooms, perRoom)
	if err != nil {
		return nil, err
	}
	buildTime := time.Since(began)
	what := fmt.Sprintf("%d rooms of %d messages", rooms, perRoom)
	if rooms == 1 {
		what = fmt.Sprintf("a room of %d messages", perRoom)
	}
	st, err := os.Stat(filepath.Join(home, device.DBName))
	if err != nil {
		return nil, err
	}
	figs := []Figure{{Name: "history written: " + what, Value: float64(rooms*perRoom) / buildTime.Seconds(), Unit: "entries/s",
		Note: fmt.Sprintf("%.0f MiB on disk; written through the room package into the daemon's store, two writers", float64(st.Size())/(1<<20))}}

	// Starting: from the process's start to the control socket
	// answering, then to the newest page read. The median of three.
	var toStatus, toNewest []float64
	var d *process
	c := control.NewClient(filepath.Join(home, device.SocketName))
	for i := range 3 {
		if d != nil {
			if err := d.stop(); err != nil {
				return nil, err
			}
		}
		start := time.Now()
		argv := append(slices.Clone(command), "daemon", "--home", home, "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
		if len(command) == 0 {
			argv = append([]string{bin}, argv...)
		}
		d, err = startProcess(ctx, "the daemon", argv...)
		if err != nil {
			return nil, err
		}
		if i == 2 {
			defer stopped(d, &err)
		}
		for {
			if _, err := c.Status(ctx); err == nil {
				break
			}
			if time.Since(start) > 2*time.Minute {
				return nil, errors.New("the daemon did not start")
			}
			time.Sleep(2 * time.Millisecond)
		}
		toStatus = append(toStatus, ms(time.Since(start)))
		if _, err := c.Rooms.HistoryPage(ctx, built[0].room, 50, ""); err != nil {
			return nil, err
		}
		toNewest = append(toNewest, ms(time.Since(start)))
	}
	time.Sleep(2 * time.Second)
	idle, err := readMem(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	// Pages of 50 before messages drawn at random from the whole history.
	rng := rand.New(rand.NewPCG(1, 2))
	var pages durations
	for range 200 {
		b := built[rng.IntN(len(built))]
		id := b.ids[rng.IntN(len(b.ids))]
		t0 := time.Now()
		h, err := c.Rooms.HistoryPage(ctx, b.room, 50, id)
		if err != nil {
			return nil, fmt.Errorf("a page before %s: %w", id, err)
		}
		pages = append(pages, time.Since(t0))
		if len(h.Messages) == 0 && !strings.HasSuffix(id, "-1") {
			return nil, fmt.Errorf("an empty page before %s", id)
		}
	}
	busy, err := readMem(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	slices.Sort(pages)
	note := fmt.Sprintf("%s; anonymous %.1f MiB, file pages %.1f MiB (of the database %.1f)", what, idle.anon, idle.file, idle.db)
	return append(figs,
		Figure{Name: "history restart → status: " + what, Value: median(toStatus), Unit: "ms", Note: "median of 3, from the process's start"},
		Figure{Name: "history restart → newest 50: " + what, Value: median(toNewest), Unit: "ms", Note: "median of 3, from the process's start"},
		Figure{Name: "history RSS idle: " + what, Value: idle.rss, Unit: "MiB", Note: note},
		Figure{Name: "history page p50: " + what, Value: pages.pct(0.5), Unit: "ms", Note: "50 messages before one drawn at random, over the control socket"},
		Figure{Name: "history page p99: " + what, Value: pages.pct(0.99), Unit: "ms"},
		Figure{Name: "history RSS serving pages: " + what, Value: busy.rss, Unit: "MiB",
			Note: fmt.Sprintf("after 200 pages; peak %.1f MiB, anonymous %.1f MiB, file pages %.1f MiB (of the database %.1f)", busy.hwm, busy.anon, busy.file, busy.db)},
	), nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// builtRoom is a room of a home history wrote: its id and a sample of
// its messages' ids.
type builtRoom struct {
	room string
	ids  []string
}

// buildHistory writes rooms of perRoom entries into home's database, as
// the daemon of home: its identity founds each room and writes most of
// it; a second member, added, writes one entry in a hundred from a device
// of its own, exchanging entries every ten thousand. The entries are
// those of a household's room: messages, replies, edits, reactions,
// files and calls.
func buildHistory(home string, rooms, perRoom int) ([]builtRoom, error) {
	id, err := identity.Load(home)
	if err != nil {
		return nil, err
	}
	defer id.Wipe()
	proof, err := id.Proof.MarshalBinary()
	if err != nil {
		return nil, err
	}
	rec, err := id.Record.MarshalBinary()
	if err != nil {
		return nil, err
	}
	self := room.Self{Identity: id.Identity, Device: id.Device, Sealing: id.Sealing, Proof: proof, Record: rec}
	db, err := storage.Open(filepath.Join(home, device.DBName), storage.Config{NoSync: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	bobDB, err := storage.Open(filepath.Join(filepath.Dir(home), "bob.db"), storage.Config{NoSync: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		bobDB.Close()
		os.Remove(filepath.Join(filepath.Dir(home), "bob.db"))
	}()
	store := roomdb.New(db)
	bob := newMember()
	rng := rand.New(rand.NewPCG(uint64(rooms), uint64(perRoom)))
	manifest, err := (&chunk.Manifest{Name: "photo.jpg", Size: 2 << 20, Type: "image/jpeg", ChunkSize: 1 << 16}).MarshalBinary()
	if err != nil {
		return nil, err
	}
	var out []builtRoom
	for i := range rooms {
		key := room.NewKey()
		if err := store.SaveRecord(key.ID(), roomdb.Record{Key: key.Bytes(), Founder: id.Identity, Name: fmt.Sprintf("history %d", i), Joined: time.Now().Unix()}); err != nil {
			return nil, err
		}
		a, err := room.Open(room.Config{Key: key, Founder: id.Identity, Self: self, Store: store})
		if err != nil {
			return nil, err
		}
		if err := a.Create(fmt.Sprintf("history %d", i)); err != nil {
			return nil, err
		}
		if _, err := a.Write(room.Op{Type: room.OpAddMember, Identity: bob.id.Public(), Role: room.RoleMember}); err != nil {
			return nil, err
		}
		b, err := room.Open(room.Config{Key: key, Founder: id.Identity, Self: bob.self, Store: roomdb.New(bobDB)})
		if err != nil {
			return nil, err
		}
		br := builtRoom{room: key.ID().String()}
		var recent []room.Ref
		written := 0
		for written < perRoom {
			n := min(10_000, perRoom-written)
			ops := make([]room.Op, 0, n)
			for j := range n {
				ops = append(ops, householdOp(rng, written+j, recent, manifest))
			}
			refs, err := a.WriteBatch(ops)
			if err != nil {
				return nil, err
			}
			for j, ref := range refs {
				if ops[j].Type != room.OpMessage && ops[j].Type != room.OpFile && ops[j].Type != room.OpCall {
					continue
				}
				recent = append(recent, ref)
				if rng.IntN(max(1, perRoom/1000)) == 0 {
					br.ids = append(br.ids, ref.String())
				}
			}
			if len(recent) > 200 {
				recent = slices.Clone(recent[len(recent)-200:])
			}
			written += n
			// Bob catches up, writes his share, and alice takes it.
			if err := room.Copy(b, a); err != nil {
				return nil, err
			}
			var bobOps []room.Op
			for j := range n / 100 {
				bobOps = append(bobOps, room.Op{Type: room.OpMessage, Text: fmt.Sprintf("bob's message %d", written+j)})
			}
			if len(bobOps) > 0 {
				if _, err := b.WriteBatch(bobOps); err != nil {
					return nil, err
				}
			}
			if err := room.Copy(a, b); err != nil {
				return nil, err
			}
			written += len(bobOps)
		}
		if got := a.Count(); got < perRoom*9/10 {
			return nil, fmt.Errorf("room %d shows %d messages of %d entries written", i, got, perRoom)
		}
		if a.Digest() != b.Digest() {
			return nil, fmt.Errorf("room %d: the two writers disagree", i)
		}
		out = append(out, br)
	}
	return out, nil
}

// householdOp is entry i of a household's room: 88 in 100 messages, then
// replies, edits, reactions, files and calls.
func householdOp(rng *rand.Rand, i int, recent []room.Ref, manifest []byte) room.Op {
	text := fmt.Sprintf("message %d: a line of chat of a typical length, about this much", i)
	k := rng.IntN(100)
	if len(recent) == 0 {
		k = 0
	}
	target := func() room.Ref { return recent[rng.IntN(len(recent))] }
	switch {
	case k < 88:
		return room.Op{Type: room.OpMessage, Text: text}
	case k < 92:
		return room.Op{Type: room.OpMessage, Text: text, HasReply: true, Target: target()}
	case k < 95:
		return room.Op{Type: room.OpEdit, Target: target(), Text: text + " (edited)"}
	case k < 98:
		return room.Op{Type: room.OpReact, Target: target(), Emoji: []string{"👍", "❤️", "😂"}[rng.IntN(3)]}
	case k < 99:
		return room.Op{Type: room.OpFile, Text: "a photo", Blob: manifest}
	}
	var call [16]byte
	binary := strconv.AppendInt(nil, int64(i), 10)
	copy(call[:], binary)
	return room.Op{Type: room.OpCall, Call: call, CallEvent: room.CallEnded, Duration: 60_000}
}

// mem is what /proc says of a process's memory, in MiB: db is the part
// of the resident file pages that are the database's (bbolt maps it).
type mem struct{ rss, hwm, anon, file, db float64 }

func readMem(pid int) (mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, fmt.Errorf("reading the daemon's memory (Linux only): %w", err)
	}
	var m mem
	for _, line := range strings.Split(string(b), "\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.rss = kb / 1024
		case "VmHWM":
			m.hwm = kb / 1024
		case "RssAnon":
			m.anon = kb / 1024
		case "RssFile":
			m.file = kb / 1024
		}
	}
	if m.rss == 0 {
		return mem{}, errors.New("no VmRSS in /proc status")
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid)); err == nil {
		inDB := false
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) >= 5 && strings.Contains(f[0], "-"):
				inDB = strings.HasSuffix(line, "/"+device.DBName)
			case inDB && len(f) == 3 && f[0] == "Rss:":
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.db += kb / 1024
			}
		}
	}
	return m, nil
}
