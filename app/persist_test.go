package app

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/room"
)

// noNet is a node with no peers: the rooms open and write, nothing syncs.
type noNet struct{ id peer.ID }

func (n noNet) ID() peer.ID                                       { return n.id }
func (noNet) SetStreamHandler(protocol.ID, network.StreamHandler) {}
func (noNet) RemoveStreamHandler(protocol.ID)                     {}
func (noNet) NewStream(context.Context, peer.ID, ...protocol.ID) (network.Stream, error) {
	return nil, network.ErrNoConn
}

// kv is the browser's storage in a map, written as the app writes it.
type kv map[string][]byte

func (s kv) commit(puts []Record, dels []string) {
	for _, r := range puts {
		s[r.Key] = slices.Clone(r.Value)
	}
	for _, d := range dels {
		delete(s, d)
	}
}

func (s kv) records() []Record {
	var out []Record
	for k, v := range s {
		out = append(out, Record{Key: k, Value: v})
	}
	// IndexedDB gives them in key order; the app must not depend on it.
	slices.SortFunc(out, func(a, b Record) int { return -strings.Compare(a.Key, b.Key) })
	return out
}

// linkedDevice makes a device of a new identity that founded a room, as
// a link would bring it.
func linkedDevice(t *testing.T) (*Device, *Linked) {
	t.Helper()
	id, _ := identity.GenerateSigningKey()
	d, err := NewDevice("phone")
	if err != nil {
		t.Fatal(err)
	}
	proof, _ := identity.NewProof(id, d.Key.Public(), 1).MarshalBinary()
	key := room.NewKey()
	return d, &Linked{Identity: id.Public(), Proof: proof, Rooms: []pairing.LinkRoom{{Key: key.Bytes(), Founder: id.Public(), Name: "family"}}}
}

// TestStoredRoomsReopen: the app's rooms, kept as the records their
// journal makes, reopen from those records alone, with the device and the
// link: the same history; records that are not the app's are refused.
func TestStoredRoomsReopen(t *testing.T) {
	d, l := linkedDevice(t)
	pid, _ := d.PeerID()
	l.By = pid
	store := kv{}
	for _, f := range []func() (Record, error){func() (Record, error) { return MarshalDevice(d) }, func() (Record, error) { return MarshalLinked(l) }} {
		r, err := f()
		if err != nil {
			t.Fatal(err)
		}
		store.commit([]Record{r}, nil)
	}
	ms := room.NewMemStore()
	ms.SetJournal(func(c room.Change) error {
		puts, dels, err := Records(c)
		if err == nil {
			store.commit(puts, dels)
		}
		return err
	})
	rs, err := OpenRooms(RoomsConfig{Host: noNet{pid}, Device: d, Linked: l, Store: ms, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	// The founder's room, created here (a link brings rooms with history;
	// this one starts with this device's genesis).
	var r *room.Room
	for _, x := range rs.byDisc {
		r = x
	}
	if err := r.Create("family"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 40 {
		text := strings.Repeat("x", i) + " message"
		if _, err := rs.Send("family", text); err != nil {
			t.Fatal(err)
		}
		want = append(want, text)
	}
	rs.Close()

	recs := store.records()
	var dev, lk []byte
	for _, rec := range recs {
		switch rec.Key {
		case keyDevice:
			dev = rec.Value
		case keyLinked:
			lk = rec.Value
		}
	}
	d2, err := ParseDevice(dev)
	if err != nil || !d2.Key.Equal(d.Key) || d2.Name != "phone" {
		t.Fatalf("the stored device: %v", err)
	}
	l2, err := ParseLinked(lk)
	if err != nil || l2.Identity != l.Identity || l2.By != l.By {
		t.Fatalf("the stored link: %v", err)
	}
	changes, err := Changes(recs)
	if err != nil {
		t.Fatal(err)
	}
	ms2 := room.NewMemStore()
	for _, c := range changes {
		if err := ms2.Replay(*c); err != nil {
			t.Fatal(err)
		}
	}
	rs2, err := OpenRooms(RoomsConfig{Host: noNet{pid}, Device: d2, Linked: l2, Store: ms2, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer rs2.Close()
	got, err := rs2.History("family", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range got {
		texts = append(texts, m.Text)
		if !m.Mine {
			t.Fatalf("a message of this identity shown as another's: %+v", m)
		}
	}
	if !slices.Equal(texts, want) {
		t.Fatalf("reopened: %q, want %q", texts, want)
	}

	for _, bad := range [][]Record{
		{{Key: "x/whatever/a/b"}},
		{{Key: "b/zz/" + strings.Repeat("0", 64) + "/0000000000000000"}},
		{{Key: "k/" + strings.Repeat("0", 64) + "/0000000000000001/abcd"}},
		{{Key: "b/" + strings.Repeat("0", 64) + "/" + strings.Repeat("0", 64) + "/0000000000000000", Value: []byte{1, 2, 3}}},
	} {
		if _, err := Changes(bad); err == nil {
			t.Errorf("records %q accepted", bad[0].Key)
		}
	}
	if _, err := ParseDevice([]byte(`{"seed":"00"}`)); err == nil {
		t.Error("a device key of one byte accepted")
	}
}

// FuzzChanges: whatever the browser's storage holds, reading it back
// never panics, and what parses replays without one.
func FuzzChanges(f *testing.F) {
	z := strings.Repeat("0", 64)
	f.Add("b/"+z+"/"+z+"/0000000000000000", []byte{})
	f.Add("r/"+z+"/msgs/00ff", []byte("row"))
	f.Add("k/"+z+"/0000000000000001/"+z, []byte{})
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		cs, err := Changes([]Record{{Key: key, Value: value}})
		if err != nil {
			return
		}
		ms := room.NewMemStore()
		for _, c := range cs {
			ms.Replay(*c)
		}
	})
}
