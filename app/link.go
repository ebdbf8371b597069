package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/pairing"
	"github.com/hearthp2p/hearth/p2p/proto"
)

// Net is what the app needs of its libp2p node: a proto.Host that can be
// told where a peer is.
type Net interface {
	proto.Host
	AddAddrs(peer.ID, []ma.Multiaddr)
}

// Device is this browser's device: its keys, made here, never sent.
type Device struct {
	Key     identity.SigningKey
	Sealing identity.SealingKey
	Name    string
}

// NewDevice makes the keys of a new device named name.
func NewDevice(name string) (*Device, error) {
	if name == "" {
		name = "phone"
	}
	if err := identity.CheckDeviceName(name); err != nil {
		return nil, err
	}
	k, err := identity.GenerateSigningKey()
	if err != nil {
		return nil, err
	}
	s, err := identity.GenerateSealingKey()
	if err != nil {
		return nil, err
	}
	return &Device{Key: k, Sealing: s, Name: name}, nil
}

// PeerID is the device's libp2p peer id.
func (d *Device) PeerID() (peer.ID, error) {
	return proto.PeerOf(d.Key.Public())
}

// Linked is what a device link gave this device.
type Linked struct {
	Identity identity.PublicKey
	Proof    []byte // the identity's signature over this device's record
	Rooms    []pairing.LinkRoom
	By       peer.ID  // the device that answered
	Addrs    []string // the addresses the link came with (full multiaddrs): of the device that linked this one and of its rooms' doors
}

// ErrRefused: the other device refused the link.
var ErrRefused = errors.New("the link was refused")

// Link asks the device that made link (at addrs, full multiaddrs with
// /p2p/; the link's own hints otherwise) to make d a device of its
// identity.
func Link(ctx context.Context, n Net, d *Device, link string, addrs []string, now time.Time) (*Linked, error) {
	inv, hint, err := pairing.ParseDeviceLink(strings.TrimSpace(link))
	if err != nil {
		return nil, err
	}
	// The addresses may name other peers than the one that made the link
	// (its rooms' doors): the ones the link names are asked, if it names
	// any.
	given, err := addPeers(n, addrs)
	if err != nil {
		return nil, err
	}
	var targets []peer.ID
	for _, h := range strings.Split(hint, ",") {
		if p, err := peer.Decode(h); err == nil {
			targets = append(targets, p)
		}
	}
	if len(targets) == 0 {
		targets = given
	}
	if len(targets) == 0 {
		return nil, errors.New("the link names no device to ask and no address was given")
	}
	rec, err := identity.NewDeviceRecord(identity.PublicKey{}, d.Key, d.Sealing.Public(), d.Name, now)
	if err != nil {
		return nil, err
	}
	recBytes, err := rec.MarshalBinary()
	if err != nil {
		return nil, err
	}
	sealed, eph, err := pairing.NewLinkRequest(inv, d.Key, recBytes, d.Name, now)
	if err != nil {
		return nil, err
	}
	a, p, err := pairing.AskLink(ctx, n, targets, inv, sealed, eph, pairing.LinkAsk{})
	if err != nil {
		return nil, fmt.Errorf("no device answered the link: %w", err)
	}
	if !a.OK {
		return nil, fmt.Errorf("%w: %s", ErrRefused, a.Reason)
	}
	if _, err := identity.ParseProof(a.Proof); err != nil {
		return nil, fmt.Errorf("the link answer's proof: %w", err)
	}
	return &Linked{Identity: a.Identity, Proof: a.Proof, Rooms: a.Rooms, By: p, Addrs: addrs}, nil
}

// addPeers tells n the addresses (full multiaddrs with /p2p/) and returns
// their peers.
func addPeers(n Net, addrs []string) ([]peer.ID, error) {
	var out []peer.ID
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w (want one ending in /p2p/PEERID)", s, err)
		}
		n.AddAddrs(ai.ID, ai.Addrs)
		out = append(out, ai.ID)
	}
	return out, nil
}

// relays are the always-on nodes addrs go through (each circuit's relay),
// once each; n is told their own addresses. They are where the app asks
// for TURN credentials.
func relays(n Net, addrs []string) []peer.ID {
	var out []peer.ID
	for _, s := range addrs {
		via, _, ok := strings.Cut(s, "/p2p-circuit")
		if !ok {
			continue
		}
		a, err := ma.NewMultiaddr(via)
		if err != nil {
			continue
		}
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			continue
		}
		n.AddAddrs(ai.ID, ai.Addrs)
		if !slices.Contains(out, ai.ID) {
			out = append(out, ai.ID)
		}
	}
	return out
}

// addSource tells n where p may be: the addresses given (a mirror's, as
// its room records them, with or without /p2p/p), and through each relay
// that addrs (the link's) go through, where a device of the household
// holds a reservation. Addresses that do not parse are skipped.
func addSource(n Net, p peer.ID, given, addrs []string) {
	var out []ma.Multiaddr
	for _, s := range given {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if bare, last := ma.SplitLast(a); last != nil && last.Protocol().Code == ma.P_P2P {
			if last.Value() != p.String() {
				continue
			}
			a = bare
		}
		out = append(out, a)
	}
	seen := map[string]bool{}
	for _, s := range addrs {
		via, _, ok := strings.Cut(s, "/p2p-circuit")
		if !ok || seen[via] {
			continue
		}
		seen[via] = true
		if a, err := ma.NewMultiaddr(via + "/p2p-circuit"); err == nil {
			out = append(out, a)
		}
	}
	if len(out) > 0 {
		n.AddAddrs(p, out)
	}
}
