package identity

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
)

// hardened is the SLIP-0010 bit that marks a hardened index. Ed25519 has
// only hardened derivation.
const hardened = 0x80000000

// IdentityPath is the SLIP-0010 path of the identity key, every index
// hardened: m/48'/5338'/0'/0'/0'. 48 is the purpose Keet uses for its keys,
// 5338 Keet's key type, then role, account and index. Using Keet's path means
// the same phrase gives the same identity public key in both apps.
var IdentityPath = []uint32{48, 5338, 0, 0, 0}

// slip10 derives the Ed25519 private key (an RFC 8032 seed) and chain code
// at path from a BIP39 seed. Indices are given without the hardened bit,
// which is always added. It returns an error only for an index that already
// has the bit set.
func slip10(seed []byte, path []uint32) (key, chain [32]byte, err error) {
	mac := hmac.New(sha512.New, []byte("ed25519 seed"))
	mac.Write(seed)
	sum := mac.Sum(nil)
	copy(key[:], sum[:32])
	copy(chain[:], sum[32:])
	wipe(sum)
	var data [1 + 32 + 4]byte
	for _, idx := range path {
		if idx >= hardened {
			return [32]byte{}, [32]byte{}, errIndexHasHardenedBit
		}
		data[0] = 0
		copy(data[1:33], key[:])
		binary.BigEndian.PutUint32(data[33:], idx|hardened)
		mac := hmac.New(sha512.New, chain[:])
		mac.Write(data[:])
		sum := mac.Sum(nil)
		copy(key[:], sum[:32])
		copy(chain[:], sum[32:])
		wipe(sum)
	}
	wipe(data[:])
	return key, chain, nil
}

// DeriveIdentity derives the identity signing key from a BIP39 seed. The
// caller wipes the result when done.
func DeriveIdentity(seed *Seed) SigningKey {
	key, chain, err := slip10(seed.b[:], IdentityPath)
	if err != nil {
		panic("identity: IdentityPath has a hardened bit") // fixed constant; no input reaches this
	}
	k, err := NewSigningKey(key[:])
	if err != nil {
		panic("identity: 32-byte seed rejected") // fixed size; no input reaches this
	}
	wipe(key[:])
	wipe(chain[:])
	return k
}

var errIndexHasHardenedBit = errors.New("slip10: index already has the hardened bit")
