package mirror

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/storage"
)

// A mirror acts for an identity on a device proof. A device its identity
// revoked must not: a stolen phone could drop the household's rooms. The
// identity's other devices hand the mirror their revocations with each
// request (Request.Revocations); the mirror keeps them and refuses every
// proof whose chain passes through a revoked device.

var bucketRevoked = []byte("revoked") // device -> encoded revocation

// MaxRevocations bounds the revocations a mirror keeps per identity, and
// maxRequestRevocations those one request carries.
const (
	MaxRevocations        = 256
	maxRequestRevocations = 64
)

// ErrTooManyRevocations means an identity has MaxRevocations already.
var ErrTooManyRevocations = errors.New("too many revocations for one identity")

func (s *Store) loadRevoked() error {
	s.revoked = map[identity.PublicKey]identity.PublicKey{}
	s.revokedOf = map[identity.PublicKey]int{}
	return s.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(bucketRevoked, func(k, v []byte) error {
			rv, err := identity.ParseRevocation(v)
			if err != nil {
				return fmt.Errorf("mirror revocation: %w", err)
			}
			s.revoked[rv.Device] = rv.Identity
			s.revokedOf[rv.Identity]++
			return nil
		})
	})
}

// Revoke keeps a revocation, after checking its signature. Only an
// identity that keeps rooms here (or owns the mirror) has its revocations
// kept.
func (s *Store) Revoke(rv *identity.Revocation) error {
	if err := rv.Verify(); err != nil {
		return err
	}
	if !s.IsOwner(rv.Identity) && len(s.List(rv.Identity)) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.revoked[rv.Device]; ok {
		return nil
	}
	if s.revokedOf[rv.Identity] >= MaxRevocations {
		return ErrTooManyRevocations
	}
	b, err := rv.MarshalBinary()
	if err != nil {
		return err
	}
	if err := s.db.Update(func(tx *storage.Tx) error { return tx.Put(bucketRevoked, rv.Device[:], b) }); err != nil {
		return err
	}
	s.revoked[rv.Device] = rv.Identity
	s.revokedOf[rv.Identity]++
	s.log.Info("device revoked at the mirror", "dev", rv.Device.Short(), "identity", rv.Identity.Short())
	return nil
}

// IsRevoked reports whether a device was revoked by its identity.
func (s *Store) IsRevoked(dev identity.PublicKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.revoked[dev]
	return ok
}

var bucketEpochs = []byte("epochs") // identity -> newest identity epoch seen (8 bytes, big endian)

func (s *Store) loadEpochs() error {
	s.epochs = map[identity.PublicKey]uint64{}
	return s.db.View(func(tx *storage.Tx) error {
		return tx.ForEach(bucketEpochs, func(k, v []byte) error {
			if len(k) != 32 || len(v) != 8 {
				return fmt.Errorf("mirror epoch record of %d and %d bytes", len(k), len(v))
			}
			s.epochs[identity.PublicKey(k)] = binary.BigEndian.Uint64(v)
			return nil
		})
	})
}

// MinEpoch returns the newest identity epoch a valid proof of id showed
// this mirror: proofs of older epochs are of devices superseded by a
// restore of the phrase.
func (s *Store) MinEpoch(id identity.PublicKey) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epochs[id]
}

// SeeEpoch records the epoch of a verified proof of id, for an identity
// that keeps rooms here (or owns the mirror).
func (s *Store) SeeEpoch(id identity.PublicKey, epoch uint64) error {
	if !s.IsOwner(id) && len(s.List(id)) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epochs[id] >= epoch {
		return nil
	}
	v := binary.BigEndian.AppendUint64(nil, epoch)
	if err := s.db.Update(func(tx *storage.Tx) error { return tx.Put(bucketEpochs, id[:], v) }); err != nil {
		return err
	}
	s.epochs[id] = epoch
	return nil
}
