package blob

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/blobwire"
	"github.com/hearthp2p/hearth/p2p/proto"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
)

// TestSlowReadersHoldBoundedMemory: peers that know a file's root (a
// former member, a mirror) ask its chunks on every stream they may open
// and never read the answers. The chunks held in the server's memory stay
// within one peer's share and the whole budget, an honest peer still
// gets the file meanwhile, and everything is given back when they leave.
func TestSlowReadersHoldBoundedMemory(t *testing.T) {
	s := newStore(t)
	path, data := randomFile(t, t.TempDir(), 24*chunk.Size+5)
	m, err := s.PutFile(path)
	if err != nil {
		t.Fatal(err)
	}
	server := newNode(t, s)
	const attackers, streams = 3, 32
	var thieves []*node
	for range attackers {
		a := newNode(t, nil)
		a.connect(t, server)
		thieves = append(thieves, a)
		for range streams {
			st, err := a.n.Host.NewStream(network.WithAllowLimitedConn(context.Background(), "test"), server.n.Host.ID(), proto.Blob)
			if err != nil {
				break // the stream limit per peer
			}
			defer st.Reset()
			var reqs []byte
			for i := range 8 {
				r := blobwire.Request{Op: blobwire.OpChunk, Root: m.Root, A: uint32(i)}
				reqs = append(reqs, r.Encode()...)
			}
			if _, err := st.Write(reqs); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Every thief holds its whole share, no more.
	b := server.svc.budget
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, _ := b.held(thieves[0].n.Host.ID())
		if all == attackers*servingPerPeer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the thieves hold %d chunks, want %d", all, attackers*servingPerPeer)
		}
		time.Sleep(20 * time.Millisecond)
	}
	check := func() {
		all, _ := b.held("")
		if all > servingAll {
			t.Fatalf("%d chunks held, over the budget of %d", all, servingAll)
		}
		for _, a := range thieves {
			if _, mine := b.held(a.n.Host.ID()); mine > servingPerPeer {
				t.Fatalf("a thief holds %d chunks, over its share of %d", mine, servingPerPeer)
			}
		}
	}
	check()
	// An honest peer gets the file meanwhile.
	recv := newNode(t, nil)
	ids := recv.connect(t, server)
	hs, err := blobwire.FetchHashes(context.Background(), recv.n.Host, m, ids)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "got.part")
	part, err := OpenPartial(out, m, hs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := blobwire.Fetch(ctx, blobwire.FetchConfig{Host: recv.n.Host, Peers: ids, Partial: part, Progress: func(blobwire.Progress) { check() }}); err != nil {
		t.Fatalf("the honest peer, beside the thieves: %v", err)
	}
	part.Close()
	if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
		t.Fatal("the honest peer's file differs")
	}
	check()
	// The thieves leave: their chunks are given back.
	for _, a := range thieves {
		a.n.Host.Network().ClosePeer(server.n.Host.ID())
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if all, _ := b.held(peer.ID("")); all == 0 {
			break
		}
		if time.Now().After(deadline) {
			all, _ := b.held("")
			t.Fatalf("%d chunks still held after every peer left", all)
		}
	}
}
