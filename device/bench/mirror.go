package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/device"
	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/mirror"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// fill copies every block of src into dst, as sync would.
func fill(src, dst replication.Room) error {
	for _, h := range src.Heads() {
		for {
			head, blocks, ok := src.Blocks(h.Writer, dst.Len(h.Writer), replication.MaxFrame/2)
			if !ok {
				break
			}
			if err := dst.Receive(head, blocks); err != nil {
				return err
			}
		}
	}
	return nil
}

// keepRoom has the mirror keep src for owner, naming its writers as the
// keeper's device would (the mirror stores only named writers' logs).
func keepRoom(store *mirror.Store, src *room.Room, owner identity.PublicKey, pin bool) (*mirror.Blind, error) {
	d := src.Discovery()
	if _, err := store.Keep(d, owner, pin); err != nil {
		return nil, err
	}
	var ws []mirror.Writer
	for _, h := range src.Heads() {
		ws = append(ws, mirror.Writer{Key: h.Writer})
	}
	if err := store.Name(d, owner, identity.PublicKey{}, ws, nil); err != nil {
		return nil, err
	}
	kept, ok := store.Room(d)
	if !ok {
		return nil, mirror.ErrNotKept
	}
	return kept, nil
}

// writeRoom makes a room of n messages, written in batches of batch.
func writeRoom(n, batch int) (*room.Room, room.Key, member, member, error) {
	key := room.NewKey()
	alice, bob := newMember(), newMember()
	r, err := room.Open(room.Config{Key: key, Founder: alice.id.Public(), Self: alice.self})
	if err != nil {
		return nil, key, alice, bob, err
	}
	if err := r.Create("bench"); err != nil {
		return nil, key, alice, bob, err
	}
	if _, err := r.Write(room.Op{Type: room.OpAddMember, Identity: bob.id.Public(), Role: room.RoleMember}); err != nil {
		return nil, key, alice, bob, err
	}
	for i := 0; i < n; i += batch {
		ops := make([]room.Op, min(batch, n-i))
		for j := range ops {
			ops[j] = room.Op{Type: room.OpMessage, Text: fmt.Sprintf("message %d: a line of chat of typical length", i+j)}
		}
		if _, err := r.WriteBatch(ops); err != nil {
			return nil, key, alice, bob, err
		}
	}
	return r, key, alice, bob, nil
}

// mirrorCatchUp: a returning member syncs n messages from a mirror alone
// (the mirror's store on disk, served over libp2p on loopback).
func mirrorCatchUp(ctx context.Context, n int) ([]Figure, error) {
	src, key, alice, bob, err := writeRoom(n, 1000)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "hearth-bench-mirror-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	db, err := storage.Open(filepath.Join(dir, "mirror.db"), storage.Config{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	owner := alice.id.Public()
	store, err := mirror.Open(db, mirror.Config{Owners: []identity.PublicKey{owner}})
	if err != nil {
		return nil, err
	}
	d := src.Discovery()
	kept, err := keepRoom(store, src, owner, true)
	if err != nil {
		return nil, err
	}
	if err := fill(src, kept); err != nil {
		return nil, err
	}
	src = nil // the writer's room in memory: only the mirror holds it now
	mkey, _ := identity.GenerateSigningKey()
	mnode, err := hnet.New(hnet.Config{Key: mkey, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		return nil, err
	}
	defer mnode.Close()
	msvc := replication.New(replication.Config{Host: mnode.Host, Lookup: store.Lookup})
	defer msvc.Close()

	bstore, done, err := diskStore()
	if err != nil {
		return nil, err
	}
	defer done()
	b, err := newPeerOn(bstore, key, alice.id.Public(), bob)
	if err != nil {
		return nil, err
	}
	defer b.close()
	runtime.GC() // what the setup left is not the catch-up's to collect
	start := time.Now()
	if err := b.node.Host.Connect(ctx, peer.AddrInfo{ID: mnode.Host.ID(), Addrs: mnode.Host.Addrs()}); err != nil {
		return nil, err
	}
	if err := b.svc.Sync(ctx, mnode.Host.ID(), d); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Minute)
	for b.messages() < n {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("only %d of %d from the mirror", b.messages(), n)
		}
		select {
		case <-b.ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
	el := time.Since(start)
	return []Figure{
		{Name: "mirror catch-up", Value: float64(n) / el.Seconds(), Unit: "entries/s",
			Note: fmt.Sprintf("%d messages from a mirror alone (bbolt on disk), libp2p TCP on loopback", n)},
	}, nil
}

// mirrorRooms measures a mirror daemon keeping many rooms: its resident
// memory, its database size and the overhead over the raw bytes kept. The
// rooms are written straight into the mirror's database first, then the
// daemon process loads (and verifies) them all.
func mirrorRooms(ctx context.Context, bin string, rooms, perRoom int) (_ []Figure, err error) {
	bin, home, done, err := newHome(ctx, bin, "m")
	if err != nil {
		return nil, err
	}
	defer done()
	dbPath := filepath.Join(home, device.DBName)
	db, err := storage.Open(dbPath, storage.Config{})
	if err != nil {
		return nil, err
	}
	owner, _ := identity.GenerateSigningKey()
	store, err := mirror.Open(db, mirror.Config{Owners: []identity.PublicKey{owner.Public()}, Budget: 1 << 40})
	if err != nil {
		db.Close()
		return nil, err
	}
	var raw int64
	for range rooms {
		src, _, _, _, err := writeRoom(perRoom, 10)
		if err != nil {
			db.Close()
			return nil, err
		}
		kept, err := keepRoom(store, src, owner.Public(), false)
		if err != nil {
			db.Close()
			return nil, err
		}
		if err := fill(src, kept); err != nil {
			db.Close()
			return nil, err
		}
		for _, h := range src.Heads() {
			_, blocks, _ := src.Blocks(h.Writer, 0, 1<<30)
			for _, b := range blocks {
				raw += int64(len(b))
			}
		}
	}
	if err := db.Close(); err != nil {
		return nil, err
	}
	st, err := os.Stat(dbPath)
	if err != nil {
		return nil, err
	}
	// The file is partly sparse (bbolt grows it ahead of use): what the
	// disk holds is its allocated blocks.
	used := st.Size()
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		used = sys.Blocks * 512
	}
	d, err := startProcess(ctx, "the mirror daemon", bin, "daemon", "--home", home, "--mirror", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0")
	if err != nil {
		return nil, err
	}
	defer stopped(d, &err)
	c := control.NewClient(filepath.Join(home, "hearth.sock"))
	for i := 0; ; i++ {
		if _, err := c.Status(ctx); err == nil {
			break
		}
		if i > 2400 {
			return nil, errors.New("the mirror daemon did not start")
		}
		time.Sleep(25 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	mem, err := readMem(d.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	note := fmt.Sprintf("%d rooms of %d messages, %.1f MiB of ciphertext; anonymous %.1f MiB, file pages %.1f MiB (of the database %.1f)",
		rooms, perRoom, float64(raw)/(1<<20), mem.anon, mem.file, mem.db)
	return []Figure{
		{Name: fmt.Sprintf("mirror RSS with %d rooms", rooms), Value: mem.rss, Unit: "MiB", Note: note},
		{Name: "mirror database file", Value: float64(st.Size()) / (1 << 20), Unit: "MiB", Note: "its length, sparse parts included"},
		{Name: "mirror database on disk", Value: float64(used) / (1 << 20), Unit: "MiB", Note: "blocks allocated"},
		{Name: "mirror disk overhead", Value: float64(used) / float64(raw), Unit: "x ciphertext"},
	}, nil
}
