package device

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/pairing"
)

// attackerNode is an attacker's own libp2p host, made on the spot, that
// speaks the pairing protocol to a daemon directly.
func attackerNode(t *testing.T, target string) (*hnet.Node, peer.ID) {
	t.Helper()
	k, _ := identity.GenerateSigningKey()
	n, err := hnet.New(hnet.Config{Key: k, Listen: loopback, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ma, err := multiaddr.NewMultiaddr(target)
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Host.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	return n, ai.ID
}

// ask sends a sealed request and returns the answer or the refusal.
func ask(t *testing.T, n *hnet.Node, p peer.ID, inv pairing.Invite, sealed []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return pairing.Ask(ctx, n.Host, p, inv.ID(), sealed)
}

func requestAs(t *testing.T, m *member, signer identity.SigningKey, inv pairing.Invite) ([]byte, identity.SealingKey) {
	t.Helper()
	proof, _ := m.id.Proof.MarshalBinary()
	rec, _ := m.id.Record.MarshalBinary()
	sealed, eph, err := pairing.NewRequest(inv, m.id.Identity, signer, proof, rec, m.name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sealed, eph
}

// TestPairingHandsNoKeysToOutsiders: the pairing handler answers only a
// candidate that signs with the device key it names, never a removed
// identity unless an admin admits it again, never for a used-up or
// expired invite. Each attack is an attacker's own program on the wire.
func TestPairingHandsNoKeysToOutsiders(t *testing.T) {
	ctx := context.Background()
	alice, bob, mallory := newMember(t, "alice"), newMember(t, "bob"), newMember(t, "mallory")
	alice.start(t, Config{})
	bob.start(t, Config{Bootstrap: []string{alice.addr(t)}})
	mallory.start(t, Config{Bootstrap: []string{alice.addr(t)}})
	rm, err := alice.c.Rooms.Create(ctx, "home")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := alice.c.Rooms.Invite(ctx, rm.Room, control.InviteCreate{Uses: 2, ExpiresSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{bob, mallory} {
		if _, err := m.c.Rooms.Join(ctx, inv.Link); err != nil {
			t.Fatalf("%s joins: %v", m.name, err)
		}
	}
	if err := alice.c.Rooms.Remove(ctx, rm.Room, mallory.id.Identity.String()); err != nil {
		t.Fatal(err)
	}
	link, _, err := pairing.ParseLink(inv.Link)
	if err != nil {
		t.Fatal(err)
	}
	node, admin := attackerNode(t, alice.addr(t))
	refused := func(what string, link pairing.Invite, sealed []byte) {
		t.Helper()
		a, err := ask(t, node, admin, link, sealed)
		var r *pairing.RefusedError
		if err == nil || !errors.As(err, &r) {
			t.Fatalf("%s: answered (%d bytes), err %v", what, len(a), err)
		}
		t.Logf("%s: %v", what, err)
	}
	// 1. Mallory, removed, with her real keys and the used-up invite.
	sealed, _ := requestAs(t, mallory, mallory.id.Device, link)
	refused("a removed member with the used-up invite", link, sealed)
	// 2. With a fresh, unused invite: held for an admin, no keys.
	inv2, err := alice.c.Rooms.Invite(ctx, rm.Room, control.InviteCreate{Uses: 5})
	if err != nil {
		t.Fatal(err)
	}
	link2, _, _ := pairing.ParseLink(inv2.Link)
	s2, _ := requestAs(t, mallory, mallory.id.Device, link2)
	refused("a removed member with a fresh invite", link2, s2)
	if reqs, err := alice.c.Rooms.Requests(ctx, rm.Room); err != nil || len(reqs.Requests) != 1 {
		t.Fatalf("the former member's request is not waiting for an admin: %+v %v", reqs, err)
	}
	// 3. Bob's proof and record (every member reads them in his hello),
	// signed with a key of the attacker's.
	thief, _ := identity.GenerateSigningKey()
	s3, _ := requestAs(t, bob, thief, link2)
	refused("bob's proof and record under another key", link2, s3)
	// 4. A stranger with the used-up invite.
	stranger := newMember(t, "stranger")
	s4, _ := requestAs(t, stranger, stranger.id.Device, link)
	refused("a stranger with a used-up invite", link, s4)
	// 5. An expired invite.
	inv3, err := alice.c.Rooms.Invite(ctx, rm.Room, control.InviteCreate{ExpiresSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	link3, _, _ := pairing.ParseLink(inv3.Link)
	time.Sleep(1100 * time.Millisecond) // the invite's own clock: it names a time
	s5, _ := requestAs(t, stranger, stranger.id.Device, link3)
	refused("a stranger with an expired invite", link3, s5)
	// Bob, a member added through the first invite, asking again (his
	// first answer lost) is answered, with his own key.
	s6, eph := requestAs(t, bob, bob.id.Device, link)
	node2, _ := attackerNode(t, alice.addr(t)) // a peer's own requests are rate-limited
	a, err := ask(t, node2, admin, link, s6)
	if err != nil {
		t.Fatalf("bob's retry: %v", err)
	}
	if ans, err := pairing.OpenAnswer(eph, link.ID(), a); err != nil || !ans.OK {
		t.Fatalf("bob's retry: %v %+v", err, ans)
	}
}

// TestDeviceLinkAnswersOnce: a used device link answers nobody but its
// device, only until it expires, and only for a request signed with that
// device's key: its record (in every room's hello) does not do.
func TestDeviceLinkAnswersOnce(t *testing.T) {
	ctx := context.Background()
	alice := newMember(t, "alice")
	alice.start(t, Config{})
	if _, err := alice.c.Rooms.Create(ctx, "home"); err != nil {
		t.Fatal(err)
	}
	dl, err := alice.c.DeviceLink(ctx, control.DeviceLinkRequest{ExpiresSeconds: 2})
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "tablet")
	res, err := LinkJoin(ctx, LinkJoinConfig{Home: home, Link: dl.Link, Name: "tablet", Listen: loopback, NoMDNS: true,
		Bootstrap: []string{alice.addr(t)}, Wait: 10 * time.Second})
	if err != nil || !res.Linked {
		t.Fatalf("link join: %+v %v", res, err)
	}
	tablet, err := identity.Load(home)
	if err != nil {
		t.Fatal(err)
	}
	rec, _ := tablet.Record.MarshalBinary()
	inv, _, err := pairing.ParseDeviceLink(dl.Link)
	if err != nil {
		t.Fatal(err)
	}
	node, admin := attackerNode(t, alice.addr(t))
	// Whoever saw the link (a photo of its QR code) and read the tablet's
	// record, signing with a key of their own.
	thief, _ := identity.GenerateSigningKey()
	s, _, _ := pairing.NewLinkRequest(inv, thief, rec, "tablet", time.Now())
	if a, err := ask(t, node, admin, inv, s); err == nil {
		t.Fatalf("the link answered a request not signed by its device (%d bytes)", len(a))
	}
	// A second device of the thief's own.
	other, _ := identity.GenerateSigningKey()
	seal, _ := identity.GenerateSealingKey()
	orec, _ := identity.NewDeviceRecord(identity.PublicKey{}, other, seal.Public(), "thief", time.Now())
	ob, _ := orec.MarshalBinary()
	s, _, _ = pairing.NewLinkRequest(inv, other, ob, "thief", time.Now())
	if _, err := ask(t, node, admin, inv, s); err == nil {
		t.Fatal("a used link answered another device")
	}
	// The tablet itself, after the link expired.
	time.Sleep(2100 * time.Millisecond)
	s, _, _ = pairing.NewLinkRequest(inv, tablet.Device, rec, "tablet", time.Now())
	if _, err := ask(t, node, admin, inv, s); err == nil {
		t.Fatal("an expired link answered")
	}
}
