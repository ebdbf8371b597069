package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
	"github.com/hearthp2p/hearth/storage"
)

// TestRottenChunkOnASource: a chunk that rotted on a source's disk (a
// tampering mirror, a failing card) is never served; the receiver gets it
// from another source.
func TestRottenChunkOnASource(t *testing.T) {
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "db"), storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	chunks, err := storage.OpenChunks(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	rotten := NewStore(db, chunks)
	path, data := randomFile(t, t.TempDir(), 4*chunk.Size)
	m, err := rotten.PutFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Name = "x"
	hs, _ := rotten.Hashes(m.Root)
	// An honest source with the same ciphertext.
	honest := newStore(t)
	sink, err := honest.Sink(m, hs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Chunks() {
		ct, _ := rotten.Chunk(m.Root, i, nil)
		if err := sink.Put(i, ct); err != nil {
			t.Fatal(err)
		}
	}
	h := hex.EncodeToString(hs[2][:])
	f := filepath.Join(dir, "chunks", h[:2], h)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	b[100] ^= 1
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := rotten.Chunk(m.Root, 2, nil); ok {
		t.Fatal("a rotten chunk was served")
	}
	src1, src2, recv := newNode(t, rotten), newNode(t, honest), newNode(t, nil)
	peers := recv.connect(t, src1, src2)
	out := filepath.Join(t.TempDir(), "out")
	part, err := OpenPartial(out, m, hs)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	if err := blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: recv.n.Host, Peers: peers, Partial: part}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(data) {
		t.Fatal("the file differs")
	}
}

// TestDiskFull: the receiver's disk fills up: the transfer stops with a
// clear error, the partial file keeps what was verified, and it completes
// once space returns.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root: scripts/test runs as root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	s := newStore(t)
	path, data := randomFile(t, t.TempDir(), 6*chunk.Size)
	m, err := s.PutFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Name = "x"
	hs, _ := s.Hashes(m.Root)
	src, recv := newNode(t, s), newNode(t, nil)
	peers := recv.connect(t, src)
	out := filepath.Join(mnt, "x.part")
	part, err := OpenPartial(out, m, hs)
	if err != nil {
		t.Fatal(err)
	}
	err = blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: recv.n.Host, Peers: peers, Partial: part})
	part.Close()
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("a full disk: %v", err)
	}
	// Space returns.
	if out, err := exec.Command("mount", "-o", "remount,size=16m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v %s", err, out)
	}
	part, err = OpenPartial(out, m, hs)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	if n, _ := part.Held(); n == 0 {
		t.Fatal("nothing kept from before the disk filled up")
	}
	if err := blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: recv.n.Host, Peers: []peer.ID{peers[0]}, Partial: part}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	if string(got) != string(data) {
		t.Fatal("the file differs")
	}
}

// TestSendStoppedLeavesNothing: a send stopped halfway (the daemon
// stopping) or cut short by a full disk leaves no orphan chunk in the
// chunk store, and reports its progress chunk by chunk until then.
func TestSendStoppedLeavesNothing(t *testing.T) {
	count := func(s *Store) (n int) {
		s.chunks.Walk(func(storage.ChunkID, int64) error { n++; return nil })
		return n
	}
	s := newStore(t)
	path, _ := randomFile(t, t.TempDir(), 8*chunk.Size+5)
	ctx, cancel := context.WithCancel(context.Background())
	var seen []int64
	_, err := s.PutFileProgress(ctx, path, func(done int64) {
		seen = append(seen, done)
		if done >= 3*chunk.Size {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a stopped send: %v", err)
	}
	if len(seen) != 3 || seen[0] != chunk.Size || seen[2] != 3*chunk.Size {
		t.Fatalf("progress %v", seen)
	}
	if n := count(s); n != 0 {
		t.Fatalf("%d orphan chunks left by a stopped send", n)
	}
	var all []int64
	m, err := s.PutFileProgress(context.Background(), path, func(done int64) { all = append(all, done) })
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != m.Chunks() || all[len(all)-1] != m.Size {
		t.Fatalf("progress %v for %d bytes", all, m.Size)
	}

	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root: scripts/test runs as root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	ch, err := storage.OpenChunks(filepath.Join(mnt, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	full := NewStore(s.db, ch)
	if _, err := full.PutFile(path); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a send onto a full disk: %v", err)
	}
	if n := count(full); n != 0 {
		t.Fatalf("%d orphan chunks left on the full disk", n)
	}
}
