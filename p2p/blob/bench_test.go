package blob

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/blobwire"
)

// BenchmarkFetch: one source on loopback, 32 MiB per iteration.
func BenchmarkFetch(b *testing.B) {
	s := newStoreB(b)
	dir := b.TempDir()
	path := filepath.Join(dir, "in.bin")
	writeRandom(b, path, 32<<20)
	m, err := s.PutFile(path)
	if err != nil {
		b.Fatal(err)
	}
	m.Name = "x"
	src := newNodeB(b, s)
	recv := newNodeB(b, nil)
	if err := recv.n.Host.Connect(context.Background(), peer.AddrInfo{ID: src.n.Host.ID(), Addrs: src.n.Host.Addrs()}); err != nil {
		b.Fatal(err)
	}
	peers := []peer.ID{src.n.Host.ID()}
	hs, _ := s.Hashes(m.Root)
	b.SetBytes(m.Size)
	b.ResetTimer()
	for i := range b.N {
		part, err := OpenPartial(filepath.Join(dir, "out"+string(rune('a'+i%26))), m, hs)
		if err != nil {
			b.Fatal(err)
		}
		if err := blobwire.Fetch(context.Background(), blobwire.FetchConfig{Host: recv.n.Host, Peers: peers, Partial: part}); err != nil {
			b.Fatal(err)
		}
		part.Close()
	}
}
