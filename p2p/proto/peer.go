package proto

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/identity"
)

// A device's peer id is its device key: PeerOf and DeviceOf turn one into
// the other.

// PeerOf returns the peer id of a device key.
func PeerOf(dev identity.PublicKey) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(dev[:])
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

// DeviceOf returns the device key behind a peer id.
func DeviceOf(p peer.ID) (identity.PublicKey, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return identity.PublicKey{}, fmt.Errorf("peer id %s: %w", p.ShortString(), err)
	}
	raw, err := pub.Raw()
	if err != nil || pub.Type() != crypto.Ed25519 || len(raw) != len(identity.PublicKey{}) {
		return identity.PublicKey{}, fmt.Errorf("peer id %s is not an Ed25519 device key", p.ShortString())
	}
	return identity.PublicKey(raw), nil
}
