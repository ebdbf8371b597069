package mirror

import (
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
