package mirror

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/storage"
)

// serveMirror runs the mirror protocol for store on a host of its own.
func serveMirror(t *testing.T, store *Store, db *storage.DB) (*hnet.Node, *Service, *Mailboxes) {
	t.Helper()
	boxes, err := OpenMailboxes(db, store.IsOwner, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	mkey, _ := identity.GenerateSigningKey()
	mn, err := hnet.New(hnet.Config{Key: mkey, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	return mn, NewService(ServiceConfig{Host: mn.Host, Store: store, Boxes: boxes}), boxes
}

// TestRevokedDeviceDenied: alice keeps a room at a mirror from her
// laptop; her phone is stolen and revoked. Once her laptop has handed the
// mirror the revocation (with any request), the phone's proof is refused:
// the thief cannot drop her room, list it, or keep anything; a device the
// phone attested is refused alike. The mirror keeps the revocation across
// a restart.
func TestRevokedDeviceDenied(t *testing.T) {
	dir := t.TempDir()
	store, db := openStore(t, dir, Config{})
	mn, svc, _ := serveMirror(t, store, db)
	defer mn.Close()
	defer svc.Close()

	alice, _ := identity.GenerateSigningKey()
	device := func(parent *identity.Proof, signer identity.SigningKey) (identity.SigningKey, *identity.Proof, *hnet.Node) {
		dev, _ := identity.GenerateSigningKey()
		var p *identity.Proof
		if parent == nil {
			p = identity.NewProof(alice, dev.Public(), 1)
		} else {
			var err error
			if p, err = parent.Attest(signer, dev.Public()); err != nil {
				t.Fatal(err)
			}
		}
		n, err := hnet.New(hnet.Config{Key: dev, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Host.Connect(context.Background(), peer.AddrInfo{ID: mn.Host.ID(), Addrs: mn.Host.Addrs()}); err != nil {
			t.Fatal(err)
		}
		return dev, p, n
	}
	ask := func(n *hnet.Node, p *identity.Proof, req Request) (*Response, error) {
		pb, _ := p.MarshalBinary()
		req.Proof = pb
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return Ask(ctx, n.Host, mn.Host.ID(), req)
	}
	_, laptopProof, laptop := device(nil, identity.SigningKey{})
	phoneKey, phoneProof, phone := device(nil, identity.SigningKey{})
	_, childProof, child := device(phoneProof, phoneKey) // attested by the phone
	disc := log.Discovery{7}
	if _, err := ask(laptop, laptopProof, Request{Op: OpKeep, Discovery: disc}); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(phone, phoneProof, Request{Op: OpList}); err != nil {
		t.Fatalf("the phone before its revocation: %v", err)
	}
	rv, err := identity.NewRevocation(alice, phoneKey.Public(), 1, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := rv.MarshalBinary()
	// A stranger hands the mirror a revocation of its own making: kept
	// nowhere (it owns nothing here), and no harm.
	stranger, _ := identity.GenerateSigningKey()
	srv, _ := identity.NewRevocation(stranger, phoneKey.Public(), 1, time.Now())
	sb, _ := srv.MarshalBinary()
	if _, err := ask(laptop, laptopProof, Request{Op: OpList, Revocations: [][]byte{sb, rb}}); err != nil {
		t.Fatal(err)
	}
	for name, try := range map[string]func() (*Response, error){
		"drop": func() (*Response, error) { return ask(phone, phoneProof, Request{Op: OpDrop, Discovery: disc}) },
		"list": func() (*Response, error) { return ask(phone, phoneProof, Request{Op: OpList}) },
		"keep": func() (*Response, error) {
			return ask(phone, phoneProof, Request{Op: OpKeep, Discovery: log.Discovery{8}})
		},
		"attested keep": func() (*Response, error) {
			return ask(child, childProof, Request{Op: OpKeep, Discovery: log.Discovery{9}})
		},
	} {
		if _, err := try(); !errors.Is(err, ErrDenied) {
			t.Errorf("the revoked phone's %s: %v, want denied", name, err)
		}
	}
	if got := store.List(alice.Public()); len(got) != 1 {
		t.Fatalf("alice's rooms at the mirror: %d", len(got))
	}
	// Alice restores her phrase on a new device (identity epoch 2): once
	// it has talked to the mirror, every device of epoch 1 is refused.
	restoredKey, _ := identity.GenerateSigningKey()
	restoredProof := identity.NewProof(alice, restoredKey.Public(), 2)
	rn, err := hnet.New(hnet.Config{Key: restoredKey, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rn.Close()
	if err := rn.Host.Connect(context.Background(), peer.AddrInfo{ID: mn.Host.ID(), Addrs: mn.Host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(rn, restoredProof, Request{Op: OpList}); err != nil {
		t.Fatal(err)
	}
	if _, err := ask(laptop, laptopProof, Request{Op: OpDrop, Discovery: disc}); !errors.Is(err, ErrDenied) {
		t.Fatalf("a device of the identity's older epoch dropped a room: %v", err)
	}
	svc.Close()
	db.Close()
	store2, db2 := openStore(t, dir, Config{})
	defer db2.Close()
	if !store2.IsRevoked(phoneKey.Public()) || store2.MinEpoch(alice.Public()) != 2 {
		t.Fatal("the revocation or the identity's epoch was lost in a restart")
	}
}
