package app

import (
	"bytes"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// sealed is a file of n bytes as a sender seals it: its manifest, its
// ciphertext chunks and their hashes.
func sealed(t *testing.T, n int) ([]byte, *chunk.Manifest, [][]byte, []chunk.Hash) {
	t.Helper()
	plain := make([]byte, n)
	rand.Read(plain)
	var cts [][]byte
	m, hs, err := chunk.Encrypt(bytes.NewReader(plain), int64(n), func(_ int, ct []byte) error {
		cts = append(cts, bytes.Clone(ct))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return plain, m, cts, hs
}

// TestPageSink: the page gets a chunk's plaintext only once it matched
// its hash; a tampered chunk, one out of range, or a hash list that is not
// the file's are refused; what the page held already is not asked again;
// a chunk the page could not keep is not counted.
func TestPageSink(t *testing.T) {
	plain, m, cts, hs := sealed(t, 2*chunk.Size+777)
	var mu sync.Mutex
	got := map[int][]byte{}
	full := false
	put := func(i int, b []byte) error {
		mu.Lock()
		defer mu.Unlock()
		if full {
			return errors.New("quota exceeded")
		}
		got[i] = bytes.Clone(b)
		return nil
	}
	if _, err := newPageSink(m, hs[:2], nil, put); err == nil {
		t.Fatal("a hash list short of the file's was taken")
	}
	s, err := newPageSink(m, hs, []int{1, 1, -1, 99}, put)
	if err != nil {
		t.Fatal(err)
	}
	if miss := s.Missing(); !slices.Equal(miss, []int{0, 2}) {
		t.Fatalf("missing %v with chunk 1 held", miss)
	}
	if n, b := s.Held(); n != 1 || b != chunk.Size {
		t.Fatalf("held %d chunks, %d bytes", n, b)
	}
	bad := bytes.Clone(cts[0])
	bad[10] ^= 1
	if err := s.Put(0, bad); !errors.Is(err, chunk.ErrBad) {
		t.Fatalf("a tampered chunk: %v", err)
	}
	if err := s.Put(2, cts[0]); !errors.Is(err, chunk.ErrBad) {
		t.Fatalf("chunk 0 given as chunk 2: %v", err)
	}
	if err := s.Put(7, cts[0]); !errors.Is(err, chunk.ErrBad) {
		t.Fatalf("a chunk past the end: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("the page was given %d refused chunks", len(got))
	}
	full = true
	if err := s.Put(0, bytes.Clone(cts[0])); err == nil || s.Complete() || len(s.Missing()) != 2 {
		t.Fatalf("a chunk the page could not keep: %v, missing %v", err, s.Missing())
	}
	full = false
	for _, i := range []int{0, 2} {
		if err := s.Put(i, bytes.Clone(cts[i])); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Complete() {
		t.Fatal("not complete")
	}
	if !bytes.Equal(got[0], plain[:chunk.Size]) || !bytes.Equal(got[2], plain[2*chunk.Size:]) {
		t.Fatal("the page got other bytes than the file's")
	}
}

// TestFileSources: a download asks the device that linked the app first,
// then the room's devices (never this one, nor a revoked one) and its
// mirrors, whose addresses the room gives; a room's files, its door's
// ring picture and its mirrors are listed as the page shows them.
func TestFileSources(t *testing.T) {
	d, rs, r := founded(t)
	other, _ := identity.GenerateSigningKey()
	by, _ := proto.PeerOf(other.Public())
	mirror := "12D3KooWGzBCpU3uF8wVKQrVU5SNUhRCbQykSqAYXjxwwTWHVxYm"
	if _, err := r.Write(room.Op{Type: room.OpMirror, Name: mirror, Text: "/ip4/192.0.2.1/udp/4001/quic-v1"}); err != nil {
		t.Fatal(err)
	}
	_, m, _, _ := sealed(t, 10)
	m.Name, m.Type = "plan.png", "image/png"
	mb, _ := m.MarshalBinary()
	ref, err := r.Write(room.Op{Type: room.OpFile, Blob: mb, Text: "the plan"})
	if err != nil {
		t.Fatal(err)
	}
	given := map[peer.ID][]string{}
	srcs := rs.fileSources(r, by, func(p peer.ID, as []string) { given[p] = as })
	me, _ := d.PeerID()
	mp, _ := peer.Decode(mirror)
	if len(srcs) != 2 || srcs[0] != by || srcs[1] != mp || slices.Contains(srcs, me) {
		t.Fatalf("sources %v: want the linker %s, then the mirror %s, never this device %s", srcs, by, mp, me)
	}
	if !slices.Equal(given[mp], []string{"/ip4/192.0.2.1/udp/4001/quic-v1"}) {
		t.Fatalf("the mirror's addresses: %v", given[mp])
	}
	fs, err := rs.Files("family", 0)
	if err != nil || len(fs) != 1 || fs[0].ID != ref.String() || fs[0].Name != "plan.png" || fs[0].Caption != "the plan" || !fs[0].Mine || fs[0].Chunks != 1 {
		t.Fatalf("files %+v, %v", fs, err)
	}
	// What a member declares is shown only if it is a raster picture.
	for declared, want := range map[string]string{"image/png": "image/png", "IMAGE/JPEG; q=1": "image/jpeg",
		"text/html": "application/octet-stream", "image/svg+xml": "application/octet-stream", "": "application/octet-stream",
		"application/javascript": "application/octet-stream"} {
		m.Type = declared
		mb, _ := m.MarshalBinary()
		if _, err := r.Write(room.Op{Type: room.OpFile, Blob: mb}); err != nil {
			t.Fatal(err)
		}
		fs, _ := rs.Files("family", 1)
		if len(fs) != 1 || fs[0].Type != want || fs[0].Declared != declared {
			t.Errorf("declared %q: the page gets %+v, want type %q", declared, fs, want)
		}
	}
	if _, ok, _ := rs.RingPicture("family", [16]byte{1}); ok {
		t.Fatal("a ring picture where no door rang")
	}
	ms, err := rs.Mirrors("family")
	if err != nil || len(ms) != 1 || ms[0].Peer != mirror {
		t.Fatalf("mirrors %+v, %v", ms, err)
	}
}

// TestAddSource: a mirror's address is taken with or without its own
// /p2p, never with another peer's; each relay the link goes through is
// one more way to the source.
func TestAddSource(t *testing.T) {
	n := &addrBook{m: map[peer.ID][]ma.Multiaddr{}}
	p, _ := peer.Decode("12D3KooWGzBCpU3uF8wVKQrVU5SNUhRCbQykSqAYXjxwwTWHVxYm")
	relay := "/ip4/192.0.2.9/udp/4001/webrtc-direct/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	addSource(n, p, []string{
		"/ip4/192.0.2.1/udp/1/webrtc-direct",
		"/ip4/192.0.2.2/udp/2/webrtc-direct/p2p/" + p.String(),
		"/ip4/192.0.2.3/udp/3/webrtc-direct/p2p/12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp",
		"not an address",
	}, []string{relay + "/p2p-circuit/p2p/12D3KooWSomeDoor", relay + "/p2p-circuit/p2p/12D3KooWOther"})
	var got []string
	for _, a := range n.m[p] {
		got = append(got, a.String())
	}
	want := []string{"/ip4/192.0.2.1/udp/1/webrtc-direct", "/ip4/192.0.2.2/udp/2/webrtc-direct", relay + "/p2p-circuit"}
	if !slices.Equal(got, want) {
		t.Fatalf("addresses %q, want %q", got, want)
	}
}
