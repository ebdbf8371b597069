package mirror

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

func newSelf(t *testing.T) (identity.SigningKey, room.Self) {
	t.Helper()
	id, _ := identity.GenerateSigningKey()
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	proof, _ := identity.NewProof(id, dev.Public(), 1).MarshalBinary()
	rec, _ := identity.NewDeviceRecord(id.Public(), dev, seal.Public(), "test", time.Now())
	rb, _ := rec.MarshalBinary()
	return id, room.Self{Identity: id.Public(), Device: dev, Sealing: seal, Proof: proof, Record: rb}
}

// newRoom makes a room with n messages whose texts contain secret.
func newRoom(t *testing.T, n int, secret string) (*room.Room, room.Key, identity.PublicKey) {
	t.Helper()
	id, self := newSelf(t)
	key := room.NewKey()
	r, err := room.Open(room.Config{Key: key, Founder: id.Public(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Create("the " + secret + " room"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := r.Write(room.Op{Type: room.OpMessage, Text: fmt.Sprintf("%s %d", secret, i)}); err != nil {
			t.Fatal(err)
		}
	}
	return r, key, id.Public()
}

// keep keeps r at s for by, naming every writer r holds, as the keeper's
// device does.
func keep(t *testing.T, s *Store, r *room.Room, by identity.PublicKey, pin bool) (Info, error) {
	t.Helper()
	in, err := s.Keep(r.Discovery(), by, pin)
	if err != nil {
		return in, err
	}
	var ws []Writer
	for _, h := range r.Heads() {
		ws = append(ws, Writer{Key: h.Writer})
	}
	if err := s.Name(r.Discovery(), by, identity.PublicKey{}, ws, nil); err != nil {
		t.Fatal(err)
	}
	return in, nil
}

func openStore(t *testing.T, dir string, cfg Config) (*Store, *storage.DB) {
	t.Helper()
	db, err := storage.Open(filepath.Join(dir, "mirror.db"), storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, cfg)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return s, db
}

// copyRoom moves every block src holds into dst, as sync would.
func copyRoom(t *testing.T, src, dst replication.Room) error {
	t.Helper()
	for _, h := range src.Heads() {
		for {
			from := dst.Len(h.Writer)
			head, blocks, ok := src.Blocks(h.Writer, from, 1<<20)
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

func TestKeepServeReopen(t *testing.T) {
	dir := t.TempDir()
	owner, _ := identity.GenerateSigningKey()
	s, db := openStore(t, dir, Config{Owners: []identity.PublicKey{owner.Public()}})
	r, key, founder := newRoom(t, 50, "zebracorn")
	if _, err := keep(t, s, r, owner.Public(), true); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Room(r.Discovery())
	if err := copyRoom(t, r, b); err != nil {
		t.Fatal(err)
	}
	db.Close()

	// Reopened, the mirror still serves everything, and a new member
	// reads the whole room from it alone.
	s, db = openStore(t, dir, Config{Owners: []identity.PublicKey{owner.Public()}})
	defer db.Close()
	b, ok := s.Room(r.Discovery())
	if !ok {
		t.Fatal("room lost on reopen")
	}
	_, self := newSelf(t)
	reader, err := room.Open(room.Config{Key: key, Founder: founder, Self: self})
	if err != nil {
		t.Fatal(err)
	}
	if err := copyRoom(t, b, reader); err != nil {
		t.Fatal(err)
	}
	got := reader.Count()
	if got != 50 {
		t.Fatalf("reader sees %d messages from the mirror, want 50", got)
	}
	info := s.List(owner.Public())
	if len(info) != 1 || !info[0].Pinned || info[0].Entries != 51 || info[0].Bytes == 0 {
		t.Fatalf("list: %+v", info)
	}
	// Nothing readable on the mirror's disk: no plaintext, no room key.
	raw, err := os.ReadFile(db.Path())
	if err != nil {
		t.Fatal(err)
	}
	kb := key.Bytes()
	for _, needle := range [][]byte{[]byte("zebracorn"), kb[:]} {
		if bytes.Contains(raw, needle) {
			t.Fatalf("the mirror's database contains %q", needle)
		}
	}
}

func TestTamperedBlocksAreRejected(t *testing.T) {
	owner, _ := identity.GenerateSigningKey()
	s, db := openStore(t, t.TempDir(), Config{Owners: []identity.PublicKey{owner.Public()}})
	defer db.Close()
	r, _, _ := newRoom(t, 10, "secret")
	keep(t, s, r, owner.Public(), false)
	b, _ := s.Room(r.Discovery())
	h := r.Heads()[0]
	head, blocks, _ := r.Blocks(h.Writer, 0, 1<<20)

	flipped := cloneBlocks(blocks)
	flipped[3][len(flipped[3])-1] ^= 1
	forged := head
	forged.Length++
	for name, try := range map[string]func() error{
		"flipped bit":   func() error { return b.Receive(head, flipped) },
		"truncated":     func() error { return b.Receive(head, blocks[:len(blocks)-1]) },
		"reordered":     func() error { return b.Receive(head, swap(cloneBlocks(blocks), 1, 2)) },
		"forged length": func() error { return b.Receive(forged, append(cloneBlocks(blocks), []byte("x"))) },
		"other room":    func() error { h2 := head; h2.Discovery[0] ^= 1; return b.Receive(h2, blocks) },
	} {
		if err := try(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if n := b.Len(h.Writer); n != 0 {
			t.Fatalf("%s: %d blocks stored", name, n)
		}
	}
	if err := b.Receive(head, blocks); err != nil {
		t.Fatalf("honest blocks: %v", err)
	}
	// An old head again (a replay) is stale, not a change.
	if err := b.Receive(head, blocks); err == nil {
		t.Fatal("a replayed batch was accepted twice")
	}
	if b.Len(h.Writer) != uint64(len(blocks)) {
		t.Fatal("replay changed the log")
	}
}

func cloneBlocks(bs [][]byte) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = append([]byte{}, b...)
	}
	return out
}

func swap(bs [][]byte, i, j int) [][]byte { bs[i], bs[j] = bs[j], bs[i]; return bs }

func TestQuotaAndEviction(t *testing.T) {
	owner, _ := identity.GenerateSigningKey()
	stranger, _ := identity.GenerateSigningKey()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	s, db := openStore(t, t.TempDir(), Config{Owners: []identity.PublicKey{owner.Public()}, Quota: 8 << 10, Budget: 24 << 10, Now: clock})
	defer db.Close()

	// A stranger is cut at its quota.
	big, _, _ := newRoom(t, 200, "filler")
	if _, err := s.Keep(big.Discovery(), stranger.Public(), true); !errors.Is(err, ErrDenied) {
		t.Fatalf("a stranger pinned: %v", err)
	}
	if _, err := keep(t, s, big, stranger.Public(), false); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Room(big.Discovery())
	err := copyRoom(t, big, b)
	if !errors.Is(err, ErrFull) || !errors.Is(err, replication.ErrRefused) {
		t.Fatalf("stranger over quota: %v", err)
	}
	if got := b.bytes(); got > 8<<10 {
		t.Fatalf("stranger holds %d bytes, quota %d", got, 8<<10)
	}
	if err := s.Drop(big.Discovery(), stranger.Public()); err != nil {
		t.Fatalf("the requester cannot drop its room: %v", err)
	}

	// Owner rooms: the pinned one survives; the least recently used
	// unpinned one goes first when the budget runs out.
	// (a room of 100 messages takes about 10 KiB)
	pinned, _, _ := newRoom(t, 100, "pinned")
	old, _, _ := newRoom(t, 100, "old")
	newer, _, _ := newRoom(t, 100, "newer")
	for _, r := range []*room.Room{pinned, old, newer} {
		if _, err := keep(t, s, r, owner.Public(), r == pinned); err != nil {
			t.Fatal(err)
		}
		rb, _ := s.Room(r.Discovery())
		if err := copyRoom(t, r, rb); err != nil {
			t.Fatal(err)
		}
	}
	more, _, _ := newRoom(t, 100, "more")
	keep(t, s, more, owner.Public(), false)
	mb, _ := s.Room(more.Discovery())
	if err := copyRoom(t, more, mb); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Room(pinned.Discovery()); !ok {
		t.Fatal("the pinned room was evicted")
	}
	if _, ok := s.Room(old.Discovery()); ok {
		t.Fatal("the least recently used room is still there")
	}
	var unpinned int64
	for _, in := range s.List(owner.Public()) {
		if !in.Pinned {
			unpinned += in.Bytes
		}
	}
	if unpinned > 24<<10 {
		t.Fatalf("%d unpinned bytes over a budget of %d", unpinned, 24<<10)
	}
	// Only an owner or the requester may drop.
	if err := s.Drop(pinned.Discovery(), stranger.Public()); !errors.Is(err, ErrDenied) {
		t.Fatalf("a stranger dropped an owner's room: %v", err)
	}
}

// TestRoomsLoadedWhenUsed keeps more rooms than stay loaded: each is
// loaded when a peer syncs it and unloaded once idle, at most maxLive at a
// time; what a handle receives after its room was unloaded reaches the
// room loaded again; every room reopens whole.
func TestRoomsLoadedWhenUsed(t *testing.T) {
	dir := t.TempDir()
	owner, _ := identity.GenerateSigningKey()
	s, db := openStore(t, dir, Config{Owners: []identity.PublicKey{owner.Public()}})
	n := maxLive*2 + 10
	srcs := make([]*room.Room, n)
	handles := make([]replication.Room, n)
	for i := range srcs {
		srcs[i], _, _ = newRoom(t, 3, fmt.Sprint("room", i))
		if _, err := keep(t, s, srcs[i], owner.Public(), false); err != nil {
			t.Fatal(err)
		}
		handles[i], _ = s.Lookup(srcs[i].Discovery())
	}
	// Each room synced through its handle, long after it was loaded.
	for i, src := range srcs {
		for _, h := range src.Heads() {
			hh, blocks, _ := src.Blocks(h.Writer, handles[i].Len(h.Writer), 1<<20)
			if err := handles[i].Receive(hh, blocks); err != nil {
				t.Fatalf("room %d: %v", i, err)
			}
		}
		s.mu.Lock()
		live := len(s.live)
		s.mu.Unlock()
		if live > maxLive {
			t.Fatalf("%d rooms loaded after syncing room %d, at most %d", live, i, maxLive)
		}
	}
	check := func(s *Store) {
		t.Helper()
		for i, src := range srcs {
			h, _ := s.Lookup(src.Discovery())
			for _, head := range src.Heads() {
				if got := h.Len(head.Writer); got != head.Length {
					t.Fatalf("room %d holds %d blocks of %d", i, got, head.Length)
				}
			}
		}
	}
	check(s)
	var total int64
	for _, in := range s.List(owner.Public()) {
		total += in.Bytes
	}
	if total == 0 {
		t.Fatal("the rooms' bytes were not counted")
	}
	// Reopened: every room whole, counted the same.
	db.Close()
	s, db = openStore(t, dir, Config{Owners: []identity.PublicKey{owner.Public()}})
	defer db.Close()
	check(s)
	var again int64
	for _, in := range s.List(owner.Public()) {
		again += in.Bytes
	}
	if again != total {
		t.Fatalf("%d bytes counted after reopening, %d before", again, total)
	}
}
