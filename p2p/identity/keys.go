package identity

import (
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// PublicKey is an Ed25519 public key: an identity or a device. Its text form
// is lower-case hex.
type PublicKey [32]byte

// String returns the key in hex.
func (k PublicKey) String() string { return hex.EncodeToString(k[:]) }

// Short returns the first 8 hex digits, for logs and tables.
func (k PublicKey) Short() string { return hex.EncodeToString(k[:4]) }

// LogValue logs the short form.
func (k PublicKey) LogValue() slog.Value { return slog.StringValue(k.Short()) }

// IsZero reports whether k is all zeros (unset).
func (k PublicKey) IsZero() bool { return k == PublicKey{} }

// MarshalText encodes the key as hex.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText decodes a hex key.
func (k *PublicKey) UnmarshalText(b []byte) error {
	p, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// ParsePublicKey decodes a 64-digit hex public key.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	if len(s) != 2*len(k) {
		return k, fmt.Errorf("public key %q: want %d hex digits, got %d", clip(s), 2*len(k), len(s))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("public key %q: not hex", clip(s))
	}
	return k, nil
}

func clip(s string) string {
	if len(s) > 20 {
		return s[:17] + "..."
	}
	return s
}

// Verify reports whether sig is k's valid signature of msg.
func (k PublicKey) Verify(msg []byte, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(k[:], msg, sig)
}

// SigningKey is the secret half of an Ed25519 key pair. Its bytes never
// appear in fmt or slog output; Wipe zeroes them.
type SigningKey struct {
	priv ed25519.PrivateKey
	pub  PublicKey
}

// NewSigningKey makes a signing key from a 32-byte Ed25519 seed (RFC 8032
// private key). The seed is copied.
func NewSigningKey(seed []byte) (SigningKey, error) {
	if len(seed) != ed25519.SeedSize {
		return SigningKey{}, fmt.Errorf("signing key seed: want %d bytes, got %d", ed25519.SeedSize, len(seed))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	var k SigningKey
	k.priv = priv
	copy(k.pub[:], priv[32:])
	return k, nil
}

// GenerateSigningKey makes a fresh random key, as for a new device.
func GenerateSigningKey() (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return SigningKey{}, fmt.Errorf("generating key: %w", err)
	}
	var k SigningKey
	k.priv = priv
	copy(k.pub[:], priv[32:])
	return k, nil
}

// Public returns the public half.
func (k SigningKey) Public() PublicKey { return k.pub }

// Valid reports whether k holds a key (it is not the zero value or wiped).
func (k SigningKey) Valid() bool { return len(k.priv) == ed25519.PrivateKeySize }

// Sign signs msg. It panics on the zero SigningKey, a programming error no
// input can reach.
func (k SigningKey) Sign(msg []byte) [64]byte {
	var sig [64]byte
	copy(sig[:], ed25519.Sign(k.priv, msg))
	return sig
}

// Seed returns a copy of the 32-byte seed, to store the key. The caller
// must wipe it after use.
func (k SigningKey) Seed() []byte { return append([]byte(nil), k.priv.Seed()...) }

// Ed25519 returns the key in the standard library's form, for libraries
// (libp2p) that take one. The slice aliases k.
func (k SigningKey) Ed25519() ed25519.PrivateKey { return k.priv }

// Equal compares two keys in constant time.
func (k SigningKey) Equal(o SigningKey) bool {
	return subtle.ConstantTimeCompare(k.priv, o.priv) == 1
}

// Wipe zeroes the secret bytes. The key is unusable afterwards.
func (k *SigningKey) Wipe() {
	wipe(k.priv)
	k.priv = nil
}

// String never shows the secret.
func (SigningKey) String() string { return "SigningKey(redacted)" }

// GoString never shows the secret.
func (SigningKey) GoString() string { return "SigningKey(redacted)" }

// LogValue never shows the secret.
func (SigningKey) LogValue() slog.Value { return slog.StringValue("redacted") }

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}
