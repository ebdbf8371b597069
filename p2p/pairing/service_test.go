package pairing

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/internal/leaktest"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

func TestMain(m *testing.M) { leaktest.Main(m) }

func node(t *testing.T) *hnet.Node {
	t.Helper()
	k, _ := identity.GenerateSigningKey()
	n, err := hnet.New(hnet.Config{Key: k, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestServiceAnswersAndRefuses(t *testing.T) {
	admin, cand := node(t), node(t)
	inv := NewInvite()
	calls := 0
	svc := NewService(admin.Host, func(ctx context.Context, from peer.ID, id ID, sealed []byte) ([]byte, error) {
		calls++
		if id != inv.ID() {
			return nil, errors.New(NoSuchInvite)
		}
		req, err := OpenRequest(inv, sealed)
		if err != nil {
			return nil, errors.New("invalid request")
		}
		return SealAnswer(req, &Answer{OK: true, Name: "home"})
	}, nil)
	defer svc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cand.Host.Connect(ctx, peer.AddrInfo{ID: admin.Host.ID(), Addrs: admin.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	id, dev, proof, rec := candidate(t)
	sealed, eph, _ := NewRequest(inv, id.Public(), dev, proof, rec, "bob", time.Now())
	sa, err := Ask(ctx, cand.Host, admin.Host.ID(), inv.ID(), sealed)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := OpenAnswer(eph, inv.ID(), sa); err != nil || a.Name != "home" {
		t.Fatalf("answer: %v", err)
	}
	// Another invite, garbage: plain refusals, the service keeps going.
	var refused *RefusedError
	if _, err := Ask(ctx, cand.Host, admin.Host.ID(), ID{9}, sealed); !errors.As(err, &refused) || refused.Reason != NoSuchInvite {
		t.Fatalf("unknown invite: %v", err)
	}
	if _, err := Ask(ctx, cand.Host, admin.Host.ID(), inv.ID(), []byte("garbage")); !errors.As(err, &refused) {
		t.Fatalf("garbage: %v", err)
	}
	// Oversized request: the stream is reset before the handler runs.
	before := calls
	if _, err := Ask(ctx, cand.Host, admin.Host.ID(), inv.ID(), make([]byte, MaxRequest+10)); err == nil {
		t.Fatal("oversized request answered")
	}
	if calls != before {
		t.Fatal("the handler saw an oversized request")
	}
	// A flood is cut by the per-peer rate limit.
	limited := false
	for range 2 * askBurst {
		_, err := Ask(ctx, cand.Host, admin.Host.ID(), inv.ID(), sealed)
		if errors.As(err, &refused) && refused.Reason == TooMany {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("no rate limit")
	}
}

func FuzzOpenAnswer(f *testing.F) {
	eph, _ := identity.GenerateSealingKey()
	inv := FromSeed([32]byte{1})
	req := &Request{Invite: inv.ID(), Ephemeral: eph.Public().Bytes()}
	sa, _ := SealAnswer(req, &Answer{OK: true, Name: "x", Keys: []EpochKey{{Epoch: 1}}})
	plain, _ := eph.Open(answerInfo(inv.ID()), sa)
	f.Add(sa)
	f.Add(plain)
	f.Fuzz(func(t *testing.T, b []byte) {
		OpenAnswer(eph, inv.ID(), b)
		parseAnswer(b) // the plaintext decoder, past the seal
	})
}
