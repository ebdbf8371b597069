package mirror

import (
	"context"
	"encoding/binary"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/logdb"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// evil is a mirror that lies: it serves honestly kept blocks altered in
// one way.
type evil struct {
	replication.Room
	mode  string
	asked atomic.Int32 // Blocks calls: a peer's Want reached it
}

func (e *evil) Heads() []log.Head {
	hs := e.Room.Heads()
	if e.mode == "stale" {
		// Replays old roots: the first head of every log.
		for i, h := range hs {
			if b, ok := e.Room.(*Blind); ok {
				b.s.db.View(func(tx *storage.Tx) error {
					old, _, err := logdb.HeadAfter(tx, b.buckets(), h.Writer, 0)
					hs[i] = old
					return err
				})
			}
		}
	}
	return hs
}

func (e *evil) Blocks(w identity.PublicKey, from uint64, max int) (log.Head, [][]byte, bool) {
	e.asked.Add(1)
	h, bs, ok := e.Room.Blocks(w, from, max)
	if !ok {
		return h, bs, ok
	}
	switch e.mode {
	case "withhold":
		return log.Head{}, nil, false
	case "flip":
		bs[len(bs)/2][len(bs[len(bs)/2])-1] ^= 1
	case "truncate":
		if len(bs) > 1 {
			bs = bs[:len(bs)-1]
		} else {
			bs[0] = bs[0][:len(bs[0])/2]
		}
	case "reorder":
		if len(bs) > 1 {
			bs[0], bs[1] = bs[1], bs[0]
		}
	case "forge":
		// A head claiming more than was signed.
		h.Length++
		bs = append(bs, []byte("made up"))
	}
	return h, bs, true
}

func (e *evil) Receive(log.Head, [][]byte) error { return ErrFull }

type node struct {
	n   *hnet.Node
	svc *replication.Service
}

func newNode(t *testing.T, dev identity.SigningKey, r replication.Room, d log.Discovery) *node {
	t.Helper()
	n, err := hnet.New(hnet.Config{Key: dev, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	svc := replication.New(replication.Config{Host: n.Host, Lookup: func(x log.Discovery) (replication.Room, bool) { return r, x == d }})
	t.Cleanup(func() { svc.Close(); n.Close() })
	return &node{n: n, svc: svc}
}

func (a *node) sync(t *testing.T, b *node, d log.Discovery) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.n.Host.Connect(ctx, peer.AddrInfo{ID: b.n.Host.ID(), Addrs: b.n.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.Sync(ctx, b.n.Host.ID(), d); err != nil {
		t.Fatal(err)
	}
}

func messages(r *room.Room) int { return r.Count() }

// TestMaliciousMirror: whatever a lying mirror serves, a member accepts
// nothing false, scores the mirror down for every lie it can prove, and
// gets the room from an honest peer.
func TestMaliciousMirror(t *testing.T) {
	owner, _ := identity.GenerateSigningKey()
	for _, mode := range []string{"flip", "truncate", "reorder", "forge", "withhold", "stale"} {
		t.Run(mode, func(t *testing.T) {
			// The writer, with 40 messages written in several batches.
			aliceID, alice := newSelf(t)
			key := room.NewKey()
			src, err := room.Open(room.Config{Key: key, Founder: aliceID.Public(), Self: alice})
			if err != nil {
				t.Fatal(err)
			}
			src.Create("kept")
			bobID, bob := newSelf(t)
			src.Write(room.Op{Type: room.OpAddMember, Identity: bobID.Public(), Role: room.RoleMember})
			for i := range 40 {
				src.Write(room.Op{Type: room.OpMessage, Text: "m" + string(rune('a'+i%26))})
			}
			d := src.Discovery()
			store, db := openStore(t, t.TempDir(), Config{Owners: []identity.PublicKey{owner.Public()}})
			defer db.Close()
			keep(t, store, src, owner.Public(), true)
			kept, _ := store.Room(d)
			if err := copyRoom(t, src, kept); err != nil {
				t.Fatal(err)
			}

			member, err := room.Open(room.Config{Key: key, Founder: aliceID.Public(), Self: bob})
			if err != nil {
				t.Fatal(err)
			}
			mirrorKey, _ := identity.GenerateSigningKey()
			ev := &evil{Room: kept, mode: mode}
			bad := newNode(t, mirrorKey, ev, d)
			m := newNode(t, bob.Device, member, d)
			m.sync(t, bad, d)

			w := src.Heads()[0].Writer
			poll := func(what string, cond func() bool) {
				t.Helper()
				for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%s: %s: not within 30 s", mode, what)
					}
				}
			}
			switch mode {
			case "withhold":
				// The member took the mirror's heads and asked for the
				// blocks (which never come): nothing to hold against it.
				poll("the member asking the mirror", func() bool { return ev.asked.Load() > 0 })
			case "stale":
				// The member took the old heads, asked, and was served
				// the log to its end (every later head consistent).
				poll("the member holding the mirror's log", func() bool { return member.Len(w) == kept.Len(w) })
			default:
				poll("the lie noticed", func() bool { return m.svc.Score(bad.n.Host.ID()) > 0 })
			}
			if lied := m.svc.Score(bad.n.Host.ID()) > 0; lied != (mode != "withhold" && mode != "stale") {
				t.Fatalf("%s: the mirror scored down: %v", mode, lied)
			}
			// Nothing false was accepted: whatever the member holds of
			// alice's log is a prefix of the real one.
			h := src.Heads()[0]
			n := member.Len(h.Writer)
			if n > 0 {
				_, real, _ := src.Blocks(h.Writer, 0, 1<<30)
				_, got, _ := member.Blocks(h.Writer, 0, 1<<30)
				for i := range got {
					if string(got[i]) != string(real[i]) {
						t.Fatalf("%s: block %d differs from the writer's", mode, i)
					}
				}
			}
			// An honest peer fills in what the mirror withheld or spoiled.
			honest := newNode(t, alice.Device, src, d)
			m.sync(t, honest, d)
			deadline := time.Now().Add(10 * time.Second)
			for messages(member) != 40 {
				if time.Now().After(deadline) {
					t.Fatalf("%s: the member has %d of 40 messages from the honest peer", mode, messages(member))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// TestGarbageRequests: garbage, truncated and oversized requests on the
// mirror protocol get a clear refusal or a closed stream; nothing is kept,
// nothing panics, and honest requests still work after.
func TestGarbageRequests(t *testing.T) {
	owner, _ := identity.GenerateSigningKey()
	dir := t.TempDir()
	store, db := openStore(t, dir, Config{Owners: []identity.PublicKey{owner.Public()}})
	defer db.Close()
	mn, svc, boxes := serveMirror(t, store, db)
	defer mn.Close()
	defer svc.Close()
	ckey, _ := identity.GenerateSigningKey()
	cn, err := hnet.New(hnet.Config{Key: ckey, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cn.Close()
	ctx := context.Background()
	if err := cn.Host.Connect(ctx, peer.AddrInfo{ID: mn.Host.ID(), Addrs: mn.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	send := func(raw []byte) ([]byte, error) {
		st, err := cn.Host.NewStream(ctx, mn.Host.ID(), proto.Mirror)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		st.SetDeadline(time.Now().Add(5 * time.Second))
		st.Write(raw)
		st.CloseWrite()
		b := make([]byte, 4096)
		n, err := io.ReadFull(st, b)
		if n > 0 {
			return b[:n], nil
		}
		return nil, err
	}
	good := (&Request{Op: OpKeep, Proof: []byte("not a proof"), Discovery: log.Discovery{1}}).encode()
	for name, raw := range map[string][]byte{
		"empty":                      {},
		"garbage":                    []byte("\x05hello"),
		"truncated":                  append(binary.AppendUvarint(nil, uint64(len(good))), good[:len(good)/2]...),
		"oversized":                  binary.AppendUvarint(nil, 1<<30),
		"bad op":                     withLen((&Request{Op: 99}).encode()),
		"bad proof":                  withLen(good),
		"box put without invite key": withLen((&Request{Op: OpBoxPut, Box: BoxID{1}, Sealed: []byte("x")}).encode()),
	} {
		resp, err := send(raw)
		if len(resp) == 0 {
			t.Errorf("%s: no answer (%v)", name, err)
			continue
		}
		r, err := decodeResponse(resp[lenPrefix(resp):])
		if err != nil || r.status == statusOK || r.message == "" {
			t.Errorf("%s: answered %+v, %v", name, r, err)
		}
	}
	if len(store.Kept()) != 0 || len(boxes.Boxes()) != 0 {
		t.Fatal("garbage left something on the mirror")
	}
	// An honest owner request still works.
	proof, _ := identity.NewProof(owner, ckey.Public(), 1).MarshalBinary()
	if _, err := Ask(ctx, cn.Host, mn.Host.ID(), Request{Op: OpKeep, Proof: proof, Discovery: log.Discovery{2}}); err != nil {
		t.Fatal(err)
	}
	if len(store.Kept()) != 1 {
		t.Fatal("the honest request was not served")
	}
	// The mirror acts for the identity the proof attests, not for the
	// device: an owner's device pins, a stranger's device may not.
	if _, err := Ask(ctx, cn.Host, mn.Host.ID(), Request{Op: OpKeep, Proof: proof, Discovery: log.Discovery{3}, Pin: true}); err != nil {
		t.Fatalf("an owner's device could not pin: %v", err)
	}
	stranger, _ := identity.GenerateSigningKey()
	sproof, _ := identity.NewProof(stranger, ckey.Public(), 1).MarshalBinary()
	if _, err := Ask(ctx, cn.Host, mn.Host.ID(), Request{Op: OpKeep, Proof: sproof, Discovery: log.Discovery{4}, Pin: true}); err == nil {
		t.Fatal("a stranger's device pinned a room")
	}
	if got := store.List(owner.Public()); len(got) != 2 {
		t.Fatalf("the owner's rooms: %+v", got)
	}
}

func withLen(b []byte) []byte { return append(binary.AppendUvarint(nil, uint64(len(b))), b...) }

func lenPrefix(b []byte) int {
	_, n := binary.Uvarint(b)
	return max(n, 0)
}
