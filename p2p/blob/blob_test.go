package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/storage"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func writeRandom(tb testing.TB, path string, size int) []byte {
	tb.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return b
}

func randomFile(t *testing.T, dir string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(dir, "in.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func newStore(t *testing.T) *Store { return newStoreB(t) }

func newStoreB(t testing.TB) *Store {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(filepath.Join(dir, "db"), storage.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ch, err := storage.OpenChunks(filepath.Join(dir, "chunks"))
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(db, ch)
}

// counting wraps a source and counts the chunks served, or tampers.
type counting struct {
	Source
	mu     sync.Mutex
	served map[int]int
	tamper bool
}

func (c *counting) Chunk(root chunk.Hash, i int, buf []byte) ([]byte, bool) {
	ct, ok := c.Source.Chunk(root, i, buf)
	if !ok {
		return nil, false
	}
	c.mu.Lock()
	if c.served == nil {
		c.served = map[int]int{}
	}
	c.served[i]++
	c.mu.Unlock()
	if c.tamper {
		ct = append([]byte{}, ct...)
		ct[len(ct)/2] ^= 1
	}
	return ct, true
}

func (c *counting) total() (n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.served {
		n += v
	}
	return n
}

type node struct {
	n   *hnet.Node
	svc *Service
}

func newNode(t *testing.T, src Source) *node { return newNodeB(t, src) }

func newNodeB(t testing.TB, src Source) *node {
	t.Helper()
	k, _ := identity.GenerateSigningKey()
	n, err := hnet.New(hnet.Config{Key: k, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	nd := &node{n: n}
	if src != nil {
		nd.svc = NewService(n.Host, func(chunk.Hash) (Source, bool) { return src, true }, nil)
	}
	t.Cleanup(func() {
		if nd.svc != nil {
			nd.svc.Close()
		}
		n.Close()
	})
	return nd
}

func (a *node) connect(t *testing.T, bs ...*node) []peer.ID {
	t.Helper()
	var ids []peer.ID
	for _, b := range bs {
		if err := a.n.Host.Connect(context.Background(), peer.AddrInfo{ID: b.n.Host.ID(), Addrs: b.n.Host.Addrs()}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.n.Host.ID())
	}
	return ids
}

// TestFetchMultiSourceTamperResume: a receiver fetches from three sources
// at once, one of which tampers; it drops the tamperer, ends with the same
// bytes, and after a break resumes without fetching again what it had.
func TestFetchMultiSourceTamperResume(t *testing.T) {
	s := newStore(t)
	path, data := randomFile(t, t.TempDir(), 12*chunk.Size+777)
	m, err := s.PutFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Name = "clip.bin"
	good1, good2, bad := &counting{Source: s}, &counting{Source: s}, &counting{Source: s, tamper: true}
	srcs := []*node{newNode(t, good1), newNode(t, good2), newNode(t, bad)}
	recv := newNode(t, nil)
	peers := recv.connect(t, srcs...)

	hs, err := blobwire.FetchHashes(context.Background(), recv.n.Host, m, peers)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "clip.bin.part")
	// A first run stops after a few chunks (the network breaks).
	part, err := OpenPartial(out, m, hs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	err = blobwire.Fetch(ctx, blobwire.FetchConfig{Host: recv.n.Host, Peers: peers[:1], Partial: part, Window: 2, Progress: func(p blobwire.Progress) {
		if p.Done >= 4*chunk.Size {
			cancel()
		}
	}})
	cancel()
	if err == nil {
		t.Fatal("the interrupted fetch reports success")
	}
	part.Close()

	// Resumed from what is on disk, from all three sources.
	part, err = OpenPartial(out, m, hs)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	heldChunks, _ := part.Held()
	if heldChunks < 4 {
		t.Fatalf("only %d chunks kept across the break", heldChunks)
	}
	missing := part.Missing()
	if err := blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: recv.n.Host, Peers: peers, Partial: part, Window: 2}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("received file differs")
	}
	// Nothing verified before the break was fetched again.
	served := map[int]int{}
	for _, c := range []*counting{good1, good2} {
		c.mu.Lock()
		for i, n := range c.served {
			served[i] += n
		}
		c.mu.Unlock()
	}
	isMissing := map[int]bool{}
	for _, i := range missing {
		isMissing[i] = true
	}
	for i := range m.Chunks() {
		if !isMissing[i] && served[i] > 1 {
			t.Errorf("chunk %d, verified before the break, was served %d times", i, served[i])
		}
	}
	if good2.total() == 0 {
		t.Error("the second honest source was not used")
	}
	// Dropped at its first bad chunk: it may have been asked its window
	// and what waited for blobwire's pool meanwhile (its queue holds 4),
	// no more.
	if n := bad.total(); n > 2+4+1 {
		t.Errorf("the tampering source was asked %d chunks; it should be dropped at its first", n)
	}
}

func TestEmptyAndDiskChecks(t *testing.T) {
	s := newStore(t)
	m, err := s.Put(bytes.NewReader(nil), 0)
	if err != nil {
		t.Fatal(err)
	}
	m.Name = "empty"
	part, err := OpenPartial(filepath.Join(t.TempDir(), "empty"), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer part.Close()
	if !part.Complete() {
		t.Fatal("an empty file is not complete")
	}
	// A file that changes size while it is read is refused.
	if _, err := s.Put(bytes.NewReader(make([]byte, 10)), 20); err == nil {
		t.Fatal("a short read was accepted")
	}
	if _, err := s.Put(bytes.NewReader(make([]byte, 30)), 20); err == nil {
		t.Fatal("a file that grew was accepted")
	}
	if _, err := s.PutFile(t.TempDir()); err == nil {
		t.Fatal("a folder was accepted")
	}
}

// lyingMirror is a mirror that lies: a wrong hash list, every chunk
// tampered, and chunks it claims to hold but does not.
type lyingMirror struct {
	counting
}

func (l *lyingMirror) Hashes(root chunk.Hash) ([]chunk.Hash, bool) {
	hs, ok := l.Source.Hashes(root)
	if !ok {
		return nil, false
	}
	hs = append([]chunk.Hash(nil), hs...)
	hs[len(hs)/2][0] ^= 1
	return hs, true
}

func (l *lyingMirror) Have(root chunk.Hash) []bool {
	have := l.Source.Have(root)
	for i := range have {
		have[i] = true
	}
	return have
}

// TestTamperingMirror: a mirror keeps a file blind (ciphertext chunks,
// fetched from the sender into its store), the sender goes away, and the
// mirror turns hostile. Alone, it gets nothing written: every chunk it
// serves is rejected and the partial file holds nothing. With an honest
// member beside it, the receiver drops it and ends with the right bytes.
func TestTamperingMirror(t *testing.T) {
	sender := newStore(t)
	path, data := randomFile(t, t.TempDir(), 9*chunk.Size+123)
	m, err := sender.PutFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Name = "door.mp4"
	snd := newNode(t, sender)

	// The mirror keeps the file: it knows the root, size and chunk size,
	// never the key.
	blind := &chunk.Manifest{Root: m.Root, Size: m.Size, ChunkSize: m.ChunkSize}
	mirrorStore := newStore(t)
	mirror := &lyingMirror{counting{Source: mirrorStore}}
	mir := newNode(t, mirror)
	ids := mir.connect(t, snd)
	hs, err := blobwire.FetchHashes(context.Background(), mir.n.Host, blind, ids)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := mirrorStore.Sink(blind, hs)
	if err != nil {
		t.Fatal(err)
	}
	if err := blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: mir.n.Host, Peers: ids, Partial: sink}); err != nil {
		t.Fatal(err)
	}
	// A member downloads it too, before the sender goes away.
	memberPart, err := OpenPartial(filepath.Join(t.TempDir(), "member.part"), m, hs)
	if err != nil {
		t.Fatal(err)
	}
	defer memberPart.Close()
	memberNode := newNode(t, nil)
	if err := blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: memberNode.n.Host, Peers: memberNode.connect(t, snd), Partial: memberPart}); err != nil {
		t.Fatal(err)
	}
	snd.svc.Close()
	snd.n.Close()

	// The mirror alone, now tampering.
	mirror.tamper = true
	recv := newNode(t, nil)
	mirrorID := recv.connect(t, mir)
	if _, err := blobwire.FetchHashes(context.Background(), recv.n.Host, m, mirrorID); err == nil {
		t.Fatal("a hash list that does not make the root was accepted")
	}
	out := filepath.Join(t.TempDir(), "door.mp4.part")
	part, err := OpenPartial(out, m, hs) // the honest list, from elsewhere
	if err != nil {
		t.Fatal(err)
	}
	err = blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: recv.n.Host, Peers: mirrorID, Partial: part})
	if err == nil {
		t.Fatal("a fetch from a tampering mirror alone succeeded")
	}
	if n, _ := part.Held(); n != 0 {
		t.Fatalf("%d tampered chunks were kept", n)
	}
	served := mirror.total()
	if served == 0 {
		t.Fatal("the mirror was never asked: the test proves nothing")
	}

	// The member serves what it downloaded, honestly; the mirror is still
	// asked and still lies.
	mem := newNode(t, memberPart)
	peers := append(mirrorID, recv.connect(t, mem)...)
	if err := blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: recv.n.Host, Peers: peers, Partial: part, Window: 2}); err != nil {
		t.Fatal(err)
	}
	part.Close()
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("received file differs")
	}
	t.Logf("the tampering mirror served %d chunks before and %d during the good fetch, all rejected", served, mirror.total()-served)
}
