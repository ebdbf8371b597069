package identity

import (
	"crypto/hpke"
	"errors"
	"fmt"
	"log/slog"
)

// The HPKE suite of every sealing key (RFC 9180): the ML-KEM-768 + X25519
// hybrid KEM, so a recording of today's traffic cannot be opened by a
// quantum computer later, with HKDF-SHA256 and ChaCha20-Poly1305 (fast on
// a Raspberry Pi without AES instructions).
var (
	sealKEM  = hpke.MLKEM768X25519()
	sealKDF  = hpke.HKDFSHA256()
	sealAEAD = hpke.ChaCha20Poly1305()
)

// Sizes of the sealing suite.
const (
	SealingPublicKeyLen  = 1184 + 32 // ML-KEM-768 encapsulation key, X25519 key
	sealingPrivateKeyLen = 32        // the seed the KEM expands
	sealEncLen           = 1088 + 32 // ML-KEM-768 ciphertext, X25519 share
	sealTagLen           = 16
	// SealOverhead is what Seal adds to a plaintext.
	SealOverhead = sealEncLen + sealTagLen
)

// ErrOpen means a sealed message could not be opened: not for this key,
// another context, or tampered with.
var ErrOpen = errors.New("cannot open sealed message")

// SealingKey is a device's HPKE private key. It never prints itself.
type SealingKey struct {
	priv hpke.PrivateKey
}

// GenerateSealingKey makes a fresh sealing key.
func GenerateSealingKey() (SealingKey, error) {
	k, err := sealKEM.GenerateKey()
	if err != nil {
		return SealingKey{}, fmt.Errorf("generating sealing key: %w", err)
	}
	return SealingKey{priv: k}, nil
}

// ParseSealingKey decodes a stored sealing key.
func ParseSealingKey(b []byte) (SealingKey, error) {
	if len(b) != sealingPrivateKeyLen {
		return SealingKey{}, fmt.Errorf("sealing key: want %d bytes, got %d", sealingPrivateKeyLen, len(b))
	}
	k, err := sealKEM.NewPrivateKey(b)
	if err != nil {
		return SealingKey{}, fmt.Errorf("sealing key: %w", err)
	}
	return SealingKey{priv: k}, nil
}

// Bytes returns a copy of the private key for storage; the caller wipes
// it. (The standard library may return its own slice, so it is copied.)
func (k SealingKey) Bytes() ([]byte, error) {
	b, err := k.priv.Bytes()
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), b...), nil
}

// Public returns the public key to publish in a device record.
func (k SealingKey) Public() SealingPublicKey {
	return SealingPublicKey{b: k.priv.PublicKey().Bytes()}
}

// Open opens a message sealed to k's public key with the same info.
func (k SealingKey) Open(info, sealed []byte) ([]byte, error) {
	if len(sealed) < SealOverhead {
		return nil, fmt.Errorf("%w: %d bytes is shorter than the %d-byte overhead", ErrOpen, len(sealed), SealOverhead)
	}
	pt, err := hpke.Open(k.priv, sealKDF, sealAEAD, info, sealed)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// String never shows the secret.
func (SealingKey) String() string { return "SealingKey(redacted)" }

// GoString never shows the secret.
func (SealingKey) GoString() string { return "SealingKey(redacted)" }

// LogValue never shows the secret.
func (SealingKey) LogValue() slog.Value { return slog.StringValue("redacted") }

// SealingPublicKey is a device's HPKE public key.
type SealingPublicKey struct{ b []byte }

// ParseSealingPublicKey decodes and validates a public key.
func ParseSealingPublicKey(b []byte) (SealingPublicKey, error) {
	if len(b) != SealingPublicKeyLen {
		return SealingPublicKey{}, fmt.Errorf("sealing public key: want %d bytes, got %d", SealingPublicKeyLen, len(b))
	}
	if _, err := sealKEM.NewPublicKey(b); err != nil {
		return SealingPublicKey{}, fmt.Errorf("sealing public key: %w", err)
	}
	return SealingPublicKey{b: append([]byte(nil), b...)}, nil
}

// Bytes returns the encoded public key.
func (p SealingPublicKey) Bytes() []byte { return append([]byte(nil), p.b...) }

// Seal encrypts plaintext so that only the holder of the private key can
// read it. info binds the message to its purpose (for example a room and an
// epoch): Open with another info fails.
func (p SealingPublicKey) Seal(info, plaintext []byte) ([]byte, error) {
	pk, err := sealKEM.NewPublicKey(p.b)
	if err != nil {
		return nil, fmt.Errorf("sealing: %w", err)
	}
	return hpke.Seal(pk, sealKDF, sealAEAD, info, plaintext)
}
