package mirror

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/replication"
	"github.com/hearthp2p/hearth/p2p/room"
)

// evil is a mirror that lies: it serves honestly kept blocks altered in
// one way.
type evil struct {
	replication.Room
	mode string
}

func (e *evil) Heads() []log.Head {
	hs := e.Room.Heads()
	if e.mode == "stale" {
		// Replays old roots: the first head of every log.
		for i, h := range hs {
			if b, ok := e.Room.(*Blind); ok {
				b.mu.Lock()
				old := b.logs[h.Writer].Heads()[0]
				b.mu.Unlock()
				hs[i] = old
			}
		}
	}
	return hs
}

func (e *evil) Blocks(w identity.PublicKey, from uint64, max int) (log.Head, [][]byte, bool) {
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

func messages(r *room.Room) (n int) {
	r.View(func(v *room.View) { n = len(v.Messages) })
	return n
}

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
			store.Keep(d, owner.Public(), true)
			kept, _ := store.Room(d)
			if err := copyRoom(t, src, kept); err != nil {
				t.Fatal(err)
			}

			member, err := room.Open(room.Config{Key: key, Founder: aliceID.Public(), Self: bob})
			if err != nil {
				t.Fatal(err)
			}
			mirrorKey, _ := identity.GenerateSigningKey()
			bad := newNode(t, mirrorKey, &evil{Room: kept, mode: mode}, d)
			m := newNode(t, bob.Device, member, d)
			m.sync(t, bad, d)

			deadline := time.Now().Add(3 * time.Second)
			for time.Now().Before(deadline) && m.svc.Score(bad.n.Host.ID()) == 0 {
				time.Sleep(20 * time.Millisecond)
			}
			lied := m.svc.Score(bad.n.Host.ID()) > 0
			switch mode {
			case "withhold", "stale":
				if lied {
					t.Fatalf("%s: an honest-looking mirror was scored down", mode)
				}
			default:
				if !lied {
					t.Fatalf("%s: the lie went unnoticed", mode)
				}
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
			deadline = time.Now().Add(10 * time.Second)
			for messages(member) != 40 {
				if time.Now().After(deadline) {
					t.Fatalf("%s: the member has %d of 40 messages from the honest peer", mode, messages(member))
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
