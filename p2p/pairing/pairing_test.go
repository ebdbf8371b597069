package pairing

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearthp2p/hearth/p2p/identity"
)

func candidate(t *testing.T) (identity.SigningKey, identity.SigningKey, []byte, []byte) {
	t.Helper()
	id, _ := identity.GenerateSigningKey()
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	proof, _ := identity.NewProof(id, dev.Public(), 1).MarshalBinary()
	rec, _ := identity.NewDeviceRecord(id.Public(), dev, seal.Public(), "phone", time.Unix(1, 0))
	rb, _ := rec.MarshalBinary()
	return id, dev, proof, rb
}

func TestLinkRoundTrip(t *testing.T) {
	inv := NewInvite()
	link := inv.Link("12D3KooWabc")
	got, hint, err := ParseLink("  " + link + "\n")
	if err != nil || got.Seed() != inv.Seed() || hint != "12D3KooWabc" {
		t.Fatalf("ParseLink: %v %q", err, hint)
	}
	for _, bad := range []string{"", "https://example.com", "hearth://join/", link[:30], "hearth://join/" + strings.Repeat("a", 600)} {
		if _, _, err := ParseLink(bad); !errors.Is(err, ErrLink) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if strings.Contains(fmtAll(inv), "seed") {
		t.Fatal("invite printed")
	}
}

func fmtAll(i Invite) string { return i.String() + i.GoString() }

func TestRequestAnswer(t *testing.T) {
	inv := NewInvite()
	id, dev, proof, rec := candidate(t)
	sealed, eph, err := NewRequest(inv, id.Public(), dev, proof, rec, "Bob", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Someone without the invite cannot open the request.
	if _, err := OpenRequest(NewInvite(), sealed); !errors.Is(err, ErrOpen) {
		t.Fatalf("other invite: %v", err)
	}
	req, err := OpenRequest(inv, sealed)
	if err != nil {
		t.Fatal(err)
	}
	if req.Identity != id.Public() || req.Name != "Bob" {
		t.Fatal("request fields")
	}
	ans := &Answer{OK: true, RoomKey: [32]byte{1}, Founder: identity.PublicKey{2}, Name: "home", Keys: []EpochKey{{Epoch: 1, Key: [32]byte{3}}}}
	sa, err := SealAnswer(req, ans)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenAnswer(eph, inv.ID(), sa)
	if err != nil || got.RoomKey != ans.RoomKey || got.Name != "home" || len(got.Keys) != 1 {
		t.Fatalf("answer: %v %+v", err, got)
	}
	// Someone who holds the invite but not the ephemeral key cannot read it.
	other, _ := identity.GenerateSealingKey()
	if _, err := OpenAnswer(other, inv.ID(), sa); !errors.Is(err, ErrOpen) {
		t.Fatalf("answer opened without the ephemeral key: %v", err)
	}
	// A request for an identity whose proof is another's is refused.
	id2, _, _, _ := candidate(t)
	forged, _, _ := NewRequest(inv, id2.Public(), dev, proof, rec, "Eve", time.Now())
	if _, err := OpenRequest(inv, forged); !errors.Is(err, ErrInvalid) {
		t.Fatalf("foreign proof: %v", err)
	}
	// Whoever holds the invite and read bob's proof and record (every
	// member reads both in his hello) but not his device key, and signs
	// with a key of their own, is refused: the answer would be sealed to
	// their ephemeral key.
	thief, _ := identity.GenerateSigningKey()
	stolen, _, _ := NewRequest(inv, id.Public(), thief, proof, rec, "Bob", time.Now())
	if _, err := OpenRequest(inv, stolen); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a request not signed by the device it names: %v", err)
	}
	// Likewise for a device link: the record alone does not do.
	ls, _, _ := NewLinkRequest(inv, thief, rec, "phone", time.Now())
	if _, _, err := OpenLinkRequest(inv, ls); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a link request not signed by the device of its record: %v", err)
	}
	ls, _, _ = NewLinkRequest(inv, dev, rec, "phone", time.Now())
	if _, r, err := OpenLinkRequest(inv, ls); err != nil || r.Device != dev.Public() {
		t.Fatalf("a link request: %v", err)
	}
	// Tampering breaks the seal.
	bad := bytes.Clone(sealed)
	bad[len(bad)-1] ^= 1
	if _, err := OpenRequest(inv, bad); !errors.Is(err, ErrOpen) {
		t.Fatalf("tampered: %v", err)
	}
}

func FuzzOpenRequest(f *testing.F) {
	inv := FromSeed([32]byte{7})
	id, _ := identity.GenerateSigningKey()
	sealed, _, _ := NewRequest(inv, id.Public(), id, []byte{1}, []byte{2}, "x", time.Unix(5, 0))
	f.Add(sealed)
	f.Fuzz(func(t *testing.T, b []byte) {
		OpenRequest(inv, b)
	})
}

func FuzzParseLink(f *testing.F) {
	f.Add(NewInvite().Link("hint"))
	f.Fuzz(func(t *testing.T, s string) {
		inv, hint, err := ParseLink(s)
		if err != nil {
			return
		}
		again, hint2, err := ParseLink(inv.Link(hint))
		if err != nil || again.Seed() != inv.Seed() || hint2 != hint {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzOpenLinkRequest: a new device's request, from anyone who holds the
// device link (or not): opened and checked, or refused; never a panic.
func FuzzOpenLinkRequest(f *testing.F) {
	inv := FromSeed([32]byte{8})
	dev, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	rec, _ := identity.NewDeviceRecord(identity.PublicKey{}, dev, seal.Public(), "tablet", time.Unix(1, 0))
	rb, _ := rec.MarshalBinary()
	sealed, _, _ := NewLinkRequest(inv, dev, rb, "tablet", time.Unix(5, 0))
	f.Add(sealed)
	f.Fuzz(func(t *testing.T, b []byte) {
		req, r, err := OpenLinkRequest(inv, b)
		if err == nil && (r.Device != req.Device || req.Device == (identity.PublicKey{})) {
			t.Fatal("a link request opened without its device")
		}
	})
}

// FuzzOpenLinkAnswer: what a new device gets back (from the device it
// asked, or from a mailbox anyone may write to): opened, or refused; never
// a panic.
func FuzzOpenLinkAnswer(f *testing.F) {
	eph, _ := identity.GenerateSealingKey()
	inv := FromSeed([32]byte{9})
	req := &Request{Invite: inv.ID(), Ephemeral: eph.Public().Bytes()}
	la := &LinkAnswer{OK: true, Proof: []byte{1, 2}, Rooms: []LinkRoom{{Name: "home", Keys: []EpochKey{{Epoch: 1}}, Peers: []string{"/ip4/127.0.0.1/tcp/1"}}}}
	sa, _ := SealLinkAnswer(req, la)
	plain, _ := eph.Open(linkInfo(inv.ID()), sa)
	f.Add(sa)
	f.Add(plain)
	f.Fuzz(func(t *testing.T, b []byte) {
		OpenLinkAnswer(eph, inv.ID(), b)
		// The plaintext decoder, past the seal a fuzzer cannot forge.
		if a, err := parseLinkAnswer(b); err == nil && len(a.Rooms) > maxLinkRooms {
			t.Fatalf("%d rooms", len(a.Rooms))
		}
	})
}
