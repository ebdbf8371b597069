package roomdb

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

var roomKills = flag.Int("crash.room-kills", 0, "SIGKILLs in TestRoomCrash (0: 8, or 3 with -short)")

const crashEnv = "HEARTH_ROOMDB_CRASH_WRITER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		// Re-executed as the writer of TestRoomCrash: write until killed.
		if err := crashWriter(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash writer:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashRoom is the room the writer and the checker open: the same keys
// every time (from fixed seeds), the writer's device and, in a database of
// its own, a second device of the same identity that writes meanwhile.
type crashRoom struct {
	key        room.Key
	founder    identity.PublicKey
	self, peer room.Self
}

func newCrashRoom() (crashRoom, error) {
	id, err := identity.NewSigningKey(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		return crashRoom{}, err
	}
	selfOf := func(seed byte, name string) (room.Self, error) {
		dev, err := identity.NewSigningKey(bytes.Repeat([]byte{seed}, 32))
		if err != nil {
			return room.Self{}, err
		}
		seal, _ := identity.GenerateSealingKey()
		proof, _ := identity.NewProof(id, dev.Public(), 1).MarshalBinary()
		rec, err := identity.NewDeviceRecord(id.Public(), dev, seal.Public(), name, time.Unix(1, 0))
		if err != nil {
			return room.Self{}, err
		}
		rb, _ := rec.MarshalBinary()
		return room.Self{Identity: id.Public(), Device: dev, Sealing: seal, Proof: proof, Record: rb}, nil
	}
	c := crashRoom{key: room.KeyFromBytes([32]byte{7}), founder: id.Public()}
	if c.self, err = selfOf(2, "laptop"); err != nil {
		return c, err
	}
	c.peer, err = selfOf(3, "phone")
	return c, err
}

func (c crashRoom) open(db *storage.DB, self room.Self) (*room.Room, error) {
	r, err := room.Open(room.Config{Key: c.key, Founder: c.founder, Self: self, Store: New(db)})
	if err != nil {
		return nil, err
	}
	return r, New(db).Load(r)
}

// crashWriter writes into the room until killed: its own messages in
// batches, edits and deletions of them, and the other device's messages,
// written meanwhile and taken late (a branch that sorts before what it
// applied). It prints "ack TEXT" once a message is written.
func crashWriter(dir string) error {
	c, err := newCrashRoom()
	if err != nil {
		return err
	}
	db, err := storage.Open(filepath.Join(dir, "hearth.db"), storage.Config{LockTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	pdb, err := storage.Open(filepath.Join(dir, "peer.db"), storage.Config{LockTimeout: 5 * time.Second})
	if err != nil {
		return err
	}
	r, err := c.open(db, c.self)
	if err != nil {
		return err
	}
	if r.Count() == 0 && r.Len(c.self.Device.Public()) == 0 {
		if err := r.Create("crash"); err != nil {
			return err
		}
	}
	p, err := c.open(pdb, c.peer)
	if err != nil {
		return err
	}
	if err := room.Copy(p, r); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		run := time.Now().UnixNano()
		var ops []room.Op
		for j := range 3 + rng.IntN(40) {
			ops = append(ops, room.Op{Type: room.OpMessage, Text: fmt.Sprintf("laptop %d.%d.%d", run, i, j)})
		}
		refs, err := r.WriteBatch(ops)
		if err != nil {
			return err
		}
		// The first may be edited and the last deleted: the second is
		// the one to look for.
		fmt.Fprintf(out, "ack %s\n", ops[1].Text)
		out.Flush()
		if rng.IntN(3) == 0 {
			if _, err := r.Write(room.Op{Type: room.OpEdit, Target: refs[0], Text: "edited"}); err != nil {
				return err
			}
		}
		if rng.IntN(4) == 0 {
			if _, err := r.Write(room.Op{Type: room.OpDelete, Target: refs[len(refs)-1]}); err != nil {
				return err
			}
		}
		// The phone, apart, writes; the laptop takes it late.
		if _, err := p.Write(room.Op{Type: room.OpMessage, Text: fmt.Sprintf("phone %d.%d", run, i)}); err != nil {
			return err
		}
		if err := room.Copy(r, p); err != nil {
			return err
		}
		if rng.IntN(2) == 0 {
			if err := room.Copy(p, r); err != nil {
				return err
			}
		}
	}
}

// TestRoomCrash kills a process writing into a room (its own messages,
// edits, deletions, and another device's branches taken late, going back
// to checkpoints) with SIGKILL at random moments. After each kill the
// room reopens from what the store holds: the view it stored equals the
// view computed again from its logs alone, and every message the writer
// acknowledged is shown.
func TestRoomCrash(t *testing.T) {
	kills := *roomKills
	if kills == 0 {
		kills = 8
		if testing.Short() {
			kills = 3
		}
	}
	dir := t.TempDir()
	c, err := newCrashRoom()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var acked []string
	for kill := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for l := range lines {
			if text, ok := strings.CutPrefix(l, "ack "); ok {
				acked = append(acked, text)
			}
		}
		if s := stderr.String(); strings.Contains(s, "crash writer:") || strings.Contains(s, "panic") {
			t.Fatalf("kill %d: the writer failed: %s", kill, s)
		}
		stored, recomputed, shown := reopenAfterCrash(t, c, dir)
		if stored != recomputed {
			t.Fatalf("kill %d: the view the room stored differs from the one its logs give", kill)
		}
		for _, text := range acked {
			if !shown[text] {
				t.Fatalf("kill %d: the acknowledged message %q is not shown", kill, text)
			}
		}
		t.Logf("kill %d: %d messages shown, %d acknowledged so far", kill, len(shown), len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("the writer acknowledged nothing")
	}
}

// reopenAfterCrash opens the room as it was left: its digest as stored,
// its digest once the stored view is set aside (computed from the logs
// alone), and the texts it shows.
func reopenAfterCrash(t *testing.T, c crashRoom, dir string) (stored, recomputed [32]byte, shown map[string]bool) {
	t.Helper()
	db, err := storage.Open(filepath.Join(dir, "hearth.db"), storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := c.open(db, c.self)
	if err != nil {
		t.Fatal(err)
	}
	stored = r.Digest()
	shown = map[string]bool{}
	r.Messages(false, func(m *room.Message) bool { shown[m.Text] = true; return true })
	// The same store without its view: the room computes it again.
	if err := db.Update(func(tx *storage.Tx) error {
		return tx.DeleteBucket(viewBucket("state", c.key.Discovery()))
	}); err != nil {
		t.Fatal(err)
	}
	again, err := c.open(db, c.self)
	if err != nil {
		t.Fatal(err)
	}
	return stored, again.Digest(), shown
}
